package gate_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
)

// legacyFixture is a one-step supply chain in the classic in-toto format:
// a signed layout and the legacy link of its step, which verify.
type legacyFixture struct {
	layout, link []byte
	linkName     string
	layoutKey    *sign.Verifier
}

func fuzzSigner(tb testing.TB, seed string) *sign.Signer {
	tb.Helper()
	sum := sha256.Sum256([]byte(seed))
	s, err := sign.New(ed25519.NewKeyFromSeed(sum[:]))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newLegacyFixture(tb testing.TB) *legacyFixture {
	tb.Helper()
	base := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "src"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "src", "main.c"), []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	ws, err := workspace.Open(filepath.Join(base, ".attestor"))
	if err != nil {
		tb.Fatal(err)
	}
	ci, layoutKey := fuzzSigner(tb, "fuzz ci"), fuzzSigner(tb, "fuzz layout")
	rec, err := attestor.NewRecorder(ws, ci, attestor.WithFormat(attestor.FormatBoth),
		attestor.WithHashOptions(hashing.WithBaseDir(base)))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	step := attestor.Step{Name: "build", Materials: []string{"src"}, Products: []string{"app"}, Command: []string{"cc", "-o", "app"}}
	if err := rec.Start(ctx, step); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "app"), []byte("binary"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if _, err := rec.Stop(ctx, step); err != nil {
		tb.Fatal(err)
	}
	keyID, _ := ci.KeyID()
	linkName := workspace.LinkName("build", keyID)
	link, err := ws.Read(linkName)
	if err != nil {
		tb.Fatal(err)
	}
	k := ci.InTotoKey()
	layout := in_toto.Layout{
		Type:    "layout",
		Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
		Keys:    map[string]in_toto.Key{k.KeyID: k},
		Steps: []in_toto.Step{{Type: "step", PubKeys: []string{k.KeyID}, ExpectedCommand: []string{}, Threshold: 1,
			SupplyChainItem: in_toto.SupplyChainItem{Name: "build",
				ExpectedMaterials: [][]string{{"ALLOW", "src/*"}, {"DISALLOW", "*"}},
				ExpectedProducts:  [][]string{{"CREATE", "app"}, {"DISALLOW", "*"}}}}},
		Inspect: []in_toto.Inspection{},
	}
	canonical, err := cjson.EncodeCanonical(layout)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := layoutKey.SignLegacy(ctx, canonical)
	if err != nil {
		tb.Fatal(err)
	}
	lkID, _ := layoutKey.KeyID()
	data, err := json.Marshal(in_toto.Metablock{Signed: layout, Signatures: []in_toto.Signature{{KeyID: lkID, Sig: hex.EncodeToString(sig)}}})
	if err != nil {
		tb.Fatal(err)
	}
	fx := &legacyFixture{layout: data, link: link, linkName: linkName, layoutKey: layoutKey.Verifier()}
	if res, err := fx.verify(tb, fx.layout, fx.link); err != nil || !res.Verified {
		tb.Fatalf("the fixture does not verify: %v", err)
	}
	return fx
}

// verify writes layout and link to a new directory and verifies them.
func (fx *legacyFixture) verify(tb testing.TB, layout, link []byte) (*gate.Result, error) {
	tb.Helper()
	dir := tb.TempDir()
	layoutPath := filepath.Join(dir, "root.layout")
	if err := os.WriteFile(layoutPath, layout, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fx.linkName), link, 0o644); err != nil {
		tb.Fatal(err)
	}
	return gate.VerifyLayout(context.Background(), layoutPath, []*sign.Verifier{fx.layoutKey}, dir)
}

// signedPart decodes the signed part of a metablock and its signatures.
func signedPart[T any](data []byte) (signed T, sigs []in_toto.Signature, ok bool) {
	var mb struct {
		Signed     T                   `json:"signed"`
		Signatures []in_toto.Signature `json:"signatures"`
	}
	if err := json.Unmarshal(data, &mb); err != nil {
		return signed, nil, false
	}
	return mb.Signed, mb.Signatures, true
}

// FuzzLegacyLink: a legacy link (the classic in-toto v0.9 format the
// reference verifiers read) that is not the signed original never
// verifies, and nothing panics. Decoding may drop what it does not know
// (as in-toto does), so the check is on the decoded, signed content.
func FuzzLegacyLink(f *testing.F) {
	fx := newLegacyFixture(f)
	want, _, _ := signedPart[in_toto.Link](fx.link)
	f.Add(fx.link)
	f.Add([]byte(`{"signed":{"_type":"link","name":"build"},"signatures":[]}`))
	f.Add([]byte(`{"signed":{"_type":"layout"},"signatures":[{"keyid":"","sig":""}]}`))
	f.Fuzz(func(t *testing.T, link []byte) {
		res, err := fx.verify(t, fx.layout, link)
		if err != nil || res == nil || !res.Verified {
			return
		}
		got, _, ok := signedPart[in_toto.Link](link)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("a changed link verified:\n%s", link)
		}
	})
}

// FuzzLayout: a classic layout that is not the signed original never
// verifies; a malformed one is an error (never a panic: the reference
// verifier's own panics on malformed layouts are guarded against).
func FuzzLayout(f *testing.F) {
	fx := newLegacyFixture(f)
	want, _, _ := signedPart[in_toto.Layout](fx.layout)
	f.Add(fx.layout)
	f.Add([]byte(`{"signed":{"_type":"layout","steps":[{"_type":"step","name":"build","threshold":0}]},"signatures":[]}`))
	f.Add([]byte(`{"signed":{"_type":"layout","inspect":[{"_type":"inspection","run":["true"]}]},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, layout []byte) {
		res, err := fx.verify(t, layout, fx.link)
		if err != nil || res == nil || !res.Verified {
			return
		}
		got, _, ok := signedPart[in_toto.Layout](layout)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("a changed layout verified:\n%s", layout)
		}
	})
}

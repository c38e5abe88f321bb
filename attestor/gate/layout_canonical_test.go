package gate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
)

// signMetablock signs the canonical JSON of signed, as in-toto does, and
// returns the metablock, indented, with the signature labelled keyID
// ("" for the signer's key id).
func signMetablock(t *testing.T, signed map[string]any, s *sign.Signer, keyID string) []byte {
	t.Helper()
	canonical, err := cjson.EncodeCanonical(signed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.SignLegacy(context.Background(), canonical)
	if err != nil {
		t.Fatal(err)
	}
	if keyID == "" {
		keyID, _ = s.KeyID()
	}
	data, err := json.MarshalIndent(map[string]any{"signed": signed, "signatures": []any{map[string]any{"keyid": keyID, "sig": hex.EncodeToString(sig)}}}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decodeNumbers decodes JSON with numbers kept as written.
func decodeNumbers(t *testing.T, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestVerifyLayoutSignedAsRead: signatures are checked over the canonical
// JSON of the layout and the links as they were read, not over an
// encoding of what in-toto-golang decoded from them, which drops or
// changes what its types do not hold: a key's "private": "" (as
// securesystemslib writes public keys), a missing keyid_hash_algorithms
// (null in its encoding), an integer beyond float64 in a link's
// byproducts. The layout's signature is matched to the layout key by
// verifying it, whatever key id labels it (Python gives an ECDSA key
// another id than attestor).
func TestVerifyLayoutSignedAsRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		key         func(k map[string]any)      // edits the functionary's key in the layout
		link        func(signed map[string]any) // edits the link's signed part (then signed again)
		layoutSigID string                      // the key id labelling the layout's signature
	}{
		{name: "key with an empty private part", key: func(k map[string]any) { k["keyval"].(map[string]any)["private"] = "" }},
		{name: "key without keyid_hash_algorithms", key: func(k map[string]any) { delete(k, "keyid_hash_algorithms") }},
		{name: "link byproduct beyond float64", link: func(signed map[string]any) {
			signed["byproducts"].(map[string]any)["size"] = json.Number("9007199254740993")
		}},
		{name: "layout signature under another key id", layoutSigID: strings.Repeat("ab", 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t)
			layoutKey, ci := c.key("layout"), c.key("ci")
			step := ruleStep{name: "build", materials: f("src/main.c", "1"), products: f("app", "2"), expMat: r("ALLOW src/*", "DISALLOW *"), expProd: r("CREATE app", "DISALLOW *")}
			c.recordBoth(ci, step)
			kid, _ := ci.KeyID()
			if tt.link != nil {
				name := workspace.LinkName("build", kid)
				data, err := c.ws.Read(name)
				if err != nil {
					t.Fatal(err)
				}
				signed := decodeNumbers(t, data)["signed"].(map[string]any)
				tt.link(signed)
				if err := c.ws.Write(name, signMetablock(t, signed, ci, "")); err != nil {
					t.Fatal(err)
				}
			}
			k := ci.InTotoKey()
			keyJSON, err := json.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			key := decodeNumbers(t, keyJSON)
			if tt.key != nil {
				tt.key(key)
			}
			layout := in_toto.Layout{Type: "layout", Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
				Keys: map[string]in_toto.Key{}, Inspect: []in_toto.Inspection{}, Readme: "signed as read",
				Steps: []in_toto.Step{{Type: "step", PubKeys: []string{kid}, ExpectedCommand: []string{}, Threshold: 1,
					SupplyChainItem: in_toto.SupplyChainItem{Name: "build", ExpectedMaterials: step.expMat, ExpectedProducts: step.expProd}}}}
			layoutJSON, err := json.Marshal(layout)
			if err != nil {
				t.Fatal(err)
			}
			signed := decodeNumbers(t, layoutJSON)
			signed["keys"] = map[string]any{kid: key}
			path := filepath.Join(c.keys, "root.layout")
			if err := os.WriteFile(path, signMetablock(t, signed, layoutKey, tt.layoutSigID), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := VerifyLayout(context.Background(), path, []*sign.Verifier{layoutKey.Verifier()}, c.ws.Dir(), WithClock(clock))
			if err != nil || !res.Verified {
				t.Fatalf("want a pass, got %v", err)
			}
		})
	}
}

// TestVerifyLayoutCommandWarning: a link whose command is not the step's
// expected command passes with a warning in the result, as in-toto-verify
// only warns; nothing is printed (in-toto-golang prints its warning to
// standard output, where --json writes the result).
func TestVerifyLayoutCommandWarning(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	layoutKey, ci := c.key("layout"), c.key("ci")
	step := ruleStep{name: "build", materials: f("src/main.c", "1"), products: f("app", "2")}
	c.recordBoth(ci, step)
	k := ci.InTotoKey()
	layout := in_toto.Layout{Type: "layout", Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
		Keys: map[string]in_toto.Key{k.KeyID: k}, Inspect: []in_toto.Inspection{},
		Steps: []in_toto.Step{{Type: "step", PubKeys: []string{k.KeyID}, ExpectedCommand: []string{"make", "app"}, Threshold: 1,
			SupplyChainItem: in_toto.SupplyChainItem{Name: "build", ExpectedMaterials: [][]string{}, ExpectedProducts: [][]string{}}}}}
	path := filepath.Join(c.keys, "root.layout")
	writeSignedLayout(t, layout, layoutKey, path)
	res, err := VerifyLayout(context.Background(), path, []*sign.Verifier{layoutKey.Verifier()}, c.ws.Dir(), WithClock(clock))
	if err != nil || !res.Verified {
		t.Fatalf("want a pass, got %v", err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `"make app"`) {
		t.Errorf("want a warning about the command, got %q", res.Warnings)
	}
}

// TestVerifyLayoutDSSELink: a link in a DSSE envelope, as in-toto-golang's
// `in-toto run --use-dsse` writes it, verifies over the payload as read; a
// changed payload does not.
func TestVerifyLayoutDSSELink(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	fk := v.InTotoKey()
	signing := fk
	signing.KeyVal.Private = hex.EncodeToString(priv)
	link := in_toto.Link{Type: "link", Name: "build", Materials: map[string]in_toto.HashObj{},
		Products:   map[string]in_toto.HashObj{"app": {"sha256": strings.Repeat("ab", 32)}},
		ByProducts: map[string]any{}, Command: []string{}, Environment: map[string]any{}}
	env := &in_toto.Envelope{}
	if err := env.SetPayload(link); err != nil {
		t.Fatal(err)
	}
	if err := env.Sign(signing); err != nil {
		t.Fatal(err)
	}

	c := newChain(t)
	layoutKey := c.key("layout")
	layout := in_toto.Layout{Type: "layout", Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
		Keys: map[string]in_toto.Key{fk.KeyID: fk}, Inspect: []in_toto.Inspection{},
		Steps: []in_toto.Step{{Type: "step", PubKeys: []string{fk.KeyID}, ExpectedCommand: []string{}, Threshold: 1,
			SupplyChainItem: in_toto.SupplyChainItem{Name: "build", ExpectedMaterials: [][]string{}, ExpectedProducts: [][]string{{"CREATE", "app"}, {"DISALLOW", "*"}}}}}}
	path := filepath.Join(c.keys, "root.layout")
	writeSignedLayout(t, layout, layoutKey, path)

	for _, tampered := range []bool{false, true} {
		dir := t.TempDir()
		linkPath := filepath.Join(dir, workspace.LinkName("build", fk.KeyID))
		if err := env.Dump(linkPath); err != nil {
			t.Fatal(err)
		}
		if tampered {
			data, err := os.ReadFile(linkPath)
			if err != nil {
				t.Fatal(err)
			}
			var e map[string]any
			if err := json.Unmarshal(data, &e); err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(map[string]any{"_type": "link", "name": "build", "materials": map[string]any{},
				"products": map[string]any{"evil": map[string]any{"sha256": strings.Repeat("cd", 32)}}, "byproducts": map[string]any{}, "command": []string{}, "environment": map[string]any{}})
			e["payload"] = payload // []byte: encoded in base64
			data, _ = json.Marshal(e)
			if err := os.WriteFile(linkPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		res, err := VerifyLayout(context.Background(), path, []*sign.Verifier{layoutKey.Verifier()}, dir, WithClock(clock))
		switch {
		case !tampered && (err != nil || !res.Verified):
			t.Errorf("the DSSE link: want a pass, got %v", err)
		case tampered && (!errors.Is(err, ErrLayout) || res.Verified):
			t.Errorf("a changed DSSE link: want %v, got %v", ErrLayout, err)
		}
	}
}

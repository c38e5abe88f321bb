package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/workspace"
)

// TestThresholdDistinctKeys: a threshold counts distinct signing keys,
// each for one functionary: one keyless certificate whose identity two
// keyless functionaries both match is one signer, and so is a key
// functionary whose key is the certificate's; two certificates of one
// identity matched by one functionary only are one signer too. A
// required attestation lists each signing key once.
func TestThresholdDistinctKeys(t *testing.T) {
	t.Parallel()
	f := signtest.NewSigstore(t)
	trusted, _ := f.TrustedRoot(t)
	// Two keyless signers of the one identity the sigstore certifies: two
	// ephemeral keys, two certificates.
	k1 := f.Keyless(t, sign.WithTrustedMaterial(trusted))
	k2 := f.Keyless(t, sign.WithTrustedMaterial(trusted))

	c := newChain(t)
	ci := c.key("ci")
	// keys/k1.pub is k1's ephemeral key, as a key functionary.
	pub, err := sign.MarshalPublicKey(k1.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.keys, "k1.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}

	app := &ita1.ResourceDescriptor{Name: "app", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}
	subject := store.Subject{Name: "app", Digest: mustHash("sha256:" + strings.Repeat("ab", 32))}
	rec := &attestor.Record{Step: "build", Command: []string{"make"}, Products: []*ita1.ResourceDescriptor{app},
		StartedOn: now.Add(-time.Hour), FinishedOn: now.Add(-time.Hour)}
	recSt, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	// signed returns st signed by s, with a bundle if s is keyless.
	signed := func(s envelope.Signer, st *ita1.Statement) store.Attestation {
		t.Helper()
		env, data, err := envelope.SignStatement(context.Background(), s, st)
		if err != nil {
			t.Fatal(err)
		}
		a := store.Attestation{Envelope: data}
		if k, ok := s.(*sign.Keyless); ok {
			if a.Bundle, err = k.Bundle(context.Background(), env); err != nil {
				t.Fatal(err)
			}
		}
		return a
	}
	byK1, byK2, byCI := signed(k1, recSt), signed(k2, recSt), signed(ci, recSt)
	vuln := signed(k1, vulnStatement(subject))

	const (
		// Both match the certificates' identity.
		github = `{keyless: {issuer: "` + signtest.GitHubIssuer + `", subjectRegexp: "^https://github\\.com/acme/"}}`
		main   = `{keyless: {issuer: "` + signtest.GitHubIssuer + `", subjectRegexp: "@refs/heads/main$"}}`
		// Matches nothing the sigstore certifies.
		other = `{keyless: {issuer: "` + signtest.GitHubIssuer + `", subject: "https://github.com/acme/other/.github/workflows/release.yml@refs/heads/main"}}`
	)
	policy := func(functionaries map[string]string, step []string) *Policy {
		doc := "version: 1\nexpires: 2027-12-31T00:00:00Z\nfunctionaries:\n"
		for _, name := range []string{"a", "b"} {
			doc += "  " + name + ": " + functionaries[name] + "\n"
		}
		doc += "steps:\n  - name: build\n    functionaries: [" + strings.Join(step, ", ") + "]\n    threshold: " + strconv.Itoa(len(step)) + "\n" +
			"    products: [[CREATE, app], [DISALLOW, \"*\"]]\n" +
			"attestations:\n  - predicateType: https://cosign.sigstore.dev/attestation/vuln/v1\n    functionaries: [a, b]\n"
		return c.policy(doc)
	}
	tests := []struct {
		name          string
		functionaries map[string]string
		atts          []store.Attestation
		wantThreshold string // the reason, if the threshold must fail
		wantSigners   int
	}{
		{
			name:          "one certificate, two keyless identities that match it",
			functionaries: map[string]string{"a": github, "b": main},
			atts:          []store.Attestation{byK1, vuln},
			wantThreshold: "1 distinct signing key counted, of the 2 required",
		},
		{
			name:          "one key, as a key functionary and in a certificate",
			functionaries: map[string]string{"a": "{key: k1.pub}", "b": main},
			atts:          []store.Attestation{byK1, vuln},
			wantThreshold: "1 distinct signing key counted, of the 2 required",
		},
		{
			name:          "two certificates of an identity only one functionary matches",
			functionaries: map[string]string{"a": github, "b": other},
			atts:          []store.Attestation{byK1, byK2, vuln},
			wantThreshold: "1 distinct signing key counted, of the 2 required",
		},
		{
			name:          "two certificates, two keyless identities that match both",
			functionaries: map[string]string{"a": github, "b": main},
			atts:          []store.Attestation{byK1, byK2, vuln},
		},
		{
			name:          "a key and a certificate of another key",
			functionaries: map[string]string{"a": "{key: ci.pub}", "b": main},
			atts:          []store.Attestation{byCI, byK1, vuln},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(policy(tt.functionaries, []string{"a", "b"}), WithClock(clock), WithTrustedMaterial(trusted))
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), subject, tt.atts)
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			if got := len(res.Attestations); got != 1 || len(res.Attestations[0].Signers) != 1 {
				t.Errorf("the vuln attestation, signed by one key, lists signers %v, want one", res.Attestations)
			}
			if tt.wantThreshold == "" {
				if err != nil {
					t.Fatalf("want a pass: %v\n%s", err, dump(res))
				}
				if got := res.Steps[0].Signers; len(got) != 2 {
					t.Errorf("signers %q, want 2", got)
				}
				return
			}
			if !errors.Is(err, ErrThreshold) || res.Verified || res.Verdict != Failed {
				t.Fatalf("want %v, got %v\n%s", ErrThreshold, err, dump(res))
			}
			if !strings.Contains(err.Error(), tt.wantThreshold) || len(res.Steps[0].Reasons) == 0 || !strings.Contains(res.Steps[0].Reasons[0], tt.wantThreshold) {
				t.Errorf("reason %q (step reasons %q), want it to say %q", err, res.Steps[0].Reasons, tt.wantThreshold)
			}
			if got := res.Steps[0].Signers; len(got) != 1 {
				t.Errorf("signers %q, want 1", got)
			}
		})
	}
}

// TestSignerSetCount: the signers counted are a largest matching of
// distinct keys to distinct functionaries.
func TestSignerSetCount(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		set  signerSet
		want []string
	}{
		{name: "empty", set: signerSet{}, want: []string{}},
		{name: "one key, two functionaries", set: signerSet{"k1": {"a": "keyless:a", "b": "keyless:b"}}, want: []string{"a (keyless)"}},
		{name: "two keys, one functionary", set: signerSet{"k1": {"a": "keyless:a"}, "k2": {"a": "keyless:a"}}, want: []string{"a (keyless)"}},
		{name: "two keys, two functionaries", set: signerSet{"k1": {"a": "keyless:a", "b": "keyless:b"}, "k2": {"a": "keyless:a", "b": "keyless:b"}}, want: []string{"a (keyless)", "b (keyless)"}},
		// k1 is tried first and takes a; k2 can only be a's, so k1 moves
		// to b.
		{name: "augmenting path", set: signerSet{"k1": {"a": "keyless:a", "b": "keyless:b"}, "k2": {"a": "keyless:a"}}, want: []string{"a (keyless)", "b (keyless)"}},
		{name: "key and keyless of one key", set: signerSet{"k1": {"a": "0123456789abcdef", "b": "keyless:b"}}, want: []string{"a (0123456789ab)"}},
		{name: "three keys, two functionaries", set: signerSet{"k1": {"a": "keyless:a"}, "k2": {"a": "keyless:a"}, "k3": {"b": "keyless:b"}}, want: []string{"a (keyless)", "b (keyless)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := labelsOf(tt.set.count())
			if !slices.Equal(got, tt.want) {
				t.Errorf("count() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVerifyLayoutThresholdDistinctKeys: a classic layout that lists one
// public key under two key ids in a step is refused: a link signed once,
// its signature copied under the other id, would meet a threshold of 2
// in the reference verifier.
func TestVerifyLayoutThresholdDistinctKeys(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	layoutKey, ci := c.key("layout"), c.key("ci")
	step := ruleStep{name: "build", materials: f("src/main.c", "1"), products: f("app", "2"), expMat: r("ALLOW src/*", "DISALLOW *"), expProd: r("CREATE app", "DISALLOW *")}
	c.recordBoth(ci, step)

	k := ci.InTotoKey()
	sum := sha256.Sum256([]byte("another id of the same key"))
	k2 := k
	k2.KeyID = hex.EncodeToString(sum[:])
	// The link, its signature copied under the other id, where the
	// reference verifier looks for the other id's link.
	link, err := c.ws.Read(workspace.LinkName("build", k.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	var mb map[string]any
	if err := json.Unmarshal(link, &mb); err != nil {
		t.Fatal(err)
	}
	mb["signatures"].([]any)[0].(map[string]any)["keyid"] = k2.KeyID
	copied, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ws.Write(workspace.LinkName("build", k2.KeyID), copied); err != nil {
		t.Fatal(err)
	}

	layout := in_toto.Layout{Type: "layout", Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
		Keys:    map[string]in_toto.Key{k.KeyID: k, k2.KeyID: k2},
		Inspect: []in_toto.Inspection{},
		Steps: []in_toto.Step{{Type: "step", PubKeys: []string{k.KeyID, k2.KeyID}, ExpectedCommand: []string{}, Threshold: 2,
			SupplyChainItem: in_toto.SupplyChainItem{Name: "build", ExpectedMaterials: step.expMat, ExpectedProducts: step.expProd}}},
	}
	path := filepath.Join(c.keys, "root.layout")
	writeSignedLayout(t, layout, layoutKey, path)
	res, err := VerifyLayout(context.Background(), path, []*sign.Verifier{layoutKey.Verifier()}, c.ws.Dir(), WithClock(clock))
	if !errors.Is(err, ErrPolicy) || res != nil {
		t.Fatalf("want a policy error, got %v (%s)", err, dump(res))
	}
	if !strings.Contains(err.Error(), "same public key") {
		t.Errorf("the error does not say the keys are the same: %v", err)
	}
}

package gate

import (
	"context"
	"errors"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/store"
)

// TestVerifyKeyless: an attestation signed keyless (Fulcio certificate,
// Rekor entry: an offline sigstore) is accepted for a keyless functionary
// whose identity matches, with the trusted root; refused for another
// identity; and without a trusted root the policy fails with ErrKeyless.
func TestVerifyKeyless(t *testing.T) {
	t.Parallel()
	f := signtest.NewSigstore(t)
	trusted, _ := f.TrustedRoot(t)
	k := f.Keyless(t, sign.WithTrustedMaterial(trusted))

	c := newChain(t)
	c.pipeline(nil)
	subject := c.subject("app.tar")
	env, envJSON, err := envelope.SignStatement(context.Background(), k, vulnStatement(subject))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := k.Bundle(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	atts, _, err := Fetch(context.Background(), subject, Source{"dir", NewWorkspace(c.ws)})
	if err != nil {
		t.Fatal(err)
	}
	atts = append(atts, store.Attestation{Envelope: envJSON, Bundle: bundle})

	policy := func(identity string) *Policy {
		return c.policy(withKeyless(pipelinePolicy, identity) + `attestations:
  - predicateType: https://cosign.sigstore.dev/attestation/vuln/v1
    functionaries: [release]
`)
	}
	right := `{issuer: "` + signtest.GitHubIssuer + `", subjectRegexp: "^https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/heads/main$"}`
	wrong := `{issuer: "` + signtest.GitHubIssuer + `", subject: "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"}`
	for _, tt := range []struct {
		name     string
		identity string
		trusted  bool
		bundle   bool
		want     []error
	}{
		{name: "matching identity", identity: right, trusted: true, bundle: true},
		{name: "another identity", identity: wrong, trusted: true, bundle: true, want: []error{ErrUntrustedSigner, ErrMissingAttestation}},
		{name: "no trusted root", identity: right, bundle: true, want: []error{ErrKeyless, ErrMissingAttestation}},
		{name: "no bundle", identity: right, trusted: true, want: []error{ErrUntrustedSigner, ErrMissingAttestation}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.trusted {
				opts = append(opts, WithTrustedMaterial(trusted))
			}
			v, err := NewVerifier(policy(tt.identity), append([]Option{WithClock(clock)}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			in := atts
			if !tt.bundle {
				in = append(append([]store.Attestation(nil), atts[:len(atts)-1]...), store.Attestation{Envelope: envJSON})
			}
			res, err := v.Verify(context.Background(), subject, in)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want a pass: %v\n%s", err, dump(res))
				}
				if got := res.Attestations[0].Signers; len(got) != 1 || got[0] != "release (keyless)" {
					t.Errorf("signers %q", got)
				}
				return
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("want %v, got %v", w, err)
				}
			}
		})
	}
}

func withKeyless(p, identity string) string {
	return replaceOnce(p, "ci: {key: ci.pub}", "ci: {key: ci.pub}\n  release: {keyless: "+identity+"}")
}

package promote

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/internal/testkit"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/oci"
)

// fakeAuthority is a Grafeas store that records what Image writes.
type fakeAuthority struct {
	mu     sync.Mutex
	puts   map[string]int                   // subject → attestations put
	kritis map[string][]grafeas.Attestation // subject → attestations
	fail   error
}

func (f *fakeAuthority) Put(_ context.Context, s store.Subject, atts ...store.Attestation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.puts == nil {
		f.puts = map[string]int{}
	}
	f.puts[s.String()] += len(atts)
	return nil
}

func (f *fakeAuthority) Get(context.Context, store.Subject) ([]store.Attestation, error) {
	return nil, nil
}

func (f *fakeAuthority) PutAttestation(_ context.Context, s store.Subject, a grafeas.Attestation) (*grafeas.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if f.kritis == nil {
		f.kritis = map[string][]grafeas.Attestation{}
	}
	f.kritis[s.String()] = append(f.kritis[s.String()], a)
	return &grafeas.Result{Created: 1}, nil
}

func (f *fakeAuthority) AuthorityNote() string { return "projects/p/notes/prod" }

// TestPromoteAuthority: with a Grafeas store that writes attestation
// authority occurrences, Image writes the simple-signing attestation of
// the destination (signed by the promotion key); on a failed verification
// or a dry run it writes nothing.
func TestPromoteAuthority(t *testing.T) {
	t.Parallel()
	const kmsID = "//cloudkms.googleapis.com/v1/projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1"
	for _, tt := range []struct {
		name     string
		signer   string
		dryRun   bool
		opts     []SimpleSigningOption
		wantType string
		wantID   string // "" for the ni:/// id of the release key
	}{
		{name: "verified", signer: "ci", wantType: "Google cloud binauthz container signature"},
		{name: "atomic", signer: "ci", opts: []SimpleSigningOption{WithPayloadType(SimpleSigningTypeAtomic)}, wantType: "atomic container signature"},
		{name: "key id", signer: "ci", opts: []SimpleSigningOption{WithPublicKeyID(kmsID)}, wantType: "Google cloud binauthz container signature", wantID: kmsID},
		{name: "not verified", signer: "mallory"},
		{name: "dry run", signer: "ci", dryRun: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := testkit.Registry(t)
			reg, err := oci.New()
			if err != nil {
				t.Fatal(err)
			}
			c := newChain(t)
			c.key("ci")
			release := c.key("release")
			img := testkit.PushImage(t, host, "team/app", false)
			testkit.AttestPush(c.t, reg, img, c.key(tt.signer), now.Add(-time.Hour))
			v, err := gate.NewVerifier(c.policy(testkit.ImagePolicy))
			if err != nil {
				t.Fatal(err)
			}
			g := &fakeAuthority{}
			opts := []Option{WithRegistry(reg), WithGrafeas(g), WithSimpleSigning(tt.opts...)}
			if tt.dryRun {
				opts = append(opts, WithDryRun())
			}
			p, err := Image(t.Context(), v, host+"/team/app:dev", host+"/prod/app", release, opts...)
			switch {
			case tt.signer != "ci":
				if !errors.Is(err, gate.ErrNotVerified) || len(g.puts) != 0 || len(g.kritis) != 0 {
					t.Fatalf("Image = %v; Grafeas got %v, %v", err, g.puts, g.kritis)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tt.dryRun:
				if len(g.puts) != 0 || len(g.kritis) != 0 || !containsPrefix(p.Pending, "dry run: would write the Binary Authorization / Kritis ATTESTATION occurrence") {
					t.Errorf("dry run wrote %v, %v; pending %q", g.puts, g.kritis, p.Pending)
				}
				return
			}
			dst := host + "/prod/app@" + img.DigestStr()
			var got []grafeas.Attestation
			for subj, atts := range g.kritis {
				if !strings.Contains(subj, dst) {
					t.Errorf("Kritis attestation of %s, want of %s", subj, dst)
				}
				got = append(got, atts...)
			}
			if len(got) != 1 {
				t.Fatalf("Kritis attestations: %v", g.kritis)
			}
			a := got[0]
			var ss simpleSigningPayload
			if err := json.Unmarshal(a.Payload, &ss); err != nil {
				t.Fatal(err)
			}
			if ss.Critical.Identity.DockerReference != host+"/prod/app" || ss.Critical.Image.DockerManifestDigest != img.DigestStr() || ss.Critical.Type != tt.wantType {
				t.Errorf("payload %s, want type %q", a.Payload, tt.wantType)
			}
			// Binary Authorization's id of the key: by default the
			// ni:/// name of its PKIX DER.
			wantID := tt.wantID
			if wantID == "" {
				wantID = niOf(t, release.Public())
			}
			if len(a.Signatures) != 1 || a.Signatures[0].KeyID != wantID || p.SimpleSigning.PublicKeyID != wantID {
				t.Fatalf("signatures %+v, want one by %s", a.Signatures, wantID)
			}
			if err := release.Verifier().Verify(t.Context(), a.Payload, a.Signatures[0].Sig); err != nil {
				t.Errorf("signature: %v", err)
			}
			if p.AuthorityNote != "projects/p/notes/prod" || !containsPrefix(p.Written, "grafeas-authority") || len(p.Pending) != 0 {
				t.Errorf("promotion: written %v, note %q, pending %q", p.Written, p.AuthorityNote, p.Pending)
			}
		})
	}
}

// TestPromoteAuthorityFails: a failed authority write is an error.
func TestPromoteAuthorityFails(t *testing.T) {
	t.Parallel()
	host, reg, _, v, release := attestedImage(t)
	boom := errors.New("boom")
	_, err := Image(t.Context(), v, host+"/team/app:dev", host+"/prod/app", release, WithRegistry(reg), WithGrafeas(&fakeAuthority{fail: boom}))
	if !errors.Is(err, boom) {
		t.Errorf("Image = %v, want the write's error", err)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

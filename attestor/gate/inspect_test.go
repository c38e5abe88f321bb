package gate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
)

// getOnly hides a store's Locate: Inspect must name the source only.
type getOnly struct{ store.Store }

// inspectChain records the test pipeline with provenance, pushes its
// attestations to an image in an in-process registry (with or without
// the referrers API) and returns the chain, the image's subject and the
// registry store.
func inspectChain(t *testing.T, referrers bool) (*chain, store.Subject, *oci.Registry) {
	t.Helper()
	c := newChain(t)
	c.pipeline(nil)
	c.provenance("ci", c.subject("app.tar"))
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrers)))
	t.Cleanup(srv.Close)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(strings.TrimPrefix(srv.URL, "http://") + "/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	subject, err := store.ImageSubject(tag.Context().Digest(h.String()))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	atts, err := NewWorkspace(c.ws).Get(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Put(context.Background(), subject, atts...); err != nil {
		t.Fatal(err)
	}
	return c, subject, reg
}

// TestInspect: every attestation once, whichever sources hold it and
// however they encode it, with the place of each copy, what it claims,
// in time order; against a registry with and without the referrers API.
func TestInspect(t *testing.T) {
	t.Parallel()
	for _, referrers := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers", false: "tag-fallback"}[referrers], func(t *testing.T) {
			t.Parallel()
			c, subject, reg := inspectChain(t, referrers)
			// A second, re-encoded copy of the build record in the
			// workspace: the same signed envelope, so the same row.
			data, err := c.ws.Read(c.envelopeOf("build"))
			if err != nil {
				t.Fatal(err)
			}
			var env map[string]any
			if err := json.Unmarshal(data, &env); err != nil {
				t.Fatal(err)
			}
			indented, _ := json.MarshalIndent(env, "", "    ")
			if err := c.ws.Write("copy.dsse.json", indented); err != nil {
				t.Fatal(err)
			}

			inv, err := Inspect(context.Background(), subject, []Source{{Name: "dir", Store: NewWorkspace(c.ws)}, {Name: "oci", Store: reg}})
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Attestations) != 4 {
				t.Fatalf("%d rows, want 4 (3 step records, 1 provenance)", len(inv.Attestations))
			}
			var steps []string
			for _, e := range inv.Attestations {
				steps = append(steps, e.Step)
				var kinds []string
				for _, l := range e.Locations {
					kinds = append(kinds, l.Source+"/"+l.Kind)
					if l.Kind == store.LocationFile && !strings.HasPrefix(l.Ref, c.ws.Dir()) {
						t.Errorf("file location %q is not in the workspace", l.Ref)
					}
				}
				want := []string{"dir/file", "oci/cosign-att", "oci/referrer"}
				if e.Step == "build" {
					want = []string{"dir/file", "dir/file", "oci/cosign-att", "oci/referrer"}
				}
				if !slices.Equal(kinds, want) {
					t.Errorf("%s %s found in %q, want %q", e.PredicateType, e.Step, kinds, want)
				}
				if e.Time.IsZero() || e.SubjectCount == 0 || len(e.Subjects) == 0 || len(e.KeyIDs) != 1 || e.Size == 0 || e.Error != "" || e.Key != nil || e.Policy != nil {
					t.Errorf("%s: time %s, %d subjects %q, key ids %q, size %d, error %q, key %v, policy %v", e.Step, e.Time, e.SubjectCount, e.Subjects, e.KeyIDs, e.Size, e.Error, e.Key, e.Policy)
				}
				if e.Step == "build" && e.Size != len(indented) {
					t.Errorf("build: size %d, want the largest copy's %d", e.Size, len(indented))
				}
			}
			if !slices.Equal(steps, []string{"checkout", "build", "package", ""}) {
				t.Errorf("rows in time order: steps %q", steps)
			}
			// The provenance's build finished when the last step did.
			if prov := inv.Attestations[3]; prov.PredicateType != "https://slsa.dev/provenance/v1" || !prov.Time.Equal(inv.Attestations[2].Time) || prov.AboutSubject {
				t.Errorf("provenance row: %s at %s, about the image %v", prov.PredicateType, prov.Time, prov.AboutSubject)
			}
			if inv.Sources[0].Attestations != 5 || inv.Sources[1].Attestations != 8 {
				t.Errorf("sources: %+v", inv.Sources)
			}

			// A store that cannot locate: the source is named.
			inv, err = Inspect(context.Background(), subject, []Source{{Name: "oci", Store: getOnly{reg}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range inv.Attestations {
				if !slices.Equal(e.Locations, []store.Location{{Source: "oci"}}) {
					t.Errorf("locations from a store without Locate: %+v", e.Locations)
				}
			}
		})
	}
}

// TestInspectChecks: WithInspectKey says which signatures verify with a
// key, WithInspectPolicy which functionaries verified each (and the
// status of one no functionary signed); both at once, a nil key and a
// subject without digest are usage errors; a failed source is returned
// with what the others hold.
func TestInspectChecks(t *testing.T) {
	t.Parallel()
	c, subject, reg := inspectChain(t, true)
	c.step("scan", "mallory", []string{"app.tar"}, nil, nil, nil)
	sources := []Source{{Name: "dir", Store: NewWorkspace(c.ws)}, {Name: "oci", Store: reg}}
	ciKey, err := sign.NewVerifier(c.key("ci").Public())
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Inspect(context.Background(), subject, sources, WithInspectKey(ciKey))
	if err != nil {
		t.Fatal(err)
	}
	ciID, _ := ciKey.KeyID()
	for _, e := range inv.Attestations {
		if want := e.Step != "scan"; e.Key == nil || e.Key.KeyID != ciID || e.Key.Verified != want {
			t.Errorf("--key: %s: %+v, want verified %v", e.Step, e.Key, want)
		}
	}

	c.key("ci")
	p := c.policy(pipelinePolicy)
	v, err := NewVerifier(p, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	inv, err = Inspect(context.Background(), subject, sources, WithInspectPolicy(v))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inv.Attestations {
		switch {
		case e.Policy == nil:
			t.Errorf("--policy: %s: no check", e.Step)
		case e.Step == "scan":
			if len(e.Policy.Functionaries) != 0 || e.Policy.Status != StatusIgnored {
				t.Errorf("--policy: scan: %+v", e.Policy)
			}
		case !slices.Equal(e.Policy.Functionaries, []string{"ci (" + short(ciID) + ")"}) || e.Policy.Status != StatusVerified:
			t.Errorf("--policy: %s: %+v", e.Step, e.Policy)
		}
	}

	for _, opts := range [][]InspectOption{{WithInspectKey(ciKey), WithInspectPolicy(v)}, {WithInspectKey(nil)}, {WithInspectPolicy(nil)}} {
		if _, err := Inspect(context.Background(), subject, sources, opts...); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("Inspect with %d bad options: %v, want ErrInvalidInput", len(opts), err)
		}
	}
	if _, err := Inspect(context.Background(), store.Subject{Name: "x"}, sources); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("Inspect of a subject without digest: %v", err)
	}

	down, err := oci.New(oci.WithTimeout(200 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	gone := subject
	gone.Name = "127.0.0.1:1/team/app"
	inv, err = Inspect(context.Background(), gone, []Source{{Name: "dir", Store: NewWorkspace(c.ws)}, {Name: "oci", Store: down}})
	if !errors.Is(err, fault.ErrUnavailable) || inv == nil || len(inv.Attestations) != 5 || inv.Sources[1].Error == "" {
		t.Errorf("Inspect with a registry down: %v", err)
	}
}

// TestInspectUnreadable: envelopes that do not parse, a payload that is
// not a statement, and a keyless-looking bundle that is not one are
// listed with an error, never dropped, never fatal.
func TestInspectUnreadable(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	for name, data := range map[string]string{
		"junk.dsse.json":    "{not json",
		"nosig.dsse.json":   `{"payloadType":"text/plain","payload":"aGk=","signatures":[]}`,
		"plain.dsse.json":   `{"payloadType":"text/plain","payload":"aGk=","signatures":[{"keyid":"k","sig":"eA=="}]}`,
		"badstmt.dsse.json": `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"eA=="}]}`,
	} {
		if err := c.ws.Write(name, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ws.Write("plain.sigstore.json", []byte(`{"mediaType":"nonsense"}`)); err != nil {
		t.Fatal(err)
	}
	subject := store.Subject{Name: "x", Digest: mustHash("sha256:" + strings.Repeat("0", 64))}
	inv, err := Inspect(context.Background(), subject, []Source{{Name: "dir", Store: NewWorkspace(c.ws)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Attestations) != 4 {
		t.Fatalf("%d rows, want 4", len(inv.Attestations))
	}
	for _, e := range inv.Attestations {
		if e.Error == "" || len(e.Digest) != 64 {
			t.Errorf("row %q: error %q, want an error and a digest", e.Digest, e.Error)
		}
		if e.Keyless != nil {
			t.Errorf("row %s: a keyless identity from a bundle that is not one", e.Digest)
		}
	}
}

// TestInspectKeyless: a keyless attestation (offline sigstore) in the
// workspace and pushed to a registry (the .att layer with cosign's
// certificate annotations, the referrer's bundle) is one row that states
// its certificate's issuer and subject; a policy whose keyless
// functionary matches it names that functionary.
func TestInspectKeyless(t *testing.T) {
	t.Parallel()
	f := signtest.NewSigstore(t)
	trusted, _ := f.TrustedRoot(t)
	k := f.Keyless(t, sign.WithTrustedMaterial(trusted))
	c, subject, reg := inspectChain(t, true)
	env, envJSON, err := envelope.SignStatement(context.Background(), k, vulnStatement(subject))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := k.Bundle(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := k.KeyID()
	name := workspace.AttestationName("scan", id)
	if err := c.ws.Write(name, envJSON); err != nil {
		t.Fatal(err)
	}
	if err := c.ws.Write(strings.TrimSuffix(name, workspace.SuffixEnvelope)+sign.BundleExt, bundle); err != nil {
		t.Fatal(err)
	}
	if err := reg.Put(context.Background(), subject, store.Attestation{Envelope: envJSON, Bundle: bundle}); err != nil {
		t.Fatal(err)
	}
	p := c.policy(withKeyless(pipelinePolicy, `{issuer: "`+signtest.GitHubIssuer+`", subject: "`+signtest.GitHubSubject+`"}`))
	v, err := NewVerifier(p, WithClock(clock), WithTrustedMaterial(trusted))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Inspect(context.Background(), subject, []Source{{Name: "dir", Store: NewWorkspace(c.ws)}, {Name: "oci", Store: reg}}, WithInspectPolicy(v))
	if err != nil {
		t.Fatal(err)
	}
	var rows []InventoryEntry
	for _, e := range inv.Attestations {
		if e.PredicateType == "https://cosign.sigstore.dev/attestation/vuln/v1" {
			rows = append(rows, e)
		}
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows of the keyless attestation, want 1", len(rows))
	}
	e := rows[0]
	var kinds []string
	for _, l := range e.Locations {
		kinds = append(kinds, l.Source+"/"+l.Kind)
	}
	if !slices.Equal(kinds, []string{"dir/file", "oci/cosign-att", "oci/referrer"}) {
		t.Errorf("found in %q", kinds)
	}
	if e.Keyless == nil || e.Keyless.Issuer != signtest.GitHubIssuer || e.Keyless.Subject != signtest.GitHubSubject || !e.Bundle || !e.AboutSubject {
		t.Errorf("keyless row: identity %+v, bundle %v, about the subject %v", e.Keyless, e.Bundle, e.AboutSubject)
	}
	if e.Policy == nil || !slices.Equal(e.Policy.Functionaries, []string{"release (keyless)"}) {
		t.Errorf("keyless row's policy check: %+v", e.Policy)
	}
}

// TestInspectKeylessBundleOfAnotherEnvelope: a sigstore bundle that
// carries another envelope (a genuine keyless bundle planted next to a
// step record signed by a key, as anything that writes to the workspace
// or answers for a registry can) gives the row no keyless identity: the
// SIGNER column would otherwise name the release workflow's identity for
// a record that identity never signed.
func TestInspectKeylessBundleOfAnotherEnvelope(t *testing.T) {
	t.Parallel()
	f := signtest.NewSigstore(t)
	trusted, _ := f.TrustedRoot(t)
	k := f.Keyless(t, sign.WithTrustedMaterial(trusted))
	c, subject, _ := inspectChain(t, true)
	env, _, err := envelope.SignStatement(context.Background(), k, vulnStatement(subject))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := k.Bundle(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	build := c.envelopeOf("build")
	if err := c.ws.Write(strings.TrimSuffix(build, workspace.SuffixEnvelope)+sign.BundleExt, bundle); err != nil {
		t.Fatal(err)
	}
	inv, err := Inspect(context.Background(), subject, []Source{{Name: "dir", Store: NewWorkspace(c.ws)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inv.Attestations {
		if e.Step == "build" && e.Keyless != nil {
			t.Errorf("the build record (signed by ci's key) shows the keyless identity %+v of a bundle that carries another envelope", e.Keyless)
		}
	}
}

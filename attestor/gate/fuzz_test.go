package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
)

// FuzzParsePolicy: the parser never panics; a policy it accepts has steps,
// thresholds of at least 1 and an expiry; and the gate never passes with
// no attestations.
func FuzzParsePolicy(f *testing.F) {
	dir := f.TempDir()
	c := &chain{t: f, keys: dir, signers: map[string]*signerT{}}
	c.key("ci")
	f.Add([]byte(minimalPolicy))
	f.Add([]byte(pipelinePolicy + provenancePolicy))
	f.Add([]byte(`{"version": 1, "expires": "2027-12-31T00:00:00Z", "functionaries": {"ci": {"key": "ci.pub"}}, "steps": [{"name": "a", "functionaries": ["ci"], "threshold": 1}]}`))
	f.Add([]byte("version: 1\nsteps: [{name: a, threshold: 0}]\n"))
	if files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "policy", "*.yaml")); len(files) > 0 {
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	subject := store.Subject{Name: "app", Digest: mustHash("sha256:" + string(bytes.Repeat([]byte("ab"), 32)))}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data, dir)
		if err != nil {
			return
		}
		if len(p.Steps) == 0 || p.Expires.IsZero() || p.Version != PolicyVersion {
			t.Fatalf("accepted a policy without steps, expiry or version: %+v", p)
		}
		for _, s := range p.Steps {
			if s.Threshold < 1 || len(s.Functionaries) == 0 {
				t.Fatalf("accepted step %+v", s)
			}
		}
		v, err := NewVerifier(p, WithClock(clock), WithExpiredPolicyUnsafe())
		if err != nil {
			t.Fatalf("NewVerifier of a parsed policy: %v", err)
		}
		res, err := v.Verify(context.Background(), subject, nil)
		if err == nil || res.Verified {
			t.Fatalf("passed with no attestations:\n%s", data)
		}
	})
}

// FuzzVerifyEnvelope: a mutated step record never verifies. The gate may
// pass only for an envelope that carries the very payload that was
// signed (a re-encoding of the same signed envelope).
func FuzzVerifyEnvelope(f *testing.F) {
	c := newChain(f)
	c.write(map[string]string{"app": "binary"})
	c.step("build", "ci", nil, []string{"app"}, []string{"make"}, nil)
	name := c.envelopeOf("build")
	orig, err := c.ws.Read(name)
	if err != nil {
		f.Fatal(err)
	}
	origEnv, err := envelope.Parse(orig)
	if err != nil {
		f.Fatal(err)
	}
	p := c.policy(`version: 1
expires: 2027-12-31T00:00:00Z
functionaries: {ci: {key: ci.pub}}
steps: [{name: build, functionaries: [ci], products: [[CREATE, app], [DISALLOW, "*"]]}]
`)
	v, err := NewVerifier(p, WithClock(clock))
	if err != nil {
		f.Fatal(err)
	}
	subject := c.subject("app")
	if _, err := v.Verify(context.Background(), subject, []store.Attestation{{Envelope: orig}}); err != nil {
		f.Fatalf("the original does not verify: %v", err)
	}
	f.Add(orig)
	f.Add(bytes.Replace(orig, []byte(`"payloadType":"application/vnd.in-toto+json"`), []byte(`"payloadType":"application/json"`), 1))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := v.Verify(context.Background(), subject, []store.Attestation{{Envelope: data}})
		if res == nil {
			t.Fatalf("no result: %v", err)
		}
		if err != nil {
			return
		}
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
		}
		e, perr := envelope.Parse(data)
		if perr != nil {
			t.Fatalf("passed with an envelope that does not parse: %v", perr)
		}
		_ = json.Unmarshal(data, &env)
		got, _ := e.DecodeB64Payload()
		want, _ := origEnv.DecodeB64Payload()
		if e.PayloadType != origEnv.PayloadType || !bytes.Equal(got, want) {
			t.Fatalf("a mutated envelope verified:\n%s", data)
		}
	})
}

// TestNoAttestationsNeverPass: no attestations is a failure, whatever the
// policy.
func TestNoAttestationsNeverPass(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	c.pipeline(nil)
	for _, doc := range []string{pipelinePolicy, pipelinePolicy + provenancePolicy, minimalPolicy} {
		v, err := NewVerifier(c.policy(doc), WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		for _, atts := range [][]store.Attestation{nil, {}} {
			res, err := v.Verify(context.Background(), c.subject("app.tar"), atts)
			if err == nil || res.Verified || !hasCode(res, "no-attestations") {
				t.Errorf("no attestations: %v %s", err, dump(res))
			}
		}
	}
}

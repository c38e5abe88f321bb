package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/internal/testkit"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/workspace"
	"github.com/attestor/attestor/provenance"
)

// now is the injected time of every test verification.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// chain is a build recorded for real: a source tree, a workspace, keys.
type chain struct {
	t    testing.TB
	base string // the source tree and the recorder's base directory
	keys string // where public keys (and the policy) live
	ws   *workspace.Workspace
	// signers by functionary name
	signers map[string]*sign.Signer
	when    time.Time
}

func newChain(t testing.TB) *chain {
	t.Helper()
	root := t.TempDir()
	c := &chain{t: t, base: filepath.Join(root, "build"), keys: filepath.Join(root, "policy"), signers: map[string]*sign.Signer{}, when: now.Add(-2 * time.Hour)}
	for _, d := range []string{c.base, c.keys} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := workspace.Open(filepath.Join(c.base, ".attestor"))
	if err != nil {
		t.Fatal(err)
	}
	c.ws = ws
	return c
}

// key returns the signer of the named functionary (testkit.Key), writing
// its public key to keys/<name>.pub on first use.
func (c *chain) key(name string) *sign.Signer {
	c.t.Helper()
	if s, ok := c.signers[name]; ok {
		return s
	}
	s := testkit.Key(c.t, c.keys, name)
	c.signers[name] = s
	return s
}

// write writes files below the source tree.
func (c *chain) write(files map[string]string) {
	c.t.Helper()
	for name, content := range files {
		p := filepath.Join(c.base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			c.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
}

// step records a step signed by the named functionary: materials hashed,
// do run (the "command"), products hashed.
func (c *chain) step(name, signer string, materials, products, command []string, do func()) {
	c.t.Helper()
	ctx := context.Background()
	c.when = c.when.Add(time.Minute)
	when := c.when
	rec, err := attestor.NewRecorder(c.ws, c.key(signer),
		attestor.WithHashOptions(hashing.WithBaseDir(c.base)),
		attestor.WithClock(func() time.Time { return when }))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := rec.Start(ctx, attestor.Step{Name: name, Materials: materials}); err != nil {
		c.t.Fatal(err)
	}
	if do != nil {
		do()
	}
	if _, err := rec.Stop(ctx, attestor.Step{Name: name, Products: products, Command: command}); err != nil {
		c.t.Fatal(err)
	}
}

// pipeline records checkout → build → package, signed by ci; between, if
// set, runs after the named step.
func (c *chain) pipeline(between map[string]func()) {
	c.t.Helper()
	c.write(map[string]string{"upstream/main.c": "int main(void) { return 0; }\n", "upstream/build.sh": "cc -o dist/app src/main.c\n"})
	c.step("checkout", "ci", nil, []string{"src"}, []string{"cp", "-R", "upstream", "src"}, func() {
		c.write(map[string]string{"src/main.c": "int main(void) { return 0; }\n", "src/build.sh": "cc -o dist/app src/main.c\n"})
	})
	if f := between["checkout"]; f != nil {
		f()
	}
	c.step("build", "ci", []string{"src"}, []string{"dist"}, []string{"sh", "src/build.sh"}, func() {
		c.write(map[string]string{"dist/app": "\x7fELF app\n"})
	})
	if f := between["build"]; f != nil {
		f()
	}
	c.step("package", "ci", []string{"dist"}, []string{"app.tar"}, []string{"tar", "-cf", "app.tar", "-C", "dist", "app"}, func() {
		data, err := os.ReadFile(filepath.Join(c.base, "dist", "app"))
		if err != nil {
			c.t.Fatal(err)
		}
		c.write(map[string]string{"app.tar": "tar of " + string(data)})
	})
}

// subject is the file subject of name in the source tree.
func (c *chain) subject(name string) store.Subject {
	c.t.Helper()
	data, err := os.ReadFile(filepath.Join(c.base, name))
	if err != nil {
		c.t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return store.Subject{Name: name, Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
}

// provenance signs an SLSA v1 provenance of subject over the workspace's
// step records with the named functionary.
func (c *chain) provenance(signer string, subject store.Subject, opts ...provenance.Option) {
	c.t.Helper()
	steps := c.readSteps()
	opts = append([]provenance.Option{
		provenance.WithBuilderID("https://github.com/actions/runner"),
		provenance.WithBuildType("https://actions.github.io/buildtypes/workflow/v1"),
		provenance.WithSource(actions.Source{Repo: "https://github.com/acme/app", Ref: "refs/heads/main", Commit: strings.Repeat("a", 40)}),
	}, opts...)
	st, err := provenance.Build(provenance.Input{
		Steps:    steps,
		Subjects: []*ita1RD{{Name: subject.Name, Digest: map[string]string{"sha256": subject.Digest.Hex}}},
	}, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sign(signer, "provenance", st)
}

func (c *chain) sign(signer, kind string, st *ita1Statement) {
	c.t.Helper()
	s := c.key(signer)
	_, data, err := envelope.SignStatement(context.Background(), s, st)
	if err != nil {
		c.t.Fatal(err)
	}
	id, _ := s.KeyID()
	if err := c.ws.Write(workspace.AttestationName(kind, id), data); err != nil {
		c.t.Fatal(err)
	}
}

func (c *chain) readSteps() []*provenance.Step {
	c.t.Helper()
	names, err := c.ws.Envelopes()
	if err != nil {
		c.t.Fatal(err)
	}
	var steps []*provenance.Step
	for _, n := range names {
		data, err := c.ws.Read(n)
		if err != nil {
			c.t.Fatal(err)
		}
		s, err := provenance.ReadStep(n, data)
		if errors.Is(err, provenance.ErrNotStepRecord) {
			continue
		}
		if err != nil {
			c.t.Fatal(err)
		}
		steps = append(steps, s)
	}
	return steps
}

// policy parses a policy whose keys are in c.keys.
func (c *chain) policy(doc string) *Policy {
	c.t.Helper()
	path := filepath.Join(c.keys, "policy.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		c.t.Fatal(err)
	}
	p, err := LoadPolicy(path)
	if err != nil {
		c.t.Fatalf("policy: %v", err)
	}
	return p
}

// verify verifies subject from the workspace.
func (c *chain) verify(p *Policy, subject store.Subject, opts ...Option) (*Result, error) {
	c.t.Helper()
	atts, _, err := Fetch(context.Background(), subject, Source{Name: "dir", Store: NewWorkspace(c.ws)})
	if err != nil {
		c.t.Fatal(err)
	}
	v, err := NewVerifier(p, append([]Option{WithClock(clock)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	return v.Verify(context.Background(), subject, atts)
}

// pipelinePolicy is the policy of the pipeline, with extra appended at
// the top level.
const pipelinePolicy = `version: 1
expires: 2027-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: checkout
    functionaries: [ci]
    materials: [[DISALLOW, "*"]]
    products: [[CREATE, "src/*"], [DISALLOW, "*"]]
  - name: build
    functionaries: [ci]
    threshold: 1
    expectedCommand: [sh, src/build.sh]
    materials: [[MATCH, "src/*", WITH, PRODUCTS, FROM, checkout], [DISALLOW, "*"]]
    products: [[CREATE, dist/app], [DISALLOW, "*"]]
  - name: package
    functionaries: [ci]
    materials: [[MATCH, dist/app, WITH, PRODUCTS, FROM, build], [DISALLOW, "*"]]
    products: [[CREATE, app.tar], [DISALLOW, "*"]]
`

const provenancePolicy = `provenance:
  functionaries: [ci]
  builderIds: ["https://github.com/actions/runner"]
  buildTypes: ["https://actions.github.io/buildtypes/workflow/v1"]
  sourceRepos: ["https://github.com/acme/*"]
  refs: ["refs/heads/main", "refs/tags/v*"]
  maxAge: 168h
`

type (
	ita1RD        = ita1.ResourceDescriptor
	ita1Statement = ita1.Statement
)

func mustStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

type storeSubject = store.Subject

type signerT = sign.Signer

func mustHash(s string) v1.Hash {
	h, err := v1.NewHash(s)
	if err != nil {
		panic(err)
	}
	return h
}

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }

package provenance_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/google/go-cmp/cmp"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/provenance"
)

var update = flag.Bool("update", false, "rewrite golden files")

const envDir = "../testdata/provenance/env"

// testSigner is a deterministic ed25519 signer, so envelopes (and their
// digests in the provenance) are the same on every run.
type testSigner struct{ priv ed25519.PrivateKey }

func newTestSigner() *testSigner {
	return &testSigner{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))}
}

func (s *testSigner) Sign(_ context.Context, msg []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, msg), nil
}

func (s *testSigner) KeyID() (string, error) {
	sum := sha256.Sum256(s.priv.Public().(ed25519.PublicKey))
	return hex.EncodeToString(sum[:]), nil
}

func (s *testSigner) Public() crypto.PublicKey { return s.priv.Public() }

func digest(s string) map[string]string {
	sum := sha256.Sum256([]byte(s))
	return map[string]string{"sha256": hex.EncodeToString(sum[:])}
}

var t0 = time.Date(2026, 11, 24, 9, 13, 0, 0, time.UTC)

// records are the step records of a small build: test, then build.
func records() []*attestor.Record {
	zero := 0
	return []*attestor.Record{
		{
			Step:      "build",
			Command:   []string{"go", "build", "-o", "bin/app", "."},
			Materials: []*ita1.ResourceDescriptor{{Name: "go.mod", Digest: digest("go.mod")}, {Name: "main.go", Digest: digest("main.go")}},
			Products:  []*ita1.ResourceDescriptor{{Name: "bin/app", Digest: digest("bin/app")}},
			ExitCode:  &zero,
			StartedOn: t0.Add(2 * time.Minute), FinishedOn: t0.Add(3 * time.Minute),
		},
		{
			Step:      "test",
			Command:   []string{"go", "test", "./..."},
			Materials: []*ita1.ResourceDescriptor{{Name: "go.mod", Digest: digest("go.mod")}, {Name: "main.go", Digest: digest("main.go")}, {Name: "main_test.go", Digest: digest("main_test.go")}},
			ExitCode:  &zero,
			Stdout:    "ok  \texample.com/app\t0.012s\n",
			StartedOn: t0, FinishedOn: t0.Add(time.Minute),
		},
	}
}

// signedSteps signs recs as the Recorder does and reads them back as the
// CLI does.
func signedSteps(t *testing.T, recs []*attestor.Record) []*provenance.Step {
	t.Helper()
	signer := newTestSigner()
	keyID, _ := signer.KeyID()
	var steps []*provenance.Step
	for _, r := range recs {
		st, err := r.Statement()
		if err != nil {
			t.Fatal(err)
		}
		_, data, err := envelope.SignStatement(context.Background(), signer, st)
		if err != nil {
			t.Fatal(err)
		}
		s, err := provenance.ReadStep(workspace.EnvelopeName(r.Step, keyID), data)
		if err != nil {
			t.Fatal(err)
		}
		s.Verified = true // signed by the test key, as the CLI checks it
		steps = append(steps, s)
	}
	return steps
}

// unverified returns steps with Verified false: records nothing checked.
func unverified(steps []*provenance.Step) []*provenance.Step {
	for _, s := range steps {
		s.Verified = false
	}
	return steps
}

func loadEnv(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(envDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, _ := strings.Cut(line, "="); k == "GITHUB_EVENT_PATH" && !filepath.IsAbs(v) {
			abs, err := filepath.Abs(filepath.Join(envDir, v))
			if err != nil {
				t.Fatal(err)
			}
			line = k + "=" + abs
		}
		env = append(env, line)
	}
	return env
}

// gitRepo makes a git repository with one deterministic commit on main.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = []string{
			"HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@acme.example", "GIT_AUTHOR_DATE=2026-11-24T09:00:00Z",
			"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@acme.example", "GIT_COMMITTER_DATE=2026-11-24T09:00:00Z",
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "main.go")
	git("commit", "-q", "--no-gpg-sign", "-m", "first")
	git("remote", "add", "origin", "git@github.com:acme/app.git")
	return dir
}

func facts(t *testing.T, platform string) *actions.Facts {
	t.Helper()
	ctx := context.Background()
	var (
		f   *actions.Facts
		err error
	)
	if platform == "local" {
		dir := gitRepo(t)
		f, err = actions.Detect(ctx, []string{"USER=dev", "HOSTNAME=devbox", "HOME=" + dir}, actions.WithDir(dir))
	} else {
		f, err = actions.Detect(ctx, loadEnv(t, platform+".env"), actions.WithDir(t.TempDir()))
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var image = &ita1.ResourceDescriptor{
	Name:   "europe-west1-docker.pkg.dev/acme-prod/apps/app",
	Digest: digest("manifest"),
}

func fixedClock() time.Time { return time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) }

func golden(t *testing.T, name string, st *ita1.Statement) {
	t.Helper()
	raw, err := envelope.MarshalStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// TestGolden builds the provenance of the same build on every platform, in
// both versions, validates it with the in-toto library's validators,
// round-trips it, and compares it with its golden file.
func TestGolden(t *testing.T) {
	t.Parallel()
	steps := signedSteps(t, records())
	for _, platform := range []string{"github", "cloudbuild", "spinnaker", "gitlab", "local"} {
		for _, v := range []provenance.Version{provenance.V1, provenance.V02} {
			t.Run(platform+"/"+string(v), func(t *testing.T) {
				t.Parallel()
				in := provenance.Input{Facts: facts(t, platform), Steps: steps}
				if platform == "github" || platform == "cloudbuild" {
					in.Subjects = []*ita1.ResourceDescriptor{image}
				}
				st, err := provenance.Build(in, provenance.WithVersion(v), provenance.WithClock(fixedClock))
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Validate(); err != nil {
					t.Fatalf("statement does not validate: %v", err)
				}
				roundTrip(t, st, v)
				golden(t, platform+".v"+string(v)+".json", st)
			})
		}
	}
}

func roundTrip(t *testing.T, st *ita1.Statement, v provenance.Version) {
	t.Helper()
	data, err := envelope.MarshalStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := envelope.ParseStatement(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, back, protocmp.Transform()); diff != "" {
		t.Fatalf("statement round trip (-built +parsed):\n%s", diff)
	}
	switch v {
	case provenance.V1:
		want, err := provenance.V1Predicate(st)
		if err != nil {
			t.Fatal(err)
		}
		if err := want.Validate(); err != nil {
			t.Fatalf("predicate does not validate: %v", err)
		}
		got, err := provenance.V1Predicate(back)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Fatalf("v1 predicate round trip (-built +parsed):\n%s", diff)
		}
		if len(got.GetRunDetails().GetByproducts()) != 2 {
			t.Fatalf("byproducts: %v, want both step records", got.GetRunDetails().GetByproducts())
		}
	case provenance.V02:
		want, err := provenance.V02Predicate(st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := provenance.V02Predicate(back)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Fatalf("v0.2 predicate round trip (-built +parsed):\n%s", diff)
		}
		if want.GetBuilder().GetId() == "" || want.GetBuildType() == "" {
			t.Fatalf("v0.2 without builder or build type: %v", want)
		}
	}
}

func TestBuildDefaults(t *testing.T) {
	t.Parallel()
	steps := signedSteps(t, records())
	st, err := provenance.Build(provenance.Input{Facts: facts(t, "spinnaker"), Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	p, err := provenance.V1Predicate(st)
	if err != nil {
		t.Fatal(err)
	}
	// Subjects: the products of the step that finished last (build).
	if diff := cmp.Diff(records()[0].Products, st.GetSubject(), protocmp.Transform()); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	// Times: from the step records.
	md := p.GetRunDetails().GetMetadata()
	if !md.GetStartedOn().AsTime().Equal(t0) || !md.GetFinishedOn().AsTime().Equal(t0.Add(3*time.Minute)) {
		t.Errorf("startedOn %v finishedOn %v", md.GetStartedOn().AsTime(), md.GetFinishedOn().AsTime())
	}
	// Resolved dependencies: the source, then the first step's (test's)
	// materials.
	deps := p.GetBuildDefinition().GetResolvedDependencies()
	if len(deps) != 4 || deps[0].GetUri() != "git+https://github.com/acme/app@refs/heads/main" ||
		deps[0].GetDigest()["sha1"] != "5f0e4c1a7b2d3e9f8a6b5c4d3e2f1a0b9c8d7e6f" || deps[3].GetName() != "main_test.go" {
		t.Errorf("resolvedDependencies: %v", deps)
	}
	// Every step record, by the digest of its envelope.
	for i, bp := range p.GetRunDetails().GetByproducts() {
		s := steps[i] // sorted by file name: build, test
		if bp.GetName() != s.File || bp.GetDigest()["sha256"] != s.Digest {
			t.Errorf("byproduct %d = %v, want %s %s", i, bp, s.File, s.Digest)
		}
	}
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	steps := signedSteps(t, records())
	src, err := actions.ParseSource("https://github.com/acme/fork@refs/heads/feature")
	if err != nil {
		t.Fatal(err)
	}
	st, err := provenance.Build(provenance.Input{Facts: facts(t, "github"), Steps: steps},
		provenance.WithBuilderID("https://ci.acme.example/builder"),
		provenance.WithBuildType("https://ci.acme.example/buildtype/v1"),
		provenance.WithSource(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := provenance.V1Predicate(st)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.GetRunDetails().GetBuilder().GetId(); got != "https://ci.acme.example/builder" {
		t.Errorf("builder id %q", got)
	}
	if got := p.GetBuildDefinition().GetBuildType(); got != "https://ci.acme.example/buildtype/v1" {
		t.Errorf("build type %q", got)
	}
	// Another repository: the detected commit is not its commit.
	dep := p.GetBuildDefinition().GetResolvedDependencies()[0]
	if dep.GetUri() != "git+https://github.com/acme/fork@refs/heads/feature" || len(dep.GetDigest()) != 0 {
		t.Errorf("source dependency %v", dep)
	}

	// With no facts at all, the overrides are enough.
	if _, err := provenance.Build(provenance.Input{Steps: steps},
		provenance.WithBuilderID("https://ci.acme.example/builder"),
		provenance.WithBuildType("https://ci.acme.example/buildtype/v1"),
		provenance.WithSource(src)); err != nil {
		t.Errorf("facts from overrides only: %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	steps := signedSteps(t, records())
	noProducts := records()
	noProducts[0].Products = nil // build made nothing; it still finished last
	gh := facts(t, "github")
	gh.BuilderID = ""
	for _, tc := range []struct {
		name string
		in   provenance.Input
		opts []provenance.Option
		want error
	}{
		{"no steps", provenance.Input{Facts: facts(t, "github")}, nil, provenance.ErrNoSteps},
		{"no subjects", provenance.Input{Facts: facts(t, "github"), Steps: signedSteps(t, noProducts)}, nil, provenance.ErrNoSubjects},
		{"unverified final step", provenance.Input{Facts: facts(t, "github"), Steps: unverified(signedSteps(t, records()))}, nil, provenance.ErrUnverifiedFinalStep},
		{"no builder id", provenance.Input{Facts: gh, Steps: steps}, nil, provenance.ErrNoBuilderID},
		{"no facts", provenance.Input{Steps: steps}, nil, provenance.ErrNoExternalParameters},
		{"no facts, builder given", provenance.Input{Steps: steps}, []provenance.Option{provenance.WithBuilderID("b"), provenance.WithBuildType("t")}, provenance.ErrNoExternalParameters},
		{"bad version", provenance.Input{Facts: facts(t, "github"), Steps: steps}, []provenance.Option{provenance.WithVersion("3")}, fault.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provenance.Build(tc.in, tc.opts...)
			if !errors.Is(err, tc.want) || !errors.Is(err, fault.ErrInvalidInput) {
				t.Fatalf("err = %v, want %v (and invalid input)", err, tc.want)
			}
		})
	}
}

func TestReadStepSkipsOtherStatements(t *testing.T) {
	t.Parallel()
	steps := signedSteps(t, records())
	st, err := provenance.Build(provenance.Input{Facts: facts(t, "spinnaker"), Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := envelope.SignStatement(context.Background(), newTestSigner(), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provenance.ReadStep(workspace.AttestationName("provenance", "k"), data); !errors.Is(err, provenance.ErrNotStepRecord) {
		t.Fatalf("ReadStep(provenance) = %v, want ErrNotStepRecord", err)
	}
	if _, err := provenance.ReadStep("x.dsse.json", []byte("{}")); !errors.Is(err, fault.ErrInvalidInput) || errors.Is(err, provenance.ErrNotStepRecord) {
		t.Fatalf("ReadStep(garbage) = %v, want invalid input", err)
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]provenance.Version{"1": provenance.V1, "1.0": provenance.V1, "v1": provenance.V1, "0.2": provenance.V02, "v0.2": provenance.V02} {
		if got, err := provenance.ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "2", "0.1", "1.1"} {
		if _, err := provenance.ParseVersion(in); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("ParseVersion(%q): %v", in, err)
		}
	}
}

// TestNoNetworkClient enforces the design rule: the engine and the
// provenance import no network client.
func TestNoNetworkClient(t *testing.T) {
	t.Parallel()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // the toolchain running the test
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out, err := exec.Command(goTool, "list", "-deps",
		"github.com/attestor/attestor/attestor",
		"github.com/attestor/attestor/actions",
		"github.com/attestor/attestor/provenance").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == "net/http", pkg == "net/rpc", pkg == "net/smtp", pkg == "crypto/tls",
			strings.HasPrefix(pkg, "google.golang.org/grpc"), strings.HasPrefix(pkg, "github.com/google/go-containerregistry/pkg/v1/remote"):
			t.Errorf("imports network client %s", pkg)
		}
	}
}

// TestDirtySource: a source whose tree had changes keeps its commit, marked
// dirty, so a policy can refuse it.
func TestDirtySource(t *testing.T) {
	t.Parallel()
	f := facts(t, "spinnaker")
	f.Source.Dirty = true
	st, err := provenance.Build(provenance.Input{Facts: f, Steps: signedSteps(t, records())})
	if err != nil {
		t.Fatal(err)
	}
	p, err := provenance.V1Predicate(st)
	if err != nil {
		t.Fatal(err)
	}
	dep := p.GetBuildDefinition().GetResolvedDependencies()[0]
	if !dep.GetAnnotations().GetFields()[provenance.AnnotationDirty].GetBoolValue() {
		t.Errorf("source not marked dirty: %v", dep)
	}
}

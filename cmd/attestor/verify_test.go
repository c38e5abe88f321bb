package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
)

// gateProject records build → package in a project and writes a policy
// for them; it returns the project and the policy's path.
func gateProject(t *testing.T) (*project, string) {
	t.Helper()
	p := newProject(t)
	build := append([]string{"run", "--step", "build", "-m", "src", "-p", "bin"}, p.flags()...)
	build = append(build, "--", "sh", "-c", `mkdir -p "$0/bin" && cat "$0"/src/*.c > "$0/bin/app"`, p.base)
	if r := cli(t, build...); r.code != 0 {
		t.Fatalf("run build:\n%s", r)
	}
	pkg := append([]string{"run", "--step", "package", "-m", "bin", "-p", "app.tar"}, p.flags()...)
	pkg = append(pkg, "--", "sh", "-c", `cp "$0/bin/app" "$0/app.tar"`, p.base)
	if r := cli(t, pkg...); r.code != 0 {
		t.Fatalf("run package:\n%s", r)
	}
	keys := t.TempDir()
	s, err := sign.Load(p.key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.MarshalPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return p, buildPackagePolicy(t, keys, string(pub))
}

// buildPackagePolicy writes into dir the policy of gateProject's steps,
// build then package, signed by the key pubPEM (keys/ci.pub), and returns
// its path.
func buildPackagePolicy(t *testing.T, dir, pubPEM string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "keys", "ci.pub"), pubPEM)
	policy := filepath.Join(dir, "policy.yaml")
	writeFile(t, policy, `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: keys/ci.pub}
steps:
  - name: build
    functionaries: [ci]
    materials: [[ALLOW, "src/*"], [DISALLOW, "*"]]
    products: [[CREATE, bin/app], [DISALLOW, "*"]]
  - name: package
    functionaries: [ci]
    materials: [[MATCH, bin/app, WITH, PRODUCTS, FROM, build], [DISALLOW, "*"]]
    products: [[CREATE, app.tar], [DISALLOW, "*"]]
`)
	return policy
}

// TestVerifyCLI: exit 0 on a pass, 1 on a failure (with every reason in the
// table), 2 on a bad policy, 3 when a source fails; --json is the result;
// --key writes a signed verification summary.
func TestVerifyCLI(t *testing.T) {
	t.Parallel()
	p, policy := gateProject(t)
	verify := func(extra ...string) result {
		return cli(t, append([]string{"verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy}, extra...)...)
	}

	r := verify()
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("verify of an honest chain:\n%s", r)
	}
	assertContains(t, "stderr", r.stderr, ": PASSED", "STEP", "build", "package", "no --key: no verification summary written")

	r = verify("--json", "--key", p.key)
	if r.code != 0 {
		t.Fatalf("verify --json --key:\n%s", r)
	}
	var out struct {
		Verified bool   `json:"verified"`
		Verdict  string `json:"verdict"`
		Summary  string `json:"summary"`
		Steps    []struct {
			Name    string `json:"name"`
			Verdict string `json:"verdict"`
		} `json:"steps"`
		Sources []struct {
			Name         string `json:"name"`
			Attestations int    `json:"attestations"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if !out.Verified || out.Verdict != "PASSED" || len(out.Steps) != 2 || len(out.Sources) != 1 || out.Sources[0].Attestations != 2 {
		t.Errorf("--json output: %+v", out)
	}
	if want := filepath.Join(p.ws, workspace.AttestationName("vsa", p.keyID(t))); out.Summary != want {
		t.Errorf("summary %q, want %q", out.Summary, want)
	} else if data, err := os.ReadFile(want); err != nil || !strings.Contains(string(data), "payloadType") {
		t.Errorf("summary file: %v", err)
	}

	// The artifact altered after packaging: another artifact (exit 1).
	writeFile(t, p.path("app.tar"), "evil")
	r = verify()
	if r.code != 1 {
		t.Fatalf("verify of an altered artifact: exit %d, want 1:\n%s", r.code, r)
	}
	assertContains(t, "stderr", r.stderr, ": FAILED", "subject-mismatch [package]")
}

// TestVerifyCLISummary: the verification summary that --key writes names
// the file and the policy by URIs that hold no local directory (the
// artifact and the policy are given by absolute paths here), or by the
// URIs given; a bad URI, or one without --key, is a usage error.
func TestVerifyCLISummary(t *testing.T) {
	t.Parallel()
	p, policy := gateProject(t)
	summary := func(t *testing.T, extra ...string) map[string]any {
		t.Helper()
		r := cli(t, append([]string{"verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy, "--key", p.key}, extra...)...)
		if r.code != 0 {
			t.Fatalf("verify --key:\n%s", r)
		}
		data, err := os.ReadFile(filepath.Join(p.ws, workspace.AttestationName("vsa", p.keyID(t))))
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := env.DecodeB64Payload()
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{p.base, filepath.Dir(policy)} {
			if strings.Contains(string(payload), dir) {
				t.Errorf("the summary holds the local directory %s: %s", dir, payload)
			}
		}
		var st struct {
			Subject []struct {
				Name string `json:"name"`
			} `json:"subject"`
			Predicate map[string]any `json:"predicate"`
		}
		if err := json.Unmarshal(payload, &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Subject) != 1 || st.Subject[0].Name != "app.tar" {
			t.Errorf("subject %+v, want app.tar", st.Subject)
		}
		return st.Predicate
	}
	data, err := os.ReadFile(p.path("app.tar"))
	if err != nil {
		t.Fatal(err)
	}
	policyData, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	fileSum, policySum := sha256.Sum256(data), sha256.Sum256(policyData)

	pred := summary(t)
	if got, want := pred["resourceUri"], "pkg:generic/app.tar?checksum=sha256:"+hex.EncodeToString(fileSum[:]); got != want {
		t.Errorf("resourceUri %v, want %s", got, want)
	}
	if got, want := pred["policy"].(map[string]any)["uri"], "pkg:generic/policy.yaml?checksum=sha256:"+hex.EncodeToString(policySum[:]); got != want {
		t.Errorf("policy.uri %v, want %s", got, want)
	}

	pred = summary(t, "--policy-uri", "https://github.com/acme/policies/blob/v3/policy.yaml",
		"--resource-uri", "https://github.com/acme/app/releases/download/v1.0.0/app.tar")
	if pred["resourceUri"] != "https://github.com/acme/app/releases/download/v1.0.0/app.tar" ||
		pred["policy"].(map[string]any)["uri"] != "https://github.com/acme/policies/blob/v3/policy.yaml" {
		t.Errorf("URIs given: %v", pred)
	}

	for _, args := range [][]string{
		{"--key", p.key, "--policy-uri", policy},
		{"--key", p.key, "--resource-uri", "app.tar"},
		{"--policy-uri", "https://github.com/acme/policies/blob/v3/policy.yaml"},
	} {
		r := cli(t, append([]string{"verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy}, args...)...)
		if r.code != 2 {
			t.Errorf("verify %v: exit %d, want 2:\n%s", args, r.code, r)
		}
	}
}

func TestVerifyCLIArtifactRule(t *testing.T) {
	t.Parallel()
	p, policy := gateProject(t)
	// bin/app altered between build and package: re-record package.
	writeFile(t, p.path("bin/app"), "evil")
	pkg := append([]string{"run", "--step", "package", "-m", "bin", "-p", "app.tar"}, p.flags()...)
	pkg = append(pkg, "--", "sh", "-c", `cp "$0/bin/app" "$0/app.tar"`, p.base)
	if r := cli(t, pkg...); r.code != 0 {
		t.Fatalf("run package:\n%s", r)
	}
	r := cli(t, "verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy, "--json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", r.code, r)
	}
	assertContains(t, "stderr", r.stderr, "artifact-rule [package]", "bin/app")
	assertContains(t, "stdout", r.stdout, `"code": "artifact-rule"`)
}

func TestVerifyCLIBadInput(t *testing.T) {
	t.Parallel()
	p, policy := gateProject(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, "version: 1\nexpires: 2099-12-31T00:00:00Z\nfunctionaries: {ci: {key: ci.pub}}\nsteps: []\nthreshhold: 1\n")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--artifact", p.path("app.tar")}, "--policy is required"},
		{[]string{"--policy", policy}, "--image or --artifact is required"},
		{[]string{"--policy", policy, "--artifact", p.path("missing")}, "missing"},
		{[]string{"--policy", policy, "--artifact", p.path("app.tar"), "--image", "x"}, "not both"},
		{[]string{"--policy", bad, "--artifact", p.path("app.tar")}, "line 5, threshhold: unknown field"},
		{[]string{"--policy", policy, "--artifact", p.path("app.tar"), "--from", "s3"}, `--from "s3"`},
		{[]string{"--policy", policy, "--artifact", p.path("app.tar"), "--from", "grafeas"}, "--grafeas-project"},
		{[]string{"--layout", policy}, "--layout needs --layout-key"},
	} {
		r := cli(t, append([]string{"verify", "--dir", p.ws}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("verify %q: exit %d, want 2 and %q:\n%s", tt.args, r.code, tt.want, r)
		}
	}
}

// TestVerifyCLISourceFails: a source that cannot be reached is exit 3,
// even when the others' attestations would pass.
func TestVerifyCLISourceFails(t *testing.T) {
	t.Parallel()
	p, policy := gateProject(t)
	r := cli(t, "verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy,
		"--from", "dir,grafeas", "--grafeas", "http://127.0.0.1:1", "--grafeas-project", "p")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3:\n%s", r.code, r)
	}
	assertContains(t, "stderr", r.stderr, "source grafeas: FAILED")
}

// TestVerifyCLILayout: --layout verifies the legacy links of the interop
// pipeline with a classic layout, and rejects a tampered pipeline.
func TestVerifyCLILayout(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	functionary, functionaryPath := newSigner(t, keys, "functionary", "ed25519")
	layoutKey, _ := newSigner(t, keys, "layout", "rsa")
	layoutPub := filepath.Join(keys, "layout.pub")
	writeLayoutPublicKey(t, layoutKey, "rsa", layoutPub)
	layoutPath := filepath.Join(keys, "root.layout")
	signLayout(t, newLayout(functionary.InTotoKey()), layoutKey, layoutPath)

	work := recordPipeline(t, functionaryPath, nil)
	r := cli(t, "verify", "--dir", filepath.Join(work, ".attestor"), "--layout", layoutPath, "--layout-key", layoutPub)
	if r.code != 0 {
		t.Fatalf("verify --layout:\n%s", r)
	}
	tampered := recordPipeline(t, functionaryPath, map[string]func(string){
		"build": func(work string) { writeFile(t, filepath.Join(work, "dist", "app"), "evil") },
	})
	r = cli(t, "verify", "--json", "--dir", filepath.Join(tampered, ".attestor"), "--layout", layoutPath, "--layout-key", layoutPub)
	if r.code != 1 || !strings.Contains(r.stderr, "dist/app") || !strings.Contains(r.stdout, `"verdict": "FAILED"`) {
		t.Fatalf("verify --layout of a tampered pipeline: exit %d, want 1:\n%s", r.code, r)
	}
}

// TestVerifyTableGolden: the human summary of a result.
func TestVerifyTableGolden(t *testing.T) {
	t.Parallel()
	res := &gate.Result{
		Verdict: gate.Failed,
		Subject: gate.SubjectRef{Name: "registry.example/acme/app", Digest: "sha256:" + strings.Repeat("ab", 32)},
		Policy:  gate.PolicyRef{Source: "policy.yaml"},
		Steps: []gate.StepResult{
			{Name: "checkout", Threshold: 1, Signers: []string{"ci (41c52237bb6a)"}, Verdict: gate.Passed},
			{Name: "build", Threshold: 2, Signers: []string{"ci (41c52237bb6a)"}, Verdict: gate.Failed, Reasons: []string{"1 distinct signing key of the 2 required", "command [\"make\"], expected [\"make\" \"build\"]"}},
			{Name: "package", Threshold: 1, Signers: []string{}, Verdict: gate.Failed, Reasons: []string{"no record of the step was found"}},
		},
		Provenance:   &gate.ProvenanceResult{Verdict: gate.Passed, Signers: []string{"ci (41c52237bb6a)"}},
		Attestations: []gate.AttestationResult{{PredicateType: "https://cosign.sigstore.dev/attestation/vuln/v1", Verdict: gate.Passed, Signers: []string{"scanner (keyless)"}}},
		Reasons: []gate.Reason{
			{Code: "threshold", Step: "build", Message: "1 distinct signing key of the 2 required"},
			{Code: "command", Step: "build", Message: "command [\"make\"], expected [\"make\" \"build\"]"},
			{Code: "missing-step", Step: "package", Message: "no record of the step was found"},
		},
	}
	var buf strings.Builder
	writeVerifyTable(&buf, &verifyOutput{Result: res, Sources: []gate.SourceResult{{Name: "oci", Attestations: 4}, {Name: "grafeas", Error: "fetching from grafeas: unavailable"}}})
	golden(t, filepath.Join("verify", "table.golden"), buf.String())
}

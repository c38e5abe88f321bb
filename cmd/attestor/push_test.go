package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
	"github.com/attestor/attestor/attestor/workspace"
)

// pushRegistry starts an in-process registry on 127.0.0.1 and counts the
// requests that write.
func pushRegistry(t *testing.T) (host string, writes *atomic.Int64) {
	t.Helper()
	writes = &atomic.Int64{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writes.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), writes
}

// pushFixture pushes a random image tagged v1 and fills a workspace with a
// step record and a provenance statement about it.
func pushFixture(t *testing.T, host string) (image string, subject store.Subject, dir string, atts []store.Attestation) {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/acme/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	subject = store.Subject{Name: ref.Context().Name(), Digest: h}
	dir = t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	step := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "build")
	prov := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "provenance")
	if err := ws.Write(workspace.EnvelopeName("build", "0123456789"), step.Envelope); err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(workspace.AttestationName("provenance", "0123456789"), prov.Envelope); err != nil {
		t.Fatal(err)
	}
	return ref.String(), subject, dir, []store.Attestation{step, prov}
}

func runPush(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&errb)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("attestor: " + err.Error() + "\n")
	}
	return exitCode(err), out.String(), errb.String()
}

func TestPush(t *testing.T) {
	host, _ := pushRegistry(t)
	image, subject, dir, atts := pushFixture(t, host)

	code, stdout, stderr := runPush(t, "", "push", "--dir", dir, "--image", image, "--json")
	if code != 0 {
		t.Fatalf("push exited %d: %s", code, stderr)
	}
	var res struct {
		Image        string `json:"image"`
		Attestations []struct {
			Digest  string   `json:"digest"`
			Schemes []string `json:"schemes"`
		} `json:"attestations"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if want := subject.String(); res.Image != want {
		t.Errorf("image = %q, want the tag resolved to %q", res.Image, want)
	}
	if len(res.Attestations) != 2 || len(res.Attestations[0].Schemes) != 2 {
		t.Errorf("attestations = %+v, want 2 pushed in both schemes", res.Attestations)
	}

	reg, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	got, err := reg.Get(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, atts...)

	// Again: nothing new is written.
	code, _, stderr = runPush(t, "", "push", "--dir", dir, "--image", image)
	if code != 0 {
		t.Fatalf("second push exited %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "pushed 0 attestation(s)") || !strings.Contains(stderr, "2 already attached") {
		t.Errorf("second push said:\n%s", stderr)
	}
	got, err = reg.Get(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, atts...)
}

func TestPushDryRun(t *testing.T) {
	host, writes := pushRegistry(t)
	image, subject, dir, _ := pushFixture(t, host)
	before := writes.Load()

	code, stdout, stderr := runPush(t, "", "push", "--dir", dir, "--image", image, "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("push --dry-run exited %d: %s", code, stderr)
	}
	if n := writes.Load() - before; n != 0 {
		t.Fatalf("push --dry-run made %d write requests to the registry", n)
	}
	var res struct {
		DryRun bool        `json:"dryRun"`
		Writes []oci.Write `json:"writes"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if !res.DryRun {
		t.Error("dryRun not set in the output")
	}
	kinds := map[string]int{}
	for _, w := range res.Writes {
		kinds[w.Kind]++
		if w.Path == "" {
			t.Errorf("write %s %s not saved", w.Kind, w.Ref)
		} else if _, err := os.Stat(w.Path); err != nil {
			t.Errorf("write %s %s: %v", w.Kind, w.Ref, err)
		}
	}
	// cosign: config, 2 layers, the .att tag; referrers: 2 × (config,
	// bundle, manifest) and the fallback tag (this registry has no
	// referrers API).
	if kinds["tag"] != 2 || kinds["manifest"] != 2 || kinds["blob"] < 5 {
		t.Errorf("writes by kind = %v", kinds)
	}
	d, err := name.NewDigest(subject.String())
	if err != nil {
		t.Fatal(err)
	}
	att := oci.AttestationTag(d)
	if _, err := remote.Head(att); err == nil {
		t.Errorf("%s exists after a dry run", att)
	}
	if _, err := os.Stat(filepath.Join(dir, "_dry-run", "oci", "index.json")); err != nil {
		t.Error(err)
	}

	// The human output lists the writes.
	code, _, stderr = runPush(t, "", "push", "--dir", dir, "--image", image, "--dry-run")
	if code != 0 || !strings.Contains(stderr, "would push 2") || !strings.Contains(stderr, ".att") {
		t.Errorf("push --dry-run exited %d and said:\n%s", code, stderr)
	}
}

func TestPushUsage(t *testing.T) {
	host, _ := pushRegistry(t)
	image, _, dir, _ := pushFixture(t, host)
	empty := t.TempDir()
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"no image", "", []string{"push", "--dir", dir}, 2},
		{"bad scheme", "", []string{"push", "--dir", dir, "--image", image, "--oci-scheme", "x"}, 2},
		{"unknown target", "", []string{"push", "--dir", dir, "--image", image, "--to", "oci,x"}, 2},
		{"grafeas without a project", "", []string{"push", "--dir", dir, "--image", image, "--to", "grafeas"}, 2},
		{"empty workspace", "", []string{"push", "--dir", empty, "--image", image}, 2},
		{"username without password", "", []string{"push", "--dir", dir, "--image", image, "--registry-username", "u"}, 2},
		{"password without username", "pw", []string{"push", "--dir", dir, "--image", image, "--registry-password-stdin"}, 2},
		{"empty password", "", []string{"push", "--dir", dir, "--image", image, "--registry-username", "u", "--registry-password-stdin"}, 2},
		{"missing image", "", []string{"push", "--dir", dir, "--image", host + "/acme/none:v1"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runPush(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
		})
	}
}

// TestPushSecretNotPrinted checks that a refused password appears nowhere
// in the output.
func TestPushSecretNotPrinted(t *testing.T) {
	const secret = "s3cr3t-registry-password"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials `+secret+`"}]}`)
	}))
	t.Cleanup(srv.Close)
	_, _, dir, _ := pushFixture(t, mustHost(t))
	image := strings.TrimPrefix(srv.URL, "http://") + "/acme/app:v1"
	code, stdout, stderr := runPush(t, secret+"\n", "push", "--dir", dir, "--image", image, "--registry-username", "ci", "--registry-password-stdin", "-v")
	if code == 0 {
		t.Fatal("push to a registry refusing the credentials succeeded")
	}
	if strings.Contains(stdout+stderr, secret) {
		t.Fatalf("the password appears in the output:\n%s%s", stdout, stderr)
	}
}

func TestPushUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	_, _, dir, _ := pushFixture(t, mustHost(t))
	image := strings.TrimPrefix(srv.URL, "http://") + "/acme/app:v1"
	code, _, stderr := runPush(t, "", "push", "--dir", dir, "--image", image)
	if code != 3 {
		t.Fatalf("push to a failing registry exited %d, want 3: %s", code, stderr)
	}
}

// TestPushKeylessCosign: a keyless pipeline (a step record and provenance
// signed against the offline sigstore) pushed with --oci-scheme cosign is
// what cosign attest writes with a Fulcio certificate: cosign
// verify-attestation accepts each attestation by the workflow's identity,
// offline, with the Rekor entry verified from the layer's annotations.
// Pushing again writes nothing, and the gate verifies the chain read back
// from the .att image alone.
func TestPushKeylessCosign(t *testing.T) {
	cosign := requireTool(t, "cosign")
	s := signtest.NewSigstore(t)
	trusted, rootFile := s.TrustedRoot(t)
	host, _ := pushRegistry(t)
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/acme/keyless:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	image := ref.Context().Digest(h.String()).String()
	manifest, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	manifestFile := filepath.Join(t.TempDir(), "manifest.json")
	writeFile(t, manifestFile, string(manifest))

	// The step builds the image: its product is the image's manifest.
	p := newProject(t)
	keyless := []string{"--keyless", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL, "--trusted-root", rootFile}
	tokenEnv := []string{sign.EnvSigstoreIDToken + "=" + s.IdentityToken()}
	r := attestorProcess(t, p.base, tokenEnv, append(append([]string{"run", "--dir", p.ws, "--base-dir", p.base, "--step", "build", "-m", "src", "-p", "bin"}, keyless...),
		"--", "sh", "-c", `mkdir -p bin && cp "$0" bin/app`, manifestFile)...)
	if r.code != 0 {
		t.Fatalf("run --keyless:\n%s", r)
	}
	r = attestorProcess(t, p.base, tokenEnv, append([]string{"provenance", "--dir", p.ws, "--subject", "oci://" + image,
		"--source", "git+https://github.com/acme/app@refs/heads/main"}, keyless...)...)
	if r.code != 0 {
		t.Fatalf("provenance --keyless:\n%s", r)
	}

	push := []string{"push", "--dir", p.ws, "--image", image, "--oci-scheme", "cosign", "--trusted-root", rootFile}
	if code, _, stderr := runPush(t, "", push...); code != 0 || !strings.Contains(stderr, "pushed 2 attestation(s)") {
		t.Fatalf("push exited %d:\n%s", code, stderr)
	}

	// cosign's classic mode (.att layers) does not take --trusted-root:
	// offline, it trusts the certificates of SIGSTORE_ROOT_FILE and the
	// Rekor key of SIGSTORE_REKOR_PUBLIC_KEY. The offline Fulcio embeds no
	// SCT, hence --insecure-ignore-sct (the public-good one does).
	env := cosignSigstoreEnv(t, trusted)
	cmd := exec.Command(cosign, "verify-attestation", "--offline",
		"--certificate-identity", signtest.GitHubSubject, "--certificate-oidc-issuer", signtest.GitHubIssuer,
		"--type", "slsaprovenance1", "--insecure-ignore-sct", "--allow-insecure-registry", image)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TUF_ROOT=" + t.TempDir()}, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cosign verify-attestation: %v\n%s", err, out)
	}

	if code, _, stderr := runPush(t, "", push...); code != 0 || !strings.Contains(stderr, "pushed 0 attestation(s)") || !strings.Contains(stderr, "2 already attached") {
		t.Errorf("second push exited %d:\n%s", code, stderr)
	}

	policy := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, policy, `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  release: {keyless: {issuer: "`+signtest.GitHubIssuer+`", subject: "`+signtest.GitHubSubject+`"}}
steps:
  - name: build
    functionaries: [release]
    materials: [[ALLOW, "src/*"], [DISALLOW, "*"]]
    products: [[CREATE, bin/app], [DISALLOW, "*"]]
provenance:
  functionaries: [release]
`)
	verify := func(what string) {
		t.Helper()
		if r := cli(t, "verify", "--dir", t.TempDir(), "--image", image, "--from", "oci", "--policy", policy, "--trusted-root", rootFile); r.code != 0 {
			t.Errorf("verify --from oci of the keyless chain pushed %s:\n%s", what, r)
		}
	}
	verify("with --oci-scheme cosign")

	// Both schemes (the default): the referrers are added, and cosign
	// verifies in its bundle mode, which takes --trusted-root.
	if code, _, stderr := runPush(t, "", "push", "--dir", p.ws, "--image", image); code != 0 || !strings.Contains(stderr, "pushed 2 attestation(s)") {
		t.Fatalf("push (both schemes) exited %d:\n%s", code, stderr)
	}
	cmd = exec.Command(cosign, "verify-attestation", "--trusted-root", rootFile,
		"--certificate-identity", signtest.GitHubSubject, "--certificate-oidc-issuer", signtest.GitHubIssuer,
		"--type", "slsaprovenance1", "--insecure-ignore-sct", "--allow-insecure-registry", image)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TUF_ROOT=" + t.TempDir()}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cosign verify-attestation (bundle mode): %v\n%s", err, out)
	}
	verify("in both schemes")
}

// cosignSigstoreEnv writes the Fulcio root and the Rekor key of trusted to
// files and returns the SIGSTORE_* variables that make cosign trust them
// instead of the public-good instance's. Only the root: cosign takes the
// intermediates from the layers' chain annotation.
func cosignSigstoreEnv(t *testing.T, trusted root.TrustedMaterial) []string {
	t.Helper()
	dir := t.TempDir()
	var roots, rekor []byte
	for _, ca := range trusted.FulcioCertificateAuthorities() {
		if f, ok := ca.(*root.FulcioCertificateAuthority); ok {
			roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Root.Raw})...)
		}
	}
	for _, l := range trusted.RekorLogs() {
		der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		rekor = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	rootFile, rekorFile := filepath.Join(dir, "fulcio.pem"), filepath.Join(dir, "rekor.pub")
	writeFile(t, rootFile, string(roots))
	writeFile(t, rekorFile, string(rekor))
	return []string{"SIGSTORE_ROOT_FILE=" + rootFile, "SIGSTORE_REKOR_PUBLIC_KEY=" + rekorFile}
}

func mustHost(t *testing.T) string {
	host, _ := pushRegistry(t)
	return host
}

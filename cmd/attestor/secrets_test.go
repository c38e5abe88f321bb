package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

// The secrets of TestSecretsNeverLeak: long, unique, easy to grep for.
const (
	secretCosignPassword = "cosign-pw-7f3a9c1e5d-NEVER-SHOWN"
	secretWrongPassword  = "wrong-pw-0c4e8a2b6d-NEVER-SHOWN"
	secretRegistryUser   = "ci-robot"
	secretRegistryPW     = "registry-pw-2b8d4e6f0a-NEVER-SHOWN"
	secretGrafeasToken   = "grafeas-token-9c0e1a3b5d-NEVER-SHOWN"
)

// wire records every request a fake or proxied server received: the
// headers and bodies, for checking which credential went where.
type wire struct {
	mu   sync.Mutex
	reqs []string // "METHOD path\nheaders\n\nbody"
}

func (w *wire) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var hdr bytes.Buffer
	r.Header.Write(&hdr)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reqs = append(w.reqs, r.Method+" "+r.URL.String()+"\n"+hdr.String()+"\n"+string(body))
}

func (w *wire) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.reqs, "\n----\n")
}

// secretRegistry is an in-process registry on 127.0.0.1 that requires
// basic auth with the registry secret for every write (reads may be
// anonymous, as on a public registry); with echo set, it
// rejects every write with an error quoting the credentials it got, as a
// careless (or hostile) registry might, so that they end up in CI logs
// unless attestor redacts them.
func secretRegistry(t *testing.T) (host string, w *wire, echo *atomic.Bool) {
	t.Helper()
	w, echo = &wire{}, &atomic.Bool{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.record(r)
		user, pw, ok := r.BasicAuth()
		anonymousRead := !ok && r.URL.Path != "/v2/" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
		if !anonymousRead && (user != secretRegistryUser || pw != secretRegistryPW) {
			rw.Header().Set("WWW-Authenticate", `Basic realm="attestor-test"`)
			http.Error(rw, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials `+user+`:`+pw+`"}]}`, http.StatusUnauthorized)
			return
		}
		if echo.Load() && r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusForbidden)
			io.WriteString(rw, `{"errors":[{"code":"DENIED","message":"user `+user+` with password `+pw+` (`+r.Header.Get("Authorization")+`) may not write"}]}`)
			return
		}
		reg.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), w, echo
}

// pushImage writes a random image to host/acme/app:v1 with the registry
// secret and returns its digest reference.
func pushImage(t *testing.T, host string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/acme/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: secretRegistryUser, Password: secretRegistryPW})
	if err := remote.Write(tag, img, auth); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	return tag.Context().Digest(h.String())
}

// grafeasProxy puts a reverse proxy in front of the Grafeas server at
// upstream (or, when upstream is "", a server that fails every request
// with status, quoting the credentials it got) that requires the Grafeas
// token on every write.
func grafeasProxy(t *testing.T, upstream string, status int) (string, *wire) {
	t.Helper()
	w := &wire{}
	var next http.Handler
	if upstream != "" {
		u, err := url.Parse(upstream)
		if err != nil {
			t.Fatal(err)
		}
		next = httputil.NewSingleHostReverseProxy(u)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.record(r)
		auth := r.Header.Get("Authorization")
		if next == nil {
			http.Error(rw, `{"code":13,"message":"internal error for caller with `+auth+`"}`, status)
			return
		}
		if r.Method != http.MethodGet && auth != "Bearer "+secretGrafeasToken {
			http.Error(rw, `{"code":16,"message":"unauthenticated: `+auth+`"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, w
}

// secretRun runs the attestor binary in dir with env (see attestorProcess)
// and stdin.
func secretRun(t *testing.T, dir, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(attestorBin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s: %v", attestorBin, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// secretForms returns the ways a secret may show: itself, its halves
// (a truncated or wrapped copy), and base64 of it and of user:secret (an
// echoed Basic Authorization header).
func secretForms(secret string) []string {
	forms := []string{secret, secret[:len(secret)/2], secret[len(secret)/2:]}
	forms = append(forms,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte(secretRegistryUser+":"+secret)))
	return forms
}

// leakChecker collects the secrets of a test and finds them in output,
// files and the requests servers received.
type leakChecker struct {
	t       *testing.T
	secrets map[string]string // form -> what it is
	dirs    []string          // walked for files written
	checks  int
}

func newLeakChecker(t *testing.T) *leakChecker {
	return &leakChecker{t: t, secrets: map[string]string{}}
}

func (c *leakChecker) add(what, secret string) {
	for _, f := range secretForms(secret) {
		c.secrets[f] = what
	}
}

// addMaskLine is the one place a secret may show in GitHub Actions: the
// ::add-mask:: workflow command, which the runner consumes.
func stripMasks(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// text fails the test if any secret shows in s.
func (c *leakChecker) text(where, s string) {
	c.t.Helper()
	c.checks++
	s = stripMasks(s)
	for form, what := range c.secrets {
		if strings.Contains(s, form) {
			c.t.Errorf("%s shows in %s", what, where)
		}
	}
}

// result checks the output of one command.
func (c *leakChecker) result(what string, r result) {
	c.t.Helper()
	c.text(what+": stdout", r.stdout)
	c.text(what+": stderr", r.stderr)
}

// files checks every file under the registered directories (the project,
// the workspace, the keys, HOME, TMPDIR, the GitHub output files).
func (c *leakChecker) files() (n int) {
	c.t.Helper()
	for _, dir := range c.dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			n++
			c.text("file "+path, string(data))
			return nil
		})
	}
	return n
}

// TestSecretsNeverLeak runs every command with known secrets — the cosign
// key password (COSIGN_PASSWORD), the registry password
// (--registry-password-stdin), the OIDC request token and the identity
// tokens (ACTIONS_ID_TOKEN_REQUEST_TOKEN, --identity-token), the Grafeas
// token (--grafeas-token and ATTESTOR_GRAFEAS_TOKEN) — on the success
// paths and the error paths (a wrong password, servers that fail and
// quote the credentials they got), and checks that none shows in stdout,
// stderr, any file written (the project, the workspace, HOME, TMPDIR), the
// GitHub output and step summary files, or any request body sent to a
// server; and that each credential goes to its own server only.
func TestSecretsNeverLeak(t *testing.T) {
	grafeasURL := startGrafeas(t) // the real server, behind a token-checking proxy
	s := signtest.NewSigstore(t)
	_, rootFile := s.TrustedRoot(t)

	p := newProject(t)
	home, tmp, keys, gh := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	c := newLeakChecker(t)
	c.dirs = []string{p.base, home, tmp, keys, gh}
	c.add("COSIGN_PASSWORD", secretCosignPassword)
	c.add("the wrong COSIGN_PASSWORD", secretWrongPassword)
	c.add("the registry password", secretRegistryPW)
	c.add("the Grafeas token", secretGrafeasToken)
	c.add("the OIDC request token", signtest.GitHubRequestToken)
	idToken := s.IdentityToken()
	c.add("the --identity-token", idToken)

	base := []string{"HOME=" + home, "TMPDIR=" + tmp, "COSIGN_PASSWORD=" + secretCosignPassword, "GCE_METADATA_HOST="}
	run := func(what, stdin string, env []string, want int, args ...string) result {
		t.Helper()
		r := secretRun(t, p.base, stdin, append(append([]string{}, base...), env...), args...)
		c.result(what, r)
		t.Logf("%s: exit %d", what, r.code)
		if testing.Verbose() && r.code != 0 {
			t.Logf("%s", r.stderr)
		}
		if want >= 0 && r.code != want {
			t.Errorf("%s: exit %d, want %d\n%s", what, r.code, want, r)
		}
		return r
	}

	// A cosign key pair encrypted with COSIGN_PASSWORD.
	prefix := filepath.Join(keys, "ci")
	run("key generate", "", nil, 0, "key", "generate", "--output-prefix", prefix)
	key, pub := prefix+".key", prefix+".pub"
	run("key public", "", nil, 0, "key", "public", "--key", key)
	wrong := []string{"COSIGN_PASSWORD=" + secretWrongPassword}
	run("key public, wrong password", "", wrong, -1, "key", "public", "--key", key)

	ws := []string{"--dir", p.ws, "--base-dir", p.base}
	// The step prints every secret in its environment: the record must
	// not keep them (the live stream is the step's own; it is not checked).
	stepEnv := []string{"ATTESTOR_GRAFEAS_TOKEN=" + secretGrafeasToken, sign.EnvGitHubRequestToken + "=" + signtest.GitHubRequestToken}
	r := secretRun(t, p.base, "", append(append([]string{}, base...), stepEnv...), append(append([]string{"run"}, ws...),
		"--step", "build", "-m", "src", "-p", "bin", "--key", key, "--format", "both", "--",
		"sh", "-c", `mkdir -p bin && cat src/*.c > bin/app && echo "$COSIGN_PASSWORD $ATTESTOR_GRAFEAS_TOKEN" && echo "$ACTIONS_ID_TOKEN_REQUEST_TOKEN" >&2`)...)
	if r.code != 0 {
		t.Fatalf("run build:\n%s", r)
	}
	run("run, wrong password", "", wrong, 2, append(append([]string{"run"}, ws...), "--step", "bad", "-m", "src", "--key", key, "--", "true")...)
	run("run, a secret as the command", "", stepEnv, 2, append(append([]string{"run"}, ws...), "--step", "bad", "-m", "src", "--key", key, "--", secretGrafeasToken, "x")...)
	run("record start", "", nil, 0, append(append([]string{"record", "start"}, ws...), "--step", "package", "-m", "bin", "--key", key)...)
	run("record stop", "", nil, 0, append(append([]string{"record", "stop"}, ws...), "--step", "package", "-p", "bin", "--key", key)...)

	// Keyless: the request token (GitHub), an explicit --identity-token,
	// and the error paths: a failing token endpoint, a Fulcio that
	// quotes the credentials it got.
	ghEnv := []string{sign.EnvGitHubTokenURL + "=" + s.TokenURL, sign.EnvGitHubRequestToken + "=" + signtest.GitHubRequestToken}
	keyless := []string{"--keyless", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL, "--trusted-root", rootFile}
	run("run --keyless (GitHub token)", "", ghEnv, 0, append(append(append([]string{"run", "-v"}, ws...), "--step", "test", "-m", "src"), append(keyless, "--", "true")...)...)
	run("run --keyless --identity-token", "", nil, 0, append(append(append([]string{"run", "-v"}, ws...), "--step", "lint", "-m", "src", "--identity-token", idToken), append(keyless, "--", "true")...)...)
	s.FailTokenRequests(1000)
	run("run --keyless, token endpoint down", "", ghEnv, 3, append(append(append([]string{"run", "-v"}, ws...), "--step", "down", "-m", "src"), append(keyless, "--", "true")...)...)
	s.FailTokenRequests(0)
	s.EchoCredentials(true)
	run("run --keyless, Fulcio quotes the token", "", nil, -1, append(append(append([]string{"run", "-v"}, ws...), "--step", "echo", "-m", "src", "--identity-token", idToken), append(keyless, "--", "true")...)...)
	run("run --keyless, Fulcio quotes the GitHub token", "", ghEnv, -1, append(append(append([]string{"run", "-v"}, ws...), "--step", "echo2", "-m", "src"), append(keyless, "--", "true")...)...)
	s.EchoCredentials(false)
	for _, tok := range s.Issued() {
		c.add("an issued identity token", tok)
	}

	// Provenance about the image, then push it to an authenticated
	// registry and a token-protected Grafeas.
	host, regWire, _ := secretRegistry(t)
	img := pushImage(t, host)
	run("provenance", "", nil, 0, "provenance", "--dir", p.ws, "--subject", p.path("bin/app"), "--source", "https://github.com/acme/app@refs/heads/main", "--key", key)
	run("provenance, wrong password", "", wrong, 2, "provenance", "--dir", p.ws, "--subject", p.path("bin/app"), "--source", "https://github.com/acme/app@refs/heads/main", "--key", key)
	gURL, gWire := grafeasProxy(t, grafeasURL, 0)
	pushArgs := []string{"push", "-v", "--dir", p.ws, "--image", img.String(), "--registry-username", secretRegistryUser, "--registry-password-stdin"}
	grafeasArgs := []string{"--to", "oci,grafeas", "--grafeas", gURL, "--grafeas-project", "acme"}
	run("push --grafeas-token", secretRegistryPW+"\n", nil, 0, append(append(pushArgs, grafeasArgs...), "--grafeas-token", secretGrafeasToken)...)
	run("push, ATTESTOR_GRAFEAS_TOKEN", secretRegistryPW+"\n", []string{envGrafeasToken + "=" + secretGrafeasToken}, 0, append(pushArgs, grafeasArgs...)...)
	run("push --dry-run", secretRegistryPW+"\n", nil, 0, append(append(pushArgs, grafeasArgs...), "--grafeas-token", secretGrafeasToken, "--dry-run")...)
	run("push, wrong registry password", secretWrongPassword+"\n", nil, 2, pushArgs...) // refused access: exit 2, check the credentials

	// Error paths of push: a registry and a Grafeas that fail, quoting
	// the credentials they got.
	echoHost, echoWire, echo := secretRegistry(t)
	echoImg := pushImage(t, echoHost)
	echo.Store(true)
	run("push, registry quotes the credentials", secretRegistryPW+"\n", nil, 2, "push", "-v", "--dir", p.ws, "--image", echoImg.String(), "--registry-username", secretRegistryUser, "--registry-password-stdin")
	// The same with the credentials from a docker config (docker login),
	// kept outside the directories checked.
	dockerConfig := t.TempDir()
	writeFile(t, filepath.Join(dockerConfig, "config.json"), `{"auths":{"`+echoHost+`":{"auth":"`+
		base64.StdEncoding.EncodeToString([]byte(secretRegistryUser+":"+secretRegistryPW))+`"}}}`)
	run("push, docker config credentials, registry quotes them", "", []string{"DOCKER_CONFIG=" + dockerConfig}, 2,
		"push", "-v", "--dir", p.ws, "--image", echoImg.String())
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized, http.StatusBadRequest} {
		failURL, failWire := grafeasProxy(t, "", status)
		r := run("push, Grafeas fails quoting the token", secretRegistryPW+"\n", nil, -1, append(append(pushArgs[:4:4], "--image", img.String(), "--to", "grafeas", "--grafeas", failURL, "--grafeas-project", "acme"), "--grafeas-token", secretGrafeasToken)...)
		if r.code == 0 {
			t.Errorf("push to a Grafeas answering %d succeeded:\n%s", status, r)
		}
		c.text("requests to the failing Grafeas (besides Authorization)", withoutAuth(failWire.all()))
	}

	// verify and promote, from every source, with the secrets around.
	writeFile(t, filepath.Join(keys, "policy.yaml"), `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: build
    functionaries: [ci]
    products: [[CREATE, bin/app], [DISALLOW, "*"]]
`)
	policy := filepath.Join(keys, "policy.yaml")
	_ = pub
	allEnv := append(append([]string{envGrafeasToken + "=" + secretGrafeasToken}, ghEnv...), "VAULT_TOKEN="+secretGrafeasToken)
	run("verify --artifact", "", allEnv, 0, "verify", "-v", "--dir", p.ws, "--artifact", p.path("bin/app"), "--policy", policy, "--key", key)
	run("verify --artifact, wrong password for the summary", "", append(allEnv, wrong...), -1, "verify", "--dir", p.ws, "--artifact", p.path("bin/app"), "--policy", policy, "--key", key)
	run("verify --image --from oci,grafeas", "", allEnv, -1, "verify", "-v", "--dir", p.ws, "--image", img.String(), "--policy", policy, "--from", "oci,grafeas", "--grafeas", gURL, "--grafeas-project", "acme")
	run("promote --dry-run", "", allEnv, -1, "promote", "-v", "--dir", p.ws, img.String(), host+"/acme/prod:v1", "--policy", policy, "--key", key, "--dry-run")

	// The GitHub Action: outputs and the step summary too.
	outFile, summary := filepath.Join(gh, "output"), filepath.Join(gh, "summary")
	writeFile(t, outFile, "")
	writeFile(t, summary, "")
	actionEnv := append(append([]string{}, allEnv...), "GITHUB_ACTIONS=true", "GITHUB_OUTPUT="+outFile, "GITHUB_STEP_SUMMARY="+summary,
		"GITHUB_WORKSPACE="+p.base, "INPUT_DIR="+p.ws)
	run("action push", "", append(append([]string{}, actionEnv...), "INPUT_COMMAND=push", "INPUT_IMAGE="+img.String(), "INPUT_TO=grafeas",
		"INPUT_GRAFEAS-URL="+gURL, "INPUT_GRAFEAS-PROJECT=acme", "INPUT_GRAFEAS-TOKEN="+secretGrafeasToken), -1, "action")
	run("action verify", "", append(append([]string{}, actionEnv...), "INPUT_COMMAND=verify", "INPUT_ARTIFACT="+p.path("bin/app"), "INPUT_POLICY="+policy,
		"INPUT_FROM=dir", "INPUT_KEY="+key), -1, "action")
	run("action run --keyless", "", append(append([]string{}, actionEnv...), "INPUT_COMMAND=run", "INPUT_STEP=ghstep", "INPUT_MATERIALS=src",
		"INPUT_KEYLESS=true", "INPUT_FULCIO-URL="+s.FulcioURL, "INPUT_REKOR-URL="+s.RekorURL, "INPUT_ARGS=true"), -1, "action")
	for _, tok := range s.Issued() {
		c.add("an issued identity token", tok)
	}

	// Everything written, everything sent.
	files := c.files()
	c.text("requests to the registry (besides Authorization)", withoutAuth(regWire.all()))
	c.text("requests to the quoting registry (besides Authorization)", withoutAuth(echoWire.all()))
	c.text("requests to Grafeas (besides Authorization)", withoutAuth(gWire.all()))
	// Each credential goes to its own server only.
	for _, cross := range []struct{ where, what, secret, wire string }{
		{"the registry", "the Grafeas token", secretGrafeasToken, regWire.all()},
		{"the registry", "COSIGN_PASSWORD", secretCosignPassword, regWire.all()},
		{"Grafeas", "the registry password", secretRegistryPW, gWire.all()},
		{"Grafeas", "COSIGN_PASSWORD", secretCosignPassword, gWire.all()},
		{"Grafeas", "the identity token", idToken, gWire.all()},
	} {
		for _, f := range secretForms(cross.secret) {
			if strings.Contains(cross.wire, f) {
				t.Errorf("%s was sent to %s", cross.what, cross.where)
				break
			}
		}
	}
	if !strings.Contains(gWire.all(), "Bearer "+secretGrafeasToken) {
		t.Error("the Grafeas token was never sent to Grafeas: the test proves nothing")
	}
	t.Logf("%d secrets (in %d forms) checked in %d outputs and %d files", 6, len(c.secrets), c.checks, files)
}

// withoutAuth drops the Authorization header lines from recorded requests:
// the one place a server should see its credential.
func withoutAuth(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "Authorization:") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

package github_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/attestor/attestor/actions/github"
)

// release is a loopback release server: RELEASE_URL/VERSION/ASSET, as
// GitHub serves release downloads. Every request is counted.
type release struct {
	srv *httptest.Server

	mu       sync.Mutex
	assets   map[string][]byte // "vX.Y.Z/name" -> content
	hits     map[string]int
	truncate map[string]bool // sends half of the asset, then closes
	fail     map[string]int  // answers 503 this many times first
}

func newRelease(t *testing.T) *release {
	t.Helper()
	r := &release{assets: map[string][]byte{}, hits: map[string]int{}, truncate: map[string]bool{}, fail: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *release) serve(w http.ResponseWriter, req *http.Request) {
	key := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	r.hits[key]++
	data, ok := r.assets[key]
	truncate := r.truncate[key]
	fail := r.fail[key] > 0
	if fail {
		r.fail[key]--
	}
	r.mu.Unlock()
	switch {
	case !ok:
		http.NotFound(w, req)
	case fail:
		http.Error(w, "try again", http.StatusServiceUnavailable)
	case truncate:
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush() // the first half reaches the client
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	default:
		w.Header().Set("Content-Length", fmt.Sprint(len(data))) // as GitHub's release downloads do
		w.Write(data)
	}
}

func (r *release) hitsOf(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[key]
}

// publish adds a release: a binary per asset name (its content names it)
// and checksums.txt listing them all. It returns the binaries.
func (r *release) publish(version string, names ...string) map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	bins := map[string][]byte{}
	var sums strings.Builder
	for _, n := range names {
		data := []byte("#!/bin/sh\necho " + n + " " + version + "\n")
		bins[n] = data
		r.assets[version+"/"+n] = data
		fmt.Fprintf(&sums, "%s  %s\n", sha256Hex(data), n)
	}
	r.assets[version+"/checksums.txt"] = []byte(sums.String())
	return bins
}

func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// actionDir is a copy of the action's install script at
// DIR/actions/github/install.sh, with the checksums files pins
// ("vX.Y.Z" -> content) in actions/github/checksums/.
func actionDir(t *testing.T, pins map[string]string) string {
	t.Helper()
	script, err := os.ReadFile("install.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gh := filepath.Join(dir, "actions", "github")
	if err := os.MkdirAll(filepath.Join(gh, "checksums"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gh, "install.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	for v, sums := range pins {
		if err := os.WriteFile(filepath.Join(gh, "checksums", v+".txt"), []byte(sums), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// installRun is one run of the install step.
type installRun struct {
	code           int
	stdout, stderr string
	outputs        map[string]string
}

func (r installRun) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// runner is the environment of a job's steps: one tool cache and one
// temporary directory for all of them, as on a runner.
type runner struct {
	t         *testing.T
	toolCache string
	temp      string
	env       map[string]string
}

func newRunner(t *testing.T, rel *release, env map[string]string) *runner {
	t.Helper()
	r := &runner{t: t, toolCache: t.TempDir(), temp: t.TempDir(), env: map[string]string{
		"RUNNER_OS":            "Linux",
		"RUNNER_ARCH":          "X64",
		"ATTESTOR_RELEASE_URL": rel.srv.URL,
	}}
	for k, v := range env {
		r.env[k] = v
	}
	return r
}

// install runs the install script of the action in dir as the action's
// install step does, with a fresh GITHUB_OUTPUT.
func (r *runner) install(dir string) installRun {
	r.t.Helper()
	bash := requireTools(r.t)
	output := filepath.Join(r.t.TempDir(), "output")
	if err := os.WriteFile(output, nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(bash, "--noprofile", "--norc", "-eo", "pipefail", filepath.Join(dir, "actions", "github", "install.sh"))
	cmd.Dir = r.t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + r.t.TempDir(),
		"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + output, "GITHUB_ACTION_PATH=" + dir,
		"RUNNER_TOOL_CACHE=" + r.toolCache, "RUNNER_TEMP=" + r.temp,
	}
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		r.t.Fatalf("running install.sh: %v", err)
	}
	res := installRun{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	data, err := os.ReadFile(output)
	if err != nil {
		r.t.Fatal(err)
	}
	if res.outputs, err = github.ParseFileCommands(string(data)); err != nil {
		r.t.Fatalf("GITHUB_OUTPUT: %v\n%s", err, data)
	}
	return res
}

// cached lists the files in the tool cache and leftovers in RUNNER_TEMP.
func (r *runner) cached() (cache, temp []string) {
	r.t.Helper()
	walk := func(root string) []string {
		var out []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		return out
	}
	return walk(r.toolCache), walk(r.temp)
}

// requireTools skips the test without bash and curl, unless
// ATTESTOR_REQUIRE_TOOLS=1, and with -short.
func requireTools(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not running install.sh (bash, curl)")
	}
	bash, err := exec.LookPath("bash")
	if err == nil {
		_, err = exec.LookPath("curl")
	}
	if err != nil {
		if os.Getenv("ATTESTOR_REQUIRE_TOOLS") == "1" {
			t.Fatalf("install.sh needs bash and curl: %v", err)
		}
		t.Skipf("install.sh needs bash and curl: %v", err)
	}
	return bash
}

var allAssets = []string{"attestor-linux-amd64", "attestor-linux-arm64", "attestor-darwin-amd64", "attestor-darwin-arm64", "attestor-windows-amd64.exe"}

// TestInstallPlatforms: each runner OS and architecture gets its asset,
// installed at RUNNER_TOOL_CACHE/attestor/X.Y.Z/ARCH/attestor[.exe] with
// the tool cache's ARCH.complete marker, executable, and the path is the
// step output bin.
func TestInstallPlatforms(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	bins := rel.publish("v1.2.3", allAssets...)
	dir := actionDir(t, nil)
	for _, tc := range []struct{ os, arch, asset, path string }{
		{"Linux", "X64", "attestor-linux-amd64", "attestor/1.2.3/x64/attestor"},
		{"Linux", "ARM64", "attestor-linux-arm64", "attestor/1.2.3/arm64/attestor"},
		{"macOS", "X64", "attestor-darwin-amd64", "attestor/1.2.3/x64/attestor"},
		{"macOS", "ARM64", "attestor-darwin-arm64", "attestor/1.2.3/arm64/attestor"},
		{"Windows", "X64", "attestor-windows-amd64.exe", "attestor/1.2.3/x64/attestor.exe"},
	} {
		t.Run(tc.os+"/"+tc.arch, func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, rel, map[string]string{"RUNNER_OS": tc.os, "RUNNER_ARCH": tc.arch, "ATTESTOR_ACTION_REF": "v1.2.3"})
			res := r.install(dir)
			if res.code != 0 {
				t.Fatalf("install:\n%s", res)
			}
			want := filepath.Join(r.toolCache, filepath.FromSlash(tc.path))
			if res.outputs["bin"] != want {
				t.Errorf("output bin = %q, want %q", res.outputs["bin"], want)
			}
			got, err := os.ReadFile(want)
			if err != nil || !bytes.Equal(got, bins[tc.asset]) {
				t.Fatalf("installed %s = %q, %v; want the asset %s", want, got, err, tc.asset)
			}
			if fi, _ := os.Stat(want); fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s is not executable (%v)", want, fi.Mode())
			}
			if _, err := os.Stat(filepath.Dir(want) + ".complete"); err != nil {
				t.Errorf("no tool-cache marker: %v", err)
			}
			cache, temp := r.cached()
			if len(cache) != 2 || len(temp) != 0 {
				t.Errorf("tool cache %q, RUNNER_TEMP %q: want the binary and its marker, and nothing left in RUNNER_TEMP", cache, temp)
			}
		})
	}
}

// TestInstallRefused: a download that does not match its checksum, a
// missing asset, a truncated download and a platform the release has no
// binary for each fail with a clear error and leave nothing in the tool
// cache (nothing runnable) or in RUNNER_TEMP.
func TestInstallRefused(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish("v1.0.0", allAssets...)
	rel.assets["v1.0.0/attestor-linux-amd64"] = []byte("#!/bin/sh\necho swapped\n") // not what checksums.txt says
	rel.publish("v1.0.1", allAssets...)
	delete(rel.assets, "v1.0.1/attestor-linux-amd64") // listed, not uploaded
	rel.publish("v1.0.2", allAssets...)
	rel.truncate["v1.0.2/attestor-linux-amd64"] = true
	rel.publish("v1.0.3", "attestor-linux-amd64")
	dir := actionDir(t, nil)
	for _, tc := range []struct {
		name, version, os, arch string
		code                    int
		want                    []string
	}{
		{"checksum mismatch", "v1.0.0", "Linux", "X64", 1, []string{
			"::error title=attestor install::checksum mismatch: " + rel.srv.URL + "/v1.0.0/attestor-linux-amd64 has sha256 " + sha256Hex([]byte("#!/bin/sh\necho swapped\n")),
			"not installed, nothing was run",
		}},
		{"missing asset", "v1.0.1", "Linux", "X64", 3, []string{"downloading " + rel.srv.URL + "/v1.0.1/attestor-linux-amd64: ", "404"}},
		{"truncated download", "v1.0.2", "Linux", "X64", 3, []string{"downloading " + rel.srv.URL + "/v1.0.2/attestor-linux-amd64: ", "curl exit 18"}},
		{"32-bit Arm runner", "v1.0.3", "Linux", "ARM", 2, []string{`RUNNER_ARCH: "ARM": want X64 or ARM64`}},
		{"no binary in the release", "v1.0.3", "macOS", "ARM64", 2, []string{"attestor v1.0.3 has no binary for darwin/arm64", "lists attestor-linux-amd64"}},
		{"no such release", "v9.9.9", "Linux", "X64", 3, []string{"downloading " + rel.srv.URL + "/v9.9.9/checksums.txt: ", "404"}},
		{"version not a tag", "../../etc", "Linux", "X64", 2, []string{`input version: "../../etc": want a release tag such as v1.2.3`}},
		{"unknown OS", "v1.0.3", "Plan9", "X64", 2, []string{`RUNNER_OS: "Plan9": want Linux, macOS or Windows`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, rel, map[string]string{"RUNNER_OS": tc.os, "RUNNER_ARCH": tc.arch, "ATTESTOR_VERSION": tc.version})
			res := r.install(dir)
			if res.code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", res.code, tc.code, res)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stdout+res.stderr, w) {
					t.Errorf("the log does not say %q:\n%s", w, res)
				}
			}
			if res.outputs["bin"] != "" {
				t.Errorf("output bin = %q after a failure", res.outputs["bin"])
			}
			cache, temp := r.cached()
			if len(cache) != 0 || len(temp) != 0 {
				t.Errorf("left in the tool cache %q, in RUNNER_TEMP %q", cache, temp)
			}
		})
	}
}

// TestInstallCache: a second install of the same version uses the tool
// cache (checked again, not downloaded again); a cached binary changed
// since is replaced by a fresh, checked download; a transient 503 is
// retried.
func TestInstallCache(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	bins := rel.publish("v2.0.0", allAssets...)
	rel.fail["v2.0.0/attestor-linux-amd64"] = 1
	dir := actionDir(t, nil)
	r := newRunner(t, rel, map[string]string{"ATTESTOR_ACTION_REF": "v2.0.0"})
	first := r.install(dir)
	if first.code != 0 {
		t.Fatalf("first install:\n%s", first)
	}
	if n := rel.hitsOf("v2.0.0/attestor-linux-amd64"); n != 2 {
		t.Errorf("binary requested %d times, want 2 (a 503, then the retry)", n)
	}
	second := r.install(dir)
	if second.code != 0 || second.outputs["bin"] != first.outputs["bin"] || !strings.Contains(second.stderr, "from the tool cache") {
		t.Fatalf("second install (bin %q, want %q):\n%s", second.outputs["bin"], first.outputs["bin"], second)
	}
	if n := rel.hitsOf("v2.0.0/attestor-linux-amd64"); n != 2 {
		t.Errorf("binary requested %d times in all, want 2: the cache was not used", n)
	}

	// The cached binary changed (on a self-hosted runner, between jobs).
	if err := os.WriteFile(first.outputs["bin"], []byte("#!/bin/sh\necho evil\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	third := r.install(dir)
	if third.code != 0 || !strings.Contains(third.stderr, "does not match sha256") {
		t.Fatalf("install over a changed cache:\n%s", third)
	}
	if got, _ := os.ReadFile(third.outputs["bin"]); !bytes.Equal(got, bins["attestor-linux-amd64"]) {
		t.Errorf("the cache holds %q after the reinstall", got)
	}
	if n := rel.hitsOf("v2.0.0/attestor-linux-amd64"); n != 3 {
		t.Errorf("binary requested %d times in all, want 3", n)
	}
}

// TestInstallVersion: where the version comes from.
func TestInstallVersion(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	for _, v := range []string{"v1.2.0", "v1.10.0", "v1.9.3", "v2.0.0-rc.1"} {
		rel.publish(v, "attestor-linux-amd64")
	}
	pinsOf := func(vs ...string) map[string]string {
		m := map[string]string{}
		for _, v := range vs {
			m[v] = string(rel.assets[v+"/checksums.txt"])
		}
		return m
	}
	pinned := actionDir(t, pinsOf("v1.2.0", "v1.9.3", "v1.10.0", "v2.0.0-rc.1"))
	unpinned := actionDir(t, nil)
	for _, tc := range []struct {
		name string
		dir  string
		env  map[string]string
		want string // the version installed; "" for an error
		log  string
	}{
		{"ref is a release tag", unpinned, map[string]string{"ATTESTOR_ACTION_REF": "v1.9.3"}, "v1.9.3", "from the action's ref"},
		{"input wins over the ref", unpinned, map[string]string{"ATTESTOR_ACTION_REF": "v1.9.3", "ATTESTOR_VERSION": "v1.2.0"}, "v1.2.0", "from the input version"},
		{"prerelease tag", unpinned, map[string]string{"ATTESTOR_ACTION_REF": "v2.0.0-rc.1"}, "v2.0.0-rc.1", "from the action's ref"},
		{"major tag: newest pinned stable release", pinned, map[string]string{"ATTESTOR_ACTION_REF": "v1"}, "v1.10.0", `newest release the action's commit pins (ref "v1")`},
		{"commit SHA: newest pinned", pinned, map[string]string{"ATTESTOR_ACTION_REF": "0123456789abcdef0123456789abcdef01234567"}, "v1.10.0", "pins"},
		{"empty action_ref: the ref from the action's path", unpinned, map[string]string{"ATTESTOR_ACTION_REF": "", "ACTION_PATH_REF": "v1.9.3"}, "v1.9.3", "from the action's ref"},
		{"action_ref of an outer composite action: the action's path wins", unpinned, map[string]string{"ATTESTOR_ACTION_REF": "v1.2.0", "ACTION_PATH_REF": "v1.9.3"}, "v1.9.3", "from the action's ref"},
		{"major tag from the action's path: newest pinned", pinned, map[string]string{"ATTESTOR_ACTION_REF": "v1.9.3", "ACTION_PATH_REF": "v1"}, "v1.10.0", `pins (ref "v1")`},
		{"branch, nothing pinned", unpinned, map[string]string{"ATTESTOR_ACTION_REF": "main"}, "", `the action's ref "main" is not a release tag (vX.Y.Z) and this commit of the action pins no release (actions/github/checksums/): give the input version`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.dir
			if ref := tc.env["ACTION_PATH_REF"]; ref != "" {
				// .../_actions/OWNER/REPO/REF, as the runner checks it out.
				link := filepath.Join(t.TempDir(), "_actions", "attestor", "attestor", ref)
				if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(dir, link); err != nil {
					t.Fatal(err)
				}
				dir = link
			}
			r := newRunner(t, rel, tc.env)
			res := r.install(dir)
			if !strings.Contains(res.stderr, tc.log) {
				t.Errorf("the log does not say %q:\n%s", tc.log, res)
			}
			if tc.want == "" {
				if res.code != 2 {
					t.Errorf("exit %d, want 2:\n%s", res.code, res)
				}
				return
			}
			if res.code != 0 {
				t.Fatalf("install:\n%s", res)
			}
			want := filepath.Join(r.toolCache, "attestor", strings.TrimPrefix(tc.want, "v"), "x64", "attestor")
			if res.outputs["bin"] != want {
				t.Errorf("bin = %q, want %q", res.outputs["bin"], want)
			}
		})
	}
}

// TestInstallPinned: with the release's checksums pinned in the action,
// a release whose binary and checksums.txt were both replaced (a
// compromised release, which its own checksums.txt cannot reveal) is
// refused, and the release's checksums.txt is not even fetched; without
// the pin, the same release installs: the limit README states.
func TestInstallPinned(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish("v3.0.0", allAssets...)
	pins := map[string]string{"v3.0.0": string(rel.assets["v3.0.0/checksums.txt"])}
	// The attacker replaces the binary and its line in checksums.txt.
	evil := []byte("#!/bin/sh\necho evil\n")
	rel.assets["v3.0.0/attestor-linux-amd64"] = evil
	rel.assets["v3.0.0/checksums.txt"] = []byte(sha256Hex(evil) + "  attestor-linux-amd64\n")

	r := newRunner(t, rel, map[string]string{"ATTESTOR_ACTION_REF": "v3.0.0"})
	res := r.install(actionDir(t, pins))
	if res.code != 1 || !strings.Contains(res.stderr, "checksum mismatch") || !strings.Contains(res.stderr, "actions/github/checksums/v3.0.0.txt, pinned in the action") {
		t.Errorf("pinned install of a replaced release:\n%s", res)
	}
	if n := rel.hitsOf("v3.0.0/checksums.txt"); n != 0 {
		t.Errorf("the release's checksums.txt was fetched %d times though the action pins it", n)
	}
	if cache, _ := r.cached(); len(cache) != 0 {
		t.Errorf("tool cache after the refusal: %q", cache)
	}

	res = newRunner(t, rel, map[string]string{"ATTESTOR_ACTION_REF": "v3.0.0"}).install(actionDir(t, nil))
	if res.code != 0 {
		t.Errorf("unpinned install: the release's own checksums.txt cannot tell (exit %d):\n%s", res.code, res)
	}
}

// TestInstallReleaseURL: plain HTTP only to loopback.
func TestInstallReleaseURL(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	r := newRunner(t, rel, map[string]string{"ATTESTOR_VERSION": "v1.0.0", "ATTESTOR_RELEASE_URL": "http://releases.example.com/attestor"})
	res := r.install(actionDir(t, nil))
	if res.code != 2 || !strings.Contains(res.stderr, `input release-url: "http://releases.example.com/attestor": want an https:// URL`) {
		t.Errorf("plain HTTP release URL:\n%s", res)
	}
}

// TestPinnedChecksums: every file the action pins is named vX.Y.Z.txt and
// lists the sha256 of each release binary once, as .ci/release writes
// checksums.txt.
func TestPinnedChecksums(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("checksums", "*"))
	if err != nil {
		t.Fatal(err)
	}
	nameRE := regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z][0-9A-Za-z.-]*)?\.txt$`)
	lineRE := regexp.MustCompile(`^[0-9a-f]{64}  (attestor-(linux|darwin|windows)-(amd64|arm64)(\.exe)?)$`)
	for _, f := range files {
		base := filepath.Base(f)
		if base == "README.md" {
			continue
		}
		if !nameRE.MatchString(base) {
			t.Errorf("%s: want vX.Y.Z.txt", f)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			m := lineRE.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("%s:%d: %q is not \"SHA256  attestor-OS-ARCH\"", f, i+1, line)
				continue
			}
			if seen[m[1]] {
				t.Errorf("%s:%d: %s listed twice", f, i+1, m[1])
			}
			seen[m[1]] = true
		}
	}
}

// TestInstallIgnoresCurlrc: a ~/.curlrc planted in the job's HOME (by an
// earlier step, or a previous job on a self-hosted runner) does not
// configure the install's downloads: here it sends them through a hostile
// proxy that serves its own binary and checksums.txt, which install.sh
// would otherwise install and the next step run.
func TestInstallIgnoresCurlrc(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	bins := rel.publish("v1.0.0", allAssets...)
	proxy := newRelease(t) // answers the proxied requests (absolute-form, same paths)
	evil := []byte("#!/bin/sh\necho evil\n")
	proxy.assets["v1.0.0/attestor-linux-amd64"] = evil
	proxy.assets["v1.0.0/checksums.txt"] = []byte(sha256Hex(evil) + "  attestor-linux-amd64\n")
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".curlrc"), []byte("proxy = \""+proxy.srv.URL+"\"\ninsecure\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, rel, map[string]string{"ATTESTOR_VERSION": "v1.0.0", "HOME": home})
	res := r.install(actionDir(t, nil))
	if res.code != 0 {
		t.Fatalf("install:\n%s", res)
	}
	if got, _ := os.ReadFile(res.outputs["bin"]); !bytes.Equal(got, bins["attestor-linux-amd64"]) {
		t.Errorf("installed %q, not the release's binary: ~/.curlrc configured the download", got)
	}
	if n := proxy.hitsOf("v1.0.0/checksums.txt") + proxy.hitsOf("v1.0.0/attestor-linux-amd64"); n != 0 {
		t.Errorf("the ~/.curlrc proxy got %d requests", n)
	}
}

// TestInstallReleaseURLUserinfo: plain HTTP only to loopback, whatever
// the URL's userinfo says: http://127.0.0.1:@host/ is host, not loopback.
func TestInstallReleaseURLUserinfo(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	for _, u := range []string{
		"http://127.0.0.1:@releases.example.com/attestor",
		"http://127.0.0.1:80@releases.example.com/attestor",
		"http://localhost:x@releases.example.com/attestor",
		"http://localhost:@releases.example.com",
		"http://[::1]:@releases.example.com/attestor",
		"http://127.0.0.1\\@releases.example.com",
	} {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, rel, map[string]string{"ATTESTOR_VERSION": "v1.0.0", "ATTESTOR_RELEASE_URL": u})
			res := r.install(actionDir(t, nil))
			if res.code != 2 || !strings.Contains(res.stderr, "want an https:// URL") {
				t.Errorf("plain HTTP release URL %q (not loopback):\n%s", u, res)
			}
		})
	}
}

// TestInstallBounded: a release server that answers more than a
// checksums.txt or a binary can be is cut off (exit 3), not written to
// the runner's disk whole.
func TestInstallBounded(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	rel.publish("v1.0.0", allAssets...)
	sums := rel.assets["v1.0.0/checksums.txt"]
	rel.assets["v1.0.0/checksums.txt"] = append(append([]byte{}, sums...), bytes.Repeat([]byte("# padding to 2 MiB .............................................\n"), 2<<20/64)...)
	r := newRunner(t, rel, map[string]string{"ATTESTOR_VERSION": "v1.0.0"})
	res := r.install(actionDir(t, nil))
	if res.code != 3 || !strings.Contains(res.stderr, "curl exit 63") {
		t.Errorf("a 2 MiB checksums.txt:\n%s", res)
	}
	if cache, temp := r.cached(); len(cache) != 0 || len(temp) != 0 {
		t.Errorf("left in the tool cache %q, in RUNNER_TEMP %q", cache, temp)
	}
}

// TestInstallNoWorkflowCommands: an input with a line break cannot put a
// workflow command (::set-output, ::add-mask::, ::stop-commands::) on a
// line of the step's log: the runner reads them from stdout and stderr.
func TestInstallNoWorkflowCommands(t *testing.T) {
	t.Parallel()
	rel := newRelease(t)
	for _, env := range []map[string]string{
		{"ATTESTOR_VERSION": "v1.0.0\n::set-output name=bin::/tmp/evil"},
		{"ATTESTOR_VERSION": "v1.0.0", "ATTESTOR_RELEASE_URL": "ftp://x\r\n::stop-commands::abc"},
	} {
		r := newRunner(t, rel, env)
		res := r.install(actionDir(t, nil))
		if res.code != 2 {
			t.Errorf("exit %d, want 2:\n%s", res.code, res)
		}
		for _, line := range strings.FieldsFunc(res.stdout+res.stderr, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if strings.HasPrefix(strings.TrimSpace(line), "::") && !strings.HasPrefix(line, "::error title=attestor install::") {
				t.Errorf("a workflow command in the log: %q\n%s", line, res)
			}
		}
	}
}

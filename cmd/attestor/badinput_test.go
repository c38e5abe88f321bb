package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	ita1 "github.com/in-toto/attestation/go/v1"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/workspace"
)

// snapshot is every file below a directory with its content's digest.
type snapshot map[string]string

func takeSnapshot(t *testing.T, dir string) snapshot {
	t.Helper()
	s := snapshot{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if !d.Type().IsRegular() {
			s[rel] = d.Type().String()
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			s[rel] = "unreadable"
			return nil
		}
		sum := sha256.Sum256(data)
		s[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	return s
}

// unchanged fails the test unless dir holds exactly the files of before:
// a command that failed must leave nothing half-written.
func (before snapshot) unchanged(t *testing.T, what, dir string) {
	t.Helper()
	after := takeSnapshot(t, dir)
	for name, sum := range after {
		if b, ok := before[name]; !ok {
			t.Errorf("%s: left %s behind", what, name)
		} else if b != sum {
			t.Errorf("%s: changed %s", what, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			t.Errorf("%s: removed %s", what, name)
		}
	}
}

// runBad runs attestor in process and checks the exit code, that stderr
// names want, and that the workspace and the parent of the project are
// as they were (nothing half-written, nothing written outside).
func runBad(t *testing.T, p *project, wantCode int, want string, args ...string) result {
	t.Helper()
	before := takeSnapshot(t, filepath.Dir(p.base))
	r := cli(t, args...)
	if r.code != wantCode || !strings.Contains(r.stderr, want) {
		t.Errorf("attestor %s: want exit %d and %q:\n%s", strings.Join(args, " "), wantCode, want, r)
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("attestor %s panicked:\n%s", strings.Join(args, " "), r)
	}
	before.unchanged(t, strings.Join(args[:min(len(args), 1)], " "), filepath.Dir(p.base))
	return r
}

// TestBadInputPaths records hostile trees and names: every case is exit 2
// with the offending path named, and leaves the workspace (and the rest of
// the disk around the project) untouched.
func TestBadInputPaths(t *testing.T) {
	t.Parallel()
	type setup func(t *testing.T, p *project)
	none := func(*testing.T, *project) {}
	symlink := func(target, link string) setup {
		return func(t *testing.T, p *project) {
			if err := os.Symlink(target, p.path(link)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name  string
		setup setup
		args  []string // after run --step S and the project's flags
		code  int
		want  string
	}{
		{"material above the base", none, []string{"-m", "../"}, 2, "not below the base directory"},
		{"material dot-dot inside the name", none, []string{"-m", "src/../../etc"}, 2, "not below the base directory"},
		{"absolute material outside", none, []string{"-m", "/etc/passwd"}, 2, "not below the base directory"},
		{"product above the base", none, []string{"-p", "../../../../etc"}, 2, "not below the base directory"},
		{"symlink to a file outside", symlink("/etc/passwd", "src/passwd"), []string{"-m", "src"}, 2, "not below the base directory"},
		{"symlink to a directory outside, followed", symlink("/etc", "src/etc"), []string{"-m", "src", "--follow-symlink-dirs"}, 2, "not below the base directory"},
		{"relative symlink escaping", symlink("../../../../../../etc/hostname", "src/host"), []string{"-m", "src"}, 2, "not below the base directory"},
		{"symlink loop to itself", symlink("self", "src/self"), []string{"-m", "src"}, 2, "src/self"},
		{"symlink pair loop", func(t *testing.T, p *project) {
			symlink("b", "src/a")(t, p)
			symlink("a", "src/b")(t, p)
		}, []string{"-m", "src"}, 2, "src/"},
		{"directory symlink cycle, followed", symlink("..", "src/up"), []string{"-m", "src", "--follow-symlink-dirs"}, 2, "symlink cycle"},
		{"broken symlink", symlink("nowhere", "src/broken"), []string{"-m", "src"}, 2, "broken symbolic link"},
		{"non-UTF-8 name", func(t *testing.T, p *project) {
			writeFile(t, p.path("src/\xff\xfe.c"), "x")
		}, []string{"-m", "src"}, 2, "UTF-8"},
		{"FIFO named", func(t *testing.T, p *project) {
			if err := mkfifo(p.path("src/fifo")); err != nil {
				t.Fatal(err)
			}
		}, []string{"-m", "src/fifo"}, 2, "src/fifo"},
		{"device named", func(t *testing.T, p *project) {
			if err := mknodNull(p.path("src/null")); err != nil {
				t.Skipf("mknod: %v", err)
			}
		}, []string{"-m", "src/null"}, 2, "src/null"},
		{"missing material", none, []string{"-m", "nosuch"}, 2, "nosuch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			c.setup(t, p)
			args := append(append([]string{"run", "--step", "build"}, p.flags()...), c.args...)
			runBad(t, p, c.code, c.want, append(args, "--", "true")...)
		})
	}

	// Step names become file names: none may leave the workspace.
	for _, step := range []string{"../../evil", "a/b", "..", ".", "", ".hidden", "-rf", "a\x00b", "x/../../y", `..\..\evil`, strings.Repeat("a", 129), "ünïcode", "a b", "_provenance"} {
		t.Run("step "+strconv.Quote(step), func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			args := append([]string{"run", "--step", step}, p.flags()...)
			runBad(t, p, 2, "step", append(args, "-m", "src", "--", "true")...)
			for _, cmd := range [][]string{{"record", "start", "-m", "src"}, {"record", "stop", "-p", "src"}} {
				args := append(append(cmd, "--step", step), p.flags()...)
				runBad(t, p, 2, "step", args...)
			}
		})
	}
}

// TestBadInputSpecialFilesInTree: FIFOs and devices met while walking a
// recorded tree are skipped (never opened: a FIFO would block forever),
// and the rest is recorded.
func TestBadInputSpecialFilesInTree(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	if err := mkfifo(p.path("src/fifo")); err != nil {
		t.Fatal(err)
	}
	dev := mknodNull(p.path("src/null")) == nil
	done := make(chan result, 1)
	go func() {
		done <- cli(t, append(append([]string{"run", "--step", "build", "--json"}, p.flags()...), "-m", "src", "--", "true")...)
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("recording a tree with a FIFO hangs")
	}
	if r.code != 0 {
		t.Fatalf("run over a tree with a FIFO (device: %v):\n%s", dev, r)
	}
	env := readOnlyEnvelope(t, p)
	for _, bad := range []string{"src/fifo", "src/null"} {
		if strings.Contains(env, bad) {
			t.Errorf("%s was recorded", bad)
		}
	}
	if !strings.Contains(env, "src/main.c") {
		t.Errorf("src/main.c was not recorded")
	}
}

// readOnlyEnvelope returns the decoded payload of the one step envelope in
// the project's workspace.
func readOnlyEnvelope(t *testing.T, p *project) string {
	t.Helper()
	ws, err := workspace.Open(p.ws)
	if err != nil {
		t.Fatal(err)
	}
	names, err := ws.Envelopes()
	if err != nil || len(names) != 1 {
		t.Fatalf("envelopes %q, %v; want one", names, err)
	}
	env, err := ws.ReadEnvelope(names[0])
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	return string(payload)
}

// TestBadInputFileChangesWhileHashed: a material that changes while it is
// hashed is refused (exit 2, nothing written), never recorded with a
// digest of a state it never had.
//
// The change is made at a set moment, not by a writer racing the hasher:
// once the hasher has the file open (seen in /proc/self/fd: cli runs
// attestor in this process), one byte is appended to it. The file is
// 512 MiB (sparse), so its read lasts far longer than the watcher takes to
// see the open; a change of size is seen whatever the granularity of file
// times. Each recording is checked against a snapshot of the workspace
// taken just before it.
func TestBadInputFileChangesWhileHashed(t *testing.T) {
	t.Parallel()
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skipf("no /proc/self/fd to see the hasher open the file: %v", err)
	}
	p := newProject(t)
	big := p.path("src/big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(512 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	real, err := filepath.EvalSymlinks(big) // as /proc/self/fd names it
	if err != nil {
		t.Fatal(err)
	}
	for try := range 3 {
		before := takeSnapshot(t, p.ws)
		done := make(chan struct{})
		appended := make(chan bool, 1)
		go func() { appended <- appendWhenOpen(real, done) }()
		r := cli(t, append(append([]string{"run", "--step", "build"}, p.flags()...), "-m", "src", "--", "true")...)
		close(done)
		if !<-appended {
			t.Fatalf("try %d: the hasher never opened %s:\n%s", try, big, r)
		}
		if r.code != 2 || !strings.Contains(r.stderr, "changed") || !strings.Contains(r.stderr, "src/big.bin") {
			t.Errorf("try %d: want exit 2 naming the changed file:\n%s", try, r)
		}
		before.unchanged(t, "run over a changing file", p.ws)
	}
}

// appendWhenOpen waits until this process has path open (the hasher) and
// appends a byte to it. It returns false if done closes first.
func appendWhenOpen(path string, done <-chan struct{}) bool {
	for {
		select {
		case <-done:
			return false
		default:
		}
		if openHere(path) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return false
			}
			_, err = f.Write([]byte("!"))
			f.Close()
			return err == nil
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// openHere reports whether a file descriptor of this process is open on
// path.
func openHere(path string) bool {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && target == path {
			return true
		}
	}
	return false
}

// TestBadInputSparseFileBoundedMemory records a 10 GiB sparse file and
// checks that the process's peak memory stays bounded (the hasher
// streams).
func TestBadInputSparseFileBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not hashing 10 GiB")
	}
	t.Parallel()
	p := newProject(t)
	const size = 10 << 30
	f, err := os.Create(p.path("src/sparse.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("end"), size-3)
	f.Close()
	timeBin, err := exec.LookPath("time")
	if err != nil {
		timeBin = "/usr/bin/time"
	}
	if _, err := os.Stat(timeBin); err != nil {
		t.Skipf("no /usr/bin/time: %v", err)
	}
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd := exec.Command(timeBin, "-f", "%M", "-o", rssFile, attestorBin, "record", "start", "--step", "big",
		"--dir", p.ws, "--base-dir", p.base, "--key", p.key, "-m", "src/sparse.img", "--json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("record start over a 10 GiB file: %v\n%s", err, out)
	}
	data, err := os.ReadFile(rssFile)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("max RSS %q: %v", data, err)
	}
	t.Logf("10 GiB sparse file: peak RSS %d MiB", kb>>10)
	if kb > 256<<10 {
		t.Errorf("peak RSS %d MiB hashing a 10 GiB file: memory is not bounded", kb>>10)
	}
	if !bytes.Contains(out, []byte("src/sparse.img")) && !strings.Contains(readPending(t, p), "sparse.img") {
		t.Errorf("the file was not recorded:\n%s", out)
	}
	runtime.KeepAlive(f)
}

// readPending returns every file of the workspace, concatenated.
func readPending(t *testing.T, p *project) string {
	var all bytes.Buffer
	filepath.WalkDir(p.ws, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(path)
			all.Write(data)
		}
		return nil
	})
	return all.String()
}

// TestBadInputKeys: a key with the wrong password, a garbage key, a
// missing key and a public key given as the private one are exit 2, and
// nothing is written.
func TestBadInputKeys(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	keys := t.TempDir()
	r := attestorProcess(t, keys, []string{"COSIGN_PASSWORD=right-password"}, "key", "generate", "--output-prefix", filepath.Join(keys, "ci"))
	if r.code != 0 {
		t.Fatalf("key generate:\n%s", r)
	}
	// Not a key: a PEM frame around garbage (spelled in two parts so that
	// scanners for committed private keys do not flag this test).
	const pemType = "PRIVATE" + " KEY"
	writeFile(t, filepath.Join(keys, "garbage.key"), "-----BEGIN "+pemType+"-----\nnot base64 at all\n-----END "+pemType+"-----\n")
	writeFile(t, filepath.Join(keys, "empty.key"), "")
	big := bytes.Repeat([]byte("A"), 8<<20)
	if err := os.WriteFile(filepath.Join(keys, "huge.key"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, key string
		env       []string
	}{
		{"wrong password", filepath.Join(keys, "ci.key"), []string{"COSIGN_PASSWORD=wrong"}},
		{"no password", filepath.Join(keys, "ci.key"), nil},
		{"garbage", filepath.Join(keys, "garbage.key"), nil},
		{"empty", filepath.Join(keys, "empty.key"), nil},
		{"huge", filepath.Join(keys, "huge.key"), nil},
		{"missing", filepath.Join(keys, "nosuch.key"), nil},
		{"public key", filepath.Join(keys, "ci.pub"), nil},
		{"directory", keys, nil},
	} {
		before := takeSnapshot(t, p.base)
		for _, args := range [][]string{
			{"run", "--dir", p.ws, "--base-dir", p.base, "--step", "build", "-m", "src", "--key", c.key, "--", "true"},
			{"record", "start", "--dir", p.ws, "--base-dir", p.base, "--step", "build", "-m", "src", "--key", c.key},
			{"provenance", "--dir", p.ws, "--subject", p.path("Makefile"), "--source", "https://github.com/acme/app@refs/heads/main", "--key", c.key},
			{"key", "public", "--key", c.key},
		} {
			r := attestorProcess(t, p.base, c.env, args...)
			if r.code != 2 {
				t.Errorf("%s: %s: want exit 2:\n%s", c.name, args[0], r)
			}
		}
		before.unchanged(t, c.name, p.base)
	}
}

// recordedProject records one honest step (build, with bin/app) and
// returns the project and the envelope's path.
func recordedProject(t *testing.T) (*project, string) {
	t.Helper()
	p := newProject(t)
	r := cli(t, append(append([]string{"run", "--step", "build"}, p.flags()...), "-m", "src", "-p", "bin", "--",
		"sh", "-c", `mkdir -p "$0/bin" && cat "$0"/src/*.c > "$0/bin/app"`, p.base)...)
	if r.code != 0 {
		t.Fatalf("run build:\n%s", r)
	}
	ws, _ := workspace.Open(p.ws)
	names, err := ws.Envelopes()
	if err != nil || len(names) != 1 {
		t.Fatalf("envelopes %q, %v", names, err)
	}
	return p, ws.Path(names[0])
}

// TestBadInputEnvelopes: truncated, oversized, re-typed and tampered
// envelopes in the workspace. push refuses them before writing anything;
// verify never passes on them.
func TestBadInputEnvelopes(t *testing.T) {
	t.Parallel()
	host, writes := pushRegistry(t)
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(host + "/acme/app:v1")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}

	mutations := []struct {
		name   string
		mutate func(data []byte) []byte
		push   int // exit code of push
	}{
		{"truncated", func(d []byte) []byte { return d[:len(d)/2] }, 2},
		{"empty", func([]byte) []byte { return nil }, 2},
		{"not JSON", func([]byte) []byte { return []byte("\x00\xff garbage") }, 2},
		{"oversized", func(d []byte) []byte {
			return append(d[:len(d)-1], append(bytes.Repeat([]byte(" "), 64<<20), '}')...)
		}, 2},
		{"over the push limit, under the workspace limit", func(d []byte) []byte {
			return append(d[:len(d)-1], append(bytes.Repeat([]byte(" "), store.MaxEnvelopeSize), '}')...)
		}, 2},
		{"no signatures", func(d []byte) []byte { return setField(t, d, "signatures", []any{}) }, 2},
		{"payload not base64", func(d []byte) []byte { return setField(t, d, "payload", "!!not base64!!") }, 2},
		{"no payload type", func(d []byte) []byte { return setField(t, d, "payloadType", "") }, 2},
		// push is a store: it carries any well-formed envelope, verified or
		// not (the gate verifies); verify must not pass.
		{"payload is not a statement", func(d []byte) []byte { return setField(t, d, "payload", "bm90IGEgc3RhdGVtZW50") }, -1},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			p, envPath := recordedProject(t)
			_, policy := gateProjectPolicy(t, p)
			data, err := os.ReadFile(envPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(envPath, m.mutate(data), 0o644); err != nil {
				t.Fatal(err)
			}
			before := takeSnapshot(t, p.ws)
			w0 := writes.Load()
			r := cli(t, "push", "--dir", p.ws, "--image", tag.String())
			if m.push >= 0 && r.code != m.push {
				t.Errorf("push: want exit %d:\n%s", m.push, r)
			}
			if n := writes.Load() - w0; n != 0 && m.push != -1 {
				t.Errorf("push wrote %d times to the registry from a workspace with a bad envelope", n)
			}
			r = cli(t, "verify", "--dir", p.ws, "--artifact", p.path("bin/app"), "--policy", policy)
			if strings.HasPrefix(m.name, "over the push limit") {
				// Step records of large builds may exceed what a
				// registry takes (gate.maxWorkspaceEnvelope); the
				// signature is intact, so verify may pass.
				if r.code != 0 {
					t.Errorf("verify of a large but intact envelope:\n%s", r)
				}
			} else if r.code == 0 || (r.code != 1 && r.code != 2) {
				t.Errorf("verify: want exit 1 or 2:\n%s", r)
			}
			before.unchanged(t, "push and verify", p.ws)
		})
	}

	// A signature that no longer matches (one byte of the payload
	// changed, still a valid statement): push may carry it, verify
	// fails (1).
	t.Run("tampered payload", func(t *testing.T) {
		p, envPath := recordedProject(t)
		_, policy := gateProjectPolicy(t, p)
		data, _ := os.ReadFile(envPath)
		var env struct {
			Payload string `json:"payload"`
		}
		json.Unmarshal(data, &env)
		st, _ := decodeB64(env.Payload)
		st = bytes.Replace(st, []byte(`"bin/app"`), []byte(`"bin/apq"`), 1)
		if err := os.WriteFile(envPath, setField(t, data, "payload", encodeB64(st)), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Rename(p.path("bin/app"), p.path("bin/apq"))
		r := cli(t, "verify", "--dir", p.ws, "--artifact", p.path("bin/apq"), "--policy", policy)
		if r.code != 1 {
			t.Errorf("verify of a tampered envelope: want exit 1:\n%s", r)
		}
	})
}

// gateProjectPolicy writes a policy trusting the project's key for its
// build step.
func gateProjectPolicy(t *testing.T, p *project) (pub, policy string) {
	t.Helper()
	r := cli(t, "key", "public", "--key", p.key)
	if r.code != 0 {
		t.Fatalf("key public:\n%s", r)
	}
	dir := t.TempDir()
	pub = filepath.Join(dir, "ci.pub")
	writeFile(t, pub, r.stdout)
	policy = filepath.Join(dir, "policy.yaml")
	writeFile(t, policy, `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: build
    functionaries: [ci]
    products: [[CREATE, "bin/*"], [DISALLOW, "*"]]
`)
	return pub, policy
}

func setField(t *testing.T, data []byte, field string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = v
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBadInputPolicies: a policy with duplicate keys, unknown fields, no
// steps, a zero threshold or no functionaries is bad input (exit 2), never
// a pass.
func TestBadInputPolicies(t *testing.T) {
	t.Parallel()
	p, _ := recordedProject(t)
	_, good := gateProjectPolicy(t, p)
	if r := cli(t, "verify", "--dir", p.ws, "--artifact", p.path("bin/app"), "--policy", good); r.code != 0 {
		t.Fatalf("verify with the good policy:\n%s", r)
	}
	dir := filepath.Dir(good)
	head := "version: 1\nexpires: 2099-12-31T00:00:00Z\nfunctionaries:\n  ci: {key: ci.pub}\n"
	step := "steps:\n  - name: build\n    functionaries: [ci]\n"
	for _, c := range []struct{ name, policy string }{
		{"duplicate top-level key", head + step + "functionaries:\n  other: {key: ci.pub}\n"},
		{"duplicate functionary", "version: 1\nexpires: 2099-12-31T00:00:00Z\nfunctionaries:\n  ci: {key: ci.pub}\n  ci: {key: other.pub}\n" + step},
		{"duplicate step field", head + step + "    functionaries: [ci]\n"},
		{"unknown top-level field", head + step + "trustEverything: true\n"},
		{"unknown step field", head + step + "    skipVerification: true\n"},
		{"misspelt threshold", head + step + "    treshold: 0\n"},
		{"zero threshold", head + step + "    threshold: 0\n"},
		{"negative threshold", head + step + "    threshold: -1\n"},
		{"no steps", head},
		{"empty steps", head + "steps: []\n"},
		{"step without functionaries", head + "steps:\n  - name: build\n"},
		{"unknown functionary", head + "steps:\n  - name: build\n    functionaries: [nobody]\n"},
		{"expired", "version: 1\nexpires: 2001-01-01T00:00:00Z\nfunctionaries:\n  ci: {key: ci.pub}\n" + step},
		{"wrong version", "version: 99\n" + head[len("version: 1\n"):] + step},
		{"empty file", ""},
		{"not YAML", "\x00\xff{{{"},
		{"JSON duplicate", `{"version":1,"version":1,"expires":"2099-12-31T00:00:00Z","functionaries":{"ci":{"key":"ci.pub"}},"steps":[{"name":"build","functionaries":["ci"]}]}`},
		{"key outside", "version: 1\nexpires: 2099-12-31T00:00:00Z\nfunctionaries:\n  ci: {key: /nonexistent/ci.pub}\n" + step},
		{"billion laughs", "version: 1\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			writeFile(t, path, c.policy)
			r := cli(t, "verify", "--dir", p.ws, "--artifact", p.path("bin/app"), "--policy", path)
			if r.code == 0 {
				t.Fatalf("verify passed with a bad policy:\n%s", r)
			}
			if r.code != 2 && c.name != "expired" {
				t.Errorf("want exit 2 (bad input):\n%s", r)
			}
		})
	}
}

// lie is how lyingRegistry lies.
type lie struct {
	pad      atomic.Bool            // every manifest body gets a trailing space: its digest changes
	from, to atomic.Pointer[string] // every request about digest from is answered about digest to, relabelled as from
}

// lyingRegistry is an in-process registry behind a proxy that lies as l
// says: a registry whose manifests do not match the digests asked for.
func lyingRegistry(t *testing.T) (host string, l *lie, writes *atomic.Int64) {
	t.Helper()
	l, writes = &lie{}, &atomic.Int64{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writes.Add(1)
		}
		from, to := l.from.Load(), l.to.Load()
		if !l.pad.Load() && from == nil {
			reg.ServeHTTP(w, r)
			return
		}
		if from != nil {
			r.URL.Path = strings.ReplaceAll(r.URL.Path, *from, *to)
			r.URL.RawQuery = strings.ReplaceAll(r.URL.RawQuery, *from, *to)
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if from != nil {
			body = bytes.ReplaceAll(body, []byte(*to), []byte(*from))
		}
		if l.pad.Load() && strings.Contains(r.URL.Path, "/manifests/") && rec.Code == http.StatusOK && len(body) > 0 {
			body = append(bytes.TrimRight(body, "\n "), ' ', '\n')
		}
		for k, v := range rec.Header() {
			for i := range v {
				if from != nil {
					v[i] = strings.ReplaceAll(v[i], *to, *from)
				}
			}
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), l, writes
}

// chainFixture writes an image to host/acme/app:TAG and, in a new
// workspace, a signed one-step chain about it (step push, product the
// image), and a policy that the chain satisfies.
func chainFixture(t *testing.T, host, tag string) (img name.Digest, dir, policy string) {
	t.Helper()
	image, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(host + "/acme/app:" + tag)
	if err := remote.Write(ref, image); err != nil {
		t.Fatal(err)
	}
	h, _ := image.Digest()
	img = ref.Context().Digest(h.String())
	keyPath := filepath.Join(t.TempDir(), "ci.key")
	writeKey(t, keyPath, "ed25519")
	signer, err := sign.Load(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	rec := &attestor.Record{Step: "push", Command: []string{"docker", "push"},
		Products:  []*ita1.ResourceDescriptor{{Name: workspace.ImagePrefix + img.Context().Name(), Digest: map[string]string{"sha256": h.Hex}}},
		StartedOn: time.Now().Add(-time.Hour), FinishedOn: time.Now().Add(-time.Hour)}
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := envelope.SignStatement(context.Background(), signer, st)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	ws, _ := workspace.Open(dir)
	keyID, _ := signer.KeyID()
	if err := ws.Write(workspace.EnvelopeName("push", keyID), data); err != nil {
		t.Fatal(err)
	}
	pub, _ := sign.MarshalPublicKey(signer.Public())
	pdir := t.TempDir()
	writeFile(t, filepath.Join(pdir, "ci.pub"), string(pub))
	policy = filepath.Join(pdir, "policy.yaml")
	writeFile(t, policy, `version: 1
expires: 2099-12-31T00:00:00Z
functionaries: {ci: {key: ci.pub}}
steps:
  - name: push
    functionaries: [ci]
    products: [[ALLOW, "oci://*"], [DISALLOW, "*"]]
`)
	return img, dir, policy
}

// TestBadInputLyingRegistry: a registry that serves manifests that do not
// match the digests asked for. Padded manifests (the same content, other
// bytes) may verify: what is signed is intact; swapped ones (image A's
// attestations asked for, image B's served as A's) must never pass.
// verify passes against the same registry telling the truth; push never
// writes on a lie.
func TestBadInputLyingRegistry(t *testing.T) {
	t.Parallel()
	host, l, writes := lyingRegistry(t)
	imgA, dirA, policy := chainFixture(t, host, "v1")
	imgB, dirB, _ := chainFixture(t, host, "v2")
	for _, c := range []struct{ dir, ref string }{{dirA, imgA.String()}, {dirB, imgB.String()}} {
		if r := cli(t, "push", "--dir", c.dir, "--image", c.ref); r.code != 0 {
			t.Fatalf("honest push:\n%s", r)
		}
	}
	tagA := host + "/acme/app:v1"
	for _, ref := range []string{tagA, imgA.String()} {
		if r := cli(t, "verify", "--image", ref, "--policy", policy); r.code != 0 {
			t.Fatalf("verify --image %s against the honest registry:\n%s", ref, r)
		}
	}

	l.pad.Store(true)
	w0 := writes.Load()
	for _, ref := range []string{tagA, imgA.String()} {
		r := cli(t, "verify", "--image", ref, "--policy", policy)
		t.Logf("padding registry, verify %s: exit %d: %s", ref, r.code, firstLine(r.stderr))
		if r.code != 0 && r.code != 1 && r.code != 3 {
			t.Errorf("verify --image %s against a padding registry: want exit 0, 1 or 3:\n%s", ref, r)
		}
		r = cli(t, "push", "--dir", dirA, "--image", ref)
		t.Logf("padding registry, push %s: exit %d: %s", ref, r.code, firstLine(r.stderr))
		if r.code == 0 && writes.Load() != w0 {
			t.Errorf("push --image %s to a padding registry wrote:\n%s", ref, r)
		}
		if r.code != 0 && r.code != 3 {
			t.Errorf("push --image %s to a padding registry: want exit 0 (nothing to write) or 3:\n%s", ref, r)
		}
	}
	l.pad.Store(false)

	// A's policy, B's (validly signed) chain served as A's.
	aHex, bHex := imgA.DigestStr()[len("sha256:"):], imgB.DigestStr()[len("sha256:"):]
	l.from.Store(&aHex)
	l.to.Store(&bHex)
	for _, ref := range []string{tagA, imgA.String()} {
		r := cli(t, "verify", "--image", ref, "--policy", policy)
		t.Logf("swapping registry, verify %s: exit %d: %s", ref, r.code, firstLine(r.stderr))
		if r.code == 0 {
			t.Errorf("verify --image %s passed on another image's attestations:\n%s", ref, r)
		} else if r.code != 1 && r.code != 3 {
			t.Errorf("verify --image %s against a swapping registry: want exit 1 or 3:\n%s", ref, r)
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// TestBadInputGrafeasOtherResource: a Grafeas server that answers a query
// about image B with the occurrences of image A, relabelled as B's (as a
// hostile or buggy server could). verify of B must fail: the envelopes
// are about A.
func TestBadInputGrafeasOtherResource(t *testing.T) {
	t.Parallel()
	grafeasURL := startGrafeas(t)
	host, _ := pushRegistry(t)
	imgA, dirA, policy := chainFixture(t, host, "v1")
	r := cli(t, "push", "--dir", dirA, "--image", imgA.String(), "--to", "grafeas", "--grafeas", grafeasURL, "--grafeas-project", "acme")
	if r.code != 0 {
		t.Fatalf("push A to Grafeas:\n%s", r)
	}
	if r := cli(t, "verify", "--image", imgA.String(), "--policy", policy, "--from", "grafeas", "--grafeas", grafeasURL, "--grafeas-project", "acme"); r.code != 0 {
		t.Fatalf("verify A from the honest Grafeas:\n%s", r)
	}
	imgB, _, _ := chainFixture(t, host, "v2") // B's own chain is never pushed
	aHex, bHex := imgA.DigestStr()[len("sha256:"):], imgB.DigestStr()[len("sha256:"):]
	up, _ := url.Parse(grafeasURL)
	rp := httputil.NewSingleHostReverseProxy(up)
	var relabelled atomic.Int64
	rp.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		relabelled.Add(int64(bytes.Count(body, []byte(aHex))))
		body = bytes.ReplaceAll(body, []byte(aHex), []byte(bHex))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.RawQuery = strings.ReplaceAll(r.URL.RawQuery, bHex, aHex)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	r = cli(t, "verify", "--image", imgB.String(), "--policy", policy, "--from", "grafeas", "--grafeas", proxy.URL, "--grafeas-project", "acme")
	if relabelled.Load() == 0 {
		t.Fatalf("the proxy relabelled nothing: the test proves nothing\n%s", r)
	}
	t.Logf("Grafeas relabelling A as B: verify exit %d: %s", r.code, firstLine(r.stderr))
	if r.code == 0 {
		t.Fatalf("verify of B passed on A's attestations relabelled by Grafeas:\n%s", r)
	}
	if r.code != 1 {
		t.Errorf("want exit 1 (verification failed):\n%s", r)
	}
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
func encodeB64(b []byte) string          { return base64.StdEncoding.EncodeToString(b) }

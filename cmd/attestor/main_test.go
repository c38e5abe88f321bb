package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// attestorBin is the attestor binary built by TestMain, for the tests that
// need a process of their own: exit codes, environment, working directory.
var attestorBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "attestor-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	attestorBin = filepath.Join(dir, "attestor")
	cmd := exec.Command(goTool(), "build", "-o", attestorBin, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building the attestor binary: %v\n", err)
		return 1
	}
	return m.Run()
}

// goTool returns the go command of the toolchain running the test.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) { //nolint:staticcheck // the toolchain that built this test
		return p
	}
	return "go"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// result is what one attestor invocation did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs the CLI in process, as main does.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// attestorProcess runs the attestor binary in dir with only the given
// environment (plus PATH and a private HOME), so the caller's ATTESTOR_*
// and COSIGN_PASSWORD variables never leak in.
func attestorProcess(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	return runAttestorProcess(t, exec.Command(attestorBin, args...), dir, env)
}

// runAttestorProcess runs cmd, the attestor binary, in dir with only the
// given environment (plus PATH and a private HOME, passed to prepare
// when it is not nil).
func runAttestorProcess(t *testing.T, cmd *exec.Cmd, dir string, env []string, prepare ...func(home string)) result {
	t.Helper()
	cmd.Dir = dir
	home := t.TempDir()
	for _, p := range prepare {
		p(home)
	}
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s: %v", attestorBin, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// requireTool returns the path of an external tool, or skips the test when
// it is missing, unless ATTESTOR_REQUIRE_TOOLS=1 (CI), where it fails. With
// -short, tests of external tools are skipped.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not running %s", name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join(build.Default.GOPATH, "bin", name); fileExists(p) {
		return p
	}
	if os.Getenv("ATTESTOR_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is not installed (ATTESTOR_REQUIRE_TOOLS=1); run .ci/setup", name)
	}
	t.Skipf("%s is not installed; run .ci/setup (set ATTESTOR_REQUIRE_TOOLS=1 to fail instead)", name)
	return ""
}

// writeFile writes content to dir/name, creating directories.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// keyTypes generates the private keys the CLI signs with.
var keyTypes = map[string]func() (crypto.Signer, error){
	"ed25519": func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err },
	"ecdsa":   func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
	"rsa":     func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
}

// writeKey generates a key of the given type and writes it to path as a
// PKCS #8 PEM file.
func writeKey(t *testing.T, path, keyType string) crypto.Signer {
	t.Helper()
	key, err := keyTypes[keyType]()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// project is a source tree with a key and a workspace, for the commands
// that record steps.
type project struct {
	base string // the tree, the base directory and the commands' working directory
	ws   string // the workspace: base/.attestor
	key  string // an Ed25519 key, outside the tree
}

func newProject(t *testing.T) *project {
	t.Helper()
	p := &project{base: t.TempDir()}
	p.ws = filepath.Join(p.base, ".attestor")
	p.key = filepath.Join(t.TempDir(), "ci.key")
	writeKey(t, p.key, "ed25519")
	writeFile(t, filepath.Join(p.base, "src", "main.c"), "int main(void) { return 0; }\n")
	writeFile(t, filepath.Join(p.base, "src", "util.c"), "int util(void) { return 1; }\n")
	writeFile(t, filepath.Join(p.base, "Makefile"), "all:\n\tcc -o app src/*.c\n")
	return p
}

// path returns the absolute path of name in the tree.
func (p *project) path(name string) string { return filepath.Join(p.base, filepath.FromSlash(name)) }

// flags returns the flags that point a command at the project: its
// workspace, base directory and key, all absolute so that in-process runs
// do not depend on the working directory.
func (p *project) flags() []string {
	return []string{"--dir", p.ws, "--base-dir", p.base, "--key", p.key}
}

// wsFiles lists the workspace (hidden files too); nil if it does not exist.
func (p *project) wsFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(p.ws)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// assertContains fails unless s contains every one of want.
func assertContains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

// execute runs the CLI in the test process (executeWith with plain
// globals) and returns its exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return executeWith(ctx, &globals{stdout: stdout, stderr: stderr}, args)
}

//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startAttestor starts the attestor binary in dir with env (see
// attestorProcess) and returns the running command and its stderr.
func startAttestor(t *testing.T, dir string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(attestorBin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A process attestor left (a credential helper it gave up on) may
	// hold stderr open: attestor's own exit is what is waited for.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &stderr
}

// waitExit waits up to limit for cmd to exit and returns its exit code, or
// fails the test (the process is then killed).
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration, stderr *bytes.Buffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("attestor still running after %s\n%s", limit, stderr)
		return -1
	}
}

// waitFor polls until ok holds, for up to 10 s.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestSignalStopsRun sends SIGINT or SIGTERM to a run whose command runs
// on: the command's whole process group is stopped, nothing is recorded,
// and attestor exits 130 or 143 at once.
func TestSignalStopsRun(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			pidFile := p.path("child.pid")
			// The command leaves a grandchild in its group, and ignores
			// nothing: SIGTERM to the group ends both.
			cmd, stderr := startAttestor(t, p.base, nil, append(p.runArgs("-m", "src", "-p", "out"), "--", "sh", "-c",
				`sleep 300 & echo $! > child.pid; wait`)...)
			waitFor(t, "the command to start", func() bool { _, err := os.Stat(pidFile); return err == nil })
			data, _ := os.ReadFile(pidFile)
			child, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				waitFor(t, "the pid", func() bool {
					data, _ = os.ReadFile(pidFile)
					_, err = strconv.Atoi(strings.TrimSpace(string(data)))
					return err == nil
				})
				child, _ = strconv.Atoi(strings.TrimSpace(string(data)))
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code, want := waitExit(t, cmd, 8*time.Second, stderr), 128+int(sig); code != want {
				t.Errorf("exit %d after %v, want %d\n%s", code, sig, want, stderr)
			}
			waitFor(t, "the command's group to be gone", func() bool { return syscall.Kill(child, 0) != nil })
			if names := p.wsFiles(t); len(names) > 0 {
				for _, n := range names {
					if strings.HasSuffix(n, ".dsse.json") || strings.HasPrefix(n, ".") {
						t.Errorf("a stopped step left %s in the workspace", n)
					}
				}
			}
		})
	}
}

// TestSecondSignalExits: attestor blocked where no context reaches (here,
// reading a registry password from a stdin that never ends) exits at the
// second signal.
func TestSecondSignalExits(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	if r := cli(t, append(p.runArgs("-m", "src"), "--", "true")...); r.code != 0 {
		t.Fatalf("run:\n%s", r)
	}
	cmd := exec.Command(attestorBin, "push", "--dir", p.ws, "--image", "127.0.0.1:1/app:v1", "--registry-username", "u", "--registry-password-stdin")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	stdin, err := cmd.StdinPipe() // never written, never closed
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	time.Sleep(200 * time.Millisecond) // blocked in the read by now
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 3*time.Second, &stderr); code != 143 {
		t.Errorf("exit %d, want 143\n%s", code, &stderr)
	}
}

// TestPlantedFIFOs plants a FIFO (with no writer) wherever attestor opens
// a file from the workspace or from a path it is given: every command
// must refuse it (exit 2, naming it) instead of blocking in open.
func TestPlantedFIFOs(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	if r := cli(t, append(p.runArgs("-m", "src", "-p", "src"), "--", "true")...); r.code != 0 {
		t.Fatalf("run:\n%s", r)
	}
	_, policy := gateProjectPolicy(t, p)
	fifo := func(path string) string {
		t.Helper()
		os.Remove(path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	type plant struct {
		name string
		path string   // where the FIFO goes
		args []string // the command that must not block on it
		env  []string
	}
	plants := []plant{
		{"hash cache", filepath.Join(p.ws, "_cache", "hash.v1"), append(p.runArgs("--step", "again", "-m", "src", "--workspace-cache"), "--", "true"), nil},
		{"pending record", filepath.Join(p.ws, "stop.pending.json"), append([]string{"record", "stop", "--step", "stop", "-p", "src"}, p.flags()...), nil},
		{"key file", p.path("fifo.key"), []string{"key", "public", "--key", p.path("fifo.key")}, nil},
		{"verify --artifact", p.path("fifo.tar"), []string{"verify", "--dir", p.ws, "--artifact", p.path("fifo.tar"), "--policy", policy}, nil},
		{"provenance --subject", p.path("fifo.bin"), append([]string{"provenance", "--subject", p.path("fifo.bin"), "--source", "https://example.com/a@refs/heads/main"}, "--dir", p.ws, "--key", p.key), nil},
		{"trusted root", p.path("trusted_root.json"), []string{"verify", "--dir", p.ws, "--artifact", p.path("src/main.c"), "--policy", policy, "--trusted-root", p.path("trusted_root.json")}, nil},
		{"Grafeas CA file", p.path("ca.pem"), []string{"push", "--dir", p.ws, "--image", "127.0.0.1:1/acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "--to", "grafeas", "--dry-run", "--grafeas", "https://127.0.0.1:1", "--grafeas-project", "p", "--grafeas-ca", p.path("ca.pem")}, nil},
		{"identity token file", p.path("token.jwt"), append(p.runArgs("--step", "kl", "-m", "src", "--key", "", "--keyless", "--identity-token", p.path("token.jwt"), "--fulcio-url", "http://127.0.0.1:1", "--rekor-url", "http://127.0.0.1:1"), "--", "true"), []string{"GCE_METADATA_HOST="}},
	}
	for _, pl := range plants {
		t.Run(pl.name, func(t *testing.T) {
			fifo(pl.path)
			defer os.Remove(pl.path)
			cmd, stderr := startAttestor(t, p.base, pl.env, pl.args...)
			if code := waitExit(t, cmd, 20*time.Second, stderr); code != 2 {
				t.Errorf("exit %d, want 2\n%s", code, stderr)
			}
			if !strings.Contains(stderr.String(), "FIFO") {
				t.Errorf("the error does not say what is wrong:\n%s", stderr)
			}
		})
	}
}

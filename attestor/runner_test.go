//go:build unix

package attestor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-cmp/cmp"
)

// runnerTestDeadline bounds every run and every wait of a test, so that a bug
// (a deadlock, a process that is never killed) fails the test instead of
// hanging it.
const runnerTestDeadline = 10 * time.Second

// shell returns the argv that runs script with /bin/sh, with args as $1, $2…
func runnerShell(script string, args ...string) []string {
	return append([]string{"/bin/sh", "-c", script, "sh"}, args...)
}

// runnerContext is the test's context, bounded by runnerTestDeadline.
func runnerContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), runnerTestDeadline)
	t.Cleanup(cancel)
	return ctx
}

// runnerStdin opens /dev/null for a command's stdin.
func runnerStdin(t *testing.T) *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// runnerClock returns t0, t0+1s, t0+2s… on successive calls.
func runnerClock(t0 time.Time) func() time.Time {
	var mu sync.Mutex
	next := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(time.Second)
		return now
	}
}

// runnerBuffer is a bytes.Buffer safe for a writer and a reader at once.
type runnerBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *runnerBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *runnerBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runnerLineWatch closes seen when a write carries the first newline.
type runnerLineWatch struct {
	runnerBuffer
	once sync.Once
	seen chan struct{}
}

func newRunnerLineWatch() *runnerLineWatch { return &runnerLineWatch{seen: make(chan struct{})} }

func (n *runnerLineWatch) Write(p []byte) (int, error) {
	w, err := n.runnerBuffer.Write(p)
	if bytes.IndexByte(p, '\n') >= 0 {
		n.once.Do(func() { close(n.seen) })
	}
	return w, err
}

// runnerZeroCounter counts the bytes written to it, all of them zero.
type runnerZeroCounter struct {
	n       int64
	nonZero bool
}

func (c *runnerZeroCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if bytes.ContainsFunc(p, func(r rune) bool { return r != 0 }) {
		c.nonZero = true
	}
	return len(p), nil
}

// waitProcessGone waits until process pid is gone or a zombie (dead, but not reaped:
// the init of a container may never reap orphans).
func waitProcessGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(runnerTestDeadline)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // reaped between the two checks
		}
		// "pid (comm) S ...": the state follows the last ')'.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && bytes.HasPrefix(stat[i:], []byte(") Z")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// readChildPID reads the pid a script wrote to path.
func readChildPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the command did not write its child's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	return pid
}

func TestRunnerExitCodes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		script string
		want   commandResult
	}{
		{"success", "echo out; echo err >&2", commandResult{ExitCode: 0, Stdout: []byte("out\n"), Stderr: []byte("err\n")}},
		{"failure", "echo out; exit 1", commandResult{ExitCode: 1, Stdout: []byte("out\n")}},
		{"exit 42", "echo err >&2; exit 42", commandResult{ExitCode: 42, Stderr: []byte("err\n")}},
		{"no output", "true", commandResult{ExitCode: 0}},
		{"SIGTERM", "echo out; kill -TERM $$", commandResult{ExitCode: 143, Stdout: []byte("out\n")}},
		{"SIGKILL", "kill -KILL $$", commandResult{ExitCode: 137}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var liveOut, liveErr bytes.Buffer
			got, err := runCommand(runnerContext(t), runnerShell(tt.script), runConfig{
				Stdout: &liveOut, Stderr: &liveErr, Stdin: runnerStdin(t),
				MaxCapture: 1024, Clock: runnerClock(t0),
			})
			if err != nil {
				t.Fatalf("runCommand: %v", err)
			}
			want := tt.want
			want.StartedOn, want.FinishedOn = t0, t0.Add(time.Second)
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if liveOut.String() != string(tt.want.Stdout) || liveErr.String() != string(tt.want.Stderr) {
				t.Errorf("live output = %q, %q; want %q, %q", liveOut.String(), liveErr.String(), tt.want.Stdout, tt.want.Stderr)
			}
		})
	}
}

func TestRunnerInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		argv      []string
		cfg       runConfig
		wantStart bool   // the error must match ErrCommandStart
		wantText  string // the error must name this
	}{
		{name: "no argv"},
		{name: "empty command", argv: []string{""}},
		{name: "negative timeout", argv: runnerShell("true"), cfg: runConfig{Timeout: -time.Second}, wantText: "timeout"},
		{name: "negative capture", argv: runnerShell("true"), cfg: runConfig{MaxCapture: -1}, wantText: "capture"},
		{name: "negative grace", argv: runnerShell("true"), cfg: runConfig{KillGrace: -1}, wantText: "grace"},
		{name: "not in PATH", argv: []string{"attestor-no-such-command", "arg"}, wantStart: true, wantText: `"attestor-no-such-command": executable file not found`},
		{name: "no such file", argv: []string{filepath.Join(dir, "missing")}, wantStart: true, wantText: "missing"},
		{name: "directory", argv: []string{dir}, wantStart: true, wantText: strconv.Quote(dir) + ": is a directory"},
		{name: "not executable", argv: []string{notExec}, wantStart: true, wantText: "script.sh\": permission denied"},
		{name: "missing dir", argv: runnerShell("true"), cfg: runConfig{Dir: filepath.Join(dir, "nodir")}, wantStart: true, wantText: "nodir"},
		{name: "dir is a file", argv: runnerShell("true"), cfg: runConfig{Dir: notExec}, wantStart: true, wantText: "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Stdin = runnerStdin(t)
			got, err := runCommand(runnerContext(t), tt.argv, tt.cfg)
			if got != nil {
				t.Errorf("result = %+v, want nil", got)
			}
			if !errors.Is(err, fault.ErrInvalidInput) {
				t.Fatalf("error = %v, want one matching fault.ErrInvalidInput", err)
			}
			if errors.Is(err, ErrCommandStart) != tt.wantStart {
				t.Errorf("errors.Is(%v, ErrCommandStart) = %t, want %t", err, !tt.wantStart, tt.wantStart)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
		})
	}
}

func TestRunnerTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		want   int // exit code
	}{
		// The shell and its child both die of SIGTERM.
		{"SIGTERM", `sleep 100 & echo $! >"$1"; wait`, 143},
		// Both ignore SIGTERM (ignored signals stay ignored across exec):
		// only the SIGKILL after the grace stops them.
		{"SIGTERM ignored", `trap '' TERM; sleep 100 & echo $! >"$1"; wait`, 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pidFile := filepath.Join(t.TempDir(), "pid")
			// The timeout must outlast the start of the shell and its child;
			// a second is plenty, and nothing asserts on the duration.
			got, err := runCommand(runnerContext(t), runnerShell(tt.script, pidFile), runConfig{
				Stdin: runnerStdin(t), Timeout: time.Second, KillGrace: 200 * time.Millisecond,
			})
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("error = %v, want ErrTimeout", err)
			}
			if got == nil {
				t.Fatal("no result")
			}
			if !got.TimedOut || got.ExitCode != tt.want {
				t.Errorf("TimedOut, ExitCode = %t, %d; want true, %d", got.TimedOut, got.ExitCode, tt.want)
			}
			waitProcessGone(t, readChildPID(t, pidFile))
		})
	}
}

func TestRunnerCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(runnerContext(t))
	defer cancel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	live := newRunnerLineWatch()
	go func() {
		select {
		case <-live.seen:
			cancel()
		case <-ctx.Done():
		}
	}()
	got, err := runCommand(ctx, runnerShell(`sleep 100 & echo $! >"$1"; echo started; wait`, pidFile), runConfig{
		Stdout: live, Stdin: runnerStdin(t), KillGrace: 200 * time.Millisecond,
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if got == nil {
		t.Fatal("no result")
	}
	if got.TimedOut || got.ExitCode != 143 {
		t.Errorf("TimedOut, ExitCode = %t, %d; want false, 143", got.TimedOut, got.ExitCode)
	}
	waitProcessGone(t, readChildPID(t, pidFile))
}

func TestRunnerCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	got, err := runCommand(ctx, runnerShell(`touch "$1"`, marker), runConfig{Stdin: runnerStdin(t)})
	if got != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("runCommand = %v, %v; want nil, context.Canceled", got, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran")
	}
}

// TestRunnerLeftoverHoldsOutput: a background process that keeps stdout
// open after the command exited must not keep runCommand waiting.
func TestRunnerLeftoverHoldsOutput(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	got, err := runCommand(runnerContext(t), runnerShell(`sleep 100 & echo $! >"$1"; echo done`, pidFile), runConfig{
		Stdin: runnerStdin(t), MaxCapture: 100, KillGrace: 100 * time.Millisecond,
	})
	if pid, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) }) // the sleep this test started
		}
	}
	if err != nil {
		t.Fatalf("runCommand: %v", err)
	}
	if got.ExitCode != 0 || string(got.Stdout) != "done\n" || got.TimedOut {
		t.Errorf("result = %+v, want exit 0, stdout \"done\\n\"", got)
	}
}

// TestRunnerStreamsLive: the live writer receives output while the command
// runs, not when it exits. The command prints a line and then waits for a
// file that the test creates only once it has seen that line.
func TestRunnerStreamsLive(t *testing.T) {
	t.Parallel()
	for _, stream := range []string{"stdout", "stderr"} {
		t.Run(stream, func(t *testing.T) {
			t.Parallel()
			proceed := filepath.Join(t.TempDir(), "proceed")
			redirect := ""
			if stream == "stderr" {
				redirect = ">&2"
			}
			// The loop is bounded too: at most 10s (1000 × 10ms), then exit 3.
			script := fmt.Sprintf(`echo first %[1]s; i=0
while [ ! -e "$1" ]; do
	i=$((i+1)); [ $i -gt 1000 ] && exit 3
	sleep 0.01
done
echo second %[1]s`, redirect)

			live := newRunnerLineWatch()
			cfg := runConfig{Stdin: runnerStdin(t), MaxCapture: 1024}
			if stream == "stdout" {
				cfg.Stdout = live
			} else {
				cfg.Stderr = live
			}
			ctx := runnerContext(t)
			type outcome struct {
				res *commandResult
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := runCommand(ctx, runnerShell(script, proceed), cfg)
				done <- outcome{res, err}
			}()

			select {
			case <-live.seen:
				if got := live.String(); got != "first\n" {
					t.Errorf("live output before the command goes on = %q, want %q", got, "first\n")
				}
			case o := <-done:
				t.Fatalf("the command finished (%+v, %v) before its first line reached the live writer", o.res, o.err)
			case <-ctx.Done():
				t.Fatal("the first line never reached the live writer")
			}
			if err := os.WriteFile(proceed, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			o := <-done // bounded by ctx
			if o.err != nil || o.res.ExitCode != 0 {
				t.Fatalf("runCommand = %+v, %v; want exit 0", o.res, o.err)
			}
			if got := live.String(); got != "first\nsecond\n" {
				t.Errorf("live output = %q, want %q", got, "first\nsecond\n")
			}
		})
	}
}

// TestRunnerLargeOutput: megabytes on one stream while the other is still
// untouched must not deadlock (in-toto-golang's RunCommand does, over 64 KiB
// of stderr).
func TestRunnerLargeOutput(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	const capture = 1 << 20
	tests := []struct {
		name   string
		script string
	}{
		{"stderr then stdout", `head -c $1 /dev/zero >&2; head -c $1 /dev/zero`},
		{"stdout then stderr", `head -c $1 /dev/zero; head -c $1 /dev/zero >&2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var liveOut, liveErr runnerZeroCounter
			got, err := runCommand(runnerContext(t), runnerShell(tt.script, strconv.Itoa(size)), runConfig{
				Stdout: &liveOut, Stderr: &liveErr, Stdin: runnerStdin(t), MaxCapture: capture,
			})
			if err != nil {
				t.Fatalf("runCommand: %v", err)
			}
			if got.ExitCode != 0 {
				t.Errorf("exit code %d", got.ExitCode)
			}
			if liveOut.n != size || liveErr.n != size || liveOut.nonZero || liveErr.nonZero {
				t.Errorf("live output: %d and %d bytes, want %d zero bytes each", liveOut.n, liveErr.n, size)
			}
			if !bytes.Equal(got.Stdout, make([]byte, capture)) || !bytes.Equal(got.Stderr, make([]byte, capture)) {
				t.Errorf("captured %d and %d bytes, want %d zero bytes each", len(got.Stdout), len(got.Stderr), capture)
			}
			if !got.StdoutTruncated || !got.StderrTruncated {
				t.Errorf("truncated = %t, %t; want true, true", got.StdoutTruncated, got.StderrTruncated)
			}
		})
	}
}

// TestRunnerBoundedCapture: 50 MB of output, 64 KiB kept: the first 64 KiB.
func TestRunnerBoundedCapture(t *testing.T) {
	t.Parallel()
	const capture = 64 << 10
	got, err := runCommand(runnerContext(t), runnerShell(`printf HEAD; head -c 50000000 /dev/zero; printf TAIL`), runConfig{
		Stdin: runnerStdin(t), MaxCapture: capture,
	})
	if err != nil {
		t.Fatalf("runCommand: %v", err)
	}
	want := append([]byte("HEAD"), make([]byte, capture-4)...)
	if !bytes.Equal(got.Stdout, want) || !got.StdoutTruncated {
		t.Errorf("captured %d bytes starting %q, truncated %t; want the first %d bytes, truncated",
			len(got.Stdout), got.Stdout[:min(len(got.Stdout), 8)], got.StdoutTruncated, capture)
	}
	if cap(got.Stdout) > capture {
		t.Errorf("capture buffer holds %d bytes, want at most %d", cap(got.Stdout), capture)
	}
	if got.Stderr != nil || got.StderrTruncated {
		t.Errorf("stderr = %q, truncated %t; want nothing", got.Stderr, got.StderrTruncated)
	}
}

func TestRunnerOutputWriterBounded(t *testing.T) {
	t.Parallel()
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for _, limit := range []int{0, 1, 1000, 64 << 10, 100 << 10} {
		w := &outputWriter{max: limit}
		for range 50 << 20 / len(chunk) {
			if n, err := w.Write(chunk); n != len(chunk) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		got, truncated := w.captured(nil)
		if len(got) != limit || cap(w.buf) > limit || !truncated {
			t.Errorf("max %d: kept %d bytes in a buffer of %d, truncated %t", limit, len(got), cap(w.buf), truncated)
		}
	}
}

// TestRunnerSharedLiveWriter: one writer for both streams, as a console is;
// the race detector checks that writes to it are serialised.
func TestRunnerSharedLiveWriter(t *testing.T) {
	t.Parallel()
	var live bytes.Buffer
	got, err := runCommand(runnerContext(t), runnerShell(`for i in 1 2 3 4 5 6 7 8 9; do echo o$i; echo e$i >&2; done`), runConfig{
		Stdout: &live, Stderr: &live, Stdin: runnerStdin(t),
	})
	if err != nil || got.ExitCode != 0 {
		t.Fatalf("runCommand = %+v, %v", got, err)
	}
	if n := strings.Count(live.String(), "\n"); n != 18 {
		t.Errorf("live output has %d lines, want 18:\n%s", n, live.String())
	}
}

// runnerFailingWriter fails every write.
type runnerFailingWriter struct{}

func (runnerFailingWriter) Write([]byte) (int, error) { return 0, errors.New("console gone") }

func TestRunnerLiveWriterFails(t *testing.T) {
	t.Parallel()
	got, err := runCommand(runnerContext(t), runnerShell(`echo one; echo two; exit 7`), runConfig{
		Stdout: runnerFailingWriter{}, Stdin: runnerStdin(t), MaxCapture: 100,
	})
	if err != nil {
		t.Fatalf("runCommand: %v", err)
	}
	if got.ExitCode != 7 || string(got.Stdout) != "one\ntwo\n" {
		t.Errorf("result = %d, %q; want 7, %q", got.ExitCode, got.Stdout, "one\ntwo\n")
	}
}

func TestRunnerEnvAndDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	got, err := runCommand(runnerContext(t), runnerShell(`printf '%s|%s|%s' "$FOO" "$HOME" "$(pwd -P)"`), runConfig{
		Stdin: runnerStdin(t), MaxCapture: 4096, Dir: dir, Env: []string{"FOO=bar"},
	})
	if err != nil {
		t.Fatalf("runCommand: %v", err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "bar||" + real; string(got.Stdout) != want {
		t.Errorf("stdout = %q, want %q", got.Stdout, want)
	}
}

func TestRunnerRedacts(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-t0ken"
	tests := []struct {
		name       string
		max        int
		wantOut    string
		wantErr    string
		truncation bool
	}{
		{name: "whole", max: 1024, wantOut: "token=*** again=***\n", wantErr: "err ***\n"},
		// "token=s3cr3t" and "err s3cr3t-t" are cut in the middle of the secret.
		{name: "cut", max: 12, wantOut: "token=***", wantErr: "err ***", truncation: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var liveOut bytes.Buffer
			got, err := runCommand(runnerContext(t), runnerShell(`echo "token=$1 again=$1"; echo "err $1" >&2`, secret), runConfig{
				Stdout: &liveOut, Stdin: runnerStdin(t), MaxCapture: tt.max,
				Redact: []string{secret, "abc", ""},
			})
			if err != nil {
				t.Fatalf("runCommand: %v", err)
			}
			if string(got.Stdout) != tt.wantOut || string(got.Stderr) != tt.wantErr || got.StdoutTruncated != tt.truncation {
				t.Errorf("captured %q, %q (truncated %t); want %q, %q (%t)",
					got.Stdout, got.Stderr, got.StdoutTruncated, tt.wantOut, tt.wantErr, tt.truncation)
			}
			if want := "token=" + secret + " again=" + secret + "\n"; liveOut.String() != want {
				t.Errorf("live output = %q, want it unredacted: %q", liveOut.String(), want)
			}
		})
	}
}

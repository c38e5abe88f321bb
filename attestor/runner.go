package attestor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/attestor/attestor/attestor/fault"
)

const (
	// defaultKillGrace is runConfig.KillGrace when it is zero.
	defaultKillGrace = 5 * time.Second

	// groupPollInterval is how often a stopping command's process group is
	// checked for members that outlived its leader.
	groupPollInterval = 10 * time.Millisecond
)

// runConfig configures runCommand. The zero value runs the command with the
// current environment and directory, no timeout, output discarded and
// nothing captured.
type runConfig struct {
	// Stdout and Stderr receive the command's output live, as it is
	// written, unredacted. Writes to both are serialised, so they may be
	// the same writer. A writer that fails is no longer written to, and the
	// command runs on; a writer that blocks blocks the command. nil
	// discards the stream.
	Stdout, Stderr io.Writer

	// Stdin is the command's standard input. nil is os.Stdin.
	Stdin io.Reader

	// MaxCapture is the number of bytes kept of each stream for the
	// record: the first MaxCapture bytes, whatever the volume of output.
	// 0 keeps nothing.
	MaxCapture int

	// Timeout bounds the run; 0 is none. A command still running after it
	// is stopped as on a cancelled context.
	Timeout time.Duration

	// KillGrace is how long a command that is being stopped has to exit
	// after SIGTERM to its process group before the group gets SIGKILL. It
	// is also how long output is still read after the command exited, from
	// processes it left behind that hold its stdout or stderr open. 0 is
	// 5s.
	KillGrace time.Duration

	// Dir is the working directory; "" is the current one. A bare command
	// name is looked up in the PATH of this process, not in Env.
	Dir string

	// Env is the command's environment; nil is os.Environ().
	Env []string

	// Redact lists secret values replaced by "***" in the captured output
	// (not in the live output). Values shorter than 4 bytes are ignored.
	// See SecretsFromEnv.
	Redact []string

	// Clock gives StartedOn and FinishedOn; nil is time.Now.
	Clock func() time.Time
}

// commandResult is what runCommand records of a command that started.
type commandResult struct {
	// ExitCode is the command's exit code, 128+N if signal N killed it.
	ExitCode int

	// Stdout and Stderr are the first runConfig.MaxCapture bytes of each
	// stream, redacted; nil when nothing was kept.
	Stdout, Stderr []byte

	// StdoutTruncated and StderrTruncated report that the stream had more
	// than MaxCapture bytes (with MaxCapture 0: any output at all).
	StdoutTruncated, StderrTruncated bool

	// TimedOut reports that runConfig.Timeout expired and the command was
	// stopped.
	TimedOut bool

	// StartedOn and FinishedOn are read from runConfig.Clock just before
	// the command started and after it and its output were done.
	StartedOn, FinishedOn time.Time
}

// runCommand runs argv[0] with the arguments argv[1:] in a process group of
// its own, streams its output live to cfg.Stdout and cfg.Stderr and captures
// the first cfg.MaxCapture bytes of each stream, redacted.
//
// A command that exits non-zero is not an error: its exit code is in the
// result. An empty argv or an invalid cfg is an error matching
// fault.ErrInvalidInput; a command that cannot be started (not found, not
// executable, a missing Dir) is an error matching ErrCommandStart, and thus
// fault.ErrInvalidInput; in both cases the result is nil. A context done before the
// start returns its error and a nil result.
//
// When cfg.Timeout expires or ctx is done while the command runs, the whole
// process group gets SIGTERM (and SIGCONT, so a stopped group sees it), then
// SIGKILL once cfg.KillGrace has passed if any member is left. The result is
// still returned, with TimedOut set on a timeout, together with an error
// matching ErrTimeout (timeout) or ctx.Err() (context done).
//
// Processes that the command leaves running in the background are not
// killed when it exits on its own; if they hold its stdout or stderr open,
// runCommand stops reading them KillGrace after the command exited.
func runCommand(ctx context.Context, argv []string, cfg runConfig) (*commandResult, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, fault.Invalidf("running a command: no command given")
	}
	// The command's name as errors show it: a secret in it (a token
	// passed as the command) is redacted, as in the record.
	name := string(redact([]byte(argv[0]), cfg.Redact))
	switch {
	case cfg.MaxCapture < 0:
		return nil, fault.Invalidf("running %q: negative capture size %d", name, cfg.MaxCapture)
	case cfg.Timeout < 0:
		return nil, fault.Invalidf("running %q: negative timeout %s", name, cfg.Timeout)
	case cfg.KillGrace < 0:
		return nil, fault.Invalidf("running %q: negative kill grace %s", name, cfg.KillGrace)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	grace := cfg.KillGrace
	if grace == 0 {
		grace = defaultKillGrace
	}
	stdin := cfg.Stdin
	if stdin == nil {
		stdin = os.Stdin
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("running %q: %w", name, err)
	}
	if cfg.Dir != "" {
		// Checked here: the start would report a missing directory as a
		// missing command.
		if fi, err := os.Stat(cfg.Dir); err != nil {
			return nil, fmt.Errorf("%w: %q: working directory: %w", ErrCommandStart, name, err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("%w: %q: working directory %q is not a directory", ErrCommandStart, name, cfg.Dir)
		}
	}

	var liveMu sync.Mutex
	stdout := &outputWriter{liveMu: &liveMu, live: cfg.Stdout, max: cfg.MaxCapture}
	stderr := &outputWriter{liveMu: &liveMu, live: cfg.Stderr, max: cfg.MaxCapture}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cfg.Dir
	cmd.Env = cfg.Env
	cmd.Stdin = stdin
	// Never *os.File, so exec copies each stream in a goroutine of its own:
	// a command filling one pipe while we wait on the other cannot block.
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	inNewGroup(cmd)
	cmd.WaitDelay = grace

	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Timeout)
	}
	defer cancel()

	res := &commandResult{StartedOn: clock()}
	if err := cmd.Start(); err != nil {
		return nil, startError(name, cmd.Path, cfg.Dir, err)
	}
	group := groupOf(cmd.Process)
	defer group.release()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var waitErr, stopErr error
	finished := false
	select {
	case waitErr = <-waited:
		finished = true
	case <-runCtx.Done():
		select { // it may have finished just as the context was done
		case waitErr = <-waited:
			finished = true
		default:
		}
	}
	if !finished {
		if err := ctx.Err(); err != nil {
			stopErr = fmt.Errorf("running %q: %w", name, err)
		} else {
			res.TimedOut = true
			stopErr = fmt.Errorf("running %q: %w after %s", name, ErrTimeout, cfg.Timeout)
		}
		waitErr = group.stop(grace, waited)
	}
	// Wait has returned, so the copying goroutines are done with the writers.
	res.FinishedOn = clock()
	res.Stdout, res.StdoutTruncated = stdout.captured(cfg.Redact)
	res.Stderr, res.StderrTruncated = stderr.captured(cfg.Redact)

	if cmd.ProcessState == nil { // Wait failed before the process was reaped
		res.ExitCode = -1
		return res, errors.Join(stopErr, fmt.Errorf("waiting for %q: %w", name, waitErr))
	}
	res.ExitCode = exitCode(cmd.ProcessState)
	if stopErr != nil {
		return res, stopErr
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return res, fmt.Errorf("reading the output of %q: %w", name, waitErr)
	}
	return res, nil
}

// startError explains why the command shown as name (redacted), found at
// path and run in dir, could not be started. It matches ErrCommandStart
// and keeps the cause (exec.ErrNotFound, fs.ErrPermission, ...) in its
// chain, without exec's own message, which quotes the command unredacted.
func startError(name, path, dir string, err error) error {
	var execErr *exec.Error
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &execErr): // exec: "name": executable file not found in $PATH
		err = execErr.Err
	case errors.As(err, &pathErr): // fork/exec name: permission denied
		err = pathErr.Err
	}
	if errors.Is(err, syscall.EACCES) {
		// execve says EACCES for a directory too; say what it is.
		if dir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if fi, statErr := os.Stat(path); statErr == nil && fi.IsDir() {
			err = syscall.EISDIR
		}
	}
	return fmt.Errorf("%w: %q: %w", ErrCommandStart, name, err)
}

// exitCode is the exit code of a process, 128+N if signal N killed it, as a
// shell reports it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// outputWriter receives one output stream of the command: it passes it on
// to the live writer and keeps its first max bytes. It never fails, so the
// command never sees a broken pipe because of us.
type outputWriter struct {
	liveMu *sync.Mutex // shared by both streams: one write at a time to the console
	live   io.Writer   // nil: discard, or the live writer failed

	max       int
	buf       []byte // cap(buf) <= max
	truncated bool
}

func (w *outputWriter) Write(p []byte) (int, error) {
	if w.live != nil {
		w.liveMu.Lock()
		_, err := w.live.Write(p)
		w.liveMu.Unlock()
		if err != nil {
			w.live = nil
		}
	}
	w.capture(p)
	return len(p), nil
}

func (w *outputWriter) capture(p []byte) {
	if room := w.max - len(w.buf); len(p) > room {
		w.truncated = true
		p = p[:room]
	}
	if len(p) == 0 {
		return
	}
	if need := len(w.buf) + len(p); need > cap(w.buf) {
		// Grow as append would, but never past max.
		grown := make([]byte, len(w.buf), min(w.max, max(need, 2*cap(w.buf), 512)))
		copy(grown, w.buf)
		w.buf = grown
	}
	w.buf = append(w.buf, p...)
}

// captured returns the captured bytes, redacted, and whether output was
// left out. Call it only after the writes are over.
func (w *outputWriter) captured(secrets []string) ([]byte, bool) {
	if w.truncated {
		return redactTruncated(w.buf, secrets), true
	}
	return redact(w.buf, secrets), false
}

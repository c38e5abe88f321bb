package attestor

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with errors.Is; the CLI maps them
// to exit codes.
var (
	// ErrInvalidInput marks bad usage or bad input: a missing path, a
	// malformed key, an invalid step name. The CLI exits 2.
	ErrInvalidInput = errors.New("invalid input")

	// ErrUnavailable marks an external system (registry, metadata server,
	// KMS, Fulcio) that still failed after retries. The CLI exits 3.
	ErrUnavailable = errors.New("external system unavailable")

	// ErrCommandStart is returned when the wrapped command cannot be
	// started (not found, not executable). It wraps ErrInvalidInput.
	ErrCommandStart = &wrapped{"command cannot start", ErrInvalidInput}

	// ErrNoPending is returned by Recorder.Stop when no Recorder.Start was
	// recorded for the step. It wraps ErrInvalidInput.
	ErrNoPending = &wrapped{"no pending record for step (run 'record start' first)", ErrInvalidInput}

	// ErrPending is returned by Recorder.Start when the step was already
	// started and not stopped. It wraps ErrInvalidInput.
	ErrPending = &wrapped{"step already started (run 'record stop' first)", ErrInvalidInput}

	// ErrSymlinkCycle is returned by the Hasher when following directory
	// symlinks leads back into a directory already being walked. It wraps
	// ErrInvalidInput.
	ErrSymlinkCycle = &wrapped{"symlink cycle", ErrInvalidInput}

	// ErrOutsideRoot is returned when a path, or the target of a symlink,
	// lies outside the recorded root. It wraps ErrInvalidInput.
	ErrOutsideRoot = &wrapped{"path outside the recorded root", ErrInvalidInput}

	// ErrArtifactChanged is returned when a file changes while it is being
	// hashed. It wraps ErrInvalidInput.
	ErrArtifactChanged = &wrapped{"file changed while being hashed", ErrInvalidInput}

	// ErrTimeout is returned when the wrapped command exceeded its timeout
	// and was killed.
	ErrTimeout = errors.New("command timed out")
)

// wrapped is a sentinel that is also an ErrInvalidInput (or another parent).
type wrapped struct {
	msg    string
	parent error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.parent }

// Invalid marks err as bad input: the result prints as err and matches both
// err and ErrInvalidInput with errors.Is. It returns nil for a nil err.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, mark: ErrInvalidInput}
}

// Unavailable marks err as the failure of an external system after
// retries: the result prints as err and matches both err and ErrUnavailable.
// It returns nil for a nil err.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, mark: ErrUnavailable}
}

// invalidf formats an error that matches ErrInvalidInput.
func invalidf(format string, args ...any) error {
	return Invalid(fmt.Errorf(format, args...))
}

type markedError struct {
	err  error
	mark error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.err, e.mark} }

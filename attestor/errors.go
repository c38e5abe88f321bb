package attestor

import (
	"errors"

	"github.com/attestor/attestor/attestor/fault"
)

// Sentinel errors of the recording engine. Callers branch on them with
// errors.Is; each also matches its class in package fault, which the CLI
// maps to an exit code.
var (
	// ErrCommandStart is returned when the wrapped command cannot be
	// started (not found, not executable). It wraps fault.ErrInvalidInput.
	ErrCommandStart = fault.New("command cannot start", fault.ErrInvalidInput)

	// ErrNoPending is returned by Recorder.Stop when no Recorder.Start was
	// recorded for the step. It wraps fault.ErrInvalidInput.
	ErrNoPending = fault.New("no pending record for step (run 'record start' first)", fault.ErrInvalidInput)

	// ErrPending is returned by Recorder.Start when the step was already
	// started and not stopped. It wraps fault.ErrInvalidInput.
	ErrPending = fault.New("step already started (run 'record stop' first)", fault.ErrInvalidInput)

	// ErrSymlinkCycle is returned by the Hasher when following directory
	// symlinks leads back into a directory already being walked. It wraps
	// fault.ErrInvalidInput.
	ErrSymlinkCycle = fault.New("symlink cycle", fault.ErrInvalidInput)

	// ErrOutsideRoot is returned when a path, or the target of a symlink,
	// lies outside the recorded root. It wraps fault.ErrInvalidInput.
	ErrOutsideRoot = fault.New("path outside the recorded root", fault.ErrInvalidInput)

	// ErrArtifactChanged is returned when a file changes while it is being
	// hashed. It wraps fault.ErrInvalidInput.
	ErrArtifactChanged = fault.New("file changed while being hashed", fault.ErrInvalidInput)

	// ErrTimeout is returned when the wrapped command exceeded its timeout
	// and was killed.
	ErrTimeout = errors.New("command timed out")
)

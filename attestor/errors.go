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

	// ErrTimeout is returned when the wrapped command exceeded its timeout
	// and was killed.
	ErrTimeout = errors.New("command timed out")
)

// Package fault classifies errors by whose fault they are, which is what
// the CLI's exit code says: bad input (exit 2), an external system that
// failed (exit 3), or anything else (a failed verification, exit 1). It is
// a leaf: the recording engine, the signers, the KMS code and the stores all
// mark their errors with it without importing one another.
package fault

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidInput marks bad usage or bad input: a missing path, a
	// malformed key, an invalid step name. The CLI exits 2.
	ErrInvalidInput = errors.New("invalid input")

	// ErrUnavailable marks an external system (registry, metadata server,
	// KMS, Fulcio) that still failed after retries. The CLI exits 3.
	ErrUnavailable = errors.New("external system unavailable")

	// ErrTooLarge marks a file or response larger than the bound attestor
	// reads. Where it is the input's fault it also matches
	// ErrInvalidInput (see Invalid).
	ErrTooLarge = errors.New("too large")
)

// New returns a sentinel error with the text msg that also matches parent
// with errors.Is: a precise sentinel (a malformed key) under a class
// (ErrInvalidInput).
func New(msg string, parent error) error {
	return &sentinel{msg: msg, parent: parent}
}

type sentinel struct {
	msg    string
	parent error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.parent }

// Invalid marks err as bad input: the result prints as err and matches both
// err and ErrInvalidInput with errors.Is. It returns nil for a nil err.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, mark: ErrInvalidInput}
}

// Invalidf formats an error that matches ErrInvalidInput (and what a %w
// verb wraps).
func Invalidf(format string, args ...any) error {
	return Invalid(fmt.Errorf(format, args...))
}

// Unavailable marks err as the failure of an external system after
// retries: the result prints as err and matches both err and ErrUnavailable.
// It returns nil for a nil err.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, mark: ErrUnavailable}
}

type marked struct {
	err  error
	mark error
}

func (e *marked) Error() string   { return e.err.Error() }
func (e *marked) Unwrap() []error { return []error{e.err, e.mark} }

package store

import (
	"github.com/attestor/attestor/attestor"
)

// Sentinel errors shared by every Store. Callers branch on them with
// errors.Is.
var (
	// ErrTooLarge is returned by Put for an attestation whose envelope (or
	// bundle) is larger than MaxEnvelopeSize; nothing of that Put is
	// stored. It matches attestor.ErrInvalidInput.
	ErrTooLarge = &sentinel{"attestation larger than the store allows", attestor.ErrInvalidInput}
)

type sentinel struct {
	msg    string
	parent error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.parent }

package store

import (
	"github.com/attestor/attestor/attestor/fault"
)

// Sentinel errors shared by every Store. Callers branch on them with
// errors.Is.
var (
	// ErrTooLarge is returned by Put for an attestation whose envelope (or
	// bundle) is larger than MaxEnvelopeSize; nothing of that Put is
	// stored. It matches fault.ErrInvalidInput.
	ErrTooLarge = fault.New("attestation larger than the store allows", fault.ErrInvalidInput)
)

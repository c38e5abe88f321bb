package oci

import (
	"errors"

	"github.com/attestor/attestor/attestor"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrConflict is returned by Put when other writers kept replacing
	// the .att tag or the referrers fallback tag, so that after every
	// retry this Put's attestations were still missing. It matches
	// attestor.ErrUnavailable.
	ErrConflict = &sentinel{"concurrent writers kept replacing the attestations", attestor.ErrUnavailable}

	// ErrUnauthorized is returned when the registry refuses the
	// credentials (401 or 403). It matches attestor.ErrInvalidInput: the
	// credentials are the caller's to fix.
	ErrUnauthorized = &sentinel{"registry refused the credentials", attestor.ErrInvalidInput}

	// ErrInsecure is returned for a plain-HTTP request to a registry that
	// is not on loopback when WithInsecure was not given. It matches
	// attestor.ErrInvalidInput.
	ErrInsecure = &sentinel{"plain HTTP to a non-loopback registry needs --insecure", attestor.ErrInvalidInput}

	// ErrSubjectNotFound is returned by Put with the referrers scheme when
	// the image itself is not in the registry. It matches
	// attestor.ErrInvalidInput.
	ErrSubjectNotFound = &sentinel{"image not found in the registry", attestor.ErrInvalidInput}

	// ErrTooManyRedirects is returned when the registry redirects one
	// request more than 10 times (a redirect loop). It matches
	// attestor.ErrUnavailable.
	ErrTooManyRedirects = &sentinel{"registry redirected too many times", attestor.ErrUnavailable}

	// ErrResponseTooLarge is returned when a registry response exceeds
	// the bound for what was asked (a manifest, a blob, a referrers list,
	// or the read budget of one call).
	ErrResponseTooLarge = errors.New("registry response too large")
)

type sentinel struct {
	msg    string
	parent error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.parent }

package oci

import (
	"errors"

	"github.com/attestor/attestor/attestor/fault"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrConflict is returned by Put when other writers kept replacing
	// the .att tag or the referrers fallback tag, so that after every
	// retry this Put's attestations were still missing. It matches
	// fault.ErrUnavailable.
	ErrConflict = fault.New("concurrent writers kept replacing the attestations", fault.ErrUnavailable)

	// ErrUnauthorized is returned when the registry refuses the
	// credentials (401 or 403). It matches fault.ErrInvalidInput: the
	// credentials are the caller's to fix.
	ErrUnauthorized = fault.New("registry refused the credentials", fault.ErrInvalidInput)

	// ErrInsecure is returned for a plain-HTTP request to a registry that
	// is not on loopback when WithInsecure was not given. It matches
	// fault.ErrInvalidInput.
	ErrInsecure = fault.New("plain HTTP to a non-loopback registry needs --insecure", fault.ErrInvalidInput)

	// ErrSubjectNotFound is returned by Put with the referrers scheme when
	// the image itself is not in the registry. It matches
	// fault.ErrInvalidInput.
	ErrSubjectNotFound = fault.New("image not found in the registry", fault.ErrInvalidInput)

	// ErrTooManyRedirects is returned when the registry redirects one
	// request more than 10 times (a redirect loop). It matches
	// fault.ErrUnavailable.
	ErrTooManyRedirects = fault.New("registry redirected too many times", fault.ErrUnavailable)

	// ErrResponseTooLarge is returned when a registry response exceeds
	// the bound for what was asked (a manifest, a blob, a referrers list,
	// or the read budget of one call).
	ErrResponseTooLarge = errors.New("registry response too large")
)

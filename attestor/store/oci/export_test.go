package oci

import (
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/attestor/attestor/attestor/fault"
)

// Test hooks for package oci_test: credentials, transports and tuning the
// binary does not set (its values are defaultOptions').

func set(f func(*options)) Option { return func(o *options) error { f(o); return nil } }

// WithKeychain resolves credentials with kc (conflicts with WithBasicAuth).
func WithKeychain(kc authn.Keychain) Option { return set(func(o *options) { o.keychain = kc }) }

// WithTransport sends requests through t, inside the retries and bounds.
func WithTransport(t http.RoundTripper) Option { return set(func(o *options) { o.transport = t }) }

// WithEnv reads GITHUB_TOKEN and GITHUB_ACTOR through getenv.
func WithEnv(getenv func(string) string) Option { return set(func(o *options) { o.getenv = getenv }) }

// WithRequestTimeout bounds each HTTP request, its response included.
func WithRequestTimeout(d time.Duration) Option {
	return set(func(o *options) { o.requestTimeout = d })
}

// WithConflictRetries sets how many times Put merges and writes again a
// tag another writer replaced, and how long it waits before checking.
func WithConflictRetries(n int, settle time.Duration) Option {
	return set(func(o *options) { o.conflicts, o.settle = n, settle })
}

// WithRetry makes at most attempts tries of each request (at least 1),
// the first wait backoff.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(o *options) error {
		if attempts < 1 || backoff < 0 {
			return fault.Invalid(fmt.Errorf("oci: invalid retry policy (%d attempts, backoff %s)", attempts, backoff))
		}
		o.attempts, o.backoff = attempts, backoff
		return nil
	}
}

// WithReadLimit bounds the bytes one Put or Get reads in all (at least
// one manifest).
func WithReadLimit(n int64) Option {
	return func(o *options) error {
		if n < MaxManifestSize {
			return fault.Invalid(fmt.Errorf("oci: read limit %d is less than one manifest (%d)", n, MaxManifestSize))
		}
		o.readLimit = n
		return nil
	}
}

// EnvelopeFromBundle returns the DSSE envelope a sigstore bundle carries.
func EnvelopeFromBundle(bundle []byte) ([]byte, error) {
	env, _, err := envelopeFromBundle(bundle, "")
	return env, err
}

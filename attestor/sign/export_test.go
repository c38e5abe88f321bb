package sign

import (
	"net/http"
	"time"
)

// Test hooks for package sign_test: verification options and tuning the
// binary does not set (its values are defaultBundleOptions',
// defaultKeylessOptions' and defaultTokenOptions').

// WithSignedTimestamps requires n RFC 3161 timestamps from timestamp
// authorities of the trusted root.
func WithSignedTimestamps(n int) BundleOption {
	return func(o *bundleOptions) error { o.tsaThreshold = n; return nil }
}

// WithoutTransparencyLogUnsafe accepts a bundle with no transparency log
// entry, with at least one RFC 3161 timestamp instead.
func WithoutTransparencyLogUnsafe() BundleOption {
	return func(o *bundleOptions) error {
		o.tlogThreshold = 0
		o.tsaThreshold = max(o.tsaThreshold, 1)
		return nil
	}
}

// WithKeylessRetries sets the timeout of each request to Fulcio, Rekor
// and timestamp authorities, and how many times one is retried.
func WithKeylessRetries(timeout time.Duration, retries uint) KeylessOption {
	return func(o *keylessOptions) error { o.timeout, o.retries = timeout, retries; return nil }
}

// WithTokenHTTPClient sets the HTTP client of token requests (bounded as
// the default one is).
func WithTokenHTTPClient(c *http.Client) TokenOption {
	return func(o *tokenOptions) error { o.client = c; return nil }
}

// WithTokenRetries sets how many times a failed token request is retried
// and the first wait.
func WithTokenRetries(n int, backoff time.Duration) TokenOption {
	return func(o *tokenOptions) error { o.retries, o.backoff = n, backoff; return nil }
}

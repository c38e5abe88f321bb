package grafeas

import (
	"fmt"
	"net/http"
	"time"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"
)

// Test hooks for package grafeas_test: a transport, tuning and step notes
// the binary does not set (its values are defaultOptions').

func set(f func(*options)) Option { return func(o *options) error { f(o); return nil } }

// WithHTTPClient sets the client whose transport carries the requests
// (conflicts with WithTLSConfig).
func WithHTTPClient(c *http.Client) Option { return set(func(o *options) { o.httpClient = c }) }

// WithRetry sets the retries of a failed request and the bounds of the
// backoff between attempts.
func WithRetry(retries int, waitMin, waitMax time.Duration) Option {
	return set(func(o *options) { o.retries, o.retryWaitMin, o.retryWaitMax = retries, waitMin, waitMax })
}

// WithTimeout bounds each request attempt.
func WithTimeout(d time.Duration) Option { return set(func(o *options) { o.timeout = d }) }

// WithMaxPages bounds the pages of one listing.
func WithMaxPages(n int) Option { return set(func(o *options) { o.maxPages = n }) }

// WithPageSize sets the page size of listings (1 to 1000).
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1000 {
			return fault.Invalid(fmt.Errorf("grafeas: page size %d not in 1..1000", n))
		}
		o.pageSize = n
		return nil
	}
}

// WithStepNotes adds what is known of steps to the notes created for
// them.
func WithStepNotes(steps ...StepNote) Option {
	return func(o *options) error {
		if o.steps == nil {
			o.steps = map[string]StepNote{}
		}
		for _, s := range steps {
			if err := workspace.ValidateStepName(s.Name); err != nil {
				return err
			}
			o.steps[s.Name] = s
		}
		return nil
	}
}

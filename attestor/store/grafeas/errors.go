package grafeas

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/attestor/attestor/attestor/internal/redirect"
	"github.com/attestor/attestor/attestor/internal/retry"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrTooManyPages is returned by Get and Put when a listing does not end
	// within the page bound (DefaultMaxPages): a server that keeps returning
	// new page tokens. It matches fault.ErrUnavailable.
	ErrTooManyPages = errors.New("listing did not end within the page bound")

	// ErrTooManyRedirects is returned when the server redirects one
	// request more than 10 times (a redirect loop). It matches
	// fault.ErrUnavailable.
	ErrTooManyRedirects = redirect.ErrTooMany

	// ErrInsecureRedirect is returned when the server redirects a request
	// made over https to plain http, which is not followed. It matches
	// fault.ErrUnavailable.
	ErrInsecureRedirect = redirect.ErrInsecure

	// ErrResponseTooLarge is returned when a server response is larger than
	// the client reads (DefaultMaxResponseSize). It matches
	// fault.ErrUnavailable.
	ErrResponseTooLarge = errors.New("server response too large")
)

// APIError is an error response of the metadata server, after retries.
// It matches fault.ErrUnavailable for 429 and 5xx statuses and
// fault.ErrInvalidInput for the other 4xx statuses (a bad project, note
// or credential).
type APIError struct {
	// Method and URL name the request.
	Method, URL string
	// StatusCode is the HTTP status code.
	StatusCode int
	// Status is the gRPC status name when the server sent one
	// ("ALREADY_EXISTS", "NOT_FOUND", …).
	Status string
	// Message is the server's message, if any.
	Message string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("grafeas: %s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Status != "" {
		msg += " (" + e.Status + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns fault.ErrUnavailable or fault.ErrInvalidInput (see
// APIError).
func (e *APIError) Unwrap() error {
	if retryableStatus(e.StatusCode) {
		return fault.ErrUnavailable
	}
	if e.StatusCode >= 400 && e.StatusCode < 500 {
		return fault.ErrInvalidInput
	}
	return nil
}

// retryableStatus reports whether an answer with this status says that
// the server is unavailable (exit code 3): one worth asking again (see
// retry.Status) or another server error.
func retryableStatus(code int) bool {
	return retry.Status(code) || code >= 500
}

// Package redirect is the redirect policy of attestor's own HTTP clients
// (Grafeas, Fulcio, Rekor, timestamp authorities, OIDC token endpoints):
// at most Max redirects (net/http's default, which a client that sets its
// own CheckRedirect loses), never from https to plain http, and an
// Authorization header kept to the origin it was set for (net/http sends
// one set by hand on to any port of the same host and to its subdomains,
// over plain http too).
package redirect

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Max bounds the redirects followed for one request.
const Max = 10

// Sentinels, for errors.Is.
var (
	// ErrTooMany: the server redirected one request more than Max times.
	ErrTooMany = errors.New("server redirected too many times")
	// ErrInsecure: the server redirected a request made over https to
	// plain http, which is not followed.
	ErrInsecure = errors.New("redirect from https to plain http refused")
)

// Check refuses req, about to follow the requests via (oldest first), when
// that makes more than Max redirects or leaves https for plain http.
func Check(req *http.Request, via []*http.Request) error {
	if len(via) >= Max {
		return fmt.Errorf("%w (stopped after %d)", ErrTooMany, len(via))
	}
	if len(via) > 0 && via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("to %s: %w", req.URL.Redacted(), ErrInsecure)
	}
	return nil
}

// Refused reports whether err is a redirect Check refused: the server's
// answer, not worth sending the request again.
func Refused(err error) bool {
	return errors.Is(err, ErrTooMany) || errors.Is(err, ErrInsecure)
}

// Policy returns an http.Client CheckRedirect function: Check, then the
// Authorization header dropped when req leaves the origin (scheme, host
// and port) of the first request, then next, if any (a policy of the
// caller's own client).
func Policy(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if err := Check(req, via); err != nil {
			return err
		}
		if !SameOrigin(req.URL, via[0].URL) {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// SameOrigin reports whether a and b have the same scheme, host and port.
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

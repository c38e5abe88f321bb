package sign

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/attestor/attestor/attestor/internal/redirect"
)

// Bounds on what keyless signing reads from Fulcio, Rekor, timestamp
// authorities and token endpoints.
const (
	// maxServerResponse bounds a successful answer: a certificate chain,
	// a log entry with its inclusion proof, a timestamp, a token.
	maxServerResponse = 4 << 20
	// maxErrorBody bounds what is read of an answer that is not a
	// success (a redirect, an error status): the status says what went
	// wrong, and the clients quote the body whole in their errors.
	maxErrorBody = 4 << 10
)

var errResponseTooLarge = errors.New("response too large")

// boundedClient returns a copy of c (nil: a new client) whose redirects
// follow the redirect policy (attestor/internal/redirect, then c's own
// policy), whose Authorization header stays with the origin it was set
// for, and whose answers are bounded
// (see boundedTransport); userAgent, if set, is the User-Agent of its
// requests.
func boundedClient(c *http.Client, userAgent string) *http.Client {
	var hc http.Client
	if c != nil {
		hc = *c
	}
	hc.CheckRedirect = redirect.Policy(hc.CheckRedirect)
	hc.Transport = &boundedTransport{base: hc.Transport, userAgent: userAgent}
	return &hc
}

// boundedTransport applies the redirect policy (redirect.Check, and the
// Authorization header kept to its origin) to the requests of clients
// this package does not make itself (sigstore-go's Fulcio and timestamp
// clients), which the client that follows the redirects links to the
// answers that caused them (Request.Response); and it bounds every
// answer: a success to maxServerResponse bytes (more is an error), any
// other to its first maxErrorBody bytes.
type boundedTransport struct {
	base      http.RoundTripper // nil: http.DefaultTransport
	userAgent string            // if set, the User-Agent of requests
	whole     bool              // read the answer whole within RoundTrip
}

// attemptClient returns the client of one attempt of a request to Fulcio,
// Rekor or a timestamp authority (see retry.Policy): boundedClient's
// policy, with the answer read whole within the attempt, so that an answer
// cut short or stalled fails the attempt, which the retry policy sends
// again; timeout bounds the attempt, reading included.
func attemptClient(timeout time.Duration, userAgent string) *http.Client {
	hc := boundedClient(&http.Client{Timeout: timeout}, userAgent)
	hc.Transport.(*boundedTransport).whole = true
	return hc
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var via []*http.Request
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		via = append([]*http.Request{r.Response.Request}, via...)
	}
	if len(via) > 0 {
		if err := redirect.Check(req, via); err != nil {
			return nil, err
		}
	}
	strip := len(via) > 0 && req.Header.Get("Authorization") != "" && !redirect.SameOrigin(req.URL, via[0].URL)
	if strip || t.userAgent != "" {
		req = req.Clone(req.Context())
		if strip {
			req.Header.Del("Authorization")
		}
		if t.userAgent != "" {
			req.Header.Set("User-Agent", t.userAgent)
		}
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		resp.Body = &limitedBody{rc: resp.Body, left: maxServerResponse, host: req.URL.Host}
	} else {
		resp.Body = &limitedBody{rc: resp.Body, left: maxErrorBody, truncate: true}
	}
	if t.whole {
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the answer of %s: %w", req.URL.Host, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(data))
	}
	return resp, nil
}

// limitedBody is a response body of at most left bytes more: beyond, an
// error naming host, or with truncate, the end.
type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	truncate bool
	host     string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if b.truncate {
			b.rc.Close() // the rest is not read: let the connection go
			return 0, io.EOF
		}
		return 0, fmt.Errorf("answer of %s: more than %d bytes: %w", b.host, maxServerResponse, errResponseTooLarge)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

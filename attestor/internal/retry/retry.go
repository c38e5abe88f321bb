package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/internal/redirect"
	"github.com/hashicorp/go-retryablehttp"
)

// Status reports whether an answer with this status code may be different
// if asked again: 408 Request Timeout, 429 Too Many Requests, and the
// server errors that say "later" (500, 502, 503, 504). 501 Not
// Implemented, 505 and the other 5xx answers are the server's word.
func Status(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Transient reports whether a request that failed with err, without an
// answer, may succeed if sent again: it got no answer within its attempt's
// time limit, its connection was refused, reset or closed, or the answer
// was cut short. Not when ctx has ended (the caller gave up), nor a
// redirect the policy refused, nor a name that does not resolve, nor
// anything else (a TLS certificate error, a malformed URL): those would
// fail the same way again.
func Transient(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || redirect.Refused(err) {
		return false
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTimeout || dns.IsTemporary
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	// A failed dial, read or write on the connection: refused, reset or
	// broken pipe, whatever the OS calls them (syscall's ECONNRESET does
	// not match Windows' WSAECONNRESET).
	var oe *net.OpError
	return errors.As(err, &oe)
}

// CheckRetry is the policy as a go-retryablehttp CheckRetry: a request
// that got no answer is retried when Transient says so, an answer when
// Status does. It stops when ctx has ended.
func CheckRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return Transient(ctx, err), nil
	}
	return Status(resp.StatusCode), nil
}

// Backoff is the wait before retry n (n counts from 0): what a 429 or
// 503 answer's Retry-After asks, at most max; else min·2ⁿ, at most max,
// jittered to between half and all of it, so that clients that failed
// together do not come back together. Its signature is go-retryablehttp's
// Backoff.
func Backoff(min, max time.Duration, n int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return clamp(d, 0, max)
		}
	}
	d := min
	for range n {
		if d >= max/2 {
			d = max
			break
		}
		d *= 2
	}
	d = clamp(d, 0, max)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		if s > int64(24*time.Hour/time.Second) {
			return 24 * time.Hour, true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func clamp(d, lo, hi time.Duration) time.Duration { return min(max(d, lo), hi) }

// Sleep waits d, or until ctx ends (its error).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Policy is how many times a request is sent again, and the bounds of the
// wait between two attempts.
type Policy struct {
	Retries          int
	WaitMin, WaitMax time.Duration
	Logger           *slog.Logger // debug messages of each retry; nil: none
	Name             string       // what the client reaches, the debug messages' prefix
}

// NewClient returns a go-retryablehttp client that sends requests with hc
// (its time limit bounds each attempt) and retries them as this package
// says. When the retries are spent, the last answer is returned as it is
// (its status is the caller's to read) and the last error with the number
// of attempts.
func (p Policy) NewClient(hc *http.Client) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       debugLogger{p.Logger, p.Name},
		RetryMax:     max(p.Retries, 0),
		RetryWaitMin: p.WaitMin,
		RetryWaitMax: p.WaitMax,
		CheckRetry:   CheckRetry,
		Backoff:      Backoff,
		ErrorHandler: func(resp *http.Response, err error, attempts int) (*http.Response, error) {
			if err != nil && attempts > 1 {
				return resp, fmt.Errorf("%w (%d attempts)", err, attempts)
			}
			return resp, err
		},
	}
}

// Named returns p with name as the prefix of its debug messages.
func (p Policy) Named(name string) Policy {
	p.Name = name
	return p
}

// Transport returns an http.RoundTripper that sends each request with hc
// and retries it as NewClient's client does, for libraries that take a
// transport and make their requests themselves (with their own retries
// turned off). When the retries of an answer that Status retries are
// spent, the answer is an error that names its status and the attempts:
// sigstore-go's clients, even with no retries, sleep after such an answer
// before reporting it.
func (p Policy) Transport(hc *http.Client) http.RoundTripper {
	c := p.NewClient(hc)
	handler := c.ErrorHandler
	c.ErrorHandler = func(resp *http.Response, err error, attempts int) (*http.Response, error) {
		if err == nil && resp != nil && Status(resp.StatusCode) {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			host := "server"
			if resp.Request != nil {
				host = resp.Request.URL.Host
			}
			if attempts > 1 {
				return nil, fmt.Errorf("%s answered %s (%d attempts)", host, resp.Status, attempts)
			}
			return nil, fmt.Errorf("%s answered %s", host, resp.Status)
		}
		return handler(resp, err, attempts)
	}
	return &retryablehttp.RoundTripper{Client: c}
}

// debugLogger gives go-retryablehttp's messages to a slog.Logger at debug
// level (retryablehttp.LeveledLogger): a failed attempt is not an error
// until the retries are spent, and then the caller gets the error. A nil
// logger drops them.
type debugLogger struct {
	l    *slog.Logger
	name string
}

func (d debugLogger) Error(msg string, kv ...any) { d.log(msg, kv) }
func (d debugLogger) Info(msg string, kv ...any)  { d.log(msg, kv) }
func (d debugLogger) Debug(msg string, kv ...any) { d.log(msg, kv) }
func (d debugLogger) Warn(msg string, kv ...any)  { d.log(msg, kv) }

func (d debugLogger) log(msg string, kv []any) {
	if d.l != nil {
		if d.name != "" {
			msg = d.name + ": " + msg
		}
		d.l.Debug(msg, kv...)
	}
}

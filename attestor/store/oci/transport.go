package oci

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/attestor/attestor/attestor/internal/retry"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// maxResponse bounds any one response body.
const maxResponse = MaxManifestSize + 4<<20

// maxErrorBody bounds the body of an answer that is not a success (a
// redirect or an error status): what is past it is not read. It is as
// much as go-containerregistry reads of an error body, so that the
// error keeps its status.
const maxErrorBody = 64 << 10

// maxRedirects bounds the redirects followed for one request, as
// net/http's default policy does: go-containerregistry's clients replace
// that policy with one that does not count.
const maxRedirects = 10

func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only with WithInsecure
}

// budget is the number of response bytes one Put or Get may still read,
// and the round-trip time of its last request.
type budget struct {
	left    atomic.Int64
	lastRTT atomic.Int64
}

// lastRTT returns the round-trip time of the last request made with ctx.
func lastRTT(ctx context.Context) time.Duration {
	if b, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return time.Duration(b.lastRTT.Load())
	}
	return 0
}

type budgetKey struct{}

func withBudget(ctx context.Context, n int64) context.Context {
	b := &budget{}
	b.left.Store(n)
	return context.WithValue(ctx, budgetKey{}, b)
}

// roundTripper applies the registry policy around the base transport: no
// plain HTTP off loopback unless insecure, a time limit per request,
// bounded response bodies, and retries with backoff on 408, 429 and 5xx
// for requests that can be replayed.
//
// A read (GET or HEAD without a body) is idempotent: its whole answer,
// body included, is read within the attempt's time limit, and an attempt
// that fails in transit (no answer in time, a reset, a body cut short or
// stalled) is retried too, within the same attempts. So is a write whose
// body the transport can send again and that got no answer (as
// go-containerregistry would retry it: transient), so that the two layers
// never multiply. Other network errors (a write whose body is a stream)
// are retried by go-containerregistry (see Registry.remoteOptions).
type roundTripper struct {
	base       http.RoundTripper
	insecure   bool
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	timeout    time.Duration
	logger     *slog.Logger
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.insecure && !isLoopback(req.URL.Hostname()) {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), ErrInsecure)
	}
	if err := t.checkRedirect(req); err != nil {
		return nil, err
	}
	noBody := req.Body == nil || req.Body == http.NoBody
	read := noBody && (req.Method == http.MethodGet || req.Method == http.MethodHead)
	replayable := noBody || req.GetBody != nil
	attempts := t.attempts
	if !replayable {
		attempts = 1
	}
	for i := 1; ; i++ {
		r := req
		if i > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := t.once(r, replayable && i >= attempts)
		if err == nil && read {
			err = t.readBody(req, resp)
		}
		if err != nil {
			// A write this transport can send again (its body is
			// replayable) and that got no answer is retried here too,
			// within the same attempts, as go-containerregistry would
			// (transient): else a registry that answers 503 and then
			// drops the connection gets attempts² requests, the
			// transport's for each of go-containerregistry's.
			if !(read && glitch(req.Context(), err)) && !(!read && replayable && transient(err)) {
				return nil, err
			}
			if i >= attempts {
				return nil, &exhaustedError{err: err, attempts: i}
			}
			wait := retry.Backoff(t.backoff, t.maxBackoff, i-1, nil)
			t.logger.Debug("registry request failed in transit; retrying", "method", req.Method, "url", req.URL.Redacted(), "err", err, "attempt", i, "wait", wait)
			if err := retry.Sleep(req.Context(), wait); err != nil {
				return nil, err
			}
			continue
		}
		if i >= attempts || !retry.Status(resp.StatusCode) {
			return resp, nil
		}
		wait := retry.Backoff(t.backoff, t.maxBackoff, i-1, resp)
		t.logger.Debug("registry busy; retrying", "method", req.Method, "url", req.URL.Redacted(), "status", resp.StatusCode, "attempt", i, "wait", wait)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := retry.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// checkRedirect refuses a request that follows maxRedirects redirects
// already, and one redirected from https to plain http unless insecure.
// The client that follows redirects links each redirected request to the
// answer that caused it (Request.Response).
func (t *roundTripper) checkRedirect(req *http.Request) error {
	if req.Response == nil || req.Response.Request == nil {
		return nil
	}
	from := req.Response.Request.URL
	if from.Scheme == "https" && req.URL.Scheme == "http" && !t.insecure {
		return fmt.Errorf("%s %s: redirected from https to plain http: %w", req.Method, req.URL.Redacted(), ErrInsecure)
	}
	n := 0
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		if n++; n >= maxRedirects {
			return fmt.Errorf("%s %s: %w (stopped after %d)", req.Method, from.Redacted(), ErrTooManyRedirects, n)
		}
	}
	return nil
}

// readBody reads the answer to a read within its attempt (its time limit
// and bounds), so that a body cut short or stalled fails the attempt,
// which is then retried, rather than the caller reading it. An answer that
// announces more than maxResponse bytes is left to the caller's bounds.
func (t *roundTripper) readBody(req *http.Request, resp *http.Response) error {
	if resp.ContentLength > maxResponse && success(resp) {
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close() // ends the attempt's time limit
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && req.Context().Err() == nil {
			return fmt.Errorf("%s %s: answer not read within %s: %w", req.Method, req.URL.Redacted(), t.timeout, err)
		}
		return fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Redacted(), err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return nil
}

// glitch reports whether a read that failed with err may succeed if sent
// again: it failed in transit (no answer within the attempt's time limit,
// a broken connection, a body cut short), not because the call's context
// ended or the answer was too large.
func glitch(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrResponseTooLarge) || errors.Is(err, ErrInsecure) || errors.Is(err, ErrTooManyRedirects) {
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || transient(err)
}

// exhaustedError is a read that failed in transit on every attempt. It is
// not transient: go-containerregistry must not retry it again.
type exhaustedError struct {
	err      error
	attempts int
}

func (e *exhaustedError) Error() string {
	return fmt.Sprintf("%v (%d attempts)", e.err, e.attempts)
}

func (e *exhaustedError) Unwrap() error { return e.err }

// retriedKey marks, in the context of a request's last attempt, a request
// whose failed answers this transport has retried as its policy says: the
// error made of its answer is not retried again (see transient).
type retriedKey struct{}

// retried reports whether te is the answer to a request this transport
// has retried already.
func retried(te *transport.Error) bool {
	return te.Request != nil && te.Request.Context().Value(retriedKey{}) != nil
}

// once makes one attempt of req; last says that it is the last one this
// transport makes.
func (t *roundTripper) once(req *http.Request, last bool) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	if last {
		ctx = context.WithValue(ctx, retriedKey{}, true)
	}
	start := time.Now()
	sent := req.WithContext(ctx)
	resp, err := t.base.RoundTrip(sent)
	b, _ := req.Context().Value(budgetKey{}).(*budget)
	if b != nil {
		b.lastRTT.Store(int64(time.Since(start)))
	}
	if err != nil {
		cancel()
		if ctx.Err() != nil && req.Context().Err() == nil {
			return nil, fmt.Errorf("%s %s: no answer within %s: %w", req.Method, req.URL.Redacted(), t.timeout, err)
		}
		return nil, err
	}
	resp.Request = sent
	body := &boundedBody{rc: resp.Body, cancel: cancel, limit: maxResponse, budget: b}
	if !success(resp) {
		// Only the start of a redirect or an error is read: the
		// status says what went wrong.
		body.limit, body.truncate = maxErrorBody, true
	}
	resp.Body = body
	return resp, nil
}

// success reports whether resp has a 2xx status.
func success(resp *http.Response) bool {
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// boundedBody fails a response body that is longer than its limit or the
// call's budget (or, with truncate, ends it at its limit), and ends the
// request's time limit when closed.
type boundedBody struct {
	rc       io.ReadCloser
	cancel   context.CancelFunc
	limit    int64
	truncate bool
	read     int64
	budget   *budget
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.read >= b.limit {
		if b.truncate {
			b.rc.Close() // the rest is not read: let the connection go
			return 0, io.EOF
		}
		return 0, fmt.Errorf("response of more than %d bytes: %w", b.limit, ErrResponseTooLarge)
	}
	if int64(len(p)) > b.limit-b.read {
		p = p[:b.limit-b.read]
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if b.budget != nil && b.budget.left.Add(-int64(n)) < 0 {
		return n, fmt.Errorf("read budget of this call spent: %w", ErrResponseTooLarge)
	}
	return n, err
}

func (b *boundedBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// transient reports whether err is worth retrying by go-containerregistry
// (see Registry.remoteOptions): a temporary registry error this transport
// has not retried already, or a request that got no answer
// (retry.Transient). Not a read this transport has retried (its attempts
// are spent), nor an answer too large or a refused redirect.
func transient(err error) bool {
	var ex *exhaustedError
	if err == nil || errors.As(err, &ex) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrInsecure) || errors.Is(err, ErrResponseTooLarge) || errors.Is(err, ErrTooManyRedirects) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary() && !retried(te)
	}
	return retry.Transient(context.Background(), err)
}

package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// maxResponse bounds any one response body.
const maxResponse = MaxManifestSize + 4<<20

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
// for requests that can be replayed. Network errors are retried by
// go-containerregistry (see Registry.remoteOptions), which knows which
// requests are safe to repeat.
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
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
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
		resp, err := t.once(r)
		if err != nil || i >= attempts || !retryStatus(resp.StatusCode) {
			return resp, err
		}
		wait := t.wait(i, resp)
		t.logger.Debug("registry busy; retrying", "method", req.Method, "url", req.URL.Redacted(), "status", resp.StatusCode, "attempt", i, "wait", wait)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

func (t *roundTripper) once(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	start := time.Now()
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
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
	limit := int64(maxResponse)
	resp.Body = &boundedBody{rc: resp.Body, cancel: cancel, limit: limit, budget: b}
	return resp, nil
}

func retryStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// wait returns how long to wait before attempt i+1: Retry-After when the
// registry says (capped), else exponential backoff with jitter.
func (t *roundTripper) wait(i int, resp *http.Response) time.Duration {
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && secs >= 0 {
			return min(time.Duration(secs)*time.Second, t.maxBackoff)
		}
		if when, err := http.ParseTime(ra); err == nil {
			return min(max(time.Until(when), 0), t.maxBackoff)
		}
	}
	return backoff(t.backoff, t.maxBackoff, i)
}

// backoff returns base·2^(i-1), jittered to between half and all of it,
// at most limit.
func backoff(base, limit time.Duration, i int) time.Duration {
	d := base
	for range i - 1 {
		d *= 2
		if d >= limit {
			d = limit
			break
		}
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// boundedBody fails a response body that is longer than its limit or the
// call's budget, and ends the request's time limit when closed.
type boundedBody struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	limit  int64
	read   int64
	budget *budget
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.read >= b.limit {
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

// transient reports whether err is worth retrying: a temporary registry
// error or a broken connection, not a cancelled or expired context.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrInsecure) || errors.Is(err, ErrResponseTooLarge) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed)
}

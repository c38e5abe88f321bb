package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/internal/redirect"
	"github.com/hashicorp/go-retryablehttp"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	resp := func(code int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	tests := []struct {
		name     string
		n        int
		resp     *http.Response
		min, max time.Duration
	}{
		{"429 Retry-After seconds", 0, resp(429, "7"), 7 * time.Second, 7 * time.Second},
		{"503 Retry-After seconds", 3, resp(503, "2"), 2 * time.Second, 2 * time.Second},
		{"Retry-After capped", 0, resp(429, "3600"), time.Minute, time.Minute},
		{"Retry-After huge", 0, resp(429, "99999999999999999"), time.Minute, time.Minute},
		{"Retry-After date past", 0, resp(429, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)), 0, 0},
		{"Retry-After of a 500 ignored", 0, resp(500, "30"), time.Second / 2, time.Second},
		{"first retry", 0, resp(500, ""), time.Second / 2, time.Second},
		{"grows", 3, resp(500, ""), 4 * time.Second, 8 * time.Second},
		{"bounded", 40, nil, 30 * time.Second, time.Minute},
		{"no answer", 1, nil, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 100 {
				got := Backoff(time.Second, time.Minute, tt.n, tt.resp)
				if got < tt.min || got > tt.max {
					t.Fatalf("Backoff = %s, want within [%s, %s]", got, tt.min, tt.max)
				}
			}
		})
	}
	if got := Backoff(0, 0, 3, nil); got != 0 {
		t.Errorf("Backoff(0, 0) = %s, want 0", got)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{
		200: false, 301: false, 400: false, 401: false, 404: false, 409: false,
		408: true, 429: true, 500: true, 502: true, 503: true, 504: true,
		501: false, 505: false, 507: false,
	} {
		if got := Status(code); got != want {
			t.Errorf("Status(%d) = %v, want %v", code, got, want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestTransient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	op := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"nil", ctx, nil, false},
		{"timeout", ctx, &url.Error{Op: "Get", URL: "u", Err: timeoutError{}}, true},
		{"attempt deadline", ctx, fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"reset", ctx, &url.Error{Op: "Post", URL: "u", Err: op}, true},
		{"cut short", ctx, io.ErrUnexpectedEOF, true},
		{"caller gave up", done, op, false},
		{"canceled", ctx, context.Canceled, false},
		{"redirect refused", ctx, &url.Error{Op: "Get", URL: "u", Err: redirect.ErrTooMany}, false},
		{"no such host", ctx, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}, false},
		{"dns timeout", ctx, &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, true},
		{"other", ctx, errors.New("x509: certificate signed by unknown authority"), false},
	} {
		if got := Transient(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: Transient = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// server answers with codes in turn (then 200), counting requests and
// checking that each carries the whole body.
func server(t *testing.T, body string, codes ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		got, _ := io.ReadAll(r.Body)
		if string(got) != body {
			http.Error(w, "body "+string(got), http.StatusBadRequest)
			return
		}
		if i < len(codes) {
			if codes[i] < 0 { // drop the connection without an answer
				c, _, _ := w.(http.Hijacker).Hijack()
				c.Close()
				return
			}
			w.WriteHeader(codes[i])
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	p := Policy{Retries: 3, WaitMin: time.Millisecond, WaitMax: 4 * time.Millisecond}
	for _, tt := range []struct {
		name     string
		codes    []int
		retries  int
		want     int // status of the answer, 0: an error
		requests int32
	}{
		{"busy then ok", []int{503, 429, 502}, 3, 200, 4},
		{"dropped then ok", []int{-1, -1}, 3, 200, 3},
		{"spent", []int{503, 503, 503, 503, 503}, 3, 503, 4},
		{"dropped, spent", []int{-1, -1, -1, -1}, 3, 0, 4},
		{"not retried", []int{501}, 3, 501, 1},
		{"client error", []int{404}, 3, 404, 1},
		{"no retries", []int{503}, 0, 503, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, n := server(t, "payload", tt.codes...)
			p := p
			p.Retries = tt.retries
			// The library's own client and the transport given to
			// libraries: the same policy.
			for _, via := range []string{"client", "transport"} {
				n.Store(0)
				var resp *http.Response
				var err error
				if via == "client" {
					req, _ := retryablehttp.NewRequest(http.MethodPost, srv.URL, []byte("payload"))
					resp, err = p.NewClient(&http.Client{Timeout: 5 * time.Second}).Do(req)
				} else {
					hc := &http.Client{Transport: p.Transport(&http.Client{Timeout: 5 * time.Second})}
					resp, err = hc.Post(srv.URL, "text/plain", bytes.NewReader([]byte("payload")))
				}
				want := tt.want
				if via == "transport" && Status(want) {
					want = 0 // a spent answer is an error
				}
				if want == 0 {
					if err == nil {
						resp.Body.Close()
						t.Fatalf("%s: answer %d, want an error", via, resp.StatusCode)
					}
					if tt.retries > 0 && !bytes.Contains([]byte(err.Error()), []byte(fmt.Sprintf("(%d attempts)", tt.requests))) {
						t.Errorf("%s: error %q does not say how many attempts", via, err)
					}
				} else {
					if err != nil {
						t.Fatalf("%s: %v", via, err)
					}
					resp.Body.Close()
					if resp.StatusCode != want {
						t.Errorf("%s: status %d, want %d", via, resp.StatusCode, want)
					}
				}
				if got := n.Load(); got != tt.requests {
					t.Errorf("%s: %d requests, want %d", via, got, tt.requests)
				}
			}
		})
	}
}

// TestAttemptTimeLimit: the client's time limit bounds each attempt, not
// the whole call: an answer that never comes is asked again.
func TestAttemptTimeLimit(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	defer close(release)
	p := Policy{Retries: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond}
	resp, err := p.NewClient(&http.Client{Timeout: 200 * time.Millisecond}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n.Load() != 2 {
		t.Errorf("%d requests, want 2", n.Load())
	}
}

// TestCallerContextEndsRetries: a caller that gives up is not kept
// waiting for the backoff.
func TestCallerContextEndsRetries(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, "", 503, 503, 503, 503)
	p := Policy{Retries: 3, WaitMin: time.Hour, WaitMax: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	_, err := p.NewClient(&http.Client{}).Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

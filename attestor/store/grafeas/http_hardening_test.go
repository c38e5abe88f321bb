package grafeas_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/attestor/attestor/attestor/store/grafeas"
)

// countingTransport counts the requests sent through it and the response
// bytes read from it.
type countingTransport struct {
	base     http.RoundTripper
	requests atomic.Int64
	read     atomic.Int64
}

func newCountingTransport(base http.RoundTripper) *countingTransport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &countingTransport{base: base}
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.base.RoundTrip(req)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// endless writes a body of up to 1 GiB, until the client goes away.
func endless(w http.ResponseWriter) {
	buf := []byte(strings.Repeat("x", 32<<10))
	for sent := 0; sent < 1<<30; sent += len(buf) {
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

const redirectToken = "grafeas-token-4f1e2d3c"

// TestHostileServerBounded: a server that redirects to itself, or fails
// with an endless body. The client makes a bounded number of requests,
// reads at most 64 KiB of each failed answer, and fails with an error
// matching fault.ErrUnavailable (exit 3) that names the server.
func TestHostileServerBounded(t *testing.T) {
	const retries = 2
	for _, tc := range []struct {
		name   string
		serve  func(w http.ResponseWriter, r *http.Request)
		want   error
		writes bool
		// most requests the client may make
		requests int64
	}{
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", r.URL.RequestURI())
			w.WriteHeader(http.StatusFound)
			endless(w)
		}, grafeas.ErrTooManyRedirects, false, 10},
		{"list 500 with an endless body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			endless(w)
		}, fault.ErrUnavailable, false, retries + 1},
		{"create 503 with an endless body", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				if strings.Contains(r.URL.Path, "/notes/") {
					io.WriteString(w, `{"name":"`+strings.TrimPrefix(r.URL.Path, "/v1beta1/")+`"}`)
					return
				}
				io.WriteString(w, `{}`)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			endless(w)
		}, fault.ErrUnavailable, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(tc.serve))
			t.Cleanup(srv.Close)
			ct := newCountingTransport(nil)
			c, err := grafeas.New(grafeas.WithURL(srv.URL), grafeas.WithProject("p"), grafeas.WithToken(redirectToken),
				grafeas.WithHTTPClient(&http.Client{Transport: ct}),
				grafeas.WithTimeout(10*time.Second), grafeas.WithRetry(retries, time.Millisecond, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			subj := imageSubject(t)
			start := time.Now()
			if tc.writes {
				_, err = c.Push(t.Context(), subj, linkAttestation(t, subj, "build"))
			} else {
				_, err = c.Get(t.Context(), subj)
			}
			requests, read := ct.requests.Load(), ct.read.Load()
			t.Logf("%d requests, %d KiB read by the client, in %s", requests, read>>10, time.Since(start).Round(time.Millisecond))
			if !errors.Is(err, tc.want) || !errors.Is(err, fault.ErrUnavailable) {
				t.Errorf("err = %.500v, want an error matching %v and fault.ErrUnavailable", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
				t.Errorf("err = %.500v, want it to name the server", err)
			}
			if tc.requests > 0 && requests > tc.requests {
				t.Errorf("%d requests, want at most %d", requests, tc.requests)
			}
			if read > requests*(64<<10) {
				t.Errorf("the client read %d KiB in %d answers, want at most 64 KiB each", read>>10, requests)
			}
		})
	}
}

// TestRedirectKeepsToken: a redirect to another port of the same host, or
// from https to plain http, never carries the bearer token; the downgrade
// is not followed at all.
func TestRedirectKeepsToken(t *testing.T) {
	var mu sync.Mutex
	var seen []string // Authorization headers the target got
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(target.Close)
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	for _, tc := range []struct {
		name string
		srv  *httptest.Server
		want error // nil: the redirect is followed
	}{
		{"another port", httptest.NewServer(redirect), nil},
		{"https to http", httptest.NewTLSServer(redirect), grafeas.ErrInsecureRedirect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(tc.srv.Close)
			mu.Lock()
			seen = nil
			mu.Unlock()
			c, err := grafeas.New(grafeas.WithURL(tc.srv.URL), grafeas.WithProject("p"), grafeas.WithToken(redirectToken),
				grafeas.WithHTTPClient(tc.srv.Client()), grafeas.WithRetry(1, time.Millisecond, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(t.Context(), imageSubject(t))
			if tc.want == nil && err != nil {
				t.Errorf("Get = %v, want the redirect followed", err)
			}
			if tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, fault.ErrUnavailable)) {
				t.Errorf("Get = %v, want an error matching %v and fault.ErrUnavailable", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), redirectToken) {
				t.Errorf("the token shows in the error: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range seen {
				if strings.Contains(h, redirectToken) {
					t.Errorf("the redirect target got the token (Authorization: %s)", h)
				}
			}
			if tc.want != nil && len(seen) > 0 {
				t.Errorf("%d requests followed a redirect from https to plain http", len(seen))
			}
		})
	}
}

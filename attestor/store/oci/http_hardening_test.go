package oci_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// countingTransport counts the requests sent through it and the response
// bytes read from it.
type countingTransport struct {
	base     http.RoundTripper
	requests atomic.Int64
	read     atomic.Int64
}

func newCountingTransport() *countingTransport {
	return &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
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

// endless writes a body of up to 1 GiB, until the client goes away, and
// counts what it wrote.
func endless(w http.ResponseWriter, served *atomic.Int64) {
	buf := []byte(strings.Repeat("x", 32<<10))
	for sent := 0; sent < 1<<30; sent += len(buf) {
		n, err := w.Write(buf)
		served.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// TestRedirectLoop: a registry that answers every request (but the ping)
// with a redirect to itself, the same URL or a longer one each time, with
// a body. Get and Put fail fast with an error naming the registry that
// matches ErrTooManyRedirects and fault.ErrUnavailable (exit 3): a
// bounded number of requests, bounded bytes read, no memory growth, well
// within the call's time limit.
func TestRedirectLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs into the time limit when it fails")
	}
	for _, tc := range []struct {
		name string
		code int
		grow bool
	}{
		{"302 to itself", http.StatusFound, false},
		{"307 to itself", http.StatusTemporaryRedirect, false},
		{"308 to a longer URL", http.StatusPermanentRedirect, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var served atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					return
				}
				loc := r.URL.RequestURI()
				if tc.grow {
					loc += strings.Repeat("x", 64)
					if !strings.Contains(loc, "?") {
						loc = r.URL.Path + "?" + strings.Repeat("x", 64)
					}
				}
				w.Header().Set("Location", loc)
				w.WriteHeader(tc.code)
				if r.Method != http.MethodHead {
					endless(w, &served)
				}
			}))
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(srv.URL, "http://")
			subject := store.Subject{Name: host + "/team/app", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
			a := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "a")
			ct := newCountingTransport()
			reg := newStore(t, oci.WithTransport(ct), oci.WithTimeout(10*time.Second))

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, getErr := reg.Get(t.Context(), subject)
			putErr := reg.Put(t.Context(), subject, a)
			_, resolveErr := reg.Resolve(t.Context(), host+"/team/app:latest")
			took := time.Since(start)
			runtime.ReadMemStats(&after)

			for what, err := range map[string]error{"Get": getErr, "Put": putErr, "Resolve": resolveErr} {
				if !errors.Is(err, oci.ErrTooManyRedirects) || !errors.Is(err, fault.ErrUnavailable) {
					t.Errorf("%s = %v, want an error matching ErrTooManyRedirects and fault.ErrUnavailable", what, err)
					continue
				}
				if !strings.Contains(err.Error(), host) {
					t.Errorf("%s = %v, want it to name the registry %s", what, err, host)
				}
			}
			// Get follows one chain (the .att manifest), Put one per
			// scheme, Resolve one, each at most 10 requests, plus the
			// pings.
			requests, read := ct.requests.Load(), ct.read.Load()
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d requests, %d KiB read by the client, %d MiB served, %d MiB allocated, in %s",
				requests, read>>10, served.Load()>>20, alloc>>20, took.Round(time.Millisecond))
			if requests > 60 {
				t.Errorf("%d requests to a registry that redirects to itself, want at most 60", requests)
			}
			if read > requests*(64<<10) {
				t.Errorf("the client read %d KiB in %d answers, want at most 64 KiB each", read>>10, requests)
			}
			if alloc > 64<<20 {
				t.Errorf("%d MiB allocated following a redirect loop", alloc>>20)
			}
		})
	}
}

// TestErrorBodyBounded: a registry that answers reads or writes with an
// error status and an endless body. The client reads at most 64 KiB of
// each answer, keeps the status (401 is still refused credentials, exit
// 2; 500 is still unavailable, exit 3), and does not retry more than its
// retry policy says.
func TestErrorBodyBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fault injection")
	}
	const attempts = 2
	for _, tc := range []struct {
		name   string
		status int
		// writes: fail the writes (not GET or HEAD) only.
		writes bool
		want   error
		length bool // announce a Content-Length of 1 GiB
	}{
		{"reads 500", http.StatusInternalServerError, false, fault.ErrUnavailable, false},
		{"reads 500 with a Content-Length", http.StatusInternalServerError, false, fault.ErrUnavailable, true},
		{"reads 401", http.StatusUnauthorized, false, oci.ErrUnauthorized, false},
		{"writes 500", http.StatusInternalServerError, true, fault.ErrUnavailable, false},
		{"writes 403", http.StatusForbidden, true, oci.ErrUnauthorized, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f atomic.Pointer[injector]
			var served, fired atomic.Int64
			proxy, direct, _ := faultyRegistry(t, false, &f)
			subject := pushImage(t, direct)
			setFault(&f, func(w http.ResponseWriter, r *http.Request, n int64) bool {
				read := r.Method == http.MethodGet || r.Method == http.MethodHead
				if r.URL.Path == "/v2/" || read == tc.writes {
					return false
				}
				fired.Add(1)
				if tc.length {
					w.Header().Set("Content-Length", "1073741824")
				}
				w.WriteHeader(tc.status)
				if r.Method != http.MethodHead {
					endless(w, &served)
				}
				return true
			})
			ct := newCountingTransport()
			reg := newStore(t, oci.WithTransport(ct), oci.WithRetry(attempts, time.Millisecond), oci.WithTimeout(20*time.Second))
			onProxy := onHost(subject, proxy)
			var err error
			if tc.writes {
				err = reg.Put(t.Context(), onProxy, storetest.Attestation(t, subject, envelope.PredicateTypeLink, "a"))
			} else {
				_, err = reg.Get(t.Context(), onProxy)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %.2000v, want an error matching %v", err, tc.want)
			}
			if err != nil && len(err.Error()) > 16<<10 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
			failed, read := fired.Load(), ct.read.Load()
			t.Logf("%d failed answers, %d requests, %d KiB read by the client, %d MiB served", failed, ct.requests.Load(), read>>10, served.Load()>>20)
			if failed == 0 {
				t.Fatal("no fault was injected")
			}
			if read > failed*(64<<10)+(1<<20) {
				t.Errorf("the client read %d KiB for %d failed answers, want at most 64 KiB each", read>>10, failed)
			}
		})
	}
}

// TestRedirectToPlainHTTP: a registry reached over TLS that redirects a
// read to plain HTTP is not followed: the request never reaches the
// plain-HTTP server, and the error matches ErrInsecure (exit 2).
func TestRedirectToPlainHTTP(t *testing.T) {
	var plain atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(target.Close)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	tr := srv.Client().Transport.(*http.Transport).Clone()
	subject := store.Subject{Name: host + "/team/app", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
	_, err := newStore(t, oci.WithTransport(tr)).Get(t.Context(), subject)
	if !errors.Is(err, oci.ErrInsecure) {
		t.Errorf("Get = %v, want an error matching ErrInsecure", err)
	}
	if n := plain.Load(); n > 0 {
		t.Errorf("%d requests followed a redirect from https to plain http", n)
	}
}

// TestRetriesNotStacked: a registry that fails every write with 503.
// Each request is sent at most as many times as WithRetry says: the
// transport's retries of a status are not retried again by
// go-containerregistry's.
func TestRetriesNotStacked(t *testing.T) {
	const attempts = 3
	var f atomic.Pointer[injector]
	proxy, direct, _ := faultyRegistry(t, false, &f)
	subject := pushImage(t, direct)
	var mu sync.Mutex
	sent := map[string]int{}
	setFault(&f, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return false
		}
		mu.Lock()
		sent[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	reg := newStore(t, oci.WithRetry(attempts, time.Millisecond), oci.WithScheme(oci.SchemeCosign))
	err := reg.Put(t.Context(), onHost(subject, proxy), storetest.Attestation(t, subject, envelope.PredicateTypeLink, "a"))
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("Put = %v, want an error matching fault.ErrUnavailable", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) == 0 {
		t.Fatal("no write was sent")
	}
	for req, n := range sent {
		if n > attempts {
			t.Errorf("%s sent %d times, want at most %d", req, n, attempts)
		}
	}
}

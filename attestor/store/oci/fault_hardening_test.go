package oci_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/attestor/attestor/attestor/internal/faulttest"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// reqTimeout is the clients' per-request timeout in these tests.
const reqTimeout = 700 * time.Millisecond

// TestBodyFaults: damaged answers to reads (manifests, blobs, the
// referrers list) during a Put and a Get. The first few are retried
// through, with every attestation attached exactly once; when every
// answer is damaged, Put and Get fail within their time limit with an
// ErrUnavailable error (exit 3), never a silent success or a hang, and
// what was attached before is still there.
func TestBodyFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fault injection with timeouts")
	}
	for _, v := range variants {
		for _, f := range []faulttest.Fault{faulttest.TruncatedBody, faulttest.StalledBody, faulttest.SlowBody, faulttest.Hang} {
			t.Run(v.name+"/"+f.String(), func(t *testing.T) {
				t.Parallel()
				var fp atomic.Pointer[injector]
				var budget atomic.Int64 // faults left
				var always atomic.Bool  // a fault every time
				var reg http.Handler
				proxy, direct, fired := faultyRegistryWithHandler(t, v.referrers, &fp, &reg)
				subject := pushImage(t, direct)
				before := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "before")
				if err := newStore(t).Put(t.Context(), subject, before); err != nil {
					t.Fatal(err)
				}
				damaged := injector(func(w http.ResponseWriter, r *http.Request, n int64) bool {
					read := r.Method == http.MethodGet && (strings.Contains(r.URL.Path, "/manifests/") || strings.Contains(r.URL.Path, "/blobs/") || strings.Contains(r.URL.Path, "/referrers/"))
					if !read || (!always.Load() && budget.Add(-1) < 0) {
						return false
					}
					faulttest.Serve(w, r, reg, f, 3*reqTimeout)
					return true
				})
				setFault(&fp, damaged)
				opts := []oci.Option{oci.WithRequestTimeout(reqTimeout)}
				a := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "a")
				onProxy := onHost(subject, proxy)

				// A few faults: every read is idempotent, so each
				// damaged answer is retried, and Put and Get succeed.
				budget.Store(3)
				if err := newStore(t, opts...).Put(t.Context(), onProxy, a); err != nil {
					t.Fatalf("Put through 3 %s: %v, want the reads retried and success", f, err)
				}
				budget.Store(3)
				got, err := newStore(t, opts...).Get(t.Context(), onProxy)
				if err != nil {
					t.Fatalf("Get through 3 %s: %v, want the reads retried and success", f, err)
				}
				storetest.Equal(t, got, before, a)
				if f != faulttest.SlowBody && fired.Load() == 0 {
					t.Fatal("no fault was injected")
				}
				fp.Store(nil)
				checkExactlyOnce(t, subject, before, a)
				setFault(&fp, damaged)
				if f == faulttest.SlowBody {
					return // slow is not a failure
				}

				// Every answer damaged: a bounded, loud failure.
				always.Store(true)
				b := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "b")
				limit := 8 * time.Second
				bounded := append(opts, oci.WithRetry(2, time.Millisecond), oci.WithTimeout(limit))
				start := time.Now()
				err = newStore(t, bounded...).Put(t.Context(), onProxy, b)
				if !errors.Is(err, fault.ErrUnavailable) {
					t.Errorf("Put with every read damaged (%s): %v, want ErrUnavailable", f, err)
				}
				_, err = newStore(t, bounded...).Get(t.Context(), onProxy)
				if !errors.Is(err, fault.ErrUnavailable) {
					t.Errorf("Get with every read damaged (%s): %v, want ErrUnavailable", f, err)
				}
				if d := time.Since(start); d > 2*limit+5*time.Second {
					t.Errorf("Put and Get took %s with a %s time limit each", d, limit)
				}
				fp.Store(nil)
				checkExactlyOnce(t, subject, before, a)
			})
		}
	}
}

// faultyRegistryWithHandler is faultyRegistry that also hands out the
// registry's handler, for faults that damage its real answers.
func faultyRegistryWithHandler(t *testing.T, referrers bool, f *atomic.Pointer[injector], reg *http.Handler) (proxy, direct string, fired *atomic.Int64) {
	t.Helper()
	proxy, direct, fired = faultyRegistry(t, referrers, f)
	// The direct server is the registry: send damaged answers' requests
	// there, as a reverse proxy would.
	*reg = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+direct+r.URL.RequestURI(), nil)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	})
	return proxy, direct, fired
}

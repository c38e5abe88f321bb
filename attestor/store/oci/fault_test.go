package oci_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// injector decides what happens to request n (counted from 1): it handles
// the request itself and returns true, or returns false to let the
// registry answer.
type injector func(w http.ResponseWriter, r *http.Request, n int64) bool

// faultyRegistry starts the in-process registry behind a proxy that
// injects faults, and returns the proxy's host and the registry's own
// (fault-free) host.
func faultyRegistry(t *testing.T, referrers bool, f *atomic.Pointer[injector]) (proxy, direct string, fired *atomic.Int64) {
	t.Helper()
	opts := []registry.Option{registry.Logger(log.New(io.Discard, "", 0))}
	if referrers {
		opts = append(opts, registry.WithReferrersSupport(true))
	}
	reg := registry.New(opts...)
	var n atomic.Int64
	fired = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fp := f.Load(); fp != nil && (*fp)(w, r, n.Add(1)) {
			fired.Add(1)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	d := httptest.NewServer(reg)
	t.Cleanup(d.Close)
	return strings.TrimPrefix(srv.URL, "http://"), strings.TrimPrefix(d.URL, "http://"), fired
}

// onHost returns subject moved to another host (the same repository
// through the proxy or directly).
func onHost(subject store.Subject, host string) store.Subject {
	_, rest, _ := strings.Cut(subject.Name, "/")
	return store.Subject{Name: host + "/" + rest, Digest: subject.Digest}
}

// checkExactlyOnce checks, through the fault-free registry, that subject
// has exactly want attached, once each in every scheme: no duplicate
// layer in the .att image and no duplicate referrer.
func checkExactlyOnce(t *testing.T, subject store.Subject, want ...store.Attestation) {
	t.Helper()
	got, err := newStore(t).Get(t.Context(), subject)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	storetest.Equal(t, got, want...)
	d, err := name.NewDigest(subject.String())
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(oci.AttestationTag(d))
	if err != nil {
		t.Fatalf("reading the .att image: %v", err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != len(want) {
		t.Errorf(".att image has %d layers, want %d", len(m.Layers), len(want))
	}
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(want) {
		t.Errorf("%d referrers, want %d", len(im.Manifests), len(want))
	}
}

func setFault(p *atomic.Pointer[injector], f injector) { p.Store(&f) }

func TestFaults(t *testing.T) {
	tests := []struct {
		name string
		// fault is installed for the Put; nil means none.
		fault func(t *testing.T) injector
	}{
		{"500s then success", func(t *testing.T) injector {
			return func(w http.ResponseWriter, r *http.Request, n int64) bool {
				if n%3 != 1 {
					return false
				}
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
		}},
		{"429 with Retry-After", func(t *testing.T) injector {
			var mu sync.Mutex
			limited := map[string]time.Time{}
			return func(w http.ResponseWriter, r *http.Request, n int64) bool {
				if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				key := r.Method + " " + r.URL.Path
				if at, ok := limited[key]; ok {
					if wait := time.Since(at); wait < 900*time.Millisecond {
						t.Errorf("%s retried after %s, before Retry-After: 1", key, wait)
					}
					return false
				}
				if len(limited) >= 2 {
					return false
				}
				limited[key] = time.Now()
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
		}},
		{"connection reset mid-upload", func(t *testing.T) injector {
			var resets atomic.Int64
			return func(w http.ResponseWriter, r *http.Request, n int64) bool {
				upload := r.Method == http.MethodPatch || (r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/"))
				if !upload || resets.Add(1) > 3 {
					return false
				}
				io.CopyN(io.Discard, r.Body, 16)
				reset(t, w)
				return true
			}
		}},
	}
	for _, v := range variants {
		for _, tc := range tests {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				var f atomic.Pointer[injector]
				proxy, direct, fired := faultyRegistry(t, v.referrers, &f)
				subject := pushImage(t, direct)
				before := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "before")
				if err := newStore(t).Put(t.Context(), subject, before); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if fired.Load() == 0 {
						t.Error("no fault was injected")
					}
				})
				a := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "a")
				b := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "b")

				setFault(&f, tc.fault(t))
				reg := newStore(t)
				if err := reg.Put(t.Context(), onHost(subject, proxy), a, b, before); err != nil {
					t.Fatalf("Put through faults: %v", err)
				}
				if err := reg.Put(t.Context(), onHost(subject, proxy), b, a); err != nil {
					t.Fatalf("second Put through faults: %v", err)
				}
				got, err := reg.Get(t.Context(), onHost(subject, proxy))
				if err != nil {
					t.Fatalf("Get through faults: %v", err)
				}
				storetest.Equal(t, got, before, a, b)
				f.Store(nil)
				checkExactlyOnce(t, subject, before, a, b)
			})
		}
	}
}

// reset closes the client's connection with a TCP reset.
func reset(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Fatal("cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// TestFailureLeavesExisting: a registry that keeps failing, or stops
// answering, midway leaves what was attached, and the error is
// fault.ErrUnavailable (exit 3).
func TestFailureLeavesExisting(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	tests := []struct {
		name  string
		fault injector
	}{
		{"manifest PUTs fail", func(w http.ResponseWriter, r *http.Request, n int64) bool {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		}},
		{"uploads never answered", func(w http.ResponseWriter, r *http.Request, n int64) bool {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return false
			}
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return true
		}},
		{"registry never answers", func(w http.ResponseWriter, r *http.Request, n int64) bool {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return true
		}},
	}
	for _, v := range variants {
		for _, tc := range tests {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				var f atomic.Pointer[injector]
				proxy, direct, _ := faultyRegistry(t, v.referrers, &f)
				subject := pushImage(t, direct)
				before := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "before")
				if err := newStore(t).Put(t.Context(), subject, before); err != nil {
					t.Fatal(err)
				}
				setFault(&f, tc.fault)
				reg := newStore(t, oci.WithRequestTimeout(300*time.Millisecond), oci.WithRetry(2, time.Millisecond), oci.WithTimeout(10*time.Second))
				after := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "after")
				err := reg.Put(t.Context(), onHost(subject, proxy), after)
				if !errors.Is(err, fault.ErrUnavailable) {
					t.Fatalf("Put = %v, want an error matching fault.ErrUnavailable", err)
				}
				f.Store(nil)
				got, err := newStore(t).Get(t.Context(), subject)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, g := range got {
					if string(g.Envelope) == string(before.Envelope) {
						found = true
					}
				}
				if !found {
					t.Fatalf("the attestation attached before the failed Put is gone (%d left)", len(got))
				}
			})
		}
	}
}

// TestHostileRegistry: oversize manifests, blobs and referrer lists, and
// too many layers, are bounded and skipped; Get still returns what is
// sound.
func TestHostileRegistry(t *testing.T) {
	const huge = 1 << 30
	var served atomic.Int64
	stream := func(w http.ResponseWriter, ct string) {
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", fmt.Sprint(huge))
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = '['
		}
		for sent := 0; sent < huge; sent += len(buf) {
			n, err := w.Write(buf)
			served.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
	tests := []struct {
		name string
		// setup returns the fault to install after the good attestation
		// was put.
		setup func(t *testing.T, subject store.Subject, direct string) injector
	}{
		{"huge .att manifest", func(t *testing.T, subject store.Subject, _ string) injector {
			tag := strings.Replace(subject.Digest.String(), ":", "-", 1) + ".att"
			return func(w http.ResponseWriter, r *http.Request, n int64) bool {
				if strings.HasSuffix(r.URL.Path, "/manifests/"+tag) && r.Method == http.MethodGet {
					stream(w, "application/vnd.oci.image.manifest.v1+json")
					return true
				}
				return false
			}
		}},
		{"huge blobs", func(t *testing.T, _ store.Subject, _ string) injector {
			return func(w http.ResponseWriter, r *http.Request, n int64) bool {
				if strings.Contains(r.URL.Path, "/blobs/sha256:") && r.Method == http.MethodGet {
					stream(w, "application/octet-stream")
					return true
				}
				return false
			}
		}},
		{"huge referrers list", func(t *testing.T, subject store.Subject, _ string) injector {
			return func(w http.ResponseWriter, r *http.Request, n int64) bool {
				if strings.Contains(r.URL.Path, "/referrers/") || strings.HasSuffix(r.URL.Path, "/manifests/"+strings.Replace(subject.Digest.String(), ":", "-", 1)) {
					stream(w, "application/vnd.oci.image.index.v1+json")
					return true
				}
				return false
			}
		}},
		{"too many layers", func(t *testing.T, subject store.Subject, direct string) injector {
			// An .att manifest listing 5000 layers that do not exist.
			var blobGets atomic.Int64
			t.Cleanup(func() {
				if n := blobGets.Load(); n > oci.MaxLayers+10 {
					t.Errorf("fetched %d blobs for a manifest of 5000 layers (limit %d)", n, oci.MaxLayers)
				}
			})
			m := v1.Manifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json",
				Config: v1.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Size: 2, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}}
			for i := range 5000 {
				m.Layers = append(m.Layers, v1.Descriptor{MediaType: oci.MediaTypeDSSE, Size: 100, Digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", i)}})
			}
			raw, _ := json.Marshal(m)
			tag := strings.Replace(subject.Digest.String(), ":", "-", 1) + ".att"
			return func(w http.ResponseWriter, r *http.Request, n int64) bool {
				if strings.Contains(r.URL.Path, "/blobs/") {
					blobGets.Add(1)
				}
				if strings.HasSuffix(r.URL.Path, "/manifests/"+tag) && r.Method == http.MethodGet {
					w.Header().Set("Content-Type", string(m.MediaType))
					w.Write(raw)
					return true
				}
				return false
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f atomic.Pointer[injector]
			proxy, direct, fired := faultyRegistry(t, false, &f)
			subject := pushImage(t, direct)
			good := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "good")
			if err := newStore(t, oci.WithScheme(oci.SchemeReferrers)).Put(t.Context(), subject, good); err != nil {
				t.Fatal(err)
			}
			served.Store(0)
			setFault(&f, tc.setup(t, subject, direct))
			got, err := newStore(t).Get(t.Context(), onHost(subject, proxy))
			if err != nil {
				t.Logf("Get = %v", err)
			}
			if fired.Load() == 0 && served.Load() == 0 {
				t.Error("no fault was injected")
			}
			if n := served.Load(); n > 64<<20 {
				t.Errorf("the client read %d MiB from a hostile registry", n>>20)
			}
			if err == nil && tc.name != "huge blobs" && tc.name != "huge referrers list" {
				storetest.Equal(t, got, good)
			}
		})
	}
}

package oci_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// TestWriteRetriesBounded: a registry that answers every write with 503
// until the transport's last attempt, then resets the connection, gets
// each write at most `attempts` times: the transport's Status retries and
// go-containerregistry's retries of a write that got no answer must not
// multiply (they did: attempts² requests).
func TestWriteRetriesBounded(t *testing.T) {
	const attempts = 3
	var f atomic.Pointer[injector]
	proxy, direct, _ := faultyRegistry(t, false, &f)
	subject := pushImage(t, direct)
	var mu sync.Mutex
	perPath := map[string]int{}
	setFault(&f, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		mu.Lock()
		perPath[r.URL.Path]++
		k := perPath[r.URL.Path]
		mu.Unlock()
		if k%attempts != 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		reset(t, w)
		return true
	})
	reg := newStore(t, oci.WithRetry(attempts, time.Millisecond), oci.WithTimeout(20*time.Second))
	a := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "a")
	err := reg.Put(t.Context(), onHost(subject, proxy), a)
	if err == nil {
		t.Fatal("Put succeeded against a registry that never accepts a manifest")
	}
	mu.Lock()
	defer mu.Unlock()
	for p, n := range perPath {
		t.Logf("PUT %s: %d requests", p, n)
		if n > attempts {
			t.Errorf("PUT %s sent %d times for %d attempts", p, n, attempts)
		}
	}
}

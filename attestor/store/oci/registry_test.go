package oci_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// variants are the in-process registries every test runs against.
var variants = []struct {
	name      string
	referrers bool
}{
	{"referrers-api", true},
	{"tag-fallback", false},
}

// newRegistry starts go-containerregistry's in-process registry on
// 127.0.0.1 and returns its host.
func newRegistry(t *testing.T, referrers bool) string {
	t.Helper()
	opts := []registry.Option{registry.Logger(log.New(io.Discard, "", 0))}
	if referrers {
		opts = append(opts, registry.WithReferrersSupport(true))
	}
	srv := httptest.NewServer(registry.New(opts...))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

var repoSeq atomic.Int64

// pushImage pushes a random image to a fresh repository on host and
// returns its subject.
func pushImage(t *testing.T, host string) store.Subject {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(fmt.Sprintf("%s/test/app%d:latest", host, repoSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing test image: %v", err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return store.Subject{Name: ref.Context().Name(), Digest: h}
}

// fastOptions keep the tests quick: short waits, short time limits.
func fastOptions(extra ...oci.Option) []oci.Option {
	return append([]oci.Option{
		oci.WithRetry(4, time.Millisecond),
		oci.WithConflictRetries(20, 20*time.Millisecond),
		oci.WithRequestTimeout(10 * time.Second),
		oci.WithTimeout(60 * time.Second),
	}, extra...)
}

func newStore(t *testing.T, opts ...oci.Option) *oci.Registry {
	t.Helper()
	r, err := oci.New(fastOptions(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConformance(t *testing.T) {
	for _, v := range variants {
		for _, scheme := range []oci.Scheme{oci.SchemeBoth, oci.SchemeCosign, oci.SchemeReferrers} {
			t.Run(v.name+"/"+string(scheme), func(t *testing.T) {
				t.Parallel()
				host := newRegistry(t, v.referrers)
				storetest.Run(t, storetest.Config{
					New:     func(t *testing.T) store.Store { return newStore(t, oci.WithScheme(scheme)) },
					Subject: func(t *testing.T) store.Subject { return pushImage(t, host) },
				})
			})
		}
	}
}

var _ = v1.Hash{}
var _ = http.StatusOK

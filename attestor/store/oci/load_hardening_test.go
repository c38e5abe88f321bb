package oci_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// loadPipelines is how many pipelines push to one image at once.
const loadPipelines = 50

// TestLoadConcurrentPipelines: 50 pipelines, each with its own client
// (as separate CI jobs are), push a step record and a provenance of their
// own, plus one attestation they all share, to the same image at once, on
// a registry with the referrers API and one without (where both schemes
// are read-modify-write of a tag). Then one Get finds every attestation
// exactly once, with its bundle, and the .att image has one layer per
// attestation: nothing lost, nothing doubled.
func TestLoadConcurrentPipelines(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no load test")
	}
	for _, referrers := range []bool{true, false} {
		t.Run(fmt.Sprintf("referrers=%v", referrers), func(t *testing.T) {
			t.Parallel()
			var writes atomic.Int64
			reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrers))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
					writes.Add(1)
				}
				reg.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(srv.URL, "http://")
			img, err := random.Image(256, 1)
			if err != nil {
				t.Fatal(err)
			}
			tag, _ := name.NewTag(host + "/load/app:v1")
			if err := remote.Write(tag, img); err != nil {
				t.Fatal(err)
			}
			h, _ := img.Digest()
			d := tag.Context().Digest(h.String())
			subject, _ := store.ImageSubject(d)
			ctx := t.Context()

			shared := storetest.Attestation(t, subject, "https://example.com/shared/v1", "shared")
			want := []store.Attestation{shared}
			var wg sync.WaitGroup
			errs := make([]error, loadPipelines)
			start := time.Now()
			for i := range loadPipelines {
				step := storetest.Attestation(t, subject, envelope.PredicateTypeLink, fmt.Sprintf("pipeline-%d-build", i))
				prov := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", fmt.Sprintf("pipeline-%d", i))
				want = append(want, step, prov)
				c, err := oci.New() // the defaults, as each CLI process has them
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = c.Put(ctx, subject, step, prov, shared)
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			failed := 0
			for i, err := range errs {
				if err != nil {
					failed++
					t.Errorf("pipeline %d: %v", i, err)
				}
			}
			c, _ := oci.New()
			got, err := c.Get(ctx, subject)
			if err != nil {
				t.Fatal(err)
			}
			storetest.Equal(t, got, want...)
			for _, a := range got {
				if a.Bundle == nil {
					t.Errorf("an attestation lost its referrers bundle")
					break
				}
			}
			attImg, err := remote.Image(oci.AttestationTag(d))
			if err != nil {
				t.Fatal(err)
			}
			m, err := attImg.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != len(want) {
				t.Errorf(".att image has %d layers, want %d (one per attestation)", len(m.Layers), len(want))
			}
			t.Logf("%d pipelines, %d attestations (1 shared): %d manifest writes in %s; %d failed; Get found %d",
				loadPipelines, len(want), writes.Load(), elapsed.Round(time.Millisecond), failed, len(got))
		})
	}
}

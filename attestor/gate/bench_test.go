package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	ita1 "github.com/in-toto/attestation/go/v1"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
)

// BenchmarkVerifyChain verifies a chain of 10 steps, each with 100,000
// materials and products (ATTESTOR_BENCH_ARTIFACTS... see issue 9): every
// step MATCHes its materials with the previous step's products and its
// products with its own materials, then DISALLOWs the rest.
func BenchmarkVerifyChain(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("steps=10/artifacts=%d", n), func(b *testing.B) {
			benchmarkVerifyChain(b, 10, n)
		})
	}
}

func benchmarkVerifyChain(b *testing.B, steps, artifacts int) {
	c := newChain(b)
	signer := c.key("ci")
	rds := make([]*ita1.ResourceDescriptor, artifacts)
	for i := range rds {
		name := fmt.Sprintf("src/pkg%03d/file%06d.go", i%1000, i)
		sum := sha256.Sum256([]byte(name))
		rds[i] = &ita1.ResourceDescriptor{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}
	}
	app := &ita1.ResourceDescriptor{Name: "app", Digest: map[string]string{"sha256": hex.EncodeToString(make([]byte, 32))}}
	doc := "version: 1\nexpires: 2027-12-31T00:00:00Z\nfunctionaries: {ci: {key: ci.pub}}\nsteps:\n"
	var atts []store.Attestation
	for s := range steps {
		name := fmt.Sprintf("step%02d", s)
		products := rds
		if s == steps-1 {
			products = append(append([]*ita1.ResourceDescriptor(nil), rds...), app)
		}
		rec := &attestor.Record{Step: name, Command: []string{"make"}, Materials: rds, Products: products,
			StartedOn: now.Add(-time.Hour), FinishedOn: now.Add(-time.Hour)}
		st, err := rec.Statement()
		if err != nil {
			b.Fatal(err)
		}
		_, data, err := envelope.SignStatement(context.Background(), signer, st)
		if err != nil {
			b.Fatal(err)
		}
		atts = append(atts, store.Attestation{Envelope: data})
		doc += fmt.Sprintf("  - name: %s\n    functionaries: [ci]\n", name)
		if s > 0 {
			doc += fmt.Sprintf("    materials: [[MATCH, \"src/*\", WITH, PRODUCTS, FROM, step%02d], [DISALLOW, \"*\"]]\n", s-1)
		} else {
			doc += "    materials: [[ALLOW, \"src/*.go\"], [DISALLOW, \"*\"]]\n"
		}
		doc += fmt.Sprintf("    products: [[MATCH, \"*\", WITH, MATERIALS, FROM, %s], [CREATE, app], [DISALLOW, \"*\"]]\n", name)
	}
	v, err := NewVerifier(c.policy(doc), WithClock(clock))
	if err != nil {
		b.Fatal(err)
	}
	subject := store.Subject{Name: "app", Digest: mustHash("sha256:" + app.Digest["sha256"])}
	b.ReportAllocs()
	if testing.Verbose() {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		b.Logf("after setup: heap %d MB, HeapSys %d MB", m.HeapAlloc>>20, m.HeapSys>>20)
	}
	peak := samplePeakHeap()
	b.ResetTimer()
	for b.Loop() {
		res, err := v.Verify(context.Background(), subject, atts)
		if err != nil {
			b.Fatalf("%v\n%s", err, dump(res.Reasons))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peak()>>20), "peak-heap-MB")
}

// samplePeakHeap samples the heap (live and not yet collected objects)
// every millisecond until the returned function is called; that returns
// the largest size seen, less the heap's size at the start (the setup's
// data).
func samplePeakHeap() func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base, peak := read(), uint64(0)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				peak = max(peak, read())
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return max(peak, base) - base
	}
}

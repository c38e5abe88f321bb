package grafeas_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// loadPipelines is how many pipelines push to one Grafeas project at once.
const loadPipelines = 50

// TestLoadConcurrentPipelines: 50 pipelines, each with its own client (as
// separate CI jobs are), push a step record and a provenance of their own
// to the same image in the same project of the real Grafeas server at
// once — all creating the same notes — and one attestation they all
// share. Then one Get finds every attestation exactly once. Occurrences
// the server holds twice (the client's look-up-before-create cannot stop
// two processes creating the same one at the same instant) are counted
// and logged; Get must hide them.
func TestLoadConcurrentPipelines(t *testing.T) {
	srv := startServer(t, false)
	subj := imageSubject(t)
	ctx := t.Context()
	shared := linkAttestation(t, subj, "shared")
	want := []store.Attestation{shared}
	var wg sync.WaitGroup
	errs := make([]error, loadPipelines)
	results := make([]*grafeas.Result, loadPipelines)
	start := time.Now()
	for i := range loadPipelines {
		step := linkAttestation(t, subj, fmt.Sprintf("build-%d", i))
		prov := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", fmt.Sprintf("pipeline-%d", i))
		want = append(want, step, prov)
		c, err := grafeas.New(grafeas.WithURL(srv.URL), grafeas.WithProject("load"), grafeas.WithTimeout(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Push(ctx, subj, step, prov, shared)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	created := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("pipeline %d: %v", i, err)
			continue
		}
		created += results[i].Created
	}
	c, err := grafeas.New(grafeas.WithURL(srv.URL), grafeas.WithProject("load"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, subj)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, want...)

	// What the server holds.
	resp, err := srv.Client.Get(srv.URL + "/v1beta1/projects/load/occurrences?pageSize=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Occurrences []json.RawMessage `json:"occurrences"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		t.Fatalf("listing the occurrences: %s", resp.Status)
	}
	if len(list.Occurrences) < len(want) {
		t.Errorf("the server holds %d occurrences, fewer than the %d attestations", len(list.Occurrences), len(want))
	}
	t.Logf("%d pipelines, %d attestations (1 shared, %s): %d created in %s; the server holds %d occurrences (%d duplicates); Get found %d",
		loadPipelines, len(want), envelope.PredicateTypeLink, created, elapsed.Round(time.Millisecond), len(list.Occurrences), len(list.Occurrences)-len(want), len(got))
}

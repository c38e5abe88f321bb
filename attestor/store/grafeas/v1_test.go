package grafeas_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	gv1 "google.golang.org/genproto/googleapis/grafeas/v1"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/storetest"
)

func newV1Client(t *testing.T, f *fakeV1, opts ...grafeas.Option) *grafeas.Client {
	t.Helper()
	base := []grafeas.Option{
		grafeas.WithAPI(grafeas.V1),
		grafeas.WithURL(f.srv.URL),
		grafeas.WithProject("occ-project"),
		grafeas.WithNoteProject("note-project"),
		grafeas.WithToken(testToken),
		grafeas.WithRetry(3, time.Millisecond, 20*time.Millisecond),
		grafeas.WithTimeout(5 * time.Second),
	}
	c, err := grafeas.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformanceV1(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	storetest.Run(t, storetest.Config{
		New:     func(t *testing.T) store.Store { return newV1Client(t, f) },
		Subject: imageSubject,
	})
}

func TestV1Occurrences(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f)
	subj := imageSubject(t)
	link := linkAttestation(t, subj, "build")
	prov := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "p")
	res, err := c.Push(t.Context(), subj, link, prov)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 2 || res.Existing != 0 || res.Resource != store.ResourceURI(subj) {
		t.Errorf("first Push = %+v", res)
	}
	if res, err = c.Push(t.Context(), subj, prov, link, link); err != nil || res.Created != 0 || res.Existing != 2 {
		t.Errorf("second Push = %+v, %v; want 0 created, 2 existing", res, err)
	}
	occs := f.occurrences()
	if len(occs) != 2 {
		t.Fatalf("%d occurrences, want 2", len(occs))
	}
	for _, o := range occs {
		if o.GetResourceUri() != store.ResourceURI(subj) {
			t.Errorf("resource %q", o.GetResourceUri())
		}
		if !strings.HasPrefix(o.GetNoteName(), "projects/note-project/notes/attestor-") {
			t.Errorf("note %q not in the note project", o.GetNoteName())
		}
		if o.GetKind() == gv1.NoteKind_BUILD {
			b := o.GetBuild()
			if b.GetProvenance().GetId() == "" || b.GetInTotoSlsaProvenanceV1().GetPredicateType() != "https://slsa.dev/provenance/v1" {
				t.Errorf("build details %v", b)
			}
		}
	}
}

func TestRetry503ThenSuccess(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	var mu sync.Mutex
	failed := map[string]int{}
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		mu.Lock()
		defer mu.Unlock()
		key := r.Method + " " + r.URL.String()
		if failed[key] < 2 { // each request fails twice, then succeeds
			failed[key]++
			apiErr(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try again")
			return true
		}
		return false
	})
	c := newV1Client(t, f)
	subj := imageSubject(t)
	a := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	if err := c.Put(t.Context(), subj, a); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := c.Get(t.Context(), subj)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	storetest.Equal(t, got, a)
	if n := len(f.occurrences()); n != 1 {
		t.Errorf("%d occurrences, want 1", n)
	}
}

func TestRetry429RetryAfter(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	var limited atomic.Int32
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			limited.Add(1)
			w.Header().Set("Retry-After", "0")
			apiErr(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "slow down")
			return true
		}
		return false
	})
	// The backoff would wait an hour: only honouring Retry-After: 0 ends
	// this within the context's bound.
	c := newV1Client(t, f, grafeas.WithRetry(1, time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	subj := imageSubject(t)
	if _, err := c.Get(ctx, subj); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if limited.Load() != 1 || f.count("GET") != 2 {
		t.Errorf("429 answered %d times, %d GETs; want 1 and 2", limited.Load(), f.count("GET"))
	}
}

func TestUnavailableAfterRetries(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		apiErr(w, http.StatusServiceUnavailable, "UNAVAILABLE", "down")
		return true
	})
	c := newV1Client(t, f, grafeas.WithRetry(2, time.Millisecond, time.Millisecond))
	_, err := c.Get(t.Context(), imageSubject(t))
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("Get = %v, want an error matching fault.ErrUnavailable", err)
	}
	var ae *grafeas.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable || ae.Status != "UNAVAILABLE" {
		t.Errorf("Get = %#v, want an APIError 503 UNAVAILABLE", err)
	}
	if n := f.count("GET"); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

func TestBadRequestNotRetried(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f, grafeas.WithToken("wrong"))
	_, err := c.Get(t.Context(), imageSubject(t))
	if !errors.Is(err, fault.ErrInvalidInput) || errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("Get with a bad token = %v, want invalid input", err)
	}
	if n := f.count("GET"); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// TestTimeoutAfterCommit: the server commits the occurrence, then answers
// too late; the retry must find it rather than create a second copy.
func TestTimeoutAfterCommit(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	var slowed atomic.Bool
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/occurrences") && slowed.CompareAndSwap(false, true) {
			rec := &discard{header: http.Header{}}
			f.handle(rec, r) // committed
			select {
			case <-r.Context().Done(): // the client gave up
			case <-time.After(30 * time.Second):
			}
			return true
		}
		return false
	})
	c := newV1Client(t, f, grafeas.WithTimeout(300*time.Millisecond))
	subj := imageSubject(t)
	a := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	if err := c.Put(t.Context(), subj, a); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !slowed.Load() {
		t.Fatal("the fault did not fire")
	}
	if n := len(f.occurrences()); n != 1 {
		t.Fatalf("%d occurrences after a retried create, want 1", n)
	}
	if n := f.count("POST /v1/projects/occ-project/occurrences"); n != 1 {
		t.Errorf("%d creates, want 1 (the retry should have found the committed one)", n)
	}
}

// TestLostCreateLookupFails: a create whose answer is lost, then a server
// that cannot list what it holds. Whether the create landed is unknown, so
// it is not sent again (a second occurrence would be a duplicate): the push
// fails as unavailable, and a push run again later finds the first.
func TestLostCreateLookupFails(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	var lost, lookupsDown atomic.Bool
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/occurrences") && lost.CompareAndSwap(false, true) {
			f.handle(&discard{header: http.Header{}}, r) // committed
			lookupsDown.Store(true)
			<-r.Context().Done() // the answer never comes
			return true
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/occurrences") && lookupsDown.Load() {
			http.Error(w, "listing is down", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	c := newV1Client(t, f, grafeas.WithTimeout(300*time.Millisecond))
	subj := imageSubject(t)
	a := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	err := c.Put(t.Context(), subj, a)
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("Put = %v, want ErrUnavailable", err)
	}
	if n := f.count("POST /v1/projects/occ-project/occurrences"); n != 1 {
		t.Errorf("%d creates, want 1: a create whose fate is unknown was sent again", n)
	}
	if n := len(f.occurrences()); n != 1 {
		t.Errorf("%d occurrences, want 1", n)
	}
}

type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func TestRepeatedPageToken(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f)
	subj := imageSubject(t)
	a := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	if err := c.Put(t.Context(), subj, a); err != nil {
		t.Fatal(err)
	}
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method != http.MethodGet {
			return false
		}
		reply(w, &gv1.ListOccurrencesResponse{Occurrences: f.occurrences(), NextPageToken: "same-token"})
		return true
	})
	before := f.count("GET")
	got, err := c.Get(t.Context(), subj)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	storetest.Equal(t, got, a)
	if n := f.count("GET") - before; n != 2 {
		t.Errorf("%d list requests, want 2 (stop at the repeated token)", n)
	}
}

func TestEndlessPages(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f, grafeas.WithMaxPages(5))
	subj := imageSubject(t)
	if err := c.Put(t.Context(), subj, storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")); err != nil {
		t.Fatal(err)
	}
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		reply(w, &gv1.ListOccurrencesResponse{Occurrences: f.occurrences(), NextPageToken: "token-" + r.URL.Query().Get("pageToken") + "x"})
		return true
	})
	_, err := c.Get(t.Context(), subj)
	if !errors.Is(err, grafeas.ErrTooManyPages) || !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("Get = %v, want ErrTooManyPages matching ErrUnavailable", err)
	}
}

func TestEnvelopeTooLarge(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f)
	subj := imageSubject(t)
	big := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", strings.Repeat("x", store.MaxEnvelopeSize))
	err := c.Put(t.Context(), subj, big)
	if !errors.Is(err, store.ErrTooLarge) || !errors.Is(err, fault.ErrInvalidInput) {
		t.Fatalf("Put(4 MiB+) = %v, want store.ErrTooLarge", err)
	}
	if n := f.count(""); n != 0 {
		t.Errorf("%d requests sent for a refused Put", n)
	}
}

// TestLargeEnvelope puts an envelope just under the limit: its structured
// fields are left out, the envelope round-trips.
func TestLargeEnvelope(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f)
	subj := imageSubject(t)
	a := storetest.Attestation(t, subj, "https://attestor.dev/big/v1", strings.Repeat("y", store.MaxEnvelopeSize*7/10))
	if len(a.Envelope) > store.MaxEnvelopeSize {
		t.Fatalf("fixture too big: %d", len(a.Envelope))
	}
	if err := c.Put(t.Context(), subj, a); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(t.Context(), subj)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, a)
	if p := f.occurrences()[0].GetAttestation().GetSerializedPayload(); len(p) != 0 {
		t.Errorf("serialized payload of %d bytes copied for a large envelope", len(p))
	}
}

func TestTokenNotLogged(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			apiErr(w, http.StatusServiceUnavailable, "UNAVAILABLE", "once")
			return true
		}
		return false
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newV1Client(t, f, grafeas.WithLogger(logger))
	if _, err := c.Get(t.Context(), imageSubject(t)); err != nil {
		t.Fatal(err)
	}
	if logs.Len() == 0 {
		t.Error("nothing logged at debug level")
	}
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("the token was logged:\n%s", logs.String())
	}
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := newV1Client(t, f, grafeas.WithDryRun(ws, &out))
	subj := imageSubject(t)
	link := linkAttestation(t, subj, "build")
	prov := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "p")
	if err := c.Put(t.Context(), subj, link, prov); err != nil {
		t.Fatal(err)
	}
	if n := f.count(""); n != 0 {
		t.Errorf("dry run sent %d requests", n)
	}
	var files []string
	filepath.WalkDir(ws.Path(grafeas.DryRunDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(ws.Dir(), p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(files) != 4 {
		t.Errorf("dry run wrote %v, want 2 notes and 2 occurrences", files)
	}
	for _, want := range []string{"_dry-run/grafeas/v1/notes/note-project/attestor-step-build.json", "_dry-run/grafeas/v1/notes/note-project/attestor-provenance.json"} {
		if !contains(files, want) {
			t.Errorf("dry run did not write %s (wrote %v)", want, files)
		}
	}
	if !strings.Contains(out.String(), "POST "+f.srv.URL+"/v1/projects/occ-project/occurrences") || !strings.Contains(out.String(), `"envelope"`) {
		t.Errorf("dry run printed:\n%s", out.String())
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestV1EmptyPageWithToken: Container Analysis may answer a filtered list
// with an empty page and a token; the listing goes on.
func TestV1EmptyPageWithToken(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f)
	subj := imageSubject(t)
	a := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	if err := c.Put(t.Context(), subj, a); err != nil {
		t.Fatal(err)
	}
	f.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodGet && r.URL.Query().Get("pageToken") == "" {
			reply(w, &gv1.ListOccurrencesResponse{NextPageToken: "0"})
			return true
		}
		return false
	})
	got, err := c.Get(t.Context(), subj)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, a)
}

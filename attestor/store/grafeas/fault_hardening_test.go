package grafeas_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/attestor/attestor/attestor/internal/faulttest"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/storetest"
)

const faultTimeout = 700 * time.Millisecond

// faultProxy is a reverse proxy to the real server that damages answers
// as fault says, for requests that match and while budget lasts (always:
// every time). The request reaches the server first: a damaged answer to
// a create is a create that happened.
type faultProxy struct {
	URL    string
	fault  faulttest.Fault
	match  func(*http.Request) bool
	budget atomic.Int64
	always atomic.Bool
	fired  atomic.Int64
}

func newFaultProxy(t *testing.T, upstream string, f faulttest.Fault, match func(*http.Request) bool) *faultProxy {
	t.Helper()
	p := &faultProxy{fault: f, match: match}
	u, _ := url.Parse(upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.match(r) || (!p.always.Load() && p.budget.Add(-1) < 0) {
			rp.ServeHTTP(w, r)
			return
		}
		p.fired.Add(1)
		faulttest.Serve(w, r, rp, f, 3*faultTimeout)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func isList(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/occurrences")
}

func isCreate(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/occurrences")
}

// serverOccurrences counts the occurrences the server holds in project.
func serverOccurrences(t *testing.T, srv *server, project string) int {
	t.Helper()
	resp, err := srv.Client.Get(srv.URL + "/v1beta1/projects/" + project + "/occurrences?pageSize=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Occurrences []json.RawMessage `json:"occurrences"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return len(list.Occurrences)
}

// TestBodyFaults: damaged answers from the real Grafeas server, to
// listings and to creates. Damaged listings are retried through; a
// damaged create may fail loudly (ErrUnavailable: exit 3) and a rerun
// completes the push; every
// attestation ends up there, and a create whose answer was lost is never
// made twice. When every answer is damaged, Push and Get fail with
// ErrUnavailable within their time limit: never a silent success or a
// hang.
func TestBodyFaults(t *testing.T) {
	srv := startServer(t, false)
	type target struct {
		name  string
		match func(*http.Request) bool
	}
	n := 0
	for _, tg := range []target{{"list", isList}, {"create", isCreate}} {
		for _, f := range []faulttest.Fault{faulttest.TruncatedBody, faulttest.StalledBody, faulttest.SlowBody, faulttest.Hang} {
			n++
			project := "faults" + strconv.Itoa(n)
			t.Run(tg.name+"/"+f.String(), func(t *testing.T) {
				t.Parallel()
				p := newFaultProxy(t, srv.URL, f, tg.match)
				client := func(extra ...grafeas.Option) *grafeas.Client {
					c, err := grafeas.New(append([]grafeas.Option{grafeas.WithURL(p.URL), grafeas.WithProject(project),
						grafeas.WithTimeout(faultTimeout), grafeas.WithRetry(4, time.Millisecond, 10*time.Millisecond)}, extra...)...)
					if err != nil {
						t.Fatal(err)
					}
					return c
				}
				subj := imageSubject(t)
				a := linkAttestation(t, subj, "build")
				b := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "b")

				// Two damaged answers. A listing is a read: it is
				// retried, and Push and Get succeed. A create's lost
				// answer is not sent again (see the retry hook); Push
				// may fail loudly (ErrUnavailable: exit 3) and a rerun
				// completes it, never creating it twice.
				p.budget.Store(2)
				if _, err := client().Push(t.Context(), subj, a, b); err != nil {
					if tg.name == "list" || !errors.Is(err, fault.ErrUnavailable) {
						t.Fatalf("Push through 2 %s of %s: %v, want success", f, tg.name, err)
					}
					p.budget.Store(0)
					if _, err := client().Push(t.Context(), subj, a, b); err != nil {
						t.Fatalf("rerun of Push after %s: %v", f, err)
					}
				}
				p.budget.Store(2)
				got, err := client().Get(t.Context(), subj)
				if err != nil {
					t.Fatalf("Get through 2 %s of %s: %v, want the listing retried and success", f, tg.name, err)
				}
				storetest.Equal(t, got, a, b)
				if p.fired.Load() == 0 {
					t.Fatal("no fault was injected")
				}
				p.budget.Store(0)
				got, err = client().Get(t.Context(), subj)
				if err != nil {
					t.Fatal(err)
				}
				storetest.Equal(t, got, a, b)
				if held := serverOccurrences(t, srv, project); held != 2 {
					t.Errorf("the server holds %d occurrences for 2 attestations: a create was repeated", held)
				}
				if f == faulttest.SlowBody {
					return
				}

				// Every answer damaged.
				p.always.Store(true)
				c := linkAttestation(t, subj, "test")
				start := time.Now()
				_, err = client(grafeas.WithRetry(1, time.Millisecond, time.Millisecond)).Push(t.Context(), subj, c)
				pushed := err == nil
				if err != nil && !errors.Is(err, fault.ErrUnavailable) {
					t.Errorf("Push with every answer damaged (%s): %v, want ErrUnavailable", f, err)
				}
				if tg.name == "list" {
					_, err = client(grafeas.WithRetry(1, time.Millisecond, time.Millisecond)).Get(t.Context(), subj)
					if !errors.Is(err, fault.ErrUnavailable) {
						t.Errorf("Get with every list damaged (%s): %v, want ErrUnavailable", f, err)
					}
				}
				if d := time.Since(start); d > 20*time.Second {
					t.Errorf("failing took %s", d)
				}
				p.always.Store(false)
				if pushed {
					// Only a create the server made (its answer lost)
					// may pass: the client must have seen it there.
					got, err := client().Get(t.Context(), subj)
					if err != nil {
						t.Fatal(err)
					}
					storetest.Equal(t, got, a, b, c)
					t.Logf("Push with every %s answer damaged (%s) succeeded: the create was made and found", tg.name, f)
				}
				if held := serverOccurrences(t, srv, project); held > 3 {
					t.Errorf("the server holds %d occurrences for 3 attestations: a create was repeated", held)
				}
			})
		}
	}
}

var _ store.Store = (*grafeas.Client)(nil)

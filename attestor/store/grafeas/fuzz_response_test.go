package grafeas_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/storetest"
	"github.com/attestor/attestor/attestor/workspace"
)

// bodyTransport answers every request with 200 and body.
type bodyTransport struct{ body []byte }

func (b bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(b.body)), ContentLength: int64(len(b.body)), Request: r}, nil
}

// dryRunOccurrences returns the occurrence bodies a dry-run push of atts
// about subj would send, with the API's dialect, as a list response.
func dryRunOccurrences(t testing.TB, api grafeas.API, subj store.Subject, atts ...store.Attestation) []byte {
	t.Helper()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := grafeas.New(grafeas.WithAPI(api), grafeas.WithURL("http://127.0.0.1:1"), grafeas.WithProject("p"), grafeas.WithDryRun(ws, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(context.Background(), subj, atts...); err != nil {
		t.Fatal(err)
	}
	var occs [][]byte
	filepath.WalkDir(filepath.Join(ws.Dir(), filepath.FromSlash(grafeas.DryRunDir)), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && bytes.Contains([]byte(path), []byte("occurrences")) {
			data, _ := os.ReadFile(path)
			occs = append(occs, data)
		}
		return nil
	})
	if len(occs) == 0 {
		t.Fatal("the dry run saved no occurrence")
	}
	return append(append([]byte(`{"occurrences":[`), bytes.Join(occs, []byte(","))...), []byte(`],"nextPageToken":"t"}`)...)
}

// FuzzListResponse: whatever a Grafeas server answers to a listing (both
// APIs), Get never panics and returns only well-formed attestations, each
// once, no more than the answer holds.
func FuzzListResponse(f *testing.F) {
	subj, other := fuzzSubject(1), fuzzSubject(2)
	a, b := fuzzLink(f, subj, "build"), fuzzLink(f, subj, "test")
	for _, api := range []grafeas.API{grafeas.V1Beta1, grafeas.V1} {
		f.Add(string(api), dryRunOccurrences(f, api, subj, a, b))
		f.Add(string(api), dryRunOccurrences(f, api, other, fuzzLink(f, other, "build")))
	}
	f.Add(string(grafeas.V1Beta1), []byte(`{"occurrences":[{"resource":{"uri":"x"},"attestation":{}}],"nextPageToken":""}`))
	f.Add(string(grafeas.V1), []byte(`{"occurrences":null}`))
	f.Fuzz(func(t *testing.T, api string, body []byte) {
		if api != string(grafeas.V1) {
			api = string(grafeas.V1Beta1)
		}
		c, err := grafeas.New(grafeas.WithAPI(grafeas.API(api)), grafeas.WithURL("http://grafeas.invalid"), grafeas.WithProject("p"),
			grafeas.WithHTTPClient(&http.Client{Transport: bodyTransport{body}}), grafeas.WithMaxPages(3),
			grafeas.WithRetry(0, time.Millisecond, time.Millisecond), grafeas.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		atts, err := c.Get(context.Background(), subj)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, a := range atts {
			if err := a.Check(); err != nil {
				t.Fatalf("Get returned a malformed attestation: %v", err)
			}
			d, _ := a.Digest()
			if seen[d] {
				t.Fatalf("Get returned %s twice", d)
			}
			seen[d] = true
		}
	})
}

func fuzzSubject(n byte) store.Subject {
	sum := sha256.Sum256([]byte{n})
	return store.Subject{Name: "registry.example/team/app", Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
}

// fuzzLink is a signed step record about subj (see linkAttestation).
func fuzzLink(tb testing.TB, subj store.Subject, step string) store.Attestation {
	tb.Helper()
	payload, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": subj.Name, "digest": map[string]string{subj.Digest.Algorithm: subj.Digest.Hex}}},
		"predicateType": envelope.PredicateTypeLink,
		"predicate":     map[string]any{"name": step, "command": []string{"make"}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), storetest.Signer(tb), envelope.PayloadTypeInToto, payload)
	if err != nil {
		tb.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	a, err := store.NewAttestation(raw, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// TestListResponseOtherResource: occurrences on another resource are never
// returned, whichever API.
func TestListResponseOtherResource(t *testing.T) {
	t.Parallel()
	subj, other := fuzzSubject(1), fuzzSubject(2)
	for _, api := range []grafeas.API{grafeas.V1Beta1, grafeas.V1} {
		body := dryRunOccurrences(t, api, other, fuzzLink(t, other, "build"))
		c, err := grafeas.New(grafeas.WithAPI(api), grafeas.WithURL("http://grafeas.invalid"), grafeas.WithProject("p"),
			grafeas.WithHTTPClient(&http.Client{Transport: bodyTransport{body}}), grafeas.WithMaxPages(3))
		if err != nil {
			t.Fatal(err)
		}
		atts, err := c.Get(context.Background(), subj)
		if err != nil || len(atts) != 0 {
			t.Errorf("%s: Get of a subject with only another resource's occurrences: %d, %v", api, len(atts), err)
		}
		atts, err = c.Get(context.Background(), other)
		if err != nil || len(atts) != 1 {
			t.Errorf("%s: Get of the resource itself: %d, %v (the seed is broken)", api, len(atts), err)
		}
	}
}

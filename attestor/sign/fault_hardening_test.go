package sign_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/internal/faulttest"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

const keylessTimeout = 700 * time.Millisecond

// keylessProxy is a reverse proxy to one of the fake sigstore's servers
// that damages answers while budget lasts (always: every time).
type keylessProxy struct {
	URL    string
	budget atomic.Int64
	always atomic.Bool
	fired  atomic.Int64
}

func newKeylessProxy(t *testing.T, upstream string, f faulttest.Fault) *keylessProxy {
	t.Helper()
	p := &keylessProxy{}
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.always.Load() && p.budget.Add(-1) < 0 {
			rp.ServeHTTP(w, r)
			return
		}
		p.fired.Add(1)
		faulttest.Serve(w, r, rp, f, 3*keylessTimeout)
	}))
	// No connection is reused: net/http sends a GET again by itself
	// when a reused connection drops, which would blur the count of
	// attempts.
	srv.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(srv.Close)
	p.URL = srv.URL + strings.TrimPrefix(upstream, u.Scheme+"://"+u.Host)
	return p
}

// TestKeylessFaults: each keyless server (the OIDC token endpoint, Fulcio,
// Rekor) answers once damaged, then every time. Once: signing succeeds
// through retries with a bundle that verifies. Every time: ErrUnavailable within the time
// limits, never a bundle without its Rekor entry, never a hang.
func TestKeylessFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fault injection with timeouts")
	}
	for _, server := range []string{"oidc", "fulcio", "rekor"} {
		for _, f := range []faulttest.Fault{faulttest.TruncatedBody, faulttest.StalledBody, faulttest.Hang, faulttest.Unavailable, faulttest.Dropped} {
			t.Run(server+"/"+f.String(), func(t *testing.T) {
				t.Parallel()
				s := signtest.NewSigstore(t)
				trusted, _ := s.TrustedRoot(t)
				tokenURL, fulcioURL, rekorURL := s.TokenURL, s.FulcioURL, s.RekorURL
				var p *keylessProxy
				switch server {
				case "oidc":
					p = newKeylessProxy(t, s.TokenURL, f)
					tokenURL = p.URL
				case "fulcio":
					p = newKeylessProxy(t, s.FulcioURL, f)
					fulcioURL = p.URL
				case "rekor":
					p = newKeylessProxy(t, s.RekorURL, f)
					rekorURL = p.URL
				}
				env := map[string]string{sign.EnvGitHubTokenURL: tokenURL, sign.EnvGitHubRequestToken: signtest.GitHubRequestToken}
				sigAndBundle := func() ([]byte, error) {
					k, err := sign.NewKeyless(context.Background(),
						sign.WithFulcioURL(fulcioURL), sign.WithRekorURL(rekorURL),
						sign.WithKeylessRetries(keylessTimeout, 2),
						sign.WithTokenOptions(signtest.Lookup(env), sign.WithTokenRetries(2, time.Millisecond), sign.WithTokenHTTPClient(&http.Client{Timeout: keylessTimeout})))
					if err != nil {
						return nil, err
					}
					envlp, err := envelope.Sign(context.Background(), k, envelope.PayloadTypeInToto, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
					if err != nil {
						return nil, err
					}
					return k.Bundle(context.Background(), envlp)
				}

				p.budget.Store(1)
				bundle, err := sigAndBundle()
				if err != nil {
					t.Fatalf("one %s of %s: %v, want it retried and a bundle", f, server, err)
				}
				if _, err := sign.VerifyBundle(context.Background(), bundle, trusted, signtest.GitHubIdentity()); err != nil {
					t.Errorf("the bundle made through one %s of %s does not verify: %v", f, server, err)
				}
				if p.fired.Load() == 0 {
					t.Fatal("no fault was injected")
				}

				p.always.Store(true)
				rekorBefore := s.RekorRequests()
				firedBefore := p.fired.Load()
				start := time.Now()
				bundle, err = sigAndBundle()
				// One retry policy, applied by one layer: 1 + 2 retries,
				// never retries of retries (Rekor's client and a loop
				// around it made 9).
				if got := p.fired.Load() - firedBefore; got != 3 {
					t.Errorf("%s of %s every time: %d requests, want 3 (1 + 2 retries)", f, server, got)
				}
				if err == nil || !errors.Is(err, fault.ErrUnavailable) {
					t.Errorf("%s of %s every time: bundle %d bytes, error %v; want ErrUnavailable", f, server, len(bundle), err)
				}
				if d := time.Since(start); d > 30*time.Second {
					t.Errorf("failing took %s", d)
				}
				if server != "rekor" && s.RekorRequests() != rekorBefore {
					t.Errorf("Rekor was asked to log a signature made without a certificate")
				}
			})
		}
	}
}

// rekorWith409 is a proxy to the fake Rekor that behaves as Rekor does
// with a repeated entry: a POST of an entry already logged is answered
// 409 Conflict with the entry's location, and GET
// /api/v1/log/entries/{uuid} returns the entry (tampered: the 409
// points to another entry). The answer to the first POST is cut short, so that the client
// sends it again.
type rekorWith409 struct {
	URL       string
	conflicts atomic.Int64
	lookups   atomic.Int64
}

func newRekorWith409(t *testing.T, upstream string, tampered bool) *rekorWith409 {
	t.Helper()
	p := &rekorWith409{}
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	logged := map[string]string{}  // request body → uuid
	entries := map[string][]byte{} // uuid → the answer's body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/log/entries/") {
			p.lookups.Add(1)
			mu.Lock()
			body, ok := entries[strings.TrimPrefix(r.URL.Path, "/api/v1/log/entries/")]
			mu.Unlock()
			if !ok {
				http.Error(w, `{"code":404,"message":"not found"}`, http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
			return
		}
		req, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		mu.Lock()
		uuid, dup := logged[string(req)]
		mu.Unlock()
		if dup {
			p.conflicts.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"code":409,"message":"an equivalent entry already exists in the transparency log with UUID %s"}`, uuid)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(req))
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusCreated {
			uuid, entry := rec.Header().Get("ETag"), body
			if tampered {
				uuid, entry = otherEntry(t, body)
			}
			mu.Lock()
			logged[string(req)] = uuid
			entries[uuid] = entry
			mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// otherEntry returns a log entry with another body than the one in answer
// (a Rekor answer: {uuid: entry}), under the UUID that body hashes to.
func otherEntry(t *testing.T, answer []byte) (string, []byte) {
	t.Helper()
	var got map[string]map[string]any
	if err := json.Unmarshal(answer, &got); err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		body := []byte(`{"apiVersion":"0.0.1","kind":"dsse","spec":{}}`)
		leaf := sha256.Sum256(append([]byte{0}, body...))
		uuid := hex.EncodeToString(leaf[:])
		e["body"] = base64.StdEncoding.EncodeToString(body)
		out, err := json.Marshal(map[string]any{uuid: e})
		if err != nil {
			t.Fatal(err)
		}
		return uuid, out
	}
	t.Fatal("empty Rekor answer")
	return "", nil
}

// TestKeylessRekorConflict: an entry logged whose answer was lost is sent
// again; Rekor answers 409 Conflict, and the bundle carries the entry
// already logged, fetched from Rekor, made once. An entry fetched that is
// not the one proposed fails the bundle (ErrUnavailable).
func TestKeylessRekorConflict(t *testing.T) {
	for _, tampered := range []bool{false, true} {
		t.Run(map[bool]string{false: "same entry", true: "another entry"}[tampered], func(t *testing.T) {
			t.Parallel()
			s := signtest.NewSigstore(t)
			trusted, _ := s.TrustedRoot(t)
			p := newRekorWith409(t, s.RekorURL, tampered)
			env := map[string]string{sign.EnvGitHubTokenURL: s.TokenURL, sign.EnvGitHubRequestToken: signtest.GitHubRequestToken}
			k, err := sign.NewKeyless(context.Background(),
				sign.WithFulcioURL(s.FulcioURL), sign.WithRekorURL(p.URL),
				sign.WithKeylessRetries(keylessTimeout, 2),
				sign.WithTokenOptions(signtest.Lookup(env)))
			if err != nil {
				t.Fatal(err)
			}
			envlp, err := envelope.Sign(context.Background(), k, envelope.PayloadTypeInToto, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
			if err != nil {
				t.Fatal(err)
			}
			bundle, err := k.Bundle(context.Background(), envlp)
			if p.conflicts.Load() != 1 || p.lookups.Load() != 1 {
				t.Errorf("%d conflicts, %d lookups; want 1 of each", p.conflicts.Load(), p.lookups.Load())
			}
			if n := s.RekorRequests(); n != 1 {
				t.Errorf("Rekor logged %d entries, want 1", n)
			}
			if tampered {
				if !errors.Is(err, fault.ErrUnavailable) {
					t.Fatalf("Bundle with another entry fetched = %v, want ErrUnavailable", err)
				}
				if !strings.Contains(err.Error(), "is not the entry proposed") {
					t.Errorf("Bundle with another entry fetched = %v, want the entry refused", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Bundle through a lost answer and a 409: %v", err)
			}
			if _, err := sign.VerifyBundle(context.Background(), bundle, trusted, signtest.GitHubIdentity()); err != nil {
				t.Errorf("the bundle made with the entry already logged does not verify: %v", err)
			}
		})
	}
}

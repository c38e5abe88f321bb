package sign_test

import (
	"context"
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

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

// The faults of the keyless servers the other tests leave out: answers
// that start and then go wrong, and servers that hang.
type keylessFault int

const (
	kfTruncated keylessFault = iota // the promised Content-Length, half the body, then the connection closes
	kfStalled                       // headers and a few bytes, then nothing (longer than the timeout)
	kfHang                          // no answer (longer than the timeout)
	kf503                           // 503 Service Unavailable
)

func (f keylessFault) String() string {
	return [...]string{"truncated body", "stalled body", "hang", "503"}[f]
}

const keylessTimeout = 700 * time.Millisecond

// keylessProxy is a reverse proxy to one of the fake sigstore's servers
// that damages answers while budget lasts (always: every time).
type keylessProxy struct {
	URL    string
	budget atomic.Int64
	always atomic.Bool
	fired  atomic.Int64
}

func newKeylessProxy(t *testing.T, upstream string, f keylessFault) *keylessProxy {
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
		switch f {
		case kf503:
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		case kfHang:
			select {
			case <-r.Context().Done():
			case <-time.After(3 * keylessTimeout):
			}
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		sent := len(body) / 2 // truncated: half, then the connection closes
		if f == kfStalled {
			sent = min(2, sent) // stalled: a few bytes, then nothing
		}
		w.Write(body[:sent])
		w.(http.Flusher).Flush()
		if f == kfTruncated {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(3 * keylessTimeout):
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + strings.TrimPrefix(upstream, u.Scheme+"://"+u.Host)
	return p
}

// TestKeylessFaults: each keyless server (the OIDC token endpoint, Fulcio,
// Rekor) answers once damaged, then every time. Once: signing succeeds
// through retries with a bundle that verifies, or fails loudly
// (ErrUnavailable: exit 3). Every time: ErrUnavailable within the time
// limits, never a bundle without its Rekor entry, never a hang.
func TestKeylessFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fault injection with timeouts")
	}
	for _, server := range []string{"oidc", "fulcio", "rekor"} {
		for _, f := range []keylessFault{kfTruncated, kfStalled, kfHang, kf503} {
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
					envlp, err := sign.SignEnvelope(context.Background(), k, sign.PayloadTypeInToto, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
					if err != nil {
						return nil, err
					}
					return k.Bundle(context.Background(), envlp)
				}

				p.budget.Store(1)
				bundle, err := sigAndBundle()
				switch {
				case err == nil:
					if _, err := sign.VerifyBundle(context.Background(), bundle, trusted, signtest.GitHubIdentity()); err != nil {
						t.Errorf("the bundle made through one %s of %s does not verify: %v", f, server, err)
					}
				case errors.Is(err, attestor.ErrUnavailable):
					t.Logf("one %s of %s: not retried: %v", f, server, err)
				default:
					t.Errorf("one %s of %s: %v, want success or ErrUnavailable", f, server, err)
				}
				if p.fired.Load() == 0 {
					t.Fatal("no fault was injected")
				}

				p.always.Store(true)
				rekorBefore := s.RekorRequests()
				start := time.Now()
				bundle, err = sigAndBundle()
				if err == nil || !errors.Is(err, attestor.ErrUnavailable) {
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

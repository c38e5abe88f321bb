package sign_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

// endlessBody writes prefix, then 'x' up to 1 GiB or until the client
// goes away, and adds what it wrote to served.
func endlessBody(w http.ResponseWriter, prefix string, served *atomic.Int64) {
	n, _ := io.WriteString(w, prefix)
	served.Add(int64(n))
	buf := []byte(strings.Repeat("x", 32<<10))
	for sent := 0; sent < 1<<30; sent += len(buf) {
		n, err := w.Write(buf)
		served.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// recorder is a reverse proxy to upstream that records the Authorization
// headers it is sent.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newRecorder(t *testing.T, upstream string) *recorder {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recorder{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.auth = append(rc.auth, r.Header.Get("Authorization"))
		rc.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *recorder) requests() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.auth...)
}

// redirector answers every request with a redirect to target (the same
// path and query) with code.
func redirector(target string, code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.RequestURI(), code)
	})
}

// TestTokenRequestRedirects: the GitHub Actions token request carries the
// request token in its Authorization header. A redirect to another port
// of the same host does not carry it; a redirect from https to plain http
// is not followed; a redirect loop ends after 10 requests, not retried.
func TestTokenRequestRedirects(t *testing.T) {
	s := signtest.NewSigstore(t)
	for _, tc := range []struct {
		name string
		// start returns the token URL and its client, and the
		// recorder that the redirect leads to.
		start    func(t *testing.T) (tokenURL string, client *http.Client, target *recorder)
		followed bool // the redirect target may get a request
		requests int  // most requests to the token URL, if > 0
	}{
		{"another port", func(t *testing.T) (string, *http.Client, *recorder) {
			target := newRecorder(t, s.TokenURL)
			srv := httptest.NewServer(redirector(target.URL, http.StatusTemporaryRedirect))
			t.Cleanup(srv.Close)
			return srv.URL + "/token?api-version=2.0", &http.Client{}, target
		}, true, 0},
		{"https to http", func(t *testing.T) (string, *http.Client, *recorder) {
			target := newRecorder(t, s.TokenURL)
			srv := httptest.NewTLSServer(redirector(target.URL, http.StatusFound))
			t.Cleanup(srv.Close)
			return srv.URL + "/token?api-version=2.0", srv.Client(), target
		}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokenURL, client, target := tc.start(t)
			env := map[string]string{sign.EnvGitHubTokenURL: tokenURL, sign.EnvGitHubRequestToken: signtest.GitHubRequestToken}
			ts, err := sign.DetectTokenSource(context.Background(), signtest.Lookup(env),
				sign.WithTokenHTTPClient(client), sign.WithTokenRetries(2, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts.Token(context.Background())
			if err == nil {
				t.Error("Token succeeded, want an error")
			} else if !errors.Is(err, fault.ErrUnavailable) {
				t.Errorf("Token = %v, want an error matching fault.ErrUnavailable", err)
			}
			if err != nil && strings.Contains(err.Error(), signtest.GitHubRequestToken) {
				t.Errorf("the request token shows in the error: %v", err)
			}
			got := target.requests()
			for _, h := range got {
				if strings.Contains(h, signtest.GitHubRequestToken) {
					t.Errorf("the redirect target got the request token (Authorization: %s)", h)
				}
			}
			if !tc.followed && len(got) > 0 {
				t.Errorf("%d requests followed a redirect from https to plain http", len(got))
			}
		})
	}
	t.Run("loop", func(t *testing.T) {
		var n atomic.Int64
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			http.Redirect(w, r, srv.URL+r.URL.RequestURI(), http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		env := map[string]string{sign.EnvGitHubTokenURL: srv.URL + "/token", sign.EnvGitHubRequestToken: signtest.GitHubRequestToken}
		ts, err := sign.DetectTokenSource(context.Background(), signtest.Lookup(env), sign.WithTokenRetries(3, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.Token(context.Background())
		if !errors.Is(err, fault.ErrUnavailable) || !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
			t.Errorf("Token = %v, want an error matching fault.ErrUnavailable naming the host", err)
		}
		if got := n.Load(); got > 10 {
			t.Errorf("%d requests to a token endpoint that redirects to itself, want at most 10 (a loop is not retried)", got)
		}
	})
}

// TestFulcioRedirectKeepsToken: Fulcio's answer redirects the certificate
// request to another port of the same host: the identity token (in the
// Authorization header) does not go there, and signing fails
// (ErrUnavailable) rather than hand the token on.
func TestFulcioRedirectKeepsToken(t *testing.T) {
	s := signtest.NewSigstore(t)
	target := newRecorder(t, s.FulcioURL)
	srv := httptest.NewServer(redirector(target.URL, http.StatusTemporaryRedirect))
	t.Cleanup(srv.Close)
	k, err := sign.NewKeyless(context.Background(),
		sign.WithFulcioURL(srv.URL), sign.WithRekorURL(s.RekorURL),
		sign.WithKeylessRetries(5*time.Second, 0),
		sign.WithTokenOptions(signtest.Lookup(s.Env()), sign.WithTokenRetries(0, time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Certificate(context.Background())
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("Certificate = %v, want an error matching fault.ErrUnavailable", err)
	}
	for _, h := range target.requests() {
		if h != "" {
			t.Errorf("the redirect target got the identity token (Authorization: %.20s…)", h)
		}
	}
}

// TestKeylessErrorBodyBounded: Fulcio, Rekor or the timestamp authority
// fails with an endless body (or Rekor succeeds with one). The client
// reads a bounded part of it (the server writes little more than socket
// buffers hold), and fails with a short error matching
// fault.ErrUnavailable, well within the request timeout.
func TestKeylessErrorBodyBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs into the request timeout when it fails")
	}
	const timeout = 3 * time.Second
	for _, tc := range []struct {
		name   string
		server string // "fulcio", "rekor" or "tsa"
		status int
		prefix string
	}{
		{"fulcio 500", "fulcio", http.StatusInternalServerError, `{"code":500,"message":"`},
		{"fulcio 400", "fulcio", http.StatusBadRequest, `{"code":400,"message":"`},
		{"rekor 500", "rekor", http.StatusInternalServerError, `{"code":500,"message":"`},
		{"rekor 201", "rekor", http.StatusCreated, `{"`},
		{"tsa 500", "tsa", http.StatusInternalServerError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := signtest.NewSigstore(t)
			var served atomic.Int64
			hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				endlessBody(w, tc.prefix, &served)
			}))
			t.Cleanup(hostile.Close)
			fulcioURL, rekorURL := s.FulcioURL, s.RekorURL
			opts := []sign.KeylessOption{sign.WithKeylessRetries(timeout, 0),
				sign.WithTokenOptions(signtest.Lookup(s.Env()), sign.WithTokenRetries(0, time.Millisecond))}
			switch tc.server {
			case "fulcio":
				fulcioURL = hostile.URL
			case "rekor":
				rekorURL = hostile.URL
			case "tsa":
				opts = append(opts, sign.WithTSAURL(hostile.URL+"/api/v1/timestamp"))
			}
			opts = append(opts, sign.WithFulcioURL(fulcioURL), sign.WithRekorURL(rekorURL))
			k, err := sign.NewKeyless(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			env, err := envelope.Sign(context.Background(), k, envelope.PayloadTypeInToto, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
			if err == nil {
				_, err = k.Bundle(context.Background(), env)
			}
			took := time.Since(start)
			t.Logf("%d KiB served, in %s", served.Load()>>10, took.Round(time.Millisecond))
			if !errors.Is(err, fault.ErrUnavailable) {
				t.Errorf("err = %.300v, want an error matching fault.ErrUnavailable", err)
			}
			if err != nil && len(err.Error()) > 8<<10 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
			if n := served.Load(); n > 64<<20 {
				t.Errorf("the client took %d MiB of an endless answer", n>>20)
			}
		})
	}
}

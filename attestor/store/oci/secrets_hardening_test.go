package oci_test

import (
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

const (
	leakUser = "robot"
	leakPW   = "registry-secret-5e7a9c1b3d"
)

// staticKeychain hands out one user and password, as a docker config or a
// credential helper would.
type staticKeychain struct{}

func (staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: leakUser, Password: leakPW}, nil
}

// TestCredentialsNeverQuoted: a registry that refuses or fails writes
// with an error quoting the credentials it got (the password and the
// Basic Authorization header) never makes them show in attestor's errors,
// whether they came from WithBasicAuth (--registry-password-stdin) or
// from a keychain (docker login, credential helpers).
func TestCredentialsNeverQuoted(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusBadRequest, http.StatusInternalServerError} {
		var echo atomic.Bool
		reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user, pw, ok := r.BasicAuth()
			if !ok || user != leakUser || pw != leakPW {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if echo.Load() && r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, `{"errors":[{"code":"DENIED","message":"`+user+`:`+pw+` (`+r.Header.Get("Authorization")+`) may not write"}]}`)
				return
			}
			reg.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		host := strings.TrimPrefix(srv.URL, "http://")
		for name, opt := range map[string]oci.Option{
			"basic auth": oci.WithBasicAuth(leakUser, leakPW),
			"keychain":   oci.WithKeychain(staticKeychain{}),
		} {
			echo.Store(false)
			subject := pushImageAuth(t, host)
			echo.Store(true)
			err := newStore(t, opt, oci.WithRetry(1, 0)).Put(t.Context(), subject, storetest.Attestation(t, subject, envelope.PredicateTypeLink, "a"))
			if err == nil {
				t.Fatalf("%s, %d: Put succeeded against a registry refusing writes", name, status)
			}
			header := base64.StdEncoding.EncodeToString([]byte(leakUser + ":" + leakPW))
			if strings.Contains(err.Error(), leakPW) || strings.Contains(err.Error(), header) {
				t.Errorf("%s, %d: the credentials show in the error: %v", name, status, err)
			}
			if !strings.Contains(err.Error(), "may not write") {
				t.Errorf("%s, %d: the registry's message is gone: %v", name, status, err)
			}
		}
	}
}

// pushImageAuth is pushImage to a registry that wants the test's
// credentials.
func pushImageAuth(t *testing.T, host string) store.Subject {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/test/secret:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: leakUser, Password: leakPW})); err != nil {
		t.Fatalf("pushing test image: %v", err)
	}
	h, _ := img.Digest()
	return store.Subject{Name: ref.Context().Name(), Digest: h}
}

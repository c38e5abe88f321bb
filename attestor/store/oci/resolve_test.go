package oci_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/store/oci"
)

// resolveFastRetry keeps the retries of a failing registry short.
var resolveFastRetry = remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2})

// resolveRegistry starts an in-process registry behind wrap (nil: none) on
// 127.0.0.1 and pushes an image (tag app:v1) and an index (tag
// multi:v1); it returns the host and their digests.
func resolveRegistry(t *testing.T, wrap func(http.Handler) http.Handler) (host, imgDigest, idxDigest string) {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")

	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Pushed with the fixture's mark, so that wrap only affects Resolve.
	appTag, err := name.NewTag(host + "/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	multiTag, err := name.NewTag(host + "/team/multi:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(appTag, img, remote.WithTransport(resolvePushTransport{})); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(multiTag, idx, remote.WithTransport(resolvePushTransport{})); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	di, _ := idx.Digest()
	return host, d.String(), di.String()
}

// resolvePushTransport marks the fixture's own requests, which the fault
// injectors let through.
type resolvePushTransport struct{}

func (resolvePushTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Fixture", "1")
	return http.DefaultTransport.RoundTrip(req)
}

// resolveFault answers every request that is not the fixture's with fn.
func resolveFault(fn func(w http.ResponseWriter, r *http.Request, next http.Handler)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Fixture") != "" {
				next.ServeHTTP(w, r)
				return
			}
			fn(w, r, next)
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		wrap func(http.Handler) http.Handler
	}{
		{"registry", nil},
		// A registry that does not answer HEAD for manifests: GET is used.
		{"no HEAD", resolveFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			next.ServeHTTP(w, r)
		})},
		// A registry whose HEAD answer has no digest header.
		{"HEAD without digest", resolveFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") {
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.Header().Set("Content-Length", "10")
				w.WriteHeader(http.StatusOK)
				return
			}
			next.ServeHTTP(w, r)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host, imgDigest, idxDigest := resolveRegistry(t, tc.wrap)
			for ref, want := range map[string]string{
				host + "/team/app:v1":                      host + "/team/app@" + imgDigest,
				"oci://" + host + "/team/app:v1":           host + "/team/app@" + imgDigest,
				"oci://" + host + "/team/app@" + imgDigest: host + "/team/app@" + imgDigest,
				host + "/team/multi:v1":                    host + "/team/multi@" + idxDigest,
			} {
				got, err := oci.Resolve(ctx, ref, resolveFastRetry)
				if err != nil {
					t.Errorf("Resolve(%q): %v", ref, err)
					continue
				}
				if got.String() != want {
					t.Errorf("Resolve(%q) = %s, want %s", ref, got, want)
				}
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host, _, _ := resolveRegistry(t, nil)
	otherDigest := "sha256:" + strings.Repeat("0", 64)

	down := httptest.NewServer(http.NotFoundHandler())
	downHost := strings.TrimPrefix(down.URL, "http://")
	down.Close()

	failing, _, _ := resolveRegistry(t, resolveFault(func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	refusing, _, _ := resolveRegistry(t, resolveFault(func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errors":[{"code":"DENIED","message":"denied"}]}`)
	}))

	for _, tc := range []struct {
		name, ref string
		want      error
	}{
		{"malformed reference", "oci://" + host + "/Team/App:v1", fault.ErrInvalidInput},
		{"empty reference", "oci://", fault.ErrInvalidInput},
		{"unknown tag", host + "/team/app:nope", fault.ErrInvalidInput},
		{"unknown repository", host + "/team/none:v1", fault.ErrInvalidInput},
		{"unknown digest", host + "/team/app@" + otherDigest, fault.ErrInvalidInput},
		{"refused credentials", refusing + "/team/app:v1", fault.ErrInvalidInput},
		{"registry down", downHost + "/team/app:v1", fault.ErrUnavailable},
		{"registry failing after retries", failing + "/team/app:v1", fault.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := oci.Resolve(ctx, tc.ref, resolveFastRetry)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Resolve(%q) = %v, want %v", tc.ref, err, tc.want)
			}
			other := fault.ErrUnavailable
			if tc.want == fault.ErrUnavailable {
				other = fault.ErrInvalidInput
			}
			if errors.Is(err, other) {
				t.Fatalf("Resolve(%q) = %v: both bad input and unavailable", tc.ref, err)
			}
		})
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := oci.Resolve(cancelled, host+"/team/app:v1"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

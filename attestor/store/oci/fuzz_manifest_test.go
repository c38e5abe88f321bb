package oci_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// handlerTransport serves requests with an in-process handler, replacing
// the body of the responses that replace selects (for a hostile registry).
type handlerTransport struct {
	h       http.Handler
	replace func(r *http.Request) ([]byte, string, bool) // body, media type
}

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	sr := r.Clone(r.Context()) // as a server sees it: a body, always
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, sr)
	resp := rec.Result()
	resp.Request = r
	if t.replace == nil || rec.Code != http.StatusOK {
		return resp, nil
	}
	if body, mt, ok := t.replace(r); ok {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		if mt != "" {
			resp.Header.Set("Content-Type", mt)
		}
	}
	return resp, nil
}

// manifestFixture is an in-process registry holding an image with three
// attestations attached both ways (cosign .att tag and referrers), two
// key-signed and one keyless (its .att layer with cosign's certificate,
// chain and Rekor bundle annotations), and the manifests a Get reads.
type manifestFixture struct {
	reg     http.Handler
	subject store.Subject
	want    map[string]bool // the digests of the attestations put
	att     []byte          // the .att tag's manifest
	index   []byte          // the referrers index
}

const fuzzHost = "127.0.0.1:5999"

func newManifestFixture(tb testing.TB) *manifestFixture {
	tb.Helper()
	fx := &manifestFixture{reg: registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)), want: map[string]bool{}}
	tr := handlerTransport{h: fx.reg}
	img, err := random.Image(64, 1)
	if err != nil {
		tb.Fatal(err)
	}
	tag, _ := name.NewTag(fuzzHost + "/acme/app:v1")
	if err := remote.Write(tag, img, remote.WithTransport(tr)); err != nil {
		tb.Fatal(err)
	}
	h, _ := img.Digest()
	fx.subject, _ = store.ImageSubject(tag.Context().Digest(h.String()))
	r, err := oci.New(oci.WithTransport(tr), oci.WithConflictRetries(8, time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	var atts []store.Attestation
	for _, note := range []string{"one", "two"} {
		a := storetest.Attestation(tb, fx.subject, "https://slsa.dev/provenance/v1", note)
		d, _ := a.Digest()
		fx.want[d] = true
		atts = append(atts, a)
	}
	s := signtest.NewSigstore(tb)
	k := s.Keyless(tb)
	a := storetest.SignedAttestation(tb, k, fx.subject, "https://slsa.dev/provenance/v1", "keyless")
	env, err := envelope.Parse(a.Envelope)
	if err != nil {
		tb.Fatal(err)
	}
	if a.Bundle, err = k.Bundle(context.Background(), env); err != nil {
		tb.Fatal(err)
	}
	d, _ := a.Digest()
	fx.want[d] = true
	atts = append(atts, a)
	if err := r.Put(context.Background(), fx.subject, atts...); err != nil {
		tb.Fatal(err)
	}
	get := func(path, accept string) []byte {
		req := httptest.NewRequest(http.MethodGet, "http://"+fuzzHost+path, nil)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		fx.reg.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			tb.Fatalf("GET %s: %d", path, rec.Code)
		}
		return rec.Body.Bytes()
	}
	fx.att = get("/v2/acme/app/manifests/sha256-"+h.Hex+".att", "application/vnd.oci.image.manifest.v1+json")
	fx.index = get("/v2/acme/app/referrers/sha256:"+h.Hex, "application/vnd.oci.image.index.v1+json")
	return fx
}

// FuzzRegistryManifests: a registry that answers a Get with any bytes for
// the cosign .att manifest, the referrers index or a referrer's manifest
// never makes Get panic, and Get returns only attestations that were put,
// well-formed, each once (nothing comes from nowhere: a manifest pointing
// at other blobs, such as the image's own layers, yields nothing).
func FuzzRegistryManifests(f *testing.F) {
	fx := newManifestFixture(f)
	f.Add(uint8(0), fx.att)
	f.Add(uint8(1), fx.index)
	f.Add(uint8(2), fx.att)
	f.Add(uint8(0), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","size":-1,"digest":"sha256:00"}]}`))
	f.Add(uint8(1), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1e30,"digest":"sha256:`+strings.Repeat("0", 64)+`"}]}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		which %= 3
		tr := handlerTransport{h: fx.reg, replace: func(r *http.Request) ([]byte, string, bool) {
			switch p := r.URL.Path; {
			case which == 0 && strings.HasSuffix(p, ".att"):
				return body, "application/vnd.oci.image.manifest.v1+json", true
			case which == 1 && strings.Contains(p, "/referrers/"):
				return body, "application/vnd.oci.image.index.v1+json", true
			case which == 2 && strings.Contains(p, "/manifests/sha256:") && !strings.Contains(p, fx.subject.Digest.Hex):
				return body, "application/vnd.oci.image.manifest.v1+json", true
			}
			return nil, "", false
		}}
		r, err := oci.New(oci.WithTransport(tr), oci.WithRetry(1, time.Millisecond), oci.WithTimeout(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		atts, err := r.Get(context.Background(), fx.subject)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Get took %s on an in-process registry (%v)", d, err)
		}
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, a := range atts {
			if err := a.Check(); err != nil {
				t.Fatalf("Get returned a malformed attestation: %v", err)
			}
			d, _ := a.Digest()
			if !fx.want[d] {
				t.Fatalf("Get returned an attestation that was never put: %s", a.Envelope)
			}
			if seen[d] {
				t.Fatalf("Get returned %s twice", d)
			}
			seen[d] = true
		}
	})
}

package testkit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ita1 "github.com/in-toto/attestation/go/v1"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/workspace"
)

// Registry starts go-containerregistry's in-process registry (with the
// referrers API) on loopback for the test and returns its host:port.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// PushImage pushes a random image (or index) to host/repo:dev and returns
// its digest reference.
func PushImage(t testing.TB, host, repo string, index bool) name.Digest {
	t.Helper()
	ref, err := name.NewTag(host + "/" + repo + ":dev")
	if err != nil {
		t.Fatal(err)
	}
	var h v1.Hash
	if index {
		idx, err := random.Index(128, 1, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		h, _ = idx.Digest()
	} else {
		img, err := random.Image(128, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		h, _ = img.Digest()
	}
	return ref.Context().Digest(h.String())
}

// AttestPush signs, with signer, a one-step chain (step "push") whose
// product is the image img, recorded at when, and attaches it to the
// image in reg. ImagePolicy is its policy.
func AttestPush(t testing.TB, reg *oci.Registry, img name.Digest, signer envelope.Signer, when time.Time) {
	t.Helper()
	hex := strings.TrimPrefix(img.DigestStr(), "sha256:")
	rec := &attestor.Record{Step: "push", Command: []string{"docker", "push"},
		Materials: []*ita1.ResourceDescriptor{{Name: "Dockerfile", Digest: map[string]string{"sha256": strings.Repeat("1", 64)}}},
		Products:  []*ita1.ResourceDescriptor{{Name: workspace.ImagePrefix + img.Context().Name(), Digest: map[string]string{"sha256": hex}}},
		StartedOn: when, FinishedOn: when}
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := envelope.SignStatement(context.Background(), signer, st)
	if err != nil {
		t.Fatal(err)
	}
	att, err := store.NewAttestation(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := store.ImageSubject(img)
	if err := reg.Put(context.Background(), sub, att); err != nil {
		t.Fatal(err)
	}
}

// ImagePolicy is the policy of AttestPush's chain, with the functionaries
// ci and release whose public keys are ci.pub and release.pub (Key).
const ImagePolicy = `version: 1
expires: 2099-12-31T00:00:00Z
functionaries: {ci: {key: ci.pub}, release: {key: release.pub}}
steps:
  - name: push
    functionaries: [ci]
    products: [[ALLOW, "oci://*"], [DISALLOW, "*"]]
`

// Key returns the Ed25519 signer of the functionary called name, the same
// for every test (results are golden), and writes its public key to
// dir/<name>.pub.
func Key(t testing.TB, dir, name string) *sign.Signer {
	t.Helper()
	seed := sha256.Sum256([]byte("attestor gate test key " + name))
	s, err := sign.New(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.MarshalPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

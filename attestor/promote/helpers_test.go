package promote

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
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
	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/workspace"
)

// now is when the test records say their step ran.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// chain holds the keys of a test's functionaries and its policy.
type chain struct {
	t    testing.TB
	keys string // where public keys (and the policy) live
	// signers by functionary name
	signers map[string]*sign.Signer
}

func newChain(t testing.TB) *chain {
	t.Helper()
	return &chain{t: t, keys: t.TempDir(), signers: map[string]*sign.Signer{}}
}

// key returns the signer of the named functionary, generating an Ed25519
// key and writing its public key to keys/<name>.pub on first use.
func (c *chain) key(name string) *sign.Signer {
	c.t.Helper()
	if s, ok := c.signers[name]; ok {
		return s
	}
	seed := sha256.Sum256([]byte("attestor gate test key " + name))
	s, err := sign.New(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		c.t.Fatal(err)
	}
	pub, err := sign.MarshalPublicKey(s.Public())
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.keys, name+".pub"), pub, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.signers[name] = s
	return s
}

// policy parses a policy whose keys are in c.keys.
func (c *chain) policy(doc string) *gate.Policy {
	c.t.Helper()
	path := filepath.Join(c.keys, "policy.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		c.t.Fatal(err)
	}
	p, err := gate.LoadPolicy(path)
	if err != nil {
		c.t.Fatalf("policy: %v", err)
	}
	return p
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushed pushes a random image (or index) to host/repo:tag and returns
// its digest reference.
func pushed(t *testing.T, host, repo string, index bool) name.Digest {
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

// attest signs a one-step chain whose product is the image, with the
// named functionary, and attaches it to the image.
func (c *chain) attest(reg *oci.Registry, img name.Digest, signer string) {
	c.t.Helper()
	hex := strings.TrimPrefix(img.DigestStr(), "sha256:")
	rec := &attestor.Record{Step: "push", Command: []string{"docker", "push"},
		Materials: []*ita1.ResourceDescriptor{{Name: "Dockerfile", Digest: map[string]string{"sha256": strings.Repeat("1", 64)}}},
		Products:  []*ita1.ResourceDescriptor{{Name: workspace.ImagePrefix + img.Context().Name(), Digest: map[string]string{"sha256": hex}}},
		StartedOn: now.Add(-time.Hour), FinishedOn: now.Add(-time.Hour)}
	st, err := rec.Statement()
	if err != nil {
		c.t.Fatal(err)
	}
	_, data, err := envelope.SignStatement(context.Background(), c.key(signer), st)
	if err != nil {
		c.t.Fatal(err)
	}
	att, err := store.NewAttestation(data, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	sub, _ := store.ImageSubject(img)
	if err := reg.Put(context.Background(), sub, att); err != nil {
		c.t.Fatal(err)
	}
}

const imagePolicy = `version: 1
expires: 2099-12-31T00:00:00Z
functionaries: {ci: {key: ci.pub}, release: {key: release.pub}}
steps:
  - name: push
    functionaries: [ci]
    products: [[ALLOW, "oci://*"], [DISALLOW, "*"]]
`

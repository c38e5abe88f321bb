package promote

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/internal/testkit"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/google/go-containerregistry/pkg/name"
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

// key returns the signer of the named functionary (testkit.Key), writing
// its public key to keys/<name>.pub on first use.
func (c *chain) key(name string) *sign.Signer {
	c.t.Helper()
	if s, ok := c.signers[name]; ok {
		return s
	}
	s := testkit.Key(c.t, c.keys, name)
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

// attestedImage pushes an image to an in-process registry with the
// one-step chain of testkit.ImagePolicy attached (signed by ci), and
// returns the registry's host and client, the image, a verifier of the
// policy and the signer of the functionary release.
func attestedImage(t *testing.T) (host string, reg *oci.Registry, img name.Digest, v *gate.Verifier, release *sign.Signer) {
	t.Helper()
	host = testkit.Registry(t)
	reg, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	c := newChain(t)
	release = c.key("release")
	img = testkit.PushImage(t, host, "team/app", false)
	testkit.AttestPush(t, reg, img, c.key("ci"), now.Add(-time.Hour))
	v, err = gate.NewVerifier(c.policy(testkit.ImagePolicy))
	if err != nil {
		t.Fatal(err)
	}
	return host, reg, img, v, release
}

package promote

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/sign"
)

// niOf is Binary Authorization's default id of a PKIX public key, computed
// here from its definition: "ni:///sha-256;" and the base64url (no
// padding) of the SHA-256 of the key's SubjectPublicKeyInfo DER (RFC 6920).
func niOf(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return "ni:///sha-256;" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// typeOf returns critical.type of a simple-signing payload, after
// checking the rest of its critical section against image.
func typeOf(t *testing.T, payload []byte, image name.Digest) string {
	t.Helper()
	var p simpleSigningPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	if p.Critical.Identity.DockerReference != image.Context().Name() || p.Critical.Image.DockerManifestDigest != image.DigestStr() {
		t.Errorf("payload %s: want the identity %s and digest %s", payload, image.Context().Name(), image.DigestStr())
	}
	return p.Critical.Type
}

func testSigner(t *testing.T, kind string) *sign.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa-p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNewSimpleSigning: the payload's critical section, its type (by
// default gcloud's, or the one asked for), the public key id Binary
// Authorization knows the key by (by default the ni:/// name of its PKIX
// DER, computed here independently, or the one given), the in-toto key
// id, and a signature over the payload.
func TestNewSimpleSigning(t *testing.T) {
	t.Parallel()
	image, err := name.NewDigest("registry.example/prod/app@sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	const kmsVersion = "//cloudkms.googleapis.com/v1/projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3"
	for _, tt := range []struct {
		name     string
		key      string
		opts     []SimpleSigningOption
		wantType string
		wantID   string // "" for the ni:/// id of the key
	}{
		{name: "ed25519 default", key: "ed25519", wantType: "Google cloud binauthz container signature"},
		{name: "ecdsa default", key: "ecdsa-p256", wantType: "Google cloud binauthz container signature"},
		{name: "ecdsa p384 gcloud", key: "ecdsa-p384", opts: []SimpleSigningOption{WithPayloadType(SimpleSigningTypeGcloud)}, wantType: "Google cloud binauthz container signature"},
		{name: "rsa atomic", key: "rsa", opts: []SimpleSigningOption{WithPayloadType(SimpleSigningTypeAtomic)}, wantType: "atomic container signature"},
		{name: "ecdsa atomic", key: "ecdsa-p256", opts: []SimpleSigningOption{WithPayloadType(SimpleSigningTypeAtomic)}, wantType: "atomic container signature"},
		{name: "ecdsa kms id", key: "ecdsa-p256", opts: []SimpleSigningOption{WithPublicKeyID(kmsVersion)}, wantType: "Google cloud binauthz container signature", wantID: kmsVersion},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testSigner(t, tt.key)
			ss, err := NewSimpleSigning(t.Context(), image, s, map[string]string{"verificationSummary": "sha256:00"}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := typeOf(t, ss.Payload, image); got != tt.wantType {
				t.Errorf("critical.type = %q, want %q", got, tt.wantType)
			}
			wantID := tt.wantID
			if wantID == "" {
				wantID = niOf(t, s.Public())
			}
			if ss.PublicKeyID != wantID {
				t.Errorf("PublicKeyID = %q, want %q", ss.PublicKeyID, wantID)
			}
			if kid, _ := s.KeyID(); ss.KeyID != kid {
				t.Errorf("KeyID = %q, want the in-toto key id %q", ss.KeyID, kid)
			}
			if err := s.Verifier().Verify(t.Context(), ss.Payload, ss.Signature); err != nil {
				t.Errorf("the signature does not verify over the payload: %v", err)
			}
		})
	}
}

func TestNewSimpleSigningInvalid(t *testing.T) {
	t.Parallel()
	image, _ := name.NewDigest("registry.example/prod/app@sha256:" + strings.Repeat("ab", 32))
	s := testSigner(t, "ed25519")
	for name, opt := range map[string]SimpleSigningOption{
		"unknown type":  WithPayloadType("container signature"),
		"empty type":    WithPayloadType(""),
		"empty key id":  WithPublicKeyID(""),
		"spaced key id": WithPublicKeyID("ni:///sha-256; x"),
	} {
		if _, err := NewSimpleSigning(t.Context(), image, s, nil, opt); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want invalid input", name, err)
		}
		// Image refuses it before it reads or copies anything (there
		// is no registry at 127.0.0.1:1).
		p, err := Image(t.Context(), &gate.Verifier{}, "127.0.0.1:1/a:b", "127.0.0.1:1/c", s, WithSimpleSigning(opt))
		if p != nil || !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("%s: Image = %v, %v; want invalid input", name, p, err)
		}
	}
}

// TestPKIXKeyID: the ni:/// id of each key kind, as computed here.
func TestPKIXKeyID(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"ed25519", "ecdsa-p256", "ecdsa-p384", "rsa"} {
		s := testSigner(t, kind)
		got, err := PKIXKeyID(s.Public())
		if err != nil || got != niOf(t, s.Public()) {
			t.Errorf("%s: PKIXKeyID = %q, %v; want %q", kind, got, err, niOf(t, s.Public()))
		}
	}
	if _, err := PKIXKeyID(struct{}{}); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("PKIXKeyID of no key: %v", err)
	}
}

// TestCloudKMSKeyID: a gcpkms:// key version URI becomes the key version's
// resource name as Binary Authorization names Cloud KMS keys.
func TestCloudKMSKeyID(t *testing.T) {
	t.Parallel()
	const want = "//cloudkms.googleapis.com/v1/projects/p/locations/europe-west1/keyRings/ci/cryptoKeys/release/cryptoKeyVersions/2"
	for _, tt := range []struct {
		uri  string
		want string // "" for an error
	}{
		{uri: "gcpkms://projects/p/locations/europe-west1/keyRings/ci/cryptoKeys/release/cryptoKeyVersions/2", want: want},
		{uri: "gcpkms://projects/p/locations/europe-west1/keyRings/ci/cryptoKeys/release/versions/2", want: want},
		{uri: "gcpkms://projects/p/locations/europe-west1/keyRings/ci/cryptoKeys/release"},
		{uri: "gcpkms://projects/p/locations/europe-west1/keyRings/ci/cryptoKeys/release/cryptoKeyVersions/"},
		{uri: "gcpkms://projects/p/locations/l/keyRings/ci/cryptoKeys/release/cryptoKeyVersions/2/x"},
		{uri: "awskms:///alias/release"},
		{uri: "release.key"},
	} {
		got, err := CloudKMSKeyID(tt.uri)
		switch {
		case tt.want == "" && !errors.Is(err, fault.ErrInvalidInput):
			t.Errorf("CloudKMSKeyID(%q) = %q, %v; want invalid input", tt.uri, got, err)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("CloudKMSKeyID(%q) = %q, %v; want %q", tt.uri, got, err, tt.want)
		}
	}
}

package promote

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-containerregistry/pkg/name"
)

// Types (critical.type) of the simple-signing payload of a Binary
// Authorization / Kritis attestation.
const (
	// SimpleSigningTypeGcloud is the type that `gcloud container binauthz
	// create-signature-payload` writes, and Binary Authorization's
	// documentation signs.
	SimpleSigningTypeGcloud = "Google cloud binauthz container signature"
	// SimpleSigningTypeAtomic is the type of the containers/image "atomic"
	// signature format that simple signing comes from, which Kritis
	// writes.
	SimpleSigningTypeAtomic = "atomic container signature"
	// SimpleSigningType is the type NewSimpleSigning and Image write by
	// default: SimpleSigningTypeGcloud.
	SimpleSigningType = SimpleSigningTypeGcloud
)

// SimpleSigning is a signed simple-signing payload (the containers/image
// signature format that Binary Authorization and Kritis attestations
// carry).
type SimpleSigning struct {
	// Payload is the JSON payload, exactly as signed.
	Payload []byte `json:"payload"`
	// Signature is the raw signature of Payload by the key KeyID.
	Signature []byte `json:"signature"`
	// KeyID is the signer's in-toto key id (what attestor names keys by).
	KeyID string `json:"keyId"`
	// PublicKeyID is the id that Binary Authorization and Kritis know the
	// key by: the publicKeyId of the signature in the ATTESTATION
	// occurrence (see WithPublicKeyID).
	PublicKeyID string `json:"publicKeyId"`
}

// SimpleSigningOption configures NewSimpleSigning.
type SimpleSigningOption func(*simpleSigningOptions) error

type simpleSigningOptions struct {
	typ         string
	publicKeyID string
}

// WithPayloadType sets critical.type of the payload: SimpleSigningTypeGcloud
// (the default, what gcloud writes) or SimpleSigningTypeAtomic (Kritis'
// atomic container signature). Other types are an error matching
// fault.ErrInvalidInput.
func WithPayloadType(typ string) SimpleSigningOption {
	return func(o *simpleSigningOptions) error {
		if typ != SimpleSigningTypeGcloud && typ != SimpleSigningTypeAtomic {
			return fault.Invalid(fmt.Errorf("promote: simple signing: type %q: want %q or %q", typ, SimpleSigningTypeGcloud, SimpleSigningTypeAtomic))
		}
		o.typ = typ
		return nil
	}
}

// WithPublicKeyID sets the public key id of the signature: the id of the
// key in the Binary Authorization attestor (or Kritis attestation
// authority) that is to verify it, an RFC 3986 URI. For a Cloud KMS key
// that is its key version's resource name (CloudKMSKeyID); for a PKIX key
// added with an id of the user's choosing, that id. The default is
// PKIXKeyID of the signer's public key: the id Binary Authorization gives
// a PKIX key by default. An empty id or one with spaces or control
// characters is an error matching fault.ErrInvalidInput.
func WithPublicKeyID(id string) SimpleSigningOption {
	return func(o *simpleSigningOptions) error {
		if id == "" || strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return fault.Invalid(fmt.Errorf("promote: simple signing: public key id %q: want a URI", id))
		}
		if _, err := url.Parse(id); err != nil {
			return fault.Invalid(fmt.Errorf("promote: simple signing: public key id %q: want a URI: %w", id, err))
		}
		o.publicKeyID = id
		return nil
	}
}

// PKIXKeyID returns the id that Binary Authorization gives a PKIX public
// key by default, and the Grafeas v1 common.proto names as an example:
// the RFC 6920 name of the SHA-256 of its SubjectPublicKeyInfo DER,
// ni:///sha-256;BASE64URL (no padding). A key that has no PKIX encoding
// is an error matching fault.ErrInvalidInput.
func PKIXKeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fault.Invalid(fmt.Errorf("promote: public key id: %w", err))
	}
	sum := sha256.Sum256(der)
	return "ni:///sha-256;" + base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// cloudKMSVersion matches a Cloud KMS key version URI as cosign and
// sigstore write it (cryptoKeyVersions, or its alias versions).
var cloudKMSVersion = regexp.MustCompile(`^gcpkms://(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+)/(?:cryptoKeyVersions|versions)/([^/]+)$`)

// CloudKMSKeyID returns the id that Binary Authorization knows a Cloud
// KMS key by, given its URI gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V:
// the key version's resource name
// //cloudkms.googleapis.com/v1/projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V.
// A URI without a version names no one key (KMS signs with the newest
// enabled version), so it is an error, as is any other URI; both match
// fault.ErrInvalidInput.
func CloudKMSKeyID(uri string) (string, error) {
	m := cloudKMSVersion.FindStringSubmatch(uri)
	if m == nil {
		return "", fault.Invalid(fmt.Errorf("promote: %q is not a Cloud KMS key version (gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V)", uri))
	}
	return "//cloudkms.googleapis.com/v1/" + m[1] + "/cryptoKeyVersions/" + m[2], nil
}

// simpleSigningPayload is the JSON of a simple-signing payload.
type simpleSigningPayload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]string `json:"optional,omitempty"`
}

// NewSimpleSigning signs the simple-signing payload of image (by digest)
// with signer: critical.identity.docker-reference is the repository,
// critical.image.docker-manifest-digest the digest, critical.type
// SimpleSigningTypeGcloud unless WithPayloadType says otherwise; optional
// (Image: the verification summary's digest) is the optional section.
// The signature is over the payload's bytes, as the Grafeas attestation
// protos define it; its PublicKeyID is PKIXKeyID of the signer's key
// unless WithPublicKeyID says otherwise.
func NewSimpleSigning(ctx context.Context, image name.Digest, signer envelope.Signer, optional map[string]string, opts ...SimpleSigningOption) (*SimpleSigning, error) {
	if signer == nil {
		return nil, fault.Invalid(errors.New("promote: simple signing: no key"))
	}
	o := simpleSigningOptions{typ: SimpleSigningType}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.publicKeyID == "" {
		id, err := PKIXKeyID(signer.Public())
		if err != nil {
			return nil, err
		}
		o.publicKeyID = id
	}
	var p simpleSigningPayload
	p.Critical.Identity.DockerReference = image.Context().Name()
	p.Critical.Image.DockerManifestDigest = image.DigestStr()
	p.Critical.Type = o.typ
	p.Optional = optional
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding simple-signing payload: %w", err)
	}
	sig, err := signer.Sign(ctx, payload)
	if err != nil {
		return nil, fmt.Errorf("signing simple-signing payload: %w", err)
	}
	keyID, err := signer.KeyID()
	if err != nil {
		return nil, fmt.Errorf("signing simple-signing payload: %w", err)
	}
	return &SimpleSigning{Payload: payload, Signature: sig, KeyID: keyID, PublicKeyID: o.publicKeyID}, nil
}

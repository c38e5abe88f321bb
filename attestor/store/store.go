package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// MaxEnvelopeSize bounds one attestation: larger envelopes are refused on
// put and ignored (reported) on get, so a hostile source cannot make the
// tool read without bound.
const MaxEnvelopeSize = 4 << 20

// MaxWorkspaceTotal bounds the bytes of all the envelopes and bundles read
// from one workspace (whose files anything running in the build could have
// planted). A step record of 100,000 materials and 100,000 products is
// about 33 MB, so a pipeline of ten such steps, its provenance and its
// bundles fit; readers hold a few times what they read.
const MaxWorkspaceTotal = 512 << 20

// MaxWorkspaceFiles bounds the envelopes read from one workspace: a
// pipeline writes one per step and signer, and a few attestations.
const MaxWorkspaceFiles = 4096

// Subject is what attestations are about: an image (its repository and
// manifest digest) or a file (its path and content digest).
type Subject struct {
	// Name is the image repository ("registry.example/team/app", no tag
	// or digest) or the file's path.
	Name string
	// Digest is the image's manifest digest or the file's sha256.
	Digest v1.Hash
}

// ImageSubject returns the subject of an image named by digest.
func ImageSubject(d name.Digest) (Subject, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return Subject{}, fault.Invalid(fmt.Errorf("image %q: %w", d.String(), err))
	}
	return Subject{Name: d.Context().Name(), Digest: h}, nil
}

// String returns name@digest.
func (s Subject) String() string { return s.Name + "@" + s.Digest.String() }

// ResourceURI returns the URI of an image subject as a resource:
// https://NAME@DIGEST, the form Grafeas puts occurrences on and the
// verification summary names an image by.
func ResourceURI(s Subject) string { return "https://" + s.Name + "@" + s.Digest.String() }

// Attestation is one signed attestation as stored: the exact bytes of its
// DSSE envelope (what is verified) and, optionally, a sigstore bundle that
// carries the same envelope with its verification material.
type Attestation struct {
	// Envelope is the DSSE envelope's JSON, byte for byte as signed and
	// stored.
	Envelope []byte
	// PredicateType is the statement's predicate type: an index, never
	// trusted (the gate reads it again from the verified payload).
	PredicateType string
	// Bundle is a sigstore bundle (application/vnd.dev.sigstore.bundle.v0.3+json)
	// for the same envelope, when one exists.
	Bundle []byte
}

// Digest identifies an attestation for deduplication: the hex sha256 of
// its envelope's payload type, payload and signatures (so re-encoding the
// same signed envelope does not make a copy, and any change does).
func (a Attestation) Digest() (string, error) {
	env, err := envelope.Parse(a.Envelope)
	if err != nil {
		return "", err
	}
	return EnvelopeDigest(env), nil
}

// EnvelopeDigest returns the hex sha256 of an envelope's payload type,
// payload and signatures in a canonical encoding.
func EnvelopeDigest(env *dsse.Envelope) string {
	canonical, _ := json.Marshal(struct {
		PayloadType string           `json:"payloadType"`
		Payload     string           `json:"payload"`
		Signatures  []dsse.Signature `json:"signatures"`
	}{env.PayloadType, env.Payload, env.Signatures})
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// Store puts and gets the attestations of a subject.
//
// Put is idempotent: putting an attestation that the store already holds
// for the subject (same Digest) leaves one copy, and concurrent Puts to the
// same subject lose none of either's attestations. A Put that fails midway
// leaves the attestations stored before it intact. Get returns every
// attestation held for the subject exactly once, deduplicated by Digest, and
// none of another subject's.
type Store interface {
	Put(ctx context.Context, subject Subject, atts ...Attestation) error
	Get(ctx context.Context, subject Subject) ([]Attestation, error)
}

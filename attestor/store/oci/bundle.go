package oci

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestor/attestor/attestor/store"
)

// MediaTypeBundle is the media type of a sigstore bundle v0.3, the
// artifactType and layer media type of a referrer this package writes.
const MediaTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"

// NewBundle returns a sigstore bundle v0.3 (protobuf-specs
// dev.sigstore.bundle.v1.Bundle, in its JSON form) for a key-signed DSSE
// envelope with one signature: the envelope as content and hint as the
// public key identifier, the verification material of a key-signed
// bundle. An empty hint uses the signature's keyid. The signature's keyid
// is left out of the bundle, as cosign leaves it out: sigstore-go skips a
// signature whose keyid is not the key's SSH fingerprint. The bundle has no
// transparency log entry or timestamp: verifiers must be told to accept
// that (cosign --insecure-ignore-tlog). Keyless bundles are not made here.
func NewBundle(raw []byte, hint string) ([]byte, error) {
	env, err := envelope.Parse(raw)
	if err != nil {
		return nil, err
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		if payload, err = base64.URLEncoding.DecodeString(env.Payload); err != nil {
			return nil, fault.Invalid(fmt.Errorf("DSSE payload is not base64: %w", err))
		}
	}
	if len(env.Signatures) != 1 {
		return nil, fault.Invalid(fmt.Errorf("a sigstore bundle carries a DSSE envelope with one signature, not %d", len(env.Signatures)))
	}
	pe := &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType}
	for i, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			if sig, err = base64.URLEncoding.DecodeString(s.Sig); err != nil {
				return nil, fault.Invalid(fmt.Errorf("DSSE signature %d is not base64: %w", i, err))
			}
		}
		pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: sig})
	}
	if hint == "" {
		hint = env.Signatures[0].KeyID
	}
	b := &protobundle.Bundle{
		MediaType: MediaTypeBundle,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{
				PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint},
			},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe},
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	if len(out) > store.MaxBundleSize {
		return nil, fmt.Errorf("bundle of %d bytes: %w", len(out), store.ErrTooLarge)
	}
	return out, nil
}

// envelopeFromBundle returns the bundle's envelope and its public key
// hint. keyID, when not empty, is given to a signature without one.
func envelopeFromBundle(bundle []byte, keyID string) ([]byte, string, error) {
	b := &protobundle.Bundle{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(bundle, b); err != nil {
		return nil, "", fault.Invalid(fmt.Errorf("decoding sigstore bundle: %w", err))
	}
	pe := b.GetDsseEnvelope()
	if pe == nil {
		return nil, "", fault.Invalid(errors.New("sigstore bundle has no DSSE envelope"))
	}
	hint := b.GetVerificationMaterial().GetPublicKey().GetHint()
	env := dsse.Envelope{
		PayloadType: pe.GetPayloadType(),
		Payload:     base64.StdEncoding.EncodeToString(pe.GetPayload()),
	}
	for _, s := range pe.GetSignatures() {
		id := s.GetKeyid()
		if id == "" {
			id = keyID
		}
		env.Signatures = append(env.Signatures, dsse.Signature{KeyID: id, Sig: base64.StdEncoding.EncodeToString(s.GetSig())})
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, "", err
	}
	return out, hint, nil
}

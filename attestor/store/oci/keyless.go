package oci

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
)

// The annotations of a keyless attestation layer, as cosign attest writes
// them with a Fulcio certificate (pkg/oci/static) and cosign
// verify-attestation reads them (pkg/oci/signature).
const (
	// AnnotationCertificate holds the signing certificate, PEM.
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	// AnnotationChain holds the certificate's issuers, PEM, from its
	// parent to the root; empty when they are not known.
	AnnotationChain = "dev.sigstore.cosign/chain"
	// AnnotationRekorBundle holds the Rekor entry of the signature with
	// its signed entry timestamp: cosign's RekorBundle, JSON
	// {"SignedEntryTimestamp": base64, "Payload": {"body": base64,
	// "integratedTime", "logIndex", "logID": hex}}.
	AnnotationRekorBundle = "dev.sigstore.cosign/bundle"
)

// mediaTypeBundleV01 is the media type of the sigstore bundles made from
// a layer's annotations: v0.1, the version whose log entries may carry an
// inclusion promise (the signed entry timestamp) without an inclusion
// proof, which the annotations do not hold.
const mediaTypeBundleV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"

// rekorBundle is cosign's RekorBundle (pkg/cosign/bundle), the JSON of
// AnnotationRekorBundle. The signed entry timestamp signs the canonical
// JSON of Payload, as Rekor made it.
type rekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              rekorPayload
}

type rekorPayload struct {
	Body           string `json:"body"`
	IntegratedTime int64  `json:"integratedTime"`
	LogIndex       int64  `json:"logIndex"`
	LogID          string `json:"logID"`
}

// rekorEnvelope is a DSSE envelope as sigstore-go sends it to Rekor (the
// protobuf-specs envelope encoded with encoding/json): the bytes a dsse
// entry's envelopeHash is the sha256 of.
type rekorEnvelope struct {
	Payload     []byte           `json:"payload,omitempty"`
	PayloadType string           `json:"payloadType,omitempty"`
	Signatures  []rekorSignature `json:"signatures,omitempty"`
}

type rekorSignature struct {
	Sig   []byte `json:"sig,omitempty"`
	KeyID string `json:"keyid,omitempty"`
}

// keyless is the .att layer of a keyless attestation (see keylessLayer).
type keyless struct {
	// layer is the envelope as the attestation's Rekor entry hashed it.
	layer []byte
	// ann are the layer's annotations.
	ann map[string]string
	// warn says what could not be written, if anything.
	warn string
}

// keylessLayer returns the .att layer of a keyless attestation (one whose
// sigstore bundle holds a certificate) as cosign attest writes it: the
// envelope exactly as the bundle's Rekor entry hashed it (cosign checks
// the layer's sha256 against the entry), annotated with the certificate,
// its chain (from trusted's Fulcio authorities; empty without trusted),
// the Rekor entry and, for Get, the digest of the envelope put. It
// returns nil for an attestation that is not keyless, whose layer is its
// envelope. A bundle that does not parse, or carries another envelope, is
// an error matching fault.ErrInvalidInput. A bundle without a Rekor
// entry, or whose entry hashes neither encoding of the envelope, gets no
// AnnotationRekorBundle, and warn says so.
func keylessLayer(it item, trusted root.TrustedMaterial) (*keyless, error) {
	if it.att.Bundle == nil {
		return nil, nil
	}
	b := &protobundle.Bundle{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(it.att.Bundle, b); err != nil {
		return nil, fault.Invalid(fmt.Errorf("decoding its sigstore bundle: %w", err))
	}
	der := bundleCertificate(b)
	if der == nil {
		return nil, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("its sigstore bundle's certificate: %w", err))
	}
	pe := b.GetDsseEnvelope()
	if err := sameEnvelope(it.att.Envelope, pe); err != nil {
		return nil, err
	}
	k := &keyless{
		layer: it.att.Envelope,
		ann: map[string]string{
			AnnotationSignature:      "",
			AnnotationPredicateType:  it.att.PredicateType,
			AnnotationCertificate:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			AnnotationChain:          "",
			AnnotationEnvelopeDigest: it.digest,
		},
	}
	tle := rekorEntry(b)
	if tle == nil {
		k.warn = "its sigstore bundle has no Rekor entry with a signed entry timestamp: the layer carries no Rekor bundle"
	} else {
		rb, err := json.Marshal(rekorBundle{
			SignedEntryTimestamp: tle.GetInclusionPromise().GetSignedEntryTimestamp(),
			Payload: rekorPayload{
				Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
				IntegratedTime: tle.GetIntegratedTime(),
				LogIndex:       tle.GetLogIndex(),
				LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
			},
		})
		if err != nil {
			return nil, err
		}
		if l, found := hashedEnvelope(tle.GetCanonicalizedBody(), it.att.Envelope, pe); found {
			k.layer = l
			k.ann[AnnotationRekorBundle] = string(rb)
		} else {
			k.warn = "its Rekor entry hashes another encoding of the envelope: the layer carries no Rekor bundle"
		}
	}
	if trusted != nil {
		observed := cert.NotBefore
		if tle != nil {
			observed = time.Unix(tle.GetIntegratedTime(), 0)
		}
		k.ann[AnnotationChain] = certificateChain(cert, trusted, observed)
	}
	return k, nil
}

// bundleCertificate returns the DER of a bundle's signing certificate;
// nil for a bundle with a public key.
func bundleCertificate(b *protobundle.Bundle) []byte {
	vm := b.GetVerificationMaterial()
	if c := vm.GetCertificate().GetRawBytes(); c != nil {
		return c
	}
	if certs := vm.GetX509CertificateChain().GetCertificates(); len(certs) > 0 {
		return certs[0].GetRawBytes()
	}
	return nil
}

// sameEnvelope checks that the bundle's envelope pe is the one put: the
// same payload type, payload and signatures (keyids aside).
func sameEnvelope(raw []byte, pe *protodsse.Envelope) error {
	if pe == nil {
		return fault.Invalid(errors.New("its sigstore bundle has no DSSE envelope"))
	}
	env, err := envelope.Parse(raw)
	if err != nil {
		return err
	}
	payload, err := env.DecodeB64Payload()
	same := err == nil && env.PayloadType == pe.GetPayloadType() && bytes.Equal(payload, pe.GetPayload()) &&
		len(env.Signatures) == len(pe.GetSignatures())
	for i := 0; same && i < len(env.Signatures); i++ {
		sig, err := decodeBase64(env.Signatures[i].Sig)
		same = err == nil && bytes.Equal(sig, pe.GetSignatures()[i].GetSig())
	}
	if !same {
		return fault.Invalid(errors.New("its sigstore bundle carries another envelope"))
	}
	return nil
}

// rekorEntry returns the bundle's first Rekor v1 entry with a signed
// entry timestamp: the one cosign's RekorBundle can carry.
func rekorEntry(b *protobundle.Bundle) *protorekor.TransparencyLogEntry {
	for _, e := range b.GetVerificationMaterial().GetTlogEntries() {
		if len(e.GetInclusionPromise().GetSignedEntryTimestamp()) > 0 && len(e.GetCanonicalizedBody()) > 0 && len(e.GetLogId().GetKeyId()) > 0 {
			return e
		}
	}
	return nil
}

// hashedEnvelope returns the encoding of the envelope that the Rekor
// entry body hashes (a dsse entry's envelopeHash, an intoto entry's
// content hash): the envelope as put, or as sigstore-go sent it to Rekor.
func hashedEnvelope(body, envelope []byte, pe *protodsse.Envelope) ([]byte, bool) {
	var entry struct {
		Spec struct {
			EnvelopeHash struct{ Value string } `json:"envelopeHash"`
			Content      struct {
				Hash struct{ Value string } `json:"hash"`
			} `json:"content"`
		} `json:"spec"`
	}
	if json.Unmarshal(body, &entry) != nil {
		return nil, false
	}
	want := entry.Spec.EnvelopeHash.Value
	if want == "" {
		want = entry.Spec.Content.Hash.Value
	}
	re := rekorEnvelope{Payload: pe.GetPayload(), PayloadType: pe.GetPayloadType()}
	for _, s := range pe.GetSignatures() {
		re.Signatures = append(re.Signatures, rekorSignature{Sig: s.GetSig(), KeyID: s.GetKeyid()})
	}
	sent, err := json.Marshal(re)
	if err != nil {
		return nil, false
	}
	for _, c := range [][]byte{envelope, sent} {
		if sum := sha256.Sum256(c); want != "" && hex.EncodeToString(sum[:]) == want {
			return c, true
		}
	}
	return nil, false
}

// certificateChain returns, PEM, the issuers of cert from its parent to
// the root, by the first Fulcio authority of trusted that issued it at
// observed; "" when none did.
func certificateChain(cert *x509.Certificate, trusted root.TrustedMaterial, observed time.Time) string {
	for _, ca := range trusted.FulcioCertificateAuthorities() {
		chains, err := ca.Verify(cert, observed)
		if err != nil || len(chains) == 0 || len(chains[0]) < 2 {
			continue
		}
		var out []byte
		for _, c := range chains[0][1:] {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		return string(out)
	}
	return ""
}

// keylessAttestation returns the attestation of a .att layer made by
// keylessLayer, or by cosign attest with a certificate: a with a sigstore
// bundle (v0.1) made from the layer's certificate and Rekor bundle
// annotations, for verifiers such as the gate, which verify it as any
// bundle (the chain annotation is not used: the verifier's trusted root
// is). When the layer is annotated with the digest of the envelope put
// and the envelope has lost its keyid, the keyid of the certificate's key
// is put back if that gives the envelope put. A layer without these
// annotations, or with ones that do not parse, returns a as it is, and
// derived false.
func keylessAttestation(a store.Attestation, ann map[string]string) (out store.Attestation, derived bool, err error) {
	certPEM, rb := ann[AnnotationCertificate], ann[AnnotationRekorBundle]
	if certPEM == "" {
		return a, false, nil
	}
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return a, false, errors.New("certificate annotation is not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return a, false, fmt.Errorf("certificate annotation: %w", err)
	}
	if want := ann[AnnotationEnvelopeDigest]; want != "" {
		a = withKeyID(a, cert, want)
	}
	if rb == "" {
		return a, false, nil
	}
	var r rekorBundle
	if err := json.Unmarshal([]byte(rb), &r); err != nil {
		return a, false, fmt.Errorf("bundle annotation: %w", err)
	}
	body, err := base64.StdEncoding.DecodeString(r.Payload.Body)
	if err != nil {
		return a, false, fmt.Errorf("bundle annotation: body: %w", err)
	}
	logID, err := hex.DecodeString(r.Payload.LogID)
	if err != nil || len(logID) == 0 {
		return a, false, errors.New("bundle annotation: logID is not hex")
	}
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kv); err != nil || kv.Kind == "" || kv.APIVersion == "" {
		return a, false, errors.New("bundle annotation: body is not a Rekor entry")
	}
	env, err := envelope.Parse(a.Envelope)
	if err != nil {
		return a, false, err
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return a, false, err
	}
	pe := &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType}
	for _, s := range env.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil {
			return a, false, errors.New("DSSE signature is not base64")
		}
		pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: sig})
	}
	b := &protobundle.Bundle{
		MediaType: mediaTypeBundleV01,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{
				Certificates: []*protocommon.X509Certificate{{RawBytes: cert.Raw}},
			}},
			TlogEntries: []*protorekor.TransparencyLogEntry{{
				LogIndex:          r.Payload.LogIndex,
				LogId:             &protocommon.LogId{KeyId: logID},
				KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
				IntegratedTime:    r.Payload.IntegratedTime,
				InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: r.SignedEntryTimestamp},
				CanonicalizedBody: body,
			}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe},
	}
	raw, err := protojson.Marshal(b)
	if err != nil {
		return a, false, err
	}
	if len(raw) > store.MaxBundleSize {
		return a, false, fmt.Errorf("bundle of %d bytes: %w", len(raw), store.ErrTooLarge)
	}
	a.Bundle = raw
	return a, true, nil
}

// withKeyID returns a with the keyid of cert's key given to its
// signatures that have none, when that makes the envelope whose digest
// (store.Attestation.Digest) is want; a as it is otherwise. The keyid is
// a hint no signature covers: verifiers find the key without it.
func withKeyID(a store.Attestation, cert *x509.Certificate, want string) store.Attestation {
	if dg, err := a.Digest(); err != nil || dg == want {
		return a
	}
	id, err := sign.KeyID(cert.PublicKey)
	if err != nil {
		return a
	}
	env, err := envelope.Parse(a.Envelope)
	if err != nil {
		return a
	}
	for i := range env.Signatures {
		if env.Signatures[i].KeyID == "" {
			env.Signatures[i].KeyID = id
		}
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return a
	}
	b, err := store.NewAttestation(raw, a.Bundle)
	if err != nil {
		return a
	}
	if dg, _ := b.Digest(); dg != want {
		return a
	}
	return b
}

// decodeBase64 decodes a DSSE field: standard base64, or URL-safe (the
// DSSE specification allows both).
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return base64.URLEncoding.DecodeString(s)
	}
	return b, nil
}

package sign

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// MaxSignatures is the most signatures VerifyEnvelope accepts in one
// envelope. It bounds the work an envelope can ask for: at most
// MaxSignatures × len(verifiers) signature checks.
const MaxSignatures = 16

// VerifyEnvelope verifies env with verifiers and returns its decoded payload
// and the key ids of the verifiers that verified a signature (each once, in
// the order found). It succeeds when at least one signature verifies with
// one of the verifiers; thresholds and which keys are trusted for what are
// the caller's business.
//
// A signature's keyid is a hint only: the signature is checked with every
// verifier whose key id equals it or, when it is empty or matches none of
// them, with every verifier. Verifiers without a key id are always tried.
// The payload and signatures may be in standard or URL-safe base64, padded
// and canonical.
//
// An envelope that is nil, has no signatures or more than MaxSignatures, an
// empty payloadType, or a payload or signature that is not base64 returns
// an error matching ErrMalformedEnvelope; one whose signatures all fail, an
// error matching ErrNoValidSignature (which ErrMalformedEnvelope also
// matches). No verifiers, or a nil one, is a usage error matching both
// ErrNoValidSignature and fault.ErrInvalidInput. The payload is nil
// whenever err is not.
func VerifyEnvelope(ctx context.Context, env *dsse.Envelope, verifiers ...dsse.Verifier) (payload []byte, accepted []string, err error) {
	if len(verifiers) == 0 {
		return nil, nil, fault.Invalid(fmt.Errorf("verifying envelope: no verifiers: %w", ErrNoValidSignature))
	}
	ids := make([]string, len(verifiers))
	for i, v := range verifiers {
		if sv, ok := v.(*Verifier); v == nil || (ok && sv == nil) {
			return nil, nil, fault.Invalid(fmt.Errorf("verifying envelope: verifier %d is nil: %w", i, ErrNoValidSignature))
		}
		if id, err := v.KeyID(); err == nil {
			ids[i] = id
		}
	}
	switch {
	case env == nil:
		return nil, nil, fmt.Errorf("verifying envelope: %w: no envelope", ErrMalformedEnvelope)
	case env.PayloadType == "":
		return nil, nil, fmt.Errorf("verifying envelope: %w: empty payloadType", ErrMalformedEnvelope)
	case len(env.Signatures) == 0:
		return nil, nil, fmt.Errorf("verifying envelope: %w: no signatures", ErrMalformedEnvelope)
	case len(env.Signatures) > MaxSignatures:
		return nil, nil, fmt.Errorf("verifying envelope: %w: %d signatures (at most %d)", ErrMalformedEnvelope, len(env.Signatures), MaxSignatures)
	}
	body, err := decodeBase64(env.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("verifying envelope: %w: payload is not base64", ErrMalformedEnvelope)
	}
	sigs := make([][]byte, len(env.Signatures))
	for i, s := range env.Signatures {
		if sigs[i], err = decodeBase64(s.Sig); err != nil || len(sigs[i]) == 0 {
			return nil, nil, fmt.Errorf("verifying envelope: %w: signature %d is not base64", ErrMalformedEnvelope, i)
		}
	}

	pae := dsse.PAE(env.PayloadType, body)
	done := make([]bool, len(verifiers)) // verifiers that already verified a signature
	for i, s := range env.Signatures {
		known := false
		if s.KeyID != "" {
			for _, id := range ids {
				known = known || id == s.KeyID
			}
		}
		for j, v := range verifiers {
			if done[j] || (known && ids[j] != "" && ids[j] != s.KeyID) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			if v.Verify(ctx, pae, sigs[i]) != nil {
				continue
			}
			done[j] = true
			id := ids[j]
			if id == "" {
				id, _ = KeyID(v.Public())
			}
			if !slices.Contains(accepted, id) {
				accepted = append(accepted, id)
			}
			break
		}
	}
	if len(accepted) == 0 {
		return nil, nil, fmt.Errorf("verifying envelope: %w: none of %d signature(s) verifies with the %d key(s) given", ErrNoValidSignature, len(env.Signatures), len(verifiers))
	}
	return body, accepted, nil
}

// decodeBase64 decodes standard or URL-safe padded base64, rejecting
// non-canonical encodings, as DSSE allows both alphabets.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err == nil {
		return b, nil
	}
	return base64.URLEncoding.Strict().DecodeString(s)
}

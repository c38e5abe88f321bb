package envelope

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestor/attestor/attestor/fault"
)

// PayloadTypeInToto is the DSSE payload type of an in-toto statement.
const PayloadTypeInToto = "application/vnd.in-toto+json"

// PredicateTypeLink is the predicate type of a step record: the in-toto link
// predicate of the attestation framework.
const PredicateTypeLink = "https://in-toto.io/attestation/link/v0.3"

// SignStatement signs st into a DSSE envelope and returns it with its JSON
// encoding (what is written to files and pushed).
func SignStatement(ctx context.Context, signer Signer, st *ita1.Statement) (*dsse.Envelope, []byte, error) {
	payload, err := MarshalStatement(st)
	if err != nil {
		return nil, nil, err
	}
	env, err := Sign(ctx, signer, PayloadTypeInToto, payload)
	if err != nil {
		return nil, nil, err
	}
	data, err := json.Marshal(env)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding envelope: %w", err)
	}
	return env, data, nil
}

// Sign signs payload as a DSSE envelope of type payloadType with s:
// the signature is over the DSSE pre-authentication encoding, the payload
// and the signature are in standard base64, and the signature's keyid is
// s.KeyID(). An empty payloadType, or a nil s, returns an error matching
// fault.ErrInvalidInput.
func Sign(ctx context.Context, s Signer, payloadType string, payload []byte) (*dsse.Envelope, error) {
	if s == nil {
		return nil, fault.Invalidf("signing envelope: no signer")
	}
	if payloadType == "" {
		return nil, fault.Invalidf("signing envelope: empty payload type")
	}
	keyID, err := s.KeyID()
	if err != nil {
		return nil, fmt.Errorf("signing envelope: key id: %w", err)
	}
	sig, err := s.Sign(ctx, dsse.PAE(payloadType, payload))
	if err != nil {
		return nil, fmt.Errorf("signing envelope: %w", err)
	}
	return &dsse.Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []dsse.Signature{{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}

// Parse decodes a DSSE envelope and checks its shape (payload type,
// base64 payload, at least one signature). It does not verify signatures.
func Parse(data []byte) (*dsse.Envelope, error) {
	env := &dsse.Envelope{}
	if err := json.Unmarshal(data, env); err != nil {
		return nil, fault.Invalidf("decoding DSSE envelope: %v", err)
	}
	if env.PayloadType == "" {
		return nil, fault.Invalidf("DSSE envelope has no payloadType")
	}
	if _, err := env.DecodeB64Payload(); err != nil {
		return nil, fault.Invalidf("DSSE envelope payload is not base64: %v", err)
	}
	if len(env.Signatures) == 0 {
		return nil, fault.Invalidf("DSSE envelope has no signatures")
	}
	return env, nil
}

// MarshalStatement encodes a statement as compact JSON with a stable field
// order (protojson's output, with its deliberately unstable whitespace
// removed), so the same statement always gives the same signed bytes.
func MarshalStatement(st *ita1.Statement) ([]byte, error) {
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	return buf.Bytes(), nil
}

// ParseStatement decodes an in-toto Statement and validates it.
func ParseStatement(data []byte) (*ita1.Statement, error) {
	st := &ita1.Statement{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, st); err != nil {
		return nil, fault.Invalidf("decoding statement: %v", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fault.Invalidf("invalid statement: %v", err)
	}
	return st, nil
}

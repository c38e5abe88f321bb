package gate

import (
	"context"
	"errors"
	"fmt"

	vsa1 "github.com/in-toto/attestation/go/predicates/vsa/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/attestor/attestor/attestor"
)

// PredicateTypeVSA is the predicate type of a verification summary.
const PredicateTypeVSA = "https://slsa.dev/verification_summary/v1"

// DefaultVerifierID is the verifier.id of the summaries the gate writes.
const DefaultVerifierID = "https://github.com/attestor/attestor/gate"

// SLSA build level the gate vouches for when a provenance was required
// and accepted (signed provenance from an allowed builder).
const levelBuild1 = "SLSA_BUILD_LEVEL_1"

// Summary returns the result as an SLSA verification summary (VSA v1)
// statement about the subject: the verifier (verifierID, DefaultVerifierID
// if empty), the time, the policy (its file and sha256), the attestations
// that were verified and used, and the verdict.
func (r *Result) Summary(verifierID string) (*ita1.Statement, error) {
	if r == nil {
		return nil, attestor.Invalid(errors.New("gate: no result"))
	}
	if verifierID == "" {
		verifierID = DefaultVerifierID
	}
	alg, hex, ok := cutDigest(r.Subject.Digest)
	if !ok {
		return nil, attestor.Invalid(fmt.Errorf("gate: subject digest %q", r.Subject.Digest))
	}
	v := &vsa1.VerificationSummary{
		Verifier:           &vsa1.VerificationSummary_Verifier{Id: verifierID},
		TimeVerified:       timestamppb.New(r.VerifiedAt),
		ResourceUri:        r.Subject.Name + "@" + r.Subject.Digest,
		Policy:             &vsa1.VerificationSummary_Policy{Uri: r.Policy.Source},
		VerificationResult: r.Verdict,
		VerifiedLevels:     []string{},
	}
	if r.Policy.Digest != "" {
		v.Policy.Digest = map[string]string{"sha256": r.Policy.Digest}
	}
	if v.Policy.Uri == "" {
		v.Policy.Uri = "policy"
	}
	for _, e := range r.Envelopes {
		if e.Status == StatusVerified && e.PredicateType != PredicateTypeVSA {
			v.InputAttestations = append(v.InputAttestations, &vsa1.VerificationSummary_InputAttestation{
				Uri:    "sha256:" + e.Digest,
				Digest: map[string]string{"sha256": e.Digest},
			})
		}
	}
	if r.Verified && r.Provenance != nil && r.Provenance.Verdict == Passed {
		v.VerifiedLevels = append(v.VerifiedLevels, levelBuild1)
	}
	data, err := protojson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding verification summary: %w", err)
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(data, pred); err != nil {
		return nil, fmt.Errorf("encoding verification summary: %w", err)
	}
	st := &ita1.Statement{
		Type:          ita1.StatementTypeUri,
		Subject:       []*ita1.ResourceDescriptor{{Name: r.Subject.Name, Digest: map[string]string{alg: hex}}},
		PredicateType: PredicateTypeVSA,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("verification summary: %w", err)
	}
	return st, nil
}

// SignSummary signs the result's summary (see Summary) with signer and
// returns the envelope's JSON and the workspace file name it goes under:
// attestor.AttestationName("vsa", keyID).
func SignSummary(ctx context.Context, r *Result, signer attestor.Signer, verifierID string) (envelope []byte, name string, err error) {
	if signer == nil {
		return nil, "", attestor.Invalid(errors.New("gate: signing the verification summary: no key"))
	}
	st, err := r.Summary(verifierID)
	if err != nil {
		return nil, "", err
	}
	_, data, err := attestor.SignStatement(ctx, signer, st)
	if err != nil {
		return nil, "", err
	}
	keyID, err := signer.KeyID()
	if err != nil {
		return nil, "", fmt.Errorf("signing the verification summary: %w", err)
	}
	return data, attestor.AttestationName("vsa", keyID), nil
}

func cutDigest(s string) (alg, hex string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], i > 0 && i+1 < len(s)
		}
	}
	return "", "", false
}

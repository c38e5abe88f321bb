package gate

import (
	"errors"

	"github.com/attestor/attestor/attestor/fault"
)

// Sentinel errors. Callers branch on them with errors.Is. Every reason a
// verification fails matches ErrVerification (the CLI exits 1) and one of
// the more precise sentinels below; a bad policy matches ErrPolicy and
// fault.ErrInvalidInput (the CLI exits 2).
var (
	// ErrPolicy marks a policy that cannot be used: it does not parse, has
	// an unknown or duplicate field, no steps, a threshold below 1, a
	// functionary that is not declared, a key that does not load. It
	// wraps fault.ErrInvalidInput.
	ErrPolicy = fault.New("invalid policy", fault.ErrInvalidInput)

	// ErrVerification is the umbrella of every verification failure.
	ErrVerification = errors.New("verification failed")

	// ErrNoAttestations: no attestation at all was found for the subject.
	ErrNoAttestations = fault.New("no attestations", ErrVerification)

	// ErrMissingStep: a step of the policy has no step record at all.
	ErrMissingStep = fault.New("missing step", ErrVerification)

	// ErrThreshold: a step has records, but fewer than its threshold of
	// distinct trusted signers agree on its materials and products.
	// Signers are counted by distinct signing key (a certificate's key
	// for keyless signatures), each for one functionary: never by
	// functionary or signature.
	ErrThreshold = fault.New("threshold not met", ErrVerification)

	// ErrUntrustedSigner: an attestation the policy needs (a step record,
	// the provenance, a required attestation) is signed by a key that is
	// not among the functionaries allowed for it, or by no known key.
	ErrUntrustedSigner = fault.New("untrusted signer", ErrVerification)

	// ErrSignature: an envelope is malformed, or carries a signature that
	// claims a trusted key but does not verify (a tampered envelope).
	ErrSignature = fault.New("invalid signature", ErrVerification)

	// ErrArtifactRule: an artifact rule (MATCH, ALLOW, DISALLOW, CREATE,
	// DELETE, MODIFY, REQUIRE) of a step rejects its materials or
	// products: an artifact altered between two steps, one not allowed.
	ErrArtifactRule = fault.New("artifact rule failed", ErrVerification)

	// ErrCommand: a step record's command is not the expected command.
	ErrCommand = fault.New("unexpected command", ErrVerification)

	// ErrSubjectMismatch: a statement is about another artifact (a
	// replayed attestation), or the final step's products do not include
	// the subject.
	ErrSubjectMismatch = fault.New("subject mismatch", ErrVerification)

	// ErrPolicyExpired: the policy's expiry has passed.
	ErrPolicyExpired = fault.New("policy expired", ErrVerification)

	// ErrProvenance: no provenance satisfies the policy: none signed by a
	// provenance functionary, or its builder, build type, source repo,
	// ref or age is not allowed, or it lists step records that were not
	// found or do not verify.
	ErrProvenance = fault.New("provenance not accepted", ErrVerification)

	// ErrMissingAttestation: a required attestation (by predicate type and
	// signer) was not found.
	ErrMissingAttestation = fault.New("missing attestation", ErrVerification)

	// ErrKeyless: a keyless functionary cannot be checked because no
	// trusted root was given (WithTrustedMaterial). It is a failure,
	// never a pass.
	ErrKeyless = fault.New("keyless functionaries need a trusted root", ErrVerification)

	// ErrLayout: a classic in-toto layout is invalid or its verification
	// failed. A layout that cannot be read or is malformed also matches
	// fault.ErrInvalidInput.
	ErrLayout = fault.New("in-toto layout verification failed", ErrVerification)

	// ErrNotVerified is returned by what acts on a verdict (promote.Image)
	// when the source image did not pass verification: nothing was copied
	// or written.
	ErrNotVerified = fault.New("not promoted: verification failed", ErrVerification)
)

// codes name the sentinels in results (Reason.Code).
var codes = []struct {
	err  error
	code string
}{
	{ErrNoAttestations, "no-attestations"},
	{ErrMissingStep, "missing-step"},
	{ErrThreshold, "threshold"},
	{ErrUntrustedSigner, "untrusted-signer"},
	{ErrSignature, "signature"},
	{ErrArtifactRule, "artifact-rule"},
	{ErrCommand, "command"},
	{ErrSubjectMismatch, "subject-mismatch"},
	{ErrPolicyExpired, "policy-expired"},
	{ErrProvenance, "provenance"},
	{ErrMissingAttestation, "missing-attestation"},
	{ErrKeyless, "keyless"},
	{ErrLayout, "layout"},
}

func codeOf(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "verification"
}

// ReasonError is one reason a verification failed. It matches its sentinel
// (Kind) and ErrVerification with errors.Is.
type ReasonError struct {
	// Kind is the sentinel: ErrMissingStep, ErrThreshold, ...
	Kind error
	// Step is the policy step concerned, if any.
	Step string
	// Msg says what failed.
	Msg string
}

func (e *ReasonError) Error() string {
	if e.Step != "" {
		return "step " + quote(e.Step) + ": " + e.Kind.Error() + ": " + e.Msg
	}
	return e.Kind.Error() + ": " + e.Msg
}

// Unwrap returns the sentinel.
func (e *ReasonError) Unwrap() error { return e.Kind }

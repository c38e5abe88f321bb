package gate

import (
	"time"
)

// Verdicts, as a verification summary (VSA) writes them.
const (
	Passed = "PASSED"
	Failed = "FAILED"
)

// Envelope statuses in a Result.
const (
	// StatusVerified: a trusted key verified the envelope and it was used.
	StatusVerified = "verified"
	// StatusUntrusted: no key of the policy verified the envelope, and it
	// claims to be something the policy needs (a failure).
	StatusUntrusted = "untrusted"
	// StatusInvalid: the envelope is malformed or a signature that names
	// a trusted key does not verify (a failure).
	StatusInvalid = "invalid"
	// StatusIgnored: the envelope is not something the policy asks for
	// (another predicate type, a statement that does not parse), or a
	// step record not bound to the accepted provenance. Not a failure.
	StatusIgnored = "ignored"
)

// Result is the outcome of a verification: the verdict and, for each step,
// the provenance, each required attestation and each envelope, what was
// found and why it failed. It is JSON-serializable and stable: fields are
// added, never renamed.
type Result struct {
	// Verified is true if and only if Verdict is Passed and Reasons is
	// empty.
	Verified bool `json:"verified"`
	// Verdict is Passed or Failed.
	Verdict string `json:"verdict"`
	// Subject is what was verified.
	Subject SubjectRef `json:"subject"`
	// Policy identifies the policy.
	Policy PolicyRef `json:"policy"`
	// VerifiedAt is the time of the verification (the injected clock).
	VerifiedAt time.Time `json:"verifiedAt"`
	// Steps are the policy's steps, in order.
	Steps []StepResult `json:"steps"`
	// Provenance is the provenance check (nil if the policy requires none).
	Provenance *ProvenanceResult `json:"provenance,omitempty"`
	// Attestations are the required attestations' checks.
	Attestations []AttestationResult `json:"attestations,omitempty"`
	// Envelopes are every attestation examined, deduplicated.
	Envelopes []EnvelopeResult `json:"envelopes"`
	// Reasons are every reason the verification failed (empty on a pass).
	Reasons []Reason `json:"reasons"`
	// Warnings are what did not fail the verification but deserves a
	// look, such as a classic layout's step whose link ran another
	// command than the expected one (in-toto only warns).
	Warnings []string `json:"warnings,omitempty"`
}

// SubjectRef names the verified subject.
type SubjectRef struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// PolicyRef identifies a policy: its file, the sha256 of its bytes, its
// expiry.
type PolicyRef struct {
	Source  string    `json:"source,omitempty"`
	Digest  string    `json:"digest,omitempty"`
	Expires time.Time `json:"expires"`
}

// StepResult is the check of one step.
type StepResult struct {
	Name      string `json:"name"`
	Threshold int    `json:"threshold"`
	// Signers are the functionaries (name and key id, or "keyless")
	// whose records agree and were counted: one for each distinct signing
	// key, each key for one functionary (see Step.Threshold).
	Signers []string `json:"signers"`
	// Records is how many records of the step were found (any signer).
	Records int    `json:"records"`
	Verdict string `json:"verdict"`
	// Reasons say why the step failed.
	Reasons []string `json:"reasons,omitempty"`
}

// ProvenanceResult is the check of the provenance.
type ProvenanceResult struct {
	Verdict string `json:"verdict"`
	// Digest is the hex sha256 of the accepted (or, on a failure, the
	// last examined) provenance envelope's bytes, as in Envelopes.
	Digest     string    `json:"digest,omitempty"`
	Signers    []string  `json:"signers,omitempty"`
	BuilderID  string    `json:"builderId,omitempty"`
	BuildType  string    `json:"buildType,omitempty"`
	SourceRepo string    `json:"sourceRepo,omitempty"`
	Ref        string    `json:"ref,omitempty"`
	FinishedOn time.Time `json:"finishedOn,omitzero"`
	// Steps are the step records the provenance binds (envelope digests).
	Steps   []string `json:"steps,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
}

// AttestationResult is the check of a required attestation.
type AttestationResult struct {
	PredicateType string   `json:"predicateType"`
	Verdict       string   `json:"verdict"`
	Signers       []string `json:"signers,omitempty"`
	Reasons       []string `json:"reasons,omitempty"`
}

// EnvelopeResult is one envelope as examined.
type EnvelopeResult struct {
	// Digest is the hex sha256 of the envelope's bytes as fetched.
	Digest string `json:"digest"`
	// PredicateType is the statement's predicate type (as claimed, if the
	// envelope did not verify).
	PredicateType string `json:"predicateType,omitempty"`
	// Step is the step of a step record.
	Step string `json:"step,omitempty"`
	// Signers are the functionaries whose keys verified it.
	Signers []string `json:"signers,omitempty"`
	Status  string   `json:"status"`
	Reason  string   `json:"reason,omitempty"`
}

// Reason is one reason a verification failed.
type Reason struct {
	// Code names the sentinel: missing-step, threshold, untrusted-signer,
	// signature, artifact-rule, command, subject-mismatch,
	// policy-expired, provenance, missing-attestation, keyless,
	// no-attestations.
	Code string `json:"code"`
	// Step is the policy step concerned, if any.
	Step    string `json:"step,omitempty"`
	Message string `json:"message"`
}

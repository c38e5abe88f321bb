package provenance

import "github.com/attestor/attestor/attestor"

// Sentinel errors. Each is also an attestor.ErrInvalidInput (the CLI exits
// 2).
var (
	// ErrNotStepRecord is returned by ReadStep for an envelope that holds
	// no step record (a provenance, a verification summary): callers skip
	// it.
	ErrNotStepRecord = &sentinel{"not a step record"}
	// ErrNoSteps is returned by Build when there is no step record.
	ErrNoSteps = &sentinel{"no step records in the workspace (record the build's steps with attestor run first)"}
	// ErrNoSubjects is returned by Build when no subject was given and the
	// final step made no products.
	ErrNoSubjects = &sentinel{"no subjects: pass --subject, or record products in the final step"}
	// ErrUnverifiedFinalStep is returned by Build when no subject was
	// given and the final step's record is not Verified: its products,
	// which anything that can write the workspace could have changed,
	// are not signed for.
	ErrUnverifiedFinalStep = &sentinel{"the final step's record is not signed by the provenance's key: pass --subject"}
	// ErrNoBuilderID is returned by Build when the platform stated no
	// builder id and none was given.
	ErrNoBuilderID = &sentinel{"no builder id: the CI platform does not state one; pass --builder-id"}
	// ErrNoBuildType is returned by Build when the platform stated no
	// build type and none was given.
	ErrNoBuildType = &sentinel{"no build type: the CI platform does not state one; pass --build-type"}
	// ErrNoExternalParameters is returned by Build when nothing is known
	// of what the build was asked to build (SLSA requires external
	// parameters).
	ErrNoExternalParameters = &sentinel{"no external parameters: the CI platform states no source or configuration; pass --source"}
)

type sentinel struct{ msg string }

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return attestor.ErrInvalidInput }

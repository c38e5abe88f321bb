package provenance

import (
	"github.com/attestor/attestor/attestor/fault"
)

// Sentinel errors. Each is also a fault.ErrInvalidInput (the CLI exits
// 2).
var (
	// ErrNotStepRecord is returned by ReadStep for an envelope that holds
	// no step record (a provenance, a verification summary): callers skip
	// it.
	ErrNotStepRecord = fault.New("not a step record", fault.ErrInvalidInput)
	// ErrNoSteps is returned by Build when there is no step record.
	ErrNoSteps = fault.New("no step records in the workspace (record the build's steps with attestor run first)", fault.ErrInvalidInput)
	// ErrNoSubjects is returned by Build when no subject was given and the
	// final step made no products.
	ErrNoSubjects = fault.New("no subjects: pass --subject, or record products in the final step", fault.ErrInvalidInput)
	// ErrUnverifiedFinalStep is returned by Build when no subject was
	// given and the final step's record is not Verified: its products,
	// which anything that can write the workspace could have changed,
	// are not signed for.
	ErrUnverifiedFinalStep = fault.New("the final step's record is not signed by the provenance's key: pass --subject", fault.ErrInvalidInput)
	// ErrNoBuilderID is returned by Build when the platform stated no
	// builder id and none was given.
	ErrNoBuilderID = fault.New("no builder id: the CI platform does not state one; pass --builder-id", fault.ErrInvalidInput)
	// ErrNoBuildType is returned by Build when the platform stated no
	// build type and none was given.
	ErrNoBuildType = fault.New("no build type: the CI platform does not state one; pass --build-type", fault.ErrInvalidInput)
	// ErrNoExternalParameters is returned by Build when nothing is known
	// of what the build was asked to build (SLSA requires external
	// parameters).
	ErrNoExternalParameters = fault.New("no external parameters: the CI platform states no source or configuration; pass --source", fault.ErrInvalidInput)
)

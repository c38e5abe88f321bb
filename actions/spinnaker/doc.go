// Package spinnaker documents how attestor runs as a Spinnaker Run Job
// stage, holds example Run Job manifests (runjob.yaml: provenance and push;
// promote.yaml: verify and promote), and writes the SPINNAKER_PROPERTY_*
// lines through which a Run Job hands its verdict and digests to later
// stages (Emit, WriteProperties).
//
// Spinnaker puts nothing about the execution into the job's environment:
// the manifest templates the SPINNAKER_* variables that actions.Detect
// reads in with SpEL (${execution.id}, ${execution.application},
// ${execution.name}, ${trigger...}), as the example shows. The builder id is
// SPINNAKER_URL, the base URL of the Spinnaker UI; the invocation is the
// execution id, and its URL the execution's page. For a git trigger the
// source is the trigger's repository, branch and commit; otherwise pass
// SPINNAKER_SOURCE_* from pipeline parameters, or use --source.
//
// Spinnaker publishes no provenance of its own: the build type is
// attestor's, https://github.com/attestor/attestor/buildtypes/spinnaker-run-job/v1,
// with the pipeline, its parameters and the source as external parameters
// and the application, pipeline config id, execution and trigger as internal
// parameters.
package spinnaker

import _ "embed"

// Example is the example Run Job manifest that signs the provenance and
// pushes the attestations.
//
//go:embed runjob.yaml
var Example string

// PromoteExample is the example Run Job manifest that verifies and
// promotes an image, printing the verdict and digests as Spinnaker
// properties.
//
//go:embed promote.yaml
var PromoteExample string

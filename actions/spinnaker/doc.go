// Package spinnaker documents how attestor runs as a Spinnaker Run Job
// stage and holds an example Run Job manifest, runjob.yaml.
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

// Example is the example Run Job manifest.
//
//go:embed runjob.yaml
var Example string

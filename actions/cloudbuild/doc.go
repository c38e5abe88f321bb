// Package cloudbuild documents how attestor runs in Google Cloud Build and
// holds an example build configuration, cloudbuild.yaml.
//
// Cloud Build shares /workspace between steps, so the attestor workspace
// (/workspace/.attestor) carries the step records from one step to the
// next, and the last step signs the provenance. Cloud Build does not put
// its substitutions into a step's environment: each step passes those that
// actions.Detect reads (actions.CloudBuildSubstitutions, plus REPO_URL for
// the source repository) with env: [...]. A YAML anchor keeps the list in
// one place, as the example shows. User-defined substitutions (_NAME)
// passed the same way are recorded as the build's substitutions.
//
// The facts follow Cloud Build's own provenance: build type
// https://cloud.google.com/build/gcb-buildtypes/google-worker/v1, builder
// https://cloudbuild.googleapis.com/GoogleHostedWorker, the build's API URL
// as invocation id.
package cloudbuild

import _ "embed"

// Example is the example cloudbuild.yaml.
//
//go:embed cloudbuild.yaml
var Example string

// Package actions detects the CI platform a step runs on and returns its
// facts: who built (builder id), what kind of build (build type), which run
// (invocation id and URL), from what source (repository, ref, commit) and
// configuration (workflow file, cloudbuild.yaml, pipeline), what triggered
// it and on which runner.
//
// Facts come from the platform's own environment, passed in by the caller
// as "KEY=value" entries (os.Environ() in the CLI, a recorded environment in
// tests); the package never reads the process environment itself. It knows GitHub Actions (GITHUB_*, RUNNER_* and the
// event payload at GITHUB_EVENT_PATH), GitLab CI (CI_*), Spinnaker Run Job
// stages (SPINNAKER_* variables that the job manifest templates in), Google
// Cloud Build (the substitutions a step passes in as environment variables:
// BUILD_ID, PROJECT_ID, COMMIT_SHA, ...), and, where none of these is found,
// a developer's machine (the git repository, commit, remote, dirty flag,
// user and host).
//
// A fact the platform does not state, or states ambiguously, is left empty:
// it is never guessed. The package may read files (the event payload) and
// run git; it does no network I/O.
package actions

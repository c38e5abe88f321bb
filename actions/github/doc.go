// Package github is attestor's GitHub Actions I/O, built on
// github.com/sethvargo/go-githubactions: the action's inputs (INPUT_*
// variables, hyphens kept, as the runner sets them), its outputs
// (GITHUB_OUTPUT, every value written with a random heredoc delimiter), the
// step summary (GITHUB_STEP_SUMMARY), masks (::add-mask::), log groups and
// the job's OIDC token.
//
// Every file command is guarded: outside GitHub Actions (no GITHUB_OUTPUT,
// no GITHUB_STEP_SUMMARY) writing an output or a summary does nothing and
// returns nil, and no method panics (go-githubactions panics when a file
// command has no file). Workflow commands (masks, groups, annotations) are
// written only when GITHUB_ACTIONS=true, so that a secret is never echoed
// to a developer's terminal or another CI's log.
//
// The directory also holds install.sh, the first step of the composite
// action (action.yml): it installs the attestor release binary for the
// runner, checked against its checksums, into the tool cache.
//
// The package reads its environment through the function given to
// WithGetenv (os.Getenv by default) and writes workflow commands to the
// writer given to WithWriter (os.Stdout by default).
package github

package actions

import (
	"context"
	"os"
	"regexp"
	"strings"
	"time"
)

// Platform names a CI platform.
type Platform string

// Platforms that Detect knows.
const (
	GitHubActions Platform = "github-actions"
	GitLabCI      Platform = "gitlab-ci"
	Spinnaker     Platform = "spinnaker"
	CloudBuild    Platform = "cloud-build"
	Local         Platform = "local"
)

// Build types and builder ids. Where the platform publishes SLSA provenance
// of its own, its build type and builder id are used, so that a verifier
// written for the platform's provenance reads ours. Spinnaker and local
// builds have none; their build types are attestor's, as is that of a
// GitHub run started by an event GitHub's build type does not cover.
const (
	// BuildTypeGitHub is GitHub's build type for a workflow run. Its
	// specification lists the events it may describe (create, release,
	// push, workflow_dispatch) and says it MUST NOT be used for any other;
	// a run started by another event gets BuildTypeGitHubOtherEvent.
	BuildTypeGitHub = "https://actions.github.io/buildtypes/workflow/v1"
	// BuildTypeGitHubOtherEvent is attestor's build type for a GitHub
	// Actions workflow run started by an event BuildTypeGitHub does not
	// cover (pull_request, schedule, workflow_run, ...), or by an event
	// nobody named. Its parameters are BuildTypeGitHub's (external:
	// workflow {ref, repository, path} and workflow_dispatch inputs;
	// internal: github {event_name, repository_id, repository_owner_id,
	// runner_environment}); what the run means depends on the event, which
	// internalParameters.github.event_name names.
	BuildTypeGitHubOtherEvent = "https://github.com/attestor/attestor/buildtypes/github-workflow/v1"
	// BuilderGitHubHosted and BuilderGitHubSelfHosted are GitHub's builder
	// ids for a job on a GitHub-hosted and on a self-hosted runner.
	BuilderGitHubHosted     = "https://github.com/actions/runner/github-hosted"
	BuilderGitHubSelfHosted = "https://github.com/actions/runner/self-hosted"

	// BuildTypeCloudBuild and BuilderCloudBuild are Cloud Build's build
	// type and builder id.
	BuildTypeCloudBuild = "https://cloud.google.com/build/gcb-buildtypes/google-worker/v1"
	BuilderCloudBuild   = "https://cloudbuild.googleapis.com/GoogleHostedWorker"

	// BuildTypeSpinnaker is attestor's build type for a Spinnaker Run Job
	// stage.
	BuildTypeSpinnaker = "https://github.com/attestor/attestor/buildtypes/spinnaker-run-job/v1"

	// BuildTypeLocal and BuilderLocal describe a build on a developer's
	// machine: attestor run by hand, outside any CI platform.
	BuildTypeLocal = "https://github.com/attestor/attestor/buildtypes/local/v1"
	BuilderLocal   = "https://github.com/attestor/attestor/builders/local"
)

// Facts are what a CI platform states about the build a step belongs to.
// Every field is optional: a fact the platform does not state, or states
// ambiguously, is empty.
type Facts struct {
	// Platform is the platform detected.
	Platform Platform `json:"platform"`
	// BuilderID identifies the build platform (SLSA runDetails.builder.id).
	BuilderID string `json:"builderId,omitempty"`
	// BuildType is the URI of the build type (SLSA buildDefinition.buildType)
	// that says how the rest of the facts map to a provenance.
	BuildType string `json:"buildType,omitempty"`
	// InvocationID identifies this run of the build (SLSA
	// runDetails.metadata.invocationId), as the platform's provenance
	// names it.
	InvocationID string `json:"invocationId,omitempty"`
	// InvocationURL is where a person can look at the run.
	InvocationURL string `json:"invocationUrl,omitempty"`
	// Source is the source being built.
	Source Source `json:"source"`
	// Config is where the build's configuration came from.
	Config Config `json:"config"`
	// Trigger is what started the build: the GitHub event name, the Cloud
	// Build trigger name, the GitLab pipeline source, the Spinnaker
	// trigger type.
	Trigger string `json:"trigger,omitempty"`
	// Inputs are the parameters a user gave this run: workflow_dispatch
	// inputs, user-defined Cloud Build substitutions, Spinnaker pipeline
	// parameters.
	Inputs map[string]any `json:"inputs,omitempty"`
	// Runner is the machine the step ran on.
	Runner Runner `json:"runner"`
	// Internal are the platform's own parameters, shaped as the platform's
	// build type records its internalParameters.
	Internal map[string]any `json:"internal,omitempty"`
	// StartedOn is when the platform says the build (or job) started.
	StartedOn time.Time `json:"startedOn,omitzero"`
}

// Source is a git source.
type Source struct {
	// Repo is the repository's URL without credentials, such as
	// "https://github.com/acme/app".
	Repo string `json:"repo,omitempty"`
	// Ref is the fully qualified ref built, such as "refs/heads/main" or
	// "refs/tags/v1.2.0".
	Ref string `json:"ref,omitempty"`
	// Commit is the commit built (lowercase hex).
	Commit string `json:"commit,omitempty"`
	// Dirty says the working tree had changes to tracked files that the
	// commit does not hold (local builds only).
	Dirty bool `json:"dirty,omitempty"`
}

// IsZero reports whether s states nothing.
func (s Source) IsZero() bool { return s == Source{} }

// Config is where the build configuration came from: a workflow file, a
// cloudbuild.yaml, a .gitlab-ci.yml job, a Spinnaker pipeline.
type Config struct {
	// Repo is the URL of the repository that holds the configuration.
	Repo string `json:"repo,omitempty"`
	// Ref is the ref it was read at.
	Ref string `json:"ref,omitempty"`
	// Path is the configuration file's path in Repo.
	Path string `json:"path,omitempty"`
	// EntryPoint names what in the configuration ran: the GitLab job, the
	// Spinnaker pipeline.
	EntryPoint string `json:"entryPoint,omitempty"`
}

// Runner is the machine a step ran on.
type Runner struct {
	// Environment is "github-hosted" or "self-hosted" on GitHub Actions.
	Environment string `json:"environment,omitempty"`
	OS          string `json:"os,omitempty"`
	Arch        string `json:"arch,omitempty"`
	// Name is the runner's name as the platform knows it.
	Name string `json:"name,omitempty"`
	// Host and User are the machine's host name and the user (local
	// builds).
	Host string `json:"host,omitempty"`
	User string `json:"user,omitempty"`
}

// environment is a step's environment, parsed from "KEY=value" entries.
type environment map[string]string

// parseEnviron parses environ, a list of "KEY=value" entries as os.Environ
// returns them (later entries win).
func parseEnviron(environ []string) environment {
	m := make(environment, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// value returns the value of key, trimmed; "" when unset.
func (e environment) value(key string) string { return strings.TrimSpace(e[key]) }

// Option configures Detect.
type Option func(*options) error

type options struct {
	dir      string
	git      string
	hostname func() (string, error)
	home     string // HOME for git, from the step's environment
}

// WithDir sets the directory whose git repository a local build is
// recorded from. The default is the current directory.
func WithDir(dir string) Option {
	return func(o *options) error {
		o.dir = dir
		return nil
	}
}

// DetectPlatform returns the platform that env describes: GitHub Actions
// (GITHUB_ACTIONS=true), GitLab CI (GITLAB_CI=true), Spinnaker
// (SPINNAKER_EXECUTION_ID set), Cloud Build (BUILD_ID and PROJECT_ID set),
// checked in that order, or Local.
func DetectPlatform(environ []string) Platform {
	return detectPlatform(parseEnviron(environ))
}

func detectPlatform(env environment) Platform {
	switch {
	case env.value("GITHUB_ACTIONS") == "true":
		return GitHubActions
	case env.value("GITLAB_CI") == "true":
		return GitLabCI
	case env.value("SPINNAKER_EXECUTION_ID") != "":
		return Spinnaker
	case env.value("BUILD_ID") != "" && env.value("PROJECT_ID") != "":
		return CloudBuild
	}
	return Local
}

// Detect detects the platform from environ and returns its facts. environ
// is the step's environment as "KEY=value" entries; pass os.Environ() to use
// the process's.
// Detect reads the GitHub event payload and runs git (for a local build, and
// to learn the repository of a Cloud Build or Spinnaker build whose
// environment does not name it, when the checkout's HEAD is the commit the
// platform names); it does no network I/O.
func Detect(ctx context.Context, environ []string, opts ...Option) (*Facts, error) {
	env := parseEnviron(environ)
	o := options{dir: ".", git: "git", hostname: os.Hostname, home: env.value("HOME")}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	p := detectPlatform(env)
	var (
		f   *Facts
		err error
	)
	switch p {
	case GitHubActions:
		f, err = githubFacts(env)
	case GitLabCI:
		f, err = gitlabFacts(env)
	case Spinnaker:
		f, err = spinnakerFacts(env)
	case CloudBuild:
		f, err = cloudBuildFacts(env)
	default:
		return localFacts(ctx, env, &o)
	}
	if err != nil {
		return nil, err
	}
	if f.Source.Repo == "" && f.Source.Commit != "" && (p == CloudBuild || p == Spinnaker) {
		fillRepoFromGit(ctx, f, &o)
	}
	return f, nil
}

// fillRepoFromGit takes the repository URL from the checkout in o.dir when
// its HEAD is the commit the platform names: a fact of the same build, not
// a guess.
func fillRepoFromGit(ctx context.Context, f *Facts, o *options) {
	g, err := readGit(ctx, o)
	if err != nil || g.commit != f.Source.Commit || g.remote == "" {
		return
	}
	f.Source.Repo = g.remote
	if f.Config.Repo == "" && f.Config.Path != "" {
		f.Config.Repo = g.remote
	}
}

// setIf sets m[key] to v when v is not empty.
func setIf(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

var commitRE = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// commit returns s lower-cased when it is a full git commit id (sha1 or
// sha256), "" otherwise (a short or malformed id is not a fact we can use).
func commit(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if commitRE.MatchString(s) {
		return s
	}
	return ""
}

// branchOrTag returns the ref of a build that names a branch or a tag: ""
// when it names both or neither (ambiguous).
func branchOrTag(branch, tag string) string {
	switch {
	case branch != "" && tag == "":
		return "refs/heads/" + branch
	case tag != "" && branch == "":
		return "refs/tags/" + tag
	}
	return ""
}

// nilIfEmpty returns nil for an empty map, so that unset facts are omitted.
func nilIfEmpty(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

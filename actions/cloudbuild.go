package actions

import (
	"regexp"
	"slices"
	"sort"
)

// CloudBuildSubstitutions are the Cloud Build default substitutions that
// Detect reads. Cloud Build does not put them in a step's environment: the
// step passes those it wants with env: ["BUILD_ID=$BUILD_ID", ...] (see
// actions/cloudbuild for an example cloudbuild.yaml). Those present are
// recorded as the build's systemSubstitutions, as Cloud Build's own
// provenance records them.
var CloudBuildSubstitutions = []string{
	"BUILD_ID", "PROJECT_ID", "PROJECT_NUMBER", "LOCATION",
	"TRIGGER_NAME", "TRIGGER_BUILD_CONFIG_PATH",
	"COMMIT_SHA", "SHORT_SHA", "REVISION_ID",
	"REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME", "REF_NAME",
	"SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT",
	"_HEAD_BRANCH", "_BASE_BRANCH", "_HEAD_REPO_URL", "_PR_NUMBER",
}

// CloudBuildRepoURL is the variable that names the source repository's
// URL, which no default substitution does: pass it (for example from a
// user substitution, REPO_URL=$_REPO_URL) or let Detect read it from the
// checkout's git remote when /workspace is a git checkout of COMMIT_SHA.
const CloudBuildRepoURL = "REPO_URL"

var userSubstitutionRE = regexp.MustCompile(`^_[A-Z0-9_]*[A-Z0-9]$`)

// cloudBuildFacts reads the facts of a Cloud Build step from the
// substitutions passed into its environment. They follow Cloud Build's own
// provenance (build type google-worker/v1): builder GoogleHostedWorker, the
// invocation the build's API URL, buildConfigSource from the trigger's
// config path, user substitutions (_NAME) as external parameters.
func cloudBuildFacts(env environment) (*Facts, error) {
	f := &Facts{Platform: CloudBuild, BuildType: BuildTypeCloudBuild, BuilderID: BuilderCloudBuild}
	buildID, project, location := env.value("BUILD_ID"), env.value("PROJECT_ID"), env.value("LOCATION")
	if location != "" {
		f.InvocationID = "https://cloudbuild.googleapis.com/v1/projects/" + project + "/locations/" + location + "/builds/" + buildID
		f.InvocationURL = "https://console.cloud.google.com/cloud-build/builds;region=" + location + "/" + buildID + "?project=" + project
	} else {
		f.InvocationID = "https://cloudbuild.googleapis.com/v1/projects/" + project + "/builds/" + buildID
		f.InvocationURL = "https://console.cloud.google.com/cloud-build/builds/" + buildID + "?project=" + project
	}

	f.Source.Repo = RepoURL(env.value(CloudBuildRepoURL))
	f.Source.Ref = branchOrTag(env.value("BRANCH_NAME"), env.value("TAG_NAME"))
	f.Source.Commit = commit(env.value("COMMIT_SHA"))
	if f.Source.Commit == "" {
		f.Source.Commit = commit(env.value("REVISION_ID"))
	}
	if p := env.value("TRIGGER_BUILD_CONFIG_PATH"); p != "" {
		f.Config = Config{Repo: f.Source.Repo, Ref: f.Source.Ref, Path: p}
	}
	f.Trigger = env.value("TRIGGER_NAME")

	sys := map[string]any{}
	for _, k := range CloudBuildSubstitutions {
		setIf(sys, k, env.value(k))
	}
	internal := map[string]any{}
	if len(sys) > 0 {
		internal["systemSubstitutions"] = sys
	}
	f.Internal = nilIfEmpty(internal)

	user := map[string]any{}
	for _, k := range userSubstitutionNames(env) {
		setIf(user, k, env.value(k))
	}
	f.Inputs = nilIfEmpty(user)
	return f, nil
}

// userSubstitutionNames lists, sorted, the user-defined substitutions
// (_NAME) in env that are not default ones.
func userSubstitutionNames(env environment) []string {
	var names []string
	for k := range env {
		if userSubstitutionRE.MatchString(k) && !slices.Contains(CloudBuildSubstitutions, k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

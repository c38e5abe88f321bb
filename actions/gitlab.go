package actions

import (
	"strings"
	"time"
)

// gitlabFacts reads the facts of a GitLab CI job from its CI_* variables.
// They follow GitLab runner's own provenance: the builder id is the
// project's runner URL, the build type is the runner version's
// PROVENANCE.md, the invocation is the job id and the entry point the job
// name.
func gitlabFacts(env environment) (*Facts, error) {
	f := &Facts{Platform: GitLabCI}
	server := strings.TrimSuffix(env.value("CI_SERVER_URL"), "/")
	project := env.value("CI_PROJECT_PATH")
	if runner := env.value("CI_RUNNER_ID"); server != "" && project != "" && runner != "" {
		f.BuilderID = server + "/" + project + "/-/runners/" + runner
	}
	if v := env.value("CI_RUNNER_VERSION"); v != "" {
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		f.BuildType = "https://gitlab.com/gitlab-org/gitlab-runner/-/blob/" + v + "/PROVENANCE.md"
	}
	jobID := env.value("CI_JOB_ID")
	f.InvocationID = jobID
	f.InvocationURL = env.value("CI_JOB_URL")

	f.Source.Repo = RepoURL(env.value("CI_PROJECT_URL"))
	if f.Source.Repo == "" && server != "" && project != "" {
		f.Source.Repo = server + "/" + project
	}
	f.Source.Ref = branchOrTag(env.value("CI_COMMIT_BRANCH"), env.value("CI_COMMIT_TAG"))
	if f.Source.Ref == "" {
		// A merge request pipeline builds refs/merge-requests/IID/head.
		if p := env.value("CI_MERGE_REQUEST_REF_PATH"); strings.HasPrefix(p, "refs/") {
			f.Source.Ref = p
		}
	}
	f.Source.Commit = commit(env.value("CI_COMMIT_SHA"))

	f.Config = Config{
		Path:       env.value("CI_CONFIG_PATH"),
		EntryPoint: env.value("CI_JOB_NAME"),
	}
	if f.Config.Path != "" {
		f.Config.Repo, f.Config.Ref = f.Source.Repo, f.Source.Ref
	}
	f.Trigger = env.value("CI_PIPELINE_SOURCE")
	f.Runner = Runner{
		Name: env.value("CI_RUNNER_DESCRIPTION"),
		Arch: env.value("CI_RUNNER_EXECUTABLE_ARCH"),
	}
	internal := map[string]any{}
	setIf(internal, "name", f.Runner.Name)
	setIf(internal, "architecture", f.Runner.Arch)
	setIf(internal, "job", jobID)
	setIf(internal, "pipelineSource", f.Trigger)
	setIf(internal, "pipeline", env.value("CI_PIPELINE_ID"))
	f.Internal = nilIfEmpty(internal)
	if s := env.value("CI_JOB_STARTED_AT"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			f.StartedOn = t.UTC()
		}
	}
	return f, nil
}

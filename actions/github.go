package actions

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/attestor/attestor/attestor/safefile"
)

// maxEventPayload bounds the GitHub event payload read.
const maxEventPayload = 16 << 20

// githubEvent is the part of a GitHub event payload that provenance uses.
type githubEvent struct {
	Inputs     map[string]any `json:"inputs"`
	Repository *struct {
		ID      json.Number `json:"id"`
		HTMLURL string      `json:"html_url"`
		Owner   *struct {
			ID json.Number `json:"id"`
		} `json:"owner"`
	} `json:"repository"`
}

// githubFacts reads the facts of a GitHub Actions job: GITHUB_* and RUNNER_*
// variables and the event payload at GITHUB_EVENT_PATH. Facts follow
// GitHub's own provenance (build type workflow/v1): the builder id says
// whether the runner is GitHub-hosted or self-hosted, the invocation is the
// run attempt's URL, the configuration is the workflow file at
// GITHUB_WORKFLOW_REF. The build type is GitHub's for the events its
// specification allows, BuildTypeGitHubOtherEvent for the others.
func githubFacts(env environment) (*Facts, error) {
	f := &Facts{Platform: GitHubActions}
	server := strings.TrimSuffix(env.value("GITHUB_SERVER_URL"), "/")
	repo := env.value("GITHUB_REPOSITORY")

	ev, err := readGitHubEvent(env.value("GITHUB_EVENT_PATH"))
	if err != nil {
		return nil, err
	}

	if server != "" && repo != "" {
		f.Source.Repo = server + "/" + repo
	} else if ev.Repository != nil {
		f.Source.Repo = RepoURL(ev.Repository.HTMLURL)
	}
	if ref := env.value("GITHUB_REF"); strings.HasPrefix(ref, "refs/") {
		f.Source.Ref = ref
	}
	f.Source.Commit = commit(env.value("GITHUB_SHA"))

	// GITHUB_WORKFLOW_REF: owner/repo/.github/workflows/build.yml@refs/heads/main
	if wref := env.value("GITHUB_WORKFLOW_REF"); wref != "" {
		if i := strings.LastIndex(wref, "@"); i > 0 {
			path, ref := wref[:i], wref[i+1:]
			parts := strings.SplitN(path, "/", 3)
			if len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "" {
				if server != "" {
					f.Config.Repo = server + "/" + parts[0] + "/" + parts[1]
				}
				f.Config.Path = parts[2]
				if strings.HasPrefix(ref, "refs/") {
					f.Config.Ref = ref
				}
			}
		}
	}

	runID, attempt := env.value("GITHUB_RUN_ID"), env.value("GITHUB_RUN_ATTEMPT")
	if server != "" && repo != "" && runID != "" && attempt != "" {
		f.InvocationID = fmt.Sprintf("%s/%s/actions/runs/%s/attempts/%s", server, repo, runID, attempt)
		f.InvocationURL = f.InvocationID
	}

	f.Runner = Runner{
		Environment: env.value("RUNNER_ENVIRONMENT"),
		OS:          env.value("RUNNER_OS"),
		Arch:        env.value("RUNNER_ARCH"),
		Name:        env.value("RUNNER_NAME"),
	}
	switch f.Runner.Environment {
	case "github-hosted":
		f.BuilderID = BuilderGitHubHosted
	case "self-hosted":
		f.BuilderID = BuilderGitHubSelfHosted
	}
	f.Trigger = env.value("GITHUB_EVENT_NAME")
	f.BuildType = githubBuildType(f.Trigger)
	if len(ev.Inputs) > 0 {
		f.Inputs = ev.Inputs
	}

	gh := map[string]any{}
	setIf(gh, "event_name", f.Trigger)
	repoID, ownerID := env.value("GITHUB_REPOSITORY_ID"), env.value("GITHUB_REPOSITORY_OWNER_ID")
	if ev.Repository != nil {
		if repoID == "" {
			repoID = ev.Repository.ID.String()
		}
		if ownerID == "" && ev.Repository.Owner != nil {
			ownerID = ev.Repository.Owner.ID.String()
		}
	}
	setIf(gh, "repository_id", repoID)
	setIf(gh, "repository_owner_id", ownerID)
	setIf(gh, "runner_environment", f.Runner.Environment)
	if len(gh) > 0 {
		f.Internal = map[string]any{"github": gh}
	}
	return f, nil
}

// githubBuildType is the build type of a run started by event: GitHub's
// for the events its specification lists ("Only the following event types
// are supported: create, release, push, workflow_dispatch ... This build
// type MUST NOT be used for any other event type"), attestor's own for
// every other event and for none.
func githubBuildType(event string) string {
	switch event {
	case "create", "release", "push", "workflow_dispatch":
		return BuildTypeGitHub
	}
	return BuildTypeGitHubOtherEvent
}

// readGitHubEvent reads the event payload; a job without one (no
// GITHUB_EVENT_PATH) has an empty event.
func readGitHubEvent(path string) (*githubEvent, error) {
	ev := &githubEvent{}
	if path == "" {
		return ev, nil
	}
	// Without blocking: anything running as the job's user could have put
	// a FIFO there.
	file, _, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the GitHub event payload (GITHUB_EVENT_PATH): %w", err)
	}
	defer file.Close()
	dec := json.NewDecoder(io.LimitReader(file, maxEventPayload))
	dec.UseNumber()
	if err := dec.Decode(ev); err != nil {
		return nil, fmt.Errorf("decoding the GitHub event payload %s: %w", path, err)
	}
	for k, v := range ev.Inputs {
		if n, ok := v.(json.Number); ok {
			ev.Inputs[k] = n.String()
		}
	}
	return ev, nil
}

package actions_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/attestor/attestor/actions"
)

// buildTypeGitHubOtherEvent is attestor's build type for the events
// GitHub's workflow/v1 must not be used for (the URI is a contract: a
// policy's buildTypes names it).
const buildTypeGitHubOtherEvent = "https://github.com/attestor/attestor/buildtypes/github-workflow/v1"

// TestGitHubBuildTypePerEvent: GitHub's build type
// (https://actions.github.io/buildtypes/workflow/v1) only for the events
// its specification lists (create, release, push, workflow_dispatch: it
// "MUST NOT be used for any other event type"), attestor's own for every
// other event, with the same facts otherwise.
func TestGitHubBuildTypePerEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, err := actions.Detect(ctx, loadEnv(t, "github.env"), actions.WithDir(t.TempDir()), actions.WithHostname(noHost))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		event, want string
	}{
		{"create", actions.BuildTypeGitHub},
		{"release", actions.BuildTypeGitHub},
		{"push", actions.BuildTypeGitHub},
		{"workflow_dispatch", actions.BuildTypeGitHub},
		{"pull_request", buildTypeGitHubOtherEvent},
		{"pull_request_target", buildTypeGitHubOtherEvent},
		{"schedule", buildTypeGitHubOtherEvent},
		{"repository_dispatch", buildTypeGitHubOtherEvent},
		{"workflow_run", buildTypeGitHubOtherEvent},
		{"workflow_call", buildTypeGitHubOtherEvent},
		{"merge_group", buildTypeGitHubOtherEvent},
		{"deployment", buildTypeGitHubOtherEvent},
		{"Push", buildTypeGitHubOtherEvent}, // event names are lower case: no guess
		{"", buildTypeGitHubOtherEvent},     // an event nobody named is not one the spec allows
	} {
		t.Run(tc.event, func(t *testing.T) {
			t.Parallel()
			// Later entries win: the recorded job, triggered by another event.
			env := append(loadEnv(t, "github.env"), "GITHUB_EVENT_NAME="+tc.event)
			f, err := actions.Detect(ctx, env, actions.WithDir(t.TempDir()), actions.WithHostname(noHost))
			if err != nil {
				t.Fatal(err)
			}
			if f.BuildType != tc.want {
				t.Errorf("event %q: build type %q, want %q", tc.event, f.BuildType, tc.want)
			}
			// Everything else is what the event states, as for any event.
			want := *base
			want.BuildType, want.Trigger = tc.want, tc.event
			want.Internal = map[string]any{"github": map[string]any{
				"repository_id": "702538612", "repository_owner_id": "9919", "runner_environment": "github-hosted",
			}}
			if tc.event != "" {
				want.Internal["github"].(map[string]any)["event_name"] = tc.event
			}
			if diff := cmp.Diff(&want, f); diff != "" {
				t.Errorf("event %q: facts (-want +got):\n%s", tc.event, diff)
			}
		})
	}
}

// TestBuildTypeConstants: the published URIs.
func TestBuildTypeConstants(t *testing.T) {
	t.Parallel()
	if actions.BuildTypeGitHub != "https://actions.github.io/buildtypes/workflow/v1" {
		t.Errorf("BuildTypeGitHub = %q", actions.BuildTypeGitHub)
	}
}

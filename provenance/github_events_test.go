package provenance_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/provenance"
)

// buildTypeGitHubOtherEvent is attestor's build type of a GitHub workflow
// run started by an event that GitHub's build type does not cover.
const buildTypeGitHubOtherEvent = "https://github.com/attestor/attestor/buildtypes/github-workflow/v1"

// githubEvents are recorded jobs of the same repository started by other
// events: the variables that differ from github.env (a workflow_dispatch
// of release.yml) and the event payload (testdata/events).
var githubEvents = []struct {
	event string
	env   []string
	// buildType and buildTypeV02 are what the provenance must say.
	buildType, buildTypeV02 string
}{
	{"push", []string{
		"GITHUB_REF=refs/tags/v1.4.0", "GITHUB_REF_NAME=v1.4.0", "GITHUB_REF_TYPE=tag",
		"GITHUB_SHA=8c3b9a1f2e4d6c5b7a9e8d0f1c2b3a4e5d6c7b8a",
		"GITHUB_WORKFLOW_REF=acme/app/.github/workflows/release.yml@refs/tags/v1.4.0",
	}, actions.BuildTypeGitHub, "https://github.com/Attestations/GitHubActionsWorkflow@v1"},
	{"pull_request", []string{
		"GITHUB_REF=refs/pull/42/merge", "GITHUB_REF_NAME=42/merge", "GITHUB_REF_TYPE=branch", "GITHUB_REF_PROTECTED=false",
		"GITHUB_HEAD_REF=feature", "GITHUB_BASE_REF=main",
		"GITHUB_SHA=9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
		"GITHUB_WORKFLOW=ci", "GITHUB_WORKFLOW_REF=acme/app/.github/workflows/ci.yml@refs/pull/42/merge",
		"GITHUB_ACTOR=mallory", "GITHUB_TRIGGERING_ACTOR=mallory",
	}, buildTypeGitHubOtherEvent, buildTypeGitHubOtherEvent},
	{"schedule", []string{
		"GITHUB_WORKFLOW=nightly", "GITHUB_WORKFLOW_REF=acme/app/.github/workflows/nightly.yml@refs/heads/main",
	}, buildTypeGitHubOtherEvent, buildTypeGitHubOtherEvent},
}

// githubEventFacts are the facts of the recorded job started by event,
// with env overriding github.env.
func githubEventFacts(t *testing.T, event string, env []string) *actions.Facts {
	t.Helper()
	payload, err := filepath.Abs(filepath.Join("testdata", "events", event+".json"))
	if err != nil {
		t.Fatal(err)
	}
	// Later entries win.
	all := append(loadEnv(t, "github.env"), "GITHUB_EVENT_NAME="+event, "GITHUB_EVENT_PATH="+payload)
	f, err := actions.Detect(context.Background(), append(all, env...), actions.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestGitHubEvents: GitHub's build type
// (https://actions.github.io/buildtypes/workflow/v1) for the events its
// specification lists (push here), attestor's own for the others
// (pull_request, schedule), with the same external parameters: the
// provenance of each, in both versions, is golden
// (testdata/github-EVENT.vVERSION.json).
func TestGitHubEvents(t *testing.T) {
	t.Parallel()
	steps := signedSteps(t, records())
	for _, ev := range githubEvents {
		for _, v := range []provenance.Version{provenance.V1, provenance.V02} {
			t.Run(ev.event+"/"+string(v), func(t *testing.T) {
				t.Parallel()
				in := provenance.Input{Facts: githubEventFacts(t, ev.event, ev.env), Steps: steps, Subjects: []*ita1.ResourceDescriptor{image}}
				st, err := provenance.Build(in, provenance.WithVersion(v), provenance.WithClock(fixedClock))
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Validate(); err != nil {
					t.Fatalf("statement does not validate: %v", err)
				}
				roundTrip(t, st, v)
				var got string
				if v == provenance.V1 {
					p, err := provenance.V1Predicate(st)
					if err != nil {
						t.Fatal(err)
					}
					got = p.GetBuildDefinition().GetBuildType()
					if want := ev.buildType; got != want {
						t.Errorf("%s: build type %q, want %q", ev.event, got, want)
					}
				} else {
					p, err := provenance.V02Predicate(st)
					if err != nil {
						t.Fatal(err)
					}
					got = p.GetBuildType()
					if want := ev.buildTypeV02; got != want {
						t.Errorf("%s: v0.2 build type %q, want %q", ev.event, got, want)
					}
				}
				golden(t, "github-"+ev.event+".v"+string(v)+".json", st)
			})
		}
	}
}

// TestGitHubEventsSameParameters: whatever the build type, a job's
// external parameters are those of GitHub's build type (workflow: ref,
// repository, path), the same for every event; only the build type and
// internalParameters.github.event_name say which event it was.
func TestGitHubEventsSameParameters(t *testing.T) {
	t.Parallel()
	steps := signedSteps(t, records())
	build := func(event string) (buildType string, ext, internal map[string]any) {
		t.Helper()
		// The same job (the schedule's variables) under each event.
		st, err := provenance.Build(provenance.Input{Facts: githubEventFacts(t, event, githubEvents[2].env), Steps: steps, Subjects: []*ita1.ResourceDescriptor{image}},
			provenance.WithClock(fixedClock))
		if err != nil {
			t.Fatal(err)
		}
		p, err := provenance.V1Predicate(st)
		if err != nil {
			t.Fatal(err)
		}
		bd := p.GetBuildDefinition()
		return bd.GetBuildType(), bd.GetExternalParameters().AsMap(), bd.GetInternalParameters().AsMap()
	}
	pushType, pushExt, pushInt := build("push")
	if pushType != actions.BuildTypeGitHub {
		t.Fatalf("push: build type %q", pushType)
	}
	wantExt := map[string]any{"workflow": map[string]any{
		"ref": "refs/heads/main", "repository": "https://github.com/acme/app", "path": ".github/workflows/nightly.yml",
	}}
	if diff := cmp.Diff(wantExt, pushExt); diff != "" {
		t.Errorf("push: external parameters (-want +got):\n%s", diff)
	}
	for _, event := range []string{"pull_request", "schedule"} {
		typ, ext, internal := build(event)
		if typ != buildTypeGitHubOtherEvent {
			t.Errorf("%s: build type %q, want %q", event, typ, buildTypeGitHubOtherEvent)
		}
		if diff := cmp.Diff(pushExt, ext, protocmp.Transform()); diff != "" {
			t.Errorf("%s: external parameters differ from push's (-push +%s):\n%s", event, event, diff)
		}
		wantInt := map[string]any{"github": map[string]any{}}
		for k, v := range pushInt["github"].(map[string]any) {
			wantInt["github"].(map[string]any)[k] = v
		}
		wantInt["github"].(map[string]any)["event_name"] = event
		if diff := cmp.Diff(wantInt, internal); diff != "" {
			t.Errorf("%s: internal parameters (-want +got):\n%s", event, diff)
		}
	}
}

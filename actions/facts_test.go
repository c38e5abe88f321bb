package actions_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/attestor/attestor/actions"
)

var update = flag.Bool("update", false, "rewrite golden files")

const envDir = "../testdata/provenance/env"

// loadEnv reads a recorded environment: KEY=value lines, # comments. A
// relative GITHUB_EVENT_PATH is made relative to the file.
func loadEnv(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(envDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, _ := strings.Cut(line, "="); k == "GITHUB_EVENT_PATH" && v != "" && !filepath.IsAbs(v) {
			abs, err := filepath.Abs(filepath.Join(envDir, v))
			if err != nil {
				t.Fatal(err)
			}
			line = k + "=" + abs
		}
		env = append(env, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

func noHost() (string, error) { return "", errors.New("no host name in tests") }

// golden compares got, as indented JSON, with testdata/name (rewritten
// with -update).
func golden(t *testing.T, name string, got any) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(data)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestDetectPlatforms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env      string
		platform actions.Platform
	}{
		{"github.env", actions.GitHubActions},
		{"cloudbuild.env", actions.CloudBuild},
		{"spinnaker.env", actions.Spinnaker},
		{"gitlab.env", actions.GitLabCI},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			env := loadEnv(t, tc.env)
			if got := actions.DetectPlatform(env); got != tc.platform {
				t.Fatalf("DetectPlatform = %q, want %q", got, tc.platform)
			}
			// The directory is no git checkout: nothing is read from it.
			f, err := actions.Detect(context.Background(), env, actions.WithDir(t.TempDir()), actions.WithHostname(noHost))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(tc.env, ".env")+".facts.json", f)
		})
	}
}

// TestDetectMissingFacts checks that facts the environment does not state,
// or states ambiguously, are left out.
func TestDetectMissingFacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		env   []string
		check func(*actions.Facts) string
	}{
		{"github without runner environment has no builder id",
			[]string{"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/app", "GITHUB_SERVER_URL=https://github.com"},
			func(f *actions.Facts) string {
				if f.BuilderID != "" || f.InvocationID != "" {
					return "builder id or invocation invented"
				}
				return ""
			}},
		{"github short sha is not a commit",
			[]string{"GITHUB_ACTIONS=true", "GITHUB_SHA=5f0e4c1"},
			func(f *actions.Facts) string {
				if f.Source.Commit != "" || f.Source.Repo != "" {
					return "source invented"
				}
				return ""
			}},
		{"cloud build with branch and tag has no ref",
			[]string{"BUILD_ID=b", "PROJECT_ID=p", "BRANCH_NAME=main", "TAG_NAME=v1"},
			func(f *actions.Facts) string {
				if f.Source.Ref != "" {
					return "ref " + f.Source.Ref + " from an ambiguous branch and tag"
				}
				if f.Source.Repo != "" {
					return "repo invented"
				}
				return ""
			}},
		{"gitlab ref name alone is ambiguous",
			[]string{"GITLAB_CI=true", "CI_COMMIT_REF_NAME=main"},
			func(f *actions.Facts) string {
				if f.Source.Ref != "" || f.BuilderID != "" || f.BuildType != "" {
					return "facts invented"
				}
				return ""
			}},
		{"spinnaker without url has no builder id",
			[]string{"SPINNAKER_EXECUTION_ID=e1", "SPINNAKER_APPLICATION=app"},
			func(f *actions.Facts) string {
				if f.BuilderID != "" || f.InvocationURL != "" || f.InvocationID != "e1" {
					return "unexpected builder or invocation"
				}
				return ""
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := actions.Detect(ctx, tc.env, actions.WithDir(t.TempDir()), actions.WithHostname(noHost))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(f); msg != "" {
				t.Errorf("%s: %+v", msg, f)
			}
		})
	}
}

func TestDetectBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string][]string{
		"missing event payload":   {"GITHUB_ACTIONS=true", "GITHUB_EVENT_PATH=" + filepath.Join(t.TempDir(), "none.json")},
		"malformed event payload": {"GITHUB_ACTIONS=true", "GITHUB_EVENT_PATH=" + bad},
		"malformed parameters":    {"SPINNAKER_EXECUTION_ID=e", "SPINNAKER_PARAMETERS=[1,2]"},
	} {
		if _, err := actions.Detect(ctx, env); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// gitRepo makes a git repository with one deterministic commit on main.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = []string{
			"HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@acme.example", "GIT_AUTHOR_DATE=2026-11-24T09:00:00Z",
			"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@acme.example", "GIT_COMMITTER_DATE=2026-11-24T09:00:00Z",
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("config", "commit.gpgsign", "false")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "main.go")
	git("commit", "-q", "-m", "first")
	git("remote", "add", "origin", "https://deploy:s3cret@github.com/acme/app.git")
	return dir
}

func TestDetectLocal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := gitRepo(t)
	env := []string{"USER=dev", "HOME=" + dir}
	host := func() (string, error) { return "devbox", nil }

	f, err := actions.Detect(ctx, env, actions.WithDir(dir), actions.WithHostname(host))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "local.facts.json", f)
	if strings.Contains(f.Source.Repo, "s3cret") {
		t.Fatalf("credentials of the remote leaked: %s", f.Source.Repo)
	}

	// An untracked file leaves the tree clean; a change to a tracked one
	// makes it dirty.
	if err := os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err = actions.Detect(ctx, env, actions.WithDir(dir), actions.WithHostname(host)); err != nil || f.Source.Dirty {
		t.Fatalf("untracked file: dirty=%v err=%v", f.Source.Dirty, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main // changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err = actions.Detect(ctx, env, actions.WithDir(dir), actions.WithHostname(host)); err != nil || !f.Source.Dirty {
		t.Fatalf("changed file: dirty=%v err=%v", f.Source.Dirty, err)
	}

	// Outside a repository: no source, and no error.
	f, err = actions.Detect(ctx, env, actions.WithDir(t.TempDir()), actions.WithHostname(host))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Source.IsZero() || f.Runner.Host != "devbox" || f.Runner.User != "dev" {
		t.Fatalf("outside a repository: %+v", f)
	}
}

// TestDetectRepoFromCheckout: a Cloud Build step without REPO_URL takes
// the repository from the checkout when HEAD is COMMIT_SHA, and only then.
func TestDetectRepoFromCheckout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := gitRepo(t)
	local, err := actions.Detect(ctx, []string{"HOME=" + dir}, actions.WithDir(dir), actions.WithHostname(noHost))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		commit, want string
	}{
		{local.Source.Commit, "https://github.com/acme/app"},
		{strings.Repeat("a", 40), ""},
	} {
		env := []string{"BUILD_ID=b", "PROJECT_ID=p", "COMMIT_SHA=" + tc.commit, "HOME=" + dir}
		f, err := actions.Detect(ctx, env, actions.WithDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		if f.Source.Repo != tc.want {
			t.Errorf("COMMIT_SHA=%s: repo %q, want %q", tc.commit, f.Source.Repo, tc.want)
		}
	}
}

func TestRepoURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://github.com/acme/app":                  "https://github.com/acme/app",
		"https://github.com/acme/app.git":              "https://github.com/acme/app",
		"git+https://github.com/acme/app":              "https://github.com/acme/app",
		"https://x-access-token:ghs_x@github.com/a/b/": "https://github.com/a/b",
		"git@github.com:acme/app.git":                  "https://github.com/acme/app",
		"ssh://git@gitlab.com:22/group/sub/app.git":    "https://gitlab.com/group/sub/app",
		"/srv/git/app.git":                             "",
		"file:///srv/git/app.git":                      "",
		"":                                             "",
	} {
		if got := actions.RepoURL(in); got != want {
			t.Errorf("RepoURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSource(t *testing.T) {
	t.Parallel()
	sha := "5f0e4c1a7b2d3e9f8a6b5c4d3e2f1a0b9c8d7e6f"
	for in, want := range map[string]actions.Source{
		"https://github.com/acme/app":                         {Repo: "https://github.com/acme/app"},
		"git+https://github.com/acme/app@refs/heads/main":     {Repo: "https://github.com/acme/app", Ref: "refs/heads/main"},
		"git@github.com:acme/app.git@" + strings.ToUpper(sha): {Repo: "https://github.com/acme/app", Commit: sha},
		"https://user@github.com/acme/app@refs/tags/v1.0.0":   {Repo: "https://github.com/acme/app", Ref: "refs/tags/v1.0.0"},
	} {
		got, err := actions.ParseSource(in)
		if err != nil {
			t.Errorf("ParseSource(%q): %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseSource(%q) (-want +got):\n%s", in, diff)
		}
	}
	for _, in := range []string{"", "app", "/local/path", "ftp://host/x"} {
		if _, err := actions.ParseSource(in); err == nil {
			t.Errorf("ParseSource(%q): no error", in)
		}
	}
}

func TestSpinnakerStartTime(t *testing.T) {
	t.Parallel()
	f, err := actions.Detect(context.Background(), loadEnv(t, "spinnaker.env"), actions.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 24, 9, 12, 0, 0, time.UTC); !f.StartedOn.Equal(want) {
		t.Errorf("StartedOn = %v, want %v", f.StartedOn, want)
	}
}

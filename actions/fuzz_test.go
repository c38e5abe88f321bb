package actions_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/attestor/attestor/actions"
)

// FuzzRepoURL: a normalized URL is https, carries no credentials, and
// normalizing it again changes nothing.
func FuzzRepoURL(f *testing.F) {
	for _, s := range []string{
		"https://github.com/acme/app.git", "git@github.com:acme/app.git", "ssh://git@host:22/a/b",
		"https://user:token@gitlab.com/g/p", "git+https://x/y", "/local/path", "", "http://[::1]:80/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, remote string) {
		got := actions.RepoURL(remote)
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("RepoURL(%q) = %q: %v", remote, got, err)
		}
		if u.Scheme != "https" || u.User != nil {
			t.Fatalf("RepoURL(%q) = %q: not https without credentials", remote, got)
		}
		if again := actions.RepoURL(got); again != got {
			t.Fatalf("RepoURL(%q) = %q, but RepoURL(%q) = %q", remote, got, got, again)
		}
	})
}

// FuzzParseSource: a parsed source always names a normalized repository.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{
		"https://github.com/acme/app@refs/heads/main", "git@github.com:a/b.git@0123456789abcdef0123456789abcdef01234567", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := actions.ParseSource(s)
		if err != nil {
			return
		}
		if src.Repo == "" || actions.RepoURL(src.Repo) != src.Repo {
			t.Fatalf("ParseSource(%q) = %+v: repository not normalized", s, src)
		}
		if src.Ref != "" && !strings.HasPrefix(src.Ref, "refs/") {
			t.Fatalf("ParseSource(%q) = %+v: bad ref", s, src)
		}
	})
}

// FuzzDetect: no environment makes Detect fail or invent a commit that is
// not a full hex id.
func FuzzDetect(f *testing.F) {
	f.Add("GITHUB_ACTIONS=true\nGITHUB_SHA=abc")
	f.Add("BUILD_ID=1\nPROJECT_ID=p\nCOMMIT_SHA=5f0e4c1a7b2d3e9f8a6b5c4d3e2f1a0b9c8d7e6f\nTAG_NAME=v1")
	f.Add("GITLAB_CI=true\nCI_JOB_STARTED_AT=yesterday")
	f.Add("SPINNAKER_EXECUTION_ID=e\nSPINNAKER_START_TIME=-1\nSPINNAKER_URL=javascript:alert(1)")
	f.Fuzz(func(t *testing.T, environ string) {
		var env []string
		for _, kv := range strings.Split(environ, "\n") {
			if !strings.HasPrefix(kv, "GITHUB_EVENT_PATH=") && !strings.HasPrefix(kv, "SPINNAKER_PARAMETERS=") {
				env = append(env, kv)
			}
		}
		fa, err := actions.Detect(context.Background(), env, actions.WithDir(t.TempDir()), actions.WithGit("/nonexistent/git"))
		if err != nil {
			t.Fatalf("Detect: %v", err)
		}
		if c := fa.Source.Commit; c != "" && len(c) != 40 && len(c) != 64 {
			t.Fatalf("commit %q", c)
		}
		if fa.BuilderID != "" {
			if u, err := url.Parse(fa.BuilderID); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
				t.Fatalf("builder id %q is not a URL", fa.BuilderID)
			}
		}
	})
}

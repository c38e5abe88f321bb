package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// localFacts reads the facts of a build on a developer's machine: the git
// repository in o.dir (remote "origin", the branch checked out, HEAD, and
// whether tracked files have changes), the user and the host. A directory
// that is not a git repository gives facts without a source.
func localFacts(ctx context.Context, env environment, o *options) (*Facts, error) {
	f := &Facts{Platform: Local, BuildType: BuildTypeLocal, BuilderID: BuilderLocal}
	g, err := readGit(ctx, o)
	if err != nil && !errors.Is(err, errNotGit) {
		return nil, err
	}
	if err == nil {
		f.Source = Source{Repo: g.remote, Ref: g.ref, Commit: g.commit, Dirty: g.dirty}
	}
	f.Runner.User = env.value("USER")
	if f.Runner.User == "" {
		f.Runner.User = env.value("USERNAME")
	}
	f.Runner.Host = env.value("HOSTNAME")
	if f.Runner.Host == "" {
		if h, err := o.hostname(); err == nil {
			f.Runner.Host = h
		}
	}
	local := map[string]any{}
	setIf(local, "user", f.Runner.User)
	setIf(local, "host", f.Runner.Host)
	if err == nil {
		local["dirty"] = g.dirty
	}
	if len(local) > 0 {
		f.Internal = map[string]any{"local": local}
	}
	return f, nil
}

var errNotGit = errors.New("not a git repository")

type gitFacts struct {
	remote, ref, commit string
	dirty               bool
}

// readGit reads the git facts of the checkout in o.dir. It returns
// errNotGit when o.dir is not in a git work tree (or git is not installed).
func readGit(ctx context.Context, o *options) (*gitFacts, error) {
	if _, err := exec.LookPath(o.git); err != nil {
		return nil, errNotGit
	}
	if out, err := runGit(ctx, o, "rev-parse", "--is-inside-work-tree"); err != nil || out != "true" {
		return nil, errNotGit
	}
	g := &gitFacts{}
	head, err := runGit(ctx, o, "rev-parse", "--verify", "-q", "HEAD")
	if err == nil {
		g.commit = commit(head)
	}
	// A detached HEAD names no branch: the ref is left out.
	if ref, err := runGit(ctx, o, "symbolic-ref", "-q", "HEAD"); err == nil && strings.HasPrefix(ref, "refs/") && g.commit != "" {
		g.ref = ref
	}
	if remote, err := runGit(ctx, o, "remote", "get-url", "origin"); err == nil {
		g.remote = RepoURL(remote)
	}
	// Untracked files do not make a tree dirty: the workspace and build
	// outputs are usually untracked.
	status, err := runGit(ctx, o, "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return nil, err
	}
	g.dirty = status != ""
	return g, nil
}

func runGit(ctx context.Context, o *options, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, o.git, append([]string{"-C", o.dir}, args...)...)
	// A fixed environment: the facts depend on the repository, not on
	// GIT_DIR or a pager left in the caller's environment.
	// HOME comes from the step's environment, so that the user's
	// safe.directory settings apply.
	cmd.Env = []string{"LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", "HOME=" + o.home}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

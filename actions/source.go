package actions

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// RepoURL normalizes a git remote to the https URL a provenance names it by:
// credentials are removed, "git@host:path" and "ssh://git@host/path" become
// "https://host/path", and a trailing ".git" or "/" is dropped. A remote
// that is not a network URL (a local path, file://) returns "".
func RepoURL(remote string) string {
	remote = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(remote), "git+"))
	if remote == "" {
		return ""
	}
	// scp-like syntax: [user@]host:path, with no scheme.
	if !strings.Contains(remote, "://") {
		host, path, ok := strings.Cut(remote, ":")
		if !ok || strings.Contains(host, "/") || path == "" {
			return ""
		}
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = host[i+1:]
		}
		remote = "https://" + host + "/" + strings.TrimPrefix(path, "/")
	}
	u, err := url.Parse(remote)
	if err != nil || u.Host == "" {
		return ""
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git":
	default:
		return ""
	}
	u.Scheme = "https"
	u.User = nil
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	if u.Port() == "22" || u.Port() == "9418" {
		u.Host = u.Hostname()
	}
	for p := ""; p != u.Path; {
		p = u.Path
		u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), ".git")
	}
	u.RawPath = ""
	return u.String()
}

var hexRE = regexp.MustCompile(`^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$`)

// ParseSource parses a source given by hand (--source): "REPO", "REPO@REF"
// or "REPO@COMMIT", where REPO is a git URL (an optional "git+" prefix is
// dropped), REF a fully qualified ref ("refs/heads/main") and COMMIT a full
// commit id. Use it to override what Detect found.
func ParseSource(s string) (Source, error) {
	raw := strings.TrimSpace(s)
	repo, rev := raw, ""
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		if tail := raw[i+1:]; strings.HasPrefix(tail, "refs/") || hexRE.MatchString(tail) {
			repo, rev = raw[:i], tail
		}
	}
	src := Source{Repo: RepoURL(repo)}
	if src.Repo == "" {
		return Source{}, fmt.Errorf("invalid source %q: want a git URL such as https://github.com/acme/app, optionally followed by @refs/heads/BRANCH or @COMMIT", s)
	}
	switch {
	case strings.HasPrefix(rev, "refs/"):
		src.Ref = rev
	case rev != "":
		src.Commit = strings.ToLower(rev)
	}
	return src, nil
}

// Override returns s with every field that o sets replaced.
func (s Source) Override(o Source) Source {
	if o.Repo != "" {
		if o.Repo != s.Repo {
			// A different repository: its ref and commit are not ours.
			s = Source{}
		}
		s.Repo = o.Repo
	}
	if o.Ref != "" {
		s.Ref = o.Ref
	}
	if o.Commit != "" {
		s.Commit = o.Commit
	}
	return s
}

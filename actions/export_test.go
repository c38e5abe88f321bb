package actions

// Test hooks for package actions_test: a git and a host name the binary
// does not set (it runs "git" from the PATH and asks os.Hostname).

// WithGit sets the git executable.
func WithGit(path string) Option {
	return func(o *options) error { o.git = path; return nil }
}

// WithHostname sets how a local build learns the host name when HOSTNAME
// is not in the environment.
func WithHostname(fn func() (string, error)) Option {
	return func(o *options) error { o.hostname = fn; return nil }
}

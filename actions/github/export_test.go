package github

import (
	"context"
	"fmt"
	"io"
)

// Test hooks: what the binary does not use (it takes identity tokens from
// package sign), kept for the tests of this package.

// OIDCAudience is the audience of the identity token that sigstore's
// Fulcio accepts.
const OIDCAudience = "sigstore"

// withRandom sets the source of the output delimiters.
func withRandom(r io.Reader) Option {
	return func(o *options) { o.random = r }
}

// SetEnv sets an environment variable for the job's later steps
// (GITHUB_ENV), like SetOutput. Without GITHUB_ENV it does nothing.
func (a *Action) SetEnv(name, value string) error {
	return a.fileCommand("env", "GITHUB_ENV", name, value)
}

// Warningf writes a warning annotation (::warning::) in GitHub Actions;
// outside it does nothing.
func (a *Action) Warningf(format string, args ...any) {
	if a.Enabled() {
		a.command(func() { a.gha.Warningf(format, args...) })
	}
}

// IDToken returns the job's OIDC identity token for audience (OIDCAudience
// for sigstore) and masks it. The job needs the permission id-token: write,
// which sets ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN.
func (a *Action) IDToken(ctx context.Context, audience string) (string, error) {
	tok, err := a.gha.GetIDToken(ctx, audience)
	if err != nil {
		return "", fmt.Errorf("getting the GitHub Actions identity token (does the job have permissions: id-token: write?): %w", err)
	}
	a.AddMask(tok)
	return tok, nil
}

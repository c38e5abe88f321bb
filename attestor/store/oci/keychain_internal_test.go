package oci

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestGitHubKeychain(t *testing.T) {
	env := map[string]string{"GITHUB_TOKEN": "ghs_token", "GITHUB_ACTOR": "octocat"}
	kc := githubKeychain{func(k string) string { return env[k] }}
	for _, tc := range []struct {
		repo string
		want authn.AuthConfig
	}{
		{"ghcr.io/acme/app", authn.AuthConfig{Username: "octocat", Password: "ghs_token"}},
		{"registry.example/acme/app", authn.AuthConfig{}},
	} {
		repo, err := name.NewRepository(tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		a, err := kc.Resolve(repo)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != tc.want.Username || got.Password != tc.want.Password {
			t.Errorf("%s: got %q/%q, want %q/%q", tc.repo, got.Username, "***", tc.want.Username, "***")
		}
	}
	o, err := makeOptions([]Option{WithEnv(func(k string) string { return env[k] })})
	if err != nil {
		t.Fatal(err)
	}
	r := &Registry{o: o}
	if err := r.redact(errString("token ghs_token refused")); err.Error() != "token *** refused" {
		t.Errorf("redacted error = %q", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

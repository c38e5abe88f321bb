package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// maxDockerConfig bounds the docker config file read.
const maxDockerConfig = 1 << 20

// helperName is what a credential helper may be called: docker runs
// docker-credential-NAME from PATH, and a NAME with a path separator
// ("x/evil") would run a program from wherever the docker config says.
var helperName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// DockerKeychain is authn.DefaultKeychain's lookup of credentials (the
// docker config: $HOME/.docker/config.json or $DOCKER_CONFIG/config.json,
// else Podman's auth file: $REGISTRY_AUTH_FILE, containers/auth.json in
// $XDG_RUNTIME_DIR or $XDG_CONFIG_HOME), written again because what the
// default keychain does with a file anything in a CI job can write is not
// safe: it opens the file blocking (a FIFO there hangs it), runs a
// credential helper the file names by a path ("credsStore": "x/evil" runs
// ./docker-credential-x/evil), and waits for the helper without a time
// limit. Here the file is opened without blocking, bounded, helper names
// must be plain names (found in PATH), and a helper that does not answer
// before the request's context ends is an error (it is left to exit on
// its own). A helper inherits attestor's environment, from which the CLI
// takes its own secrets out first.
var DockerKeychain authn.Keychain = dockerKeychain{}

type dockerKeychain struct{}

func (k dockerKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), target)
}

func (dockerKeychain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	path := dockerConfigPath()
	if path == "" {
		return authn.Anonymous, nil
	}
	data, err := safefile.Read(path, maxDockerConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return authn.Anonymous, nil
	}
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("docker config %s: %w", path, err))
	}
	cf, err := config.LoadFromReader(bytes.NewReader(data))
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("docker config %s: %w", path, err))
	}
	if err := checkHelpers(cf); err != nil {
		return nil, fault.Invalid(fmt.Errorf("docker config %s: %w", path, err))
	}
	type answer struct {
		cfg types.AuthConfig
		err error
	}
	done := make(chan answer, 1)
	go func() {
		cfg, err := authConfig(cf, target)
		done <- answer{cfg, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		return nil, fault.Unavailable(fmt.Errorf("docker config %s: the credential helper for %s did not answer: %w", path, target.RegistryStr(), ctx.Err()))
	}
	if a.err != nil {
		return nil, fault.Invalid(fmt.Errorf("docker config %s: credentials for %s: %w", path, target.RegistryStr(), a.err))
	}
	if a.cfg == (types.AuthConfig{}) {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      a.cfg.Username,
		Password:      a.cfg.Password,
		Auth:          a.cfg.Auth,
		IdentityToken: a.cfg.IdentityToken,
		RegistryToken: a.cfg.RegistryToken,
	}), nil
}

// checkHelpers refuses credential helpers that are not plain names.
func checkHelpers(cf *configfile.ConfigFile) error {
	if s := cf.CredentialsStore; s != "" && !helperName.MatchString(s) {
		return fmt.Errorf("credsStore %q is not a plain helper name", s)
	}
	for reg, h := range cf.CredentialHelpers {
		if !helperName.MatchString(h) {
			return fmt.Errorf("credHelpers[%q] %q is not a plain helper name", reg, h)
		}
	}
	return nil
}

// authConfig is the default keychain's lookup in cf: the repository's
// key, then the registry's (Docker Hub's by its historical key).
func authConfig(cf *configfile.ConfigFile, target authn.Resource) (types.AuthConfig, error) {
	var empty types.AuthConfig
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		cfg, err := cf.GetAuthConfig(key)
		if err != nil {
			return empty, err
		}
		cfg.ServerAddress = ""
		if cfg != empty {
			return cfg, nil
		}
	}
	return empty, nil
}

// dockerConfigPath is the file authn.DefaultKeychain reads, or "".
func dockerConfigPath() string {
	home, _ := os.UserHomeDir()
	exists := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && !fi.IsDir()
	}
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" && exists(filepath.Join(dir, "config.json")) {
		return filepath.Join(dir, "config.json")
	}
	if home != "" && exists(filepath.Join(home, ".docker", "config.json")) {
		if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
			return filepath.Join(dir, "config.json")
		}
		return filepath.Join(home, ".docker", "config.json")
	}
	if p := os.Getenv("REGISTRY_AUTH_FILE"); p != "" && exists(filepath.Clean(p)) {
		return filepath.Clean(p)
	}
	configDir := os.Getenv("XDG_CONFIG_HOME")
	if configDir == "" && home != "" {
		configDir = filepath.Join(home, ".config")
	}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" && exists(filepath.Join(rt, "containers", "auth.json")) {
		return filepath.Join(rt, "containers", "auth.json")
	}
	if configDir != "" && exists(filepath.Join(configDir, "containers", "auth.json")) {
		return filepath.Join(configDir, "containers", "auth.json")
	}
	return ""
}

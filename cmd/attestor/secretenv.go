package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/attestor/attestor/attestor/sign"
)

// takenEnv are the variables holding secrets attestor signs or
// authenticates with that main takes out of the process's environment
// once it has read it: no process attestor starts inherits them, not the
// wrapped command (attestor.CommandEnv filters its environment anyway),
// git, or a docker credential helper named by a docker config that
// anything in the job could have written. attestor reads them from
// globals.environ instead. The cloud SDKs' own variables (AWS_*, AZURE_*,
// GOOGLE_APPLICATION_CREDENTIALS) stay: their clients read them when and
// as they please.
var takenEnv = []string{
	sign.PasswordEnv, "ATTESTOR_GRAFEAS_TOKEN", "VAULT_TOKEN",
	sign.EnvSigstoreIDToken, sign.EnvGitHubRequestToken, sign.EnvGitHubTokenURL,
}

// takenEnvPrefix starts the names of the GitHub Action's inputs, taken too
// (INPUT_KEY is a PEM private key).
const takenEnvPrefix = "INPUT_"

// takeSecretEnv returns the process's environment as it started and
// removes the secrets (takenEnv, takenEnvPrefix) from it. A variable that
// cannot be removed is a fatal error: attestor would hand it on.
func takeSecretEnv() ([]string, error) {
	environ := os.Environ()
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if name == "" || !taken(name) {
			continue
		}
		if err := os.Unsetenv(name); err != nil {
			return nil, fmt.Errorf("removing %s from the environment: %w", name, err)
		}
	}
	return environ, nil
}

func taken(name string) bool {
	upper := strings.ToUpper(name)
	if strings.HasPrefix(upper, takenEnvPrefix) {
		return true
	}
	for _, n := range takenEnv {
		if upper == n {
			return true
		}
	}
	return false
}

// env returns the environment attestor started with: the secrets taken
// out of the process's environment included.
func (g *globals) env() []string {
	if g.environ != nil {
		return g.environ
	}
	return os.Environ()
}

// lookupEnv reads the variable name of the environment attestor started
// with (see env); the last entry of a name wins, as in os.LookupEnv.
func (g *globals) lookupEnv(name string) (string, bool) {
	if g.environ == nil {
		return os.LookupEnv(name)
	}
	for i := len(g.environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(g.environ[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// getenv is lookupEnv without the second result.
func (g *globals) getenv(name string) string {
	v, _ := g.lookupEnv(name)
	return v
}

// password is the password function of encrypted keys: COSIGN_PASSWORD
// from the environment attestor started with.
func (g *globals) password() ([]byte, error) {
	pw, ok := g.lookupEnv(sign.PasswordEnv)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not set", sign.ErrPasswordRequired, sign.PasswordEnv)
	}
	return []byte(pw), nil
}

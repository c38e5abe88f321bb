package attestor

import (
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
)

// SigningEnv names the environment variables that hold attestor's own
// signing secrets, or name its key: COSIGN_PASSWORD (a cosign key's
// password), ATTESTOR_KEY and ATTESTOR_GRAFEAS_TOKEN. With the variables whose names start with
// SigningEnvPrefix, CommandEnv never passes them to a wrapped command.
var SigningEnv = []string{"COSIGN_PASSWORD", "ATTESTOR_KEY", "ATTESTOR_GRAFEAS_TOKEN"}

// SigningEnvPrefix starts the names of the GitHub Action's inputs
// (INPUT_KEY holds a PEM private key; INPUT_IDENTITY_TOKEN an OIDC token),
// which are the action's to read, never a wrapped command's.
const SigningEnvPrefix = "INPUT_"

// CommandEnv returns environ without the variables a command wrapped by a
// step must not see, because with them it could sign a record of its own:
// SigningEnv, those starting with SigningEnvPrefix, and, when signer is a
// CredentialSigner, the variables it reads its credentials from (a KMS
// token, a cloud's keys, the CI's OIDC token request). Names are compared
// without regard to case (Windows' are case-insensitive). environ is not
// modified.
func CommandEnv(environ []string, signer envelope.Signer) []string {
	drop := map[string]bool{}
	for _, n := range SigningEnv {
		drop[strings.ToUpper(n)] = true
	}
	if cs, ok := signer.(envelope.CredentialSigner); ok {
		for _, n := range cs.CredentialEnv() {
			drop[strings.ToUpper(n)] = true
		}
	}
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if drop[upper] || strings.HasPrefix(upper, SigningEnvPrefix) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

package sign

import "github.com/attestor/attestor/attestor/envelope"

var _ envelope.CredentialSigner = (*Keyless)(nil)

// KeylessCredentialEnv names the environment variables a Keyless signer
// reads its identity token from: GitHub Actions' token request, and the
// token GitLab CI (or anyone) gives in SIGSTORE_ID_TOKEN.
var KeylessCredentialEnv = []string{EnvGitHubTokenURL, EnvGitHubRequestToken, EnvSigstoreIDToken}

// CredentialEnv returns KeylessCredentialEnv: a command that has these
// variables can get a certificate for the CI's identity and sign as the
// step would (see attestor.CommandEnv).
func (k *Keyless) CredentialEnv() []string { return KeylessCredentialEnv }

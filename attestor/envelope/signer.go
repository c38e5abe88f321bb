package envelope

import (
	"context"
	"crypto"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Signer signs the records of a step. It is the go-securesystemslib DSSE
// signer: Sign receives the whole message (the DSSE pre-authentication
// encoding) and returns the raw signature; the implementation hashes as its
// algorithm requires. KeyID returns the in-toto key id (the hex SHA-256 of the
// canonical JSON of the public key) or, for keyless signers, an identifier of
// the ephemeral key.
//
// Implementations live in attestor/sign and attestor/sign/kms.
type Signer interface {
	Sign(ctx context.Context, message []byte) ([]byte, error)
	KeyID() (string, error)
	Public() crypto.PublicKey
}

// LegacySigner is a Signer that can also sign classic in-toto v0.9 links,
// whose signature scheme may differ from the DSSE one (RSA keys sign links
// with RSASSA-PSS, envelopes with PKCS #1 v1.5 as cosign does). A Signer that
// is not a LegacySigner cannot write --format legacy.
type LegacySigner interface {
	Signer
	// SignLegacy signs the canonical JSON of a link's "signed" object and
	// returns the raw signature.
	SignLegacy(ctx context.Context, message []byte) ([]byte, error)
}

// BundleSigner is a Signer that also makes a sigstore bundle of each
// envelope it signed (keyless signers: the bundle carries the certificate
// and the transparency log entry that verifiers need). The Recorder writes
// the bundle next to the envelope (workspace.BundleName).
type BundleSigner interface {
	Signer
	// Bundle returns the sigstore bundle (JSON) of env, an envelope
	// signed with this signer.
	Bundle(ctx context.Context, env *dsse.Envelope) ([]byte, error)
}

// KeyDeriver is a Signer that holds its private key and can derive secrets
// from it: DeriveKey returns 32 bytes that only a holder of the signing key
// can compute, a different secret for each purpose. The Recorder
// authenticates the workspace's hash cache with one, so that
// the processes that can make a step trust a cached digest are those that
// could sign the step anyway.
type KeyDeriver interface {
	Signer
	DeriveKey(purpose string) ([]byte, error)
}

// CredentialSigner is a Signer that reads its credentials from environment
// variables (a KMS token, a cloud's access keys, the CI's OIDC token
// request): CredentialEnv names them. The Recorder removes them from the
// environment of the command it wraps (attestor.CommandEnv): with them, the
// command could sign.
type CredentialSigner interface {
	Signer
	CredentialEnv() []string
}

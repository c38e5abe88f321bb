package attestor

import (
	"context"
	"crypto"
)

// Signer signs the records of a step. It is the go-securesystemslib DSSE
// signer: Sign receives the whole message (the DSSE pre-authentication
// encoding) and returns the raw signature; the implementation hashes as its
// algorithm requires. KeyID returns the in-toto key id (the hex SHA-256 of the
// canonical JSON of the public key) or, for keyless signers, an identifier of
// the ephemeral key.
//
// Implementations live in attestor/sign.
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

package sign

import (
	"errors"

	"github.com/attestor/attestor/attestor/fault"
)

// Sentinel errors. Callers branch on them with errors.Is. Every error about
// a key file or a password also matches fault.ErrInvalidInput, so the CLI
// exits 2; a signature that does not verify matches ErrNoValidSignature only,
// so the CLI exits 1.
var (
	// ErrNoValidSignature is returned when no signature verifies: by
	// VerifyEnvelope when no signature of the envelope verifies with any of
	// the verifiers (or the envelope is malformed), and by Verifier.Verify
	// and Verifier.VerifyLegacy for a signature that does not verify.
	ErrNoValidSignature = errors.New("no valid signature")

	// ErrMalformedEnvelope is returned by VerifyEnvelope for an envelope
	// that cannot be verified at all: nil, no signatures, too many
	// signatures, an empty payloadType, or a payload or signature that is
	// not base64. It wraps ErrNoValidSignature: the envelope is not
	// verified, which is a verification failure, not a usage error.
	ErrMalformedEnvelope = fault.New("malformed envelope", ErrNoValidSignature)

	// ErrMalformedKey is returned for key material that cannot be parsed:
	// no PEM block, a PEM block that does not decode, an in-toto key whose
	// keyid does not match its key. It wraps fault.ErrInvalidInput.
	ErrMalformedKey = fault.New("malformed key", fault.ErrInvalidInput)

	// ErrUnsupportedKey is returned for a well-formed key this package does
	// not sign or verify with: a key type other than Ed25519, ECDSA and RSA,
	// an ECDSA curve other than P-256, P-384 and P-521, an RSA modulus
	// outside 2048..8192 bits, or a PEM encryption other than cosign's. It
	// wraps fault.ErrInvalidInput.
	ErrUnsupportedKey = fault.New("unsupported key", fault.ErrInvalidInput)

	// ErrNotPrivateKey is returned by Load for a file that holds a public
	// key or a certificate but no private key. It wraps
	// fault.ErrInvalidInput.
	ErrNotPrivateKey = fault.New("not a private key", fault.ErrInvalidInput)

	// ErrNotPublicKey is returned by LoadVerifier and ParseVerifier for a
	// private key: verifiers are built from public keys only, so that
	// private keys are never handed around as if they were public. It wraps
	// fault.ErrInvalidInput.
	ErrNotPublicKey = fault.New("not a public key", fault.ErrInvalidInput)

	// ErrPasswordRequired is returned by Load for an encrypted key when no
	// password is available (by default: COSIGN_PASSWORD is not set). A
	// password function given to WithPassword may return it too. It wraps
	// fault.ErrInvalidInput.
	ErrPasswordRequired = fault.New("encrypted key needs a password", fault.ErrInvalidInput)

	// ErrWrongPassword is returned by Load when an encrypted key does not
	// decrypt with the password: the password is wrong or the key file is
	// corrupted (the two cannot be told apart). It wraps
	// fault.ErrInvalidInput.
	ErrWrongPassword = fault.New("wrong password or corrupted key", fault.ErrInvalidInput)

	// ErrMalformedBundle is returned by VerifyBundle, ParseBundle and
	// BundleEnvelope for data that is not a valid sigstore bundle. It wraps
	// ErrNoValidSignature.
	ErrMalformedBundle = fault.New("malformed sigstore bundle", ErrNoValidSignature)

	// ErrIdentityMismatch is returned by VerifyBundle for a bundle whose
	// signature and certificate verify but whose certificate names another
	// identity (issuer, subject or workflow claims) than the one asked for.
	// It wraps ErrNoValidSignature.
	ErrIdentityMismatch = fault.New("certificate identity does not match", ErrNoValidSignature)

	// ErrNoIdentityToken is returned by IdentityToken and NewKeyless when no
	// OIDC identity token is available: none was given and no supported CI
	// (GitHub Actions, GitLab, Cloud Build) is detected. It wraps
	// fault.ErrInvalidInput.
	ErrNoIdentityToken = fault.New("no OIDC identity token for keyless signing", fault.ErrInvalidInput)
)

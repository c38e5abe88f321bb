// Package sign holds the signers and verifiers of attestor: private and
// public key files, keyless (Fulcio + Rekor) signing, DSSE envelopes,
// sigstore bundles, and cosign-compatible key generation.
//
// # Keys
//
// Load reads a private key file (PEM PKCS #8, SEC 1 or PKCS #1, or a cosign
// encrypted key whose password comes from COSIGN_PASSWORD by default) and
// returns a Signer; New wraps a key already in memory. LoadVerifier and
// ParseVerifier read a public key (PEM PKIX or PKCS #1, a cosign .pub, an
// X.509 certificate, or an in-toto JSON key) and return a Verifier;
// NewVerifier wraps a crypto.PublicKey. Ed25519, ECDSA P-256, P-384 and
// P-521, and RSA keys of 2048 to 8192 bits are supported.
//
// Every key is named by its in-toto key id (KeyID): the hex SHA-256 of the
// canonical JSON of its in-toto form (InTotoKey), identical to what
// in-toto-golang and Python securesystemslib compute, so that links and
// envelopes name the keys that in-toto layouts list.
//
// # Schemes
//
// A Signer signs in two schemes. Sign is the DSSE scheme that cosign
// verifies (RSA keys sign with PKCS #1 v1.5); SignLegacy is the in-toto
// v0.9 link scheme that in-toto-verify checks (RSA keys sign with
// RSASSA-PSS). Ed25519 and ECDSA sign the same way in both. The Signer
// documentation has the table and the differences from cosign's defaults.
//
// # Envelopes
//
// VerifyEnvelope checks DSSE envelopes (go-securesystemslib dsse.Envelope,
// the JSON cosign and in-toto use); package envelope makes them.
// VerifyEnvelope bounds its work, treats key ids as hints, and fails with
// ErrNoValidSignature unless a signature verifies.
//
// # Key generation
//
// GenerateKeyPair returns the same encrypted ECDSA P-256 key pair as cosign
// generate-key-pair, which cosign and Load both read.
//
// Load and LoadVerifier read local files only. KMS keys (gcpkms://,
// awskms://, azurekms://, hashivault://) are signers of the subpackage kms.
//
// # Keyless
//
// NewKeyless returns a Keyless signer: an ephemeral key, a Fulcio
// certificate for the CI's OIDC identity (DetectTokenSource: GitHub
// Actions, GitLab's SIGSTORE_ID_TOKEN, the GCP metadata server; or a
// StaticToken), and a Rekor entry or RFC 3161 timestamp per signature. It
// is an envelope.BundleSigner: Bundle returns the sigstore bundle (v0.3)
// of an envelope, which the Recorder writes next to it
// (<step>.<keyid8>.sigstore.json) and cosign verify-blob-attestation
// --bundle accepts.
//
// VerifyBundle verifies such a bundle against a sigstore trusted root
// (LoadTrustedRoot) and an Identity (issuer, subject,
// GitHub workflow claims) and returns the in-toto statement it signs.
// Identity tokens never appear in errors, logs or outputs.
//
// Errors about keys and passwords match fault.ErrInvalidInput; failed
// verifications match ErrNoValidSignature. Neither ever contains a password
// or key bytes, and Signer never prints its key.
package sign

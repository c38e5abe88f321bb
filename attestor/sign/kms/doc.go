// Package kms signs with keys held in a key management service, named by
// the URIs cosign uses: hashivault://KEY (HashiCorp Vault's transit
// engine). The other cosign schemes, gcpkms://, awskms:// and
// azurekms://, are recognized and rejected with ErrUnsupportedProvider:
// their cloud SDKs would double the size and start-up of the attestor
// binary that runs in every build step (see README, "Keyless and KMS").
//
// Load returns a Signer, an attestor.Signer whose signatures are the ones
// sign.Signer makes with the same key type, so sign.Verifier and cosign
// verify them with the public key that Signer.Public returns (what
// `attestor key public --key URI` prints).
//
// It is a package of its own so that the packages that only verify (the
// gate, the stores) do not link a KMS client.
package kms

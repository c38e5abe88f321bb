// Package signtest holds test helpers for signing, for _test.go files
// only:
//
//   - Run, the conformance suite every envelope.Signer passes: key files
//     (sign.Signer), KMS keys (kms.Signer) and keyless signing
//     (sign.Keyless);
//   - NewSigstore, an offline sigstore (a GitHub-Actions-shaped OIDC token
//     endpoint, Fulcio, Rekor and an RFC 3161 timestamp authority on
//     127.0.0.1, backed by sigstore-go's test CA and VirtualSigstore) and
//     its trusted root, to make and verify keyless bundles without the
//     network;
//   - NewVault, a HashiCorp Vault transit engine for one key, for
//     hashivault:// signers;
//   - NewAWSKMS, NewGCPKMS and NewAzureKMS: AWS KMS (its JSON API over
//     HTTPS), Google Cloud KMS (its gRPC API over TLS) and Azure Key Vault
//     (its REST API and a managed-identity token endpoint) for one key, on
//     127.0.0.1, for awskms://, gcpkms:// and azurekms:// signers.
package signtest

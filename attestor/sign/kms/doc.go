// Package kms signs with keys held in a key management service, named by
// the URIs cosign uses:
//
//   - gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]
//     (Google Cloud KMS, Application Default Credentials: in Cloud Build,
//     the build's service account, with no secret to handle);
//   - awskms://[ENDPOINT]/KEY (AWS KMS; KEY is a key id, key ARN,
//     alias/NAME or alias ARN; the AWS CLI's credential chain);
//   - azurekms://VAULT.vault.azure.net/KEY[/VERSION] (Azure Key Vault;
//     DefaultAzureCredential);
//   - hashivault://KEY (HashiCorp Vault's transit engine; VAULT_ADDR,
//     VAULT_TOKEN).
//
// The clients are sigstore's (github.com/sigstore/sigstore/pkg/signature/kms/...),
// the ones cosign uses, so a key works the same way in both. Their cloud
// SDKs add about 10 MB to the attestor binary and a couple of
// milliseconds to its start-up (see README, "KMS in Cloud Build").
//
// Load returns a Signer, an envelope.Signer whose signatures are the ones
// sign.Signer makes with the same key type, so sign.Verifier and cosign
// verify them with the public key that Signer.Public returns (what
// `attestor key public --key URI` prints). A malformed URI is a usage
// error (fault.ErrInvalidInput) that names it; a KMS that cannot be
// reached or refuses is fault.ErrUnavailable. Credentials are read by
// the SDKs and never appear in errors, prints or logs.
//
// It is a package of its own so that the packages that only verify (the
// gate, the stores) do not link a KMS client.
package kms

// Package signtest is the conformance suite every attestor.Signer passes:
// key files (sign.Signer), KMS keys (kms.Signer) and keyless signing
// (sign.Keyless). It is a test helper: only _test.go files import it.
package signtest

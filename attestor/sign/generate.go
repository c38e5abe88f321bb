package sign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// GenerateKeyPair generates an ECDSA P-256 key pair exactly as cosign
// generate-key-pair does: the private key is PKCS #8, encrypted with
// password by go-securesystemslib's encrypted.Encrypt (scrypt N=2^16, r=8,
// p=1; NaCl secretbox), in a PEM "ENCRYPTED SIGSTORE PRIVATE KEY" block;
// the public key is a PEM "PUBLIC KEY" (PKIX) block. cosign and Load (with
// the same password, by default from COSIGN_PASSWORD) read the private key;
// cosign and LoadVerifier read the public one. A nil or empty password
// encrypts with the empty password, as cosign allows.
//
// Writing the files is the caller's business: the private key with mode
// 0600 (see safefile.WriteAtomic).
func GenerateKeyPair(password []byte) (privatePEM, publicPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	defer clear(der)
	if password == nil {
		password = []byte{}
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	privatePEM = pem.EncodeToMemory(&pem.Block{Type: pemSigstoreKey, Bytes: enc})
	publicPEM = pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: pubDER})
	return privatePEM, publicPEM, nil
}

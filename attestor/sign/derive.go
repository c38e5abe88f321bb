package sign

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"fmt"

	"github.com/attestor/attestor/attestor/envelope"
)

var _ envelope.KeyDeriver = (*Signer)(nil)

// DeriveKey returns 32 bytes derived from the private key for purpose:
// HKDF-SHA256 over the key's PKCS #8 encoding, with "attestor " + purpose
// as the info. Only a holder of the private key can compute it, and it
// tells nothing of the key. A key that cannot be encoded (a hardware key
// given to New) derives nothing: an error.
func (s *Signer) DeriveKey(purpose string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		return nil, fmt.Errorf("deriving a key from %s: %w", s, err)
	}
	defer clear(der)
	return hkdf.Key(sha256.New, der, nil, "attestor "+purpose, 32)
}

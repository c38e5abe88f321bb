package sign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/in-toto/in-toto-golang/in_toto"
)

// FuzzParsePrivateKey checks that parsing a private key file never panics
// and fails only with ErrInvalidInput or the password function's error.
// The password function fails, so that fuzzing never waits for scrypt.
func FuzzParsePrivateKey(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.key"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	errNoPassword := errors.New("no password in fuzzing")
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parsePrivateKey(data, func() ([]byte, error) { return nil, errNoPassword })
		if err != nil {
			if !errors.Is(err, fault.ErrInvalidInput) && !errors.Is(err, errNoPassword) {
				t.Fatalf("parsePrivateKey failed with %v, neither ErrInvalidInput nor the password error", err)
			}
			return
		}
		if _, err := New(key); err != nil && !errors.Is(err, ErrUnsupportedKey) {
			t.Fatalf("New(parsed key) = %v", err)
		}
	})
}

// TestParseVerifierPythonKeyID: the in-toto JSON ECDSA key securesystemslib
// writes without keyid_hash_algorithms (SSlibKey.to_securesystemslib_key)
// carries an id hashed with ["sha256", "sha512"] over its PEM as written,
// newline included. It is the key's id all the same.
func TestParseVerifierPythonKeyID(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	k := in_toto.Key{KeyType: keyTypeECDSA, Scheme: schemeP256, KeyIDHashAlgorithms: []string{"sha256", "sha512"}}
	k.KeyVal.Public = string(pemBytes) // ends in a newline, as Python writes it
	id, err := computeKeyID(k)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(map[string]any{
		"keytype": k.KeyType, "scheme": k.Scheme, "keyid": id, "keyval": map[string]string{"public": k.KeyVal.Public},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseVerifier(data); err != nil {
		t.Errorf("ParseVerifier of %s: %v", data, err)
	}
	// Another id is still refused.
	bad := strings.Replace(string(data), id, strings.Repeat("0", len(id)), 1)
	if _, err := ParseVerifier([]byte(bad)); !errors.Is(err, ErrMalformedKey) {
		t.Errorf("ParseVerifier with a wrong keyid: %v, want ErrMalformedKey", err)
	}
}

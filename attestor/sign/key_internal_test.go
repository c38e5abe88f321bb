package sign

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestor/attestor/attestor"
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
			if !errors.Is(err, attestor.ErrInvalidInput) && !errors.Is(err, errNoPassword) {
				t.Fatalf("parsePrivateKey failed with %v, neither ErrInvalidInput nor the password error", err)
			}
			return
		}
		if _, err := New(key); err != nil && !errors.Is(err, ErrUnsupportedKey) {
			t.Fatalf("New(parsed key) = %v", err)
		}
	})
}

package sign_test

import (
	"testing"

	"github.com/attestor/attestor/attestor/sign/signtest"
)

// TestConformance runs the signer conformance suite on every key file
// fixture and on the keyless signer.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, f := range keyFixtures() {
		t.Run(f.file, func(t *testing.T) {
			t.Parallel()
			signtest.Run(t, loadSigner(t, f), signtest.Secrets{testPassword})
		})
	}
	t.Run("keyless", func(t *testing.T) {
		t.Parallel()
		f := signtest.NewSigstore(t)
		k := f.Keyless(t)
		signtest.Run(t, k, signtest.Secrets{signtest.GitHubRequestToken})
		for _, tok := range f.Issued() {
			signtest.Run(t, k, signtest.Secrets{tok})
		}
	})
}

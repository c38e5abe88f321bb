package sign_test

import (
	"context"
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
		f := newFakeSigstore(t, nil, nil)
		k := f.keyless(context.Background())
		signtest.Run(t, k, signtest.Secrets{ghRequestToken})
		for _, tok := range f.issued() {
			signtest.Run(t, k, signtest.Secrets{tok})
		}
	})
}

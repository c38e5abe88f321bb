package provenance_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/attestor/attestor/provenance"
)

// FuzzReadStep: ReadStep never panics, fails only with bad input, and a step
// it reads is listed by the digest of exactly the bytes it was given.
func FuzzReadStep(f *testing.F) {
	for _, r := range records() {
		st, _ := r.Statement()
		_, data, _ := envelope.SignStatement(context.Background(), newTestSigner(), st)
		f.Add(data)
	}
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := provenance.ReadStep("x.dsse.json", data)
		if err != nil {
			if !errors.Is(err, fault.ErrInvalidInput) {
				t.Fatalf("ReadStep: %v is not bad input", err)
			}
			return
		}
		sum := sha256.Sum256(data)
		if s.Digest != hex.EncodeToString(sum[:]) || s.Record == nil || s.PredicateType != envelope.PredicateTypeLink {
			t.Fatalf("ReadStep = %+v", s)
		}
	})
}

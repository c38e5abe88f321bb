package grafeas_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// imageSubject returns a fresh image subject.
func imageSubject(t *testing.T) store.Subject {
	var sum [32]byte
	if _, err := rand.Read(sum[:]); err != nil {
		t.Fatal(err)
	}
	return store.Subject{
		Name:   "registry.example/team/app-" + hex.EncodeToString(sum[:4]),
		Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
	}
}

// linkAttestation returns a signed in-toto link statement for step.
func linkAttestation(t *testing.T, subj store.Subject, step string) store.Attestation {
	t.Helper()
	st := map[string]any{
		"_type": "https://in-toto.io/Statement/v1",
		"subject": []any{map[string]any{
			"name":   subj.Name,
			"digest": map[string]string{subj.Digest.Algorithm: subj.Digest.Hex},
		}},
		"predicateType": envelope.PredicateTypeLink,
		"predicate": map[string]any{
			"name":        step,
			"command":     []string{"go", "build", "./..."},
			"materials":   []any{map[string]any{"name": "go.mod", "digest": map[string]string{"sha256": "00ff"}}},
			"byproducts":  map[string]any{"return-value": 0, "stdout": "ok"},
			"environment": map[string]any{"ci": "github"},
		},
	}
	payload, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), storetest.Signer(t), envelope.PayloadTypeInToto, payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.NewAttestation(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

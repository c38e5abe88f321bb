package sign_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

// FuzzVerifyBundle: VerifyBundle never panics, and whatever the input,
// it either fails with ErrNoValidSignature or returns the payload that
// was signed: a mutated bundle never verifies another statement.
func FuzzVerifyBundle(f *testing.F) {
	ctx := context.Background()
	s := signtest.NewSigstore(f)
	trusted, _ := s.TrustedRoot(f)
	k := s.Keyless(f)
	env, _, err := envelope.SignStatement(ctx, k, testStatement(f))
	if err != nil {
		f.Fatal(err)
	}
	bundle, err := k.Bundle(ctx, env)
	if err != nil {
		f.Fatal(err)
	}
	want, err := sign.VerifyBundle(ctx, bundle, trusted, signtest.GitHubIdentity())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bundle)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := sign.VerifyBundle(ctx, data, trusted, signtest.GitHubIdentity())
		if err != nil {
			if !errors.Is(err, sign.ErrNoValidSignature) {
				t.Fatalf("error %v does not match ErrNoValidSignature", err)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("a mutated bundle verified another payload: %q", got)
		}
	})
}

package sign_test

import (
	"context"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
)

func TestGenerateKeyPair(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, pw := range []string{"s3cret", ""} {
		t.Run("password "+pw, func(t *testing.T) {
			t.Parallel()
			priv, pub, err := sign.GenerateKeyPair([]byte(pw))
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(priv); b == nil || b.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" {
				t.Errorf("private key PEM = %q", priv)
			}
			if b, _ := pem.Decode(pub); b == nil || b.Type != "PUBLIC KEY" {
				t.Errorf("public key PEM = %q", pub)
			}
			dir := t.TempDir()
			keyFile := writeFile(t, dir, "k.key", priv)
			pubFile := writeFile(t, dir, "k.pub", pub)

			s, err := sign.Load(keyFile, password(pw))
			if err != nil {
				t.Fatal(err)
			}
			if k := s.InTotoKey(); k.KeyType != "ecdsa" || k.Scheme != "ecdsa-sha2-nistp256" {
				t.Errorf("generated a %s %s key; want ecdsa P-256", k.KeyType, k.Scheme)
			}
			v, err := sign.LoadVerifier(pubFile)
			if err != nil {
				t.Fatal(err)
			}
			env, err := envelope.Sign(ctx, s, envelope.PayloadTypeInToto, []byte(statement))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := sign.VerifyEnvelope(ctx, env, v); err != nil {
				t.Errorf("VerifyEnvelope = %v", err)
			}
			if _, err := sign.Load(keyFile, password(pw+"x")); !errors.Is(err, sign.ErrWrongPassword) {
				t.Errorf("Load(wrong password) = %v; want ErrWrongPassword", err)
			}
		})
	}
	t.Run("nil password", func(t *testing.T) {
		t.Parallel()
		priv, _, err := sign.GenerateKeyPair(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sign.Load(writeFile(t, t.TempDir(), "k.key", priv), password("")); err != nil {
			t.Errorf("Load(empty password) = %v", err)
		}
	})
	t.Run("fresh keys", func(t *testing.T) {
		t.Parallel()
		_, a, _ := sign.GenerateKeyPair(nil)
		_, b, _ := sign.GenerateKeyPair(nil)
		if string(a) == string(b) {
			t.Error("two calls generated the same key")
		}
	})
}

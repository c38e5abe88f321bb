package sign_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/attestor/attestor/attestor/sign"
)

// FuzzVerifyEnvelope checks that no change to a signed envelope verifies:
// whenever VerifyEnvelope accepts the fuzzed envelope, its payloadType and
// payload are the signed ones, and it holds, for every accepted key, the
// very signature that key made. Changes that do not change what is signed
// (the keyid hint, base64 alphabet, JSON spelling) may verify. The keys
// are Ed25519 and RSA, whose signatures are not malleable (an ECDSA
// signature (r, s) also verifies as (r, n-s)).
func FuzzVerifyEnvelope(f *testing.F) {
	ctx := context.Background()
	ed := ed25519Signer(f, 1)
	rsaSigner := loadSigner(f, keyFixture{file: "rsa-2048.key"})
	env, err := envelope.Sign(ctx, ed, envelope.PayloadTypeInToto, []byte(statement))
	if err != nil {
		f.Fatal(err)
	}
	rsaEnv, err := envelope.Sign(ctx, rsaSigner, envelope.PayloadTypeInToto, []byte(statement))
	if err != nil {
		f.Fatal(err)
	}
	env.Signatures = append(env.Signatures, rsaEnv.Signatures...)

	original := map[string][]byte{} // key id -> signature
	for _, s := range env.Signatures {
		original[s.KeyID], _ = base64.StdEncoding.DecodeString(s.Sig)
	}
	verifiers := []dsse.Verifier{ed.Verifier(), rsaSigner.Verifier()}

	seed, _ := json.Marshal(env)
	f.Add(seed)
	one := *env
	one.Signatures = env.Signatures[:1]
	seed, _ = json.Marshal(one)
	f.Add(seed)
	f.Add([]byte(`{"payloadType":"","payload":"","signatures":[]}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var e dsse.Envelope
		if json.Unmarshal(data, &e) != nil {
			return
		}
		payload, accepted, err := sign.VerifyEnvelope(ctx, &e, verifiers...)
		if err != nil {
			if !errors.Is(err, sign.ErrNoValidSignature) {
				t.Fatalf("VerifyEnvelope failed with %v, not ErrNoValidSignature", err)
			}
			return
		}
		if e.PayloadType != env.PayloadType || string(payload) != statement {
			t.Fatalf("a changed envelope verified: payloadType %q, payload %q", e.PayloadType, payload)
		}
		if len(accepted) == 0 {
			t.Fatal("VerifyEnvelope succeeded with no accepted key")
		}
		for _, id := range accepted {
			found := false
			for _, s := range e.Signatures {
				sig, err := base64.StdEncoding.DecodeString(s.Sig)
				if err != nil {
					sig, _ = base64.URLEncoding.DecodeString(s.Sig)
				}
				found = found || bytes.Equal(sig, original[id])
			}
			if !found {
				t.Fatalf("key %s verified a signature it did not make", id)
			}
		}
	})
}

// FuzzParseVerifier checks that ParseVerifier never panics, fails only with
// ErrInvalidInput, and that what it accepts round-trips through InTotoKey.
func FuzzParseVerifier(f *testing.F) {
	files, err := filepath.Glob(testdata("*.pub"))
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, testdata("ecdsa-p256.crt"), testdata("ecdsa-p256.key"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := sign.ParseVerifier(data)
		if err != nil {
			if !errors.Is(err, fault.ErrInvalidInput) {
				t.Fatalf("ParseVerifier failed with %v, not ErrInvalidInput", err)
			}
			return
		}
		k := v.InTotoKey()
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		again, err := sign.ParseVerifier(b)
		if err != nil {
			t.Fatalf("ParseVerifier(InTotoKey()) = %v", err)
		}
		if id, _ := again.KeyID(); id != k.KeyID || strings.TrimSpace(k.KeyVal.Public) != k.KeyVal.Public {
			t.Fatalf("round trip changed the key: %s -> %s", k.KeyID, id)
		}
	})
}

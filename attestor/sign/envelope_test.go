package sign_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/attestor/attestor/attestor/sign"
)

const statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` +
	`01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b"}}],"predicateType":"https://example.com/p","predicate":{}}`

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, f := range keyFixtures() {
		t.Run(f.file, func(t *testing.T) {
			t.Parallel()
			s := loadSigner(t, f)
			env, err := envelope.Sign(ctx, s, envelope.PayloadTypeInToto, []byte(statement))
			if err != nil {
				t.Fatal(err)
			}
			id, _ := s.KeyID()
			if len(env.Signatures) != 1 || env.Signatures[0].KeyID != id || env.PayloadType != envelope.PayloadTypeInToto {
				t.Fatalf("envelope = %+v", env)
			}
			payload, accepted, err := sign.VerifyEnvelope(ctx, env, loadVerifier(t, f.pub))
			if err != nil {
				t.Fatal(err)
			}
			if string(payload) != statement || !slices.Equal(accepted, []string{id}) {
				t.Errorf("VerifyEnvelope = %q, %q; want the statement, [%s]", payload, accepted, id)
			}
		})
	}
}

// ed25519Signer returns a deterministic Ed25519 signer.
func ed25519Signer(t testing.TB, seed byte) *sign.Signer {
	t.Helper()
	s, err := sign.New(ed25519.NewKeyFromSeed(slices.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// foreignVerifier is a dsse.Verifier of another package, with no key id.
type foreignVerifier struct{ pub ed25519.PublicKey }

func (v foreignVerifier) Verify(_ context.Context, msg, sig []byte) error {
	if !ed25519.Verify(v.pub, msg, sig) {
		return errors.New("bad signature")
	}
	return nil
}
func (v foreignVerifier) KeyID() (string, error)   { return "", errors.New("no key id") }
func (v foreignVerifier) Public() crypto.PublicKey { return v.pub }

func TestVerifyEnvelope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob, carol := ed25519Signer(t, 1), ed25519Signer(t, 2), loadSigner(t, keyFixture{file: "ecdsa-p256.key"})
	aliceID, _ := alice.KeyID()
	bobID, _ := bob.KeyID()
	carolID, _ := carol.KeyID()

	signed := func(signers ...*sign.Signer) *dsse.Envelope {
		env := &dsse.Envelope{PayloadType: envelope.PayloadTypeInToto, Payload: base64.StdEncoding.EncodeToString([]byte(statement))}
		for _, s := range signers {
			e, err := envelope.Sign(ctx, s, envelope.PayloadTypeInToto, []byte(statement))
			if err != nil {
				t.Fatal(err)
			}
			env.Signatures = append(env.Signatures, e.Signatures...)
		}
		return env
	}
	edit := func(env *dsse.Envelope, fn func(*dsse.Envelope)) *dsse.Envelope {
		env.Signatures = slices.Clone(env.Signatures)
		fn(env)
		return env
	}
	flip := func(s string) string {
		b, _ := base64.StdEncoding.DecodeString(s)
		b[len(b)-1] ^= 0x80
		return base64.StdEncoding.EncodeToString(b)
	}

	tests := []struct {
		name      string
		env       *dsse.Envelope
		verifiers []dsse.Verifier
		accepted  []string
		want      error // nil: verifies with accepted
	}{
		{name: "one signature", env: signed(alice), verifiers: []dsse.Verifier{alice.Verifier()}, accepted: []string{aliceID}},
		{name: "right key among others", env: signed(alice), verifiers: []dsse.Verifier{bob.Verifier(), carol.Verifier(), alice.Verifier()}, accepted: []string{aliceID}},
		{name: "two signers", env: signed(alice, carol), verifiers: []dsse.Verifier{carol.Verifier(), alice.Verifier()}, accepted: []string{aliceID, carolID}},
		{name: "one of two signatures verifies", env: signed(alice, bob), verifiers: []dsse.Verifier{bob.Verifier()}, accepted: []string{bobID}},
		{name: "same key twice", env: signed(alice, alice), verifiers: []dsse.Verifier{alice.Verifier(), alice.Verifier()}, accepted: []string{aliceID}},
		{name: "empty keyid", env: edit(signed(alice), func(e *dsse.Envelope) { e.Signatures[0].KeyID = "" }), verifiers: []dsse.Verifier{bob.Verifier(), alice.Verifier()}, accepted: []string{aliceID}},
		{name: "unknown keyid", env: edit(signed(alice), func(e *dsse.Envelope) { e.Signatures[0].KeyID = "cosign" }), verifiers: []dsse.Verifier{alice.Verifier()}, accepted: []string{aliceID}},
		{name: "foreign verifier", env: signed(alice), verifiers: []dsse.Verifier{foreignVerifier{alice.Public().(ed25519.PublicKey)}}, accepted: []string{aliceID}},
		{name: "url-safe base64", env: edit(signed(alice), func(e *dsse.Envelope) {
			e.Payload = strings.NewReplacer("+", "-", "/", "_").Replace(e.Payload)
			e.Signatures[0].Sig = strings.NewReplacer("+", "-", "/", "_").Replace(e.Signatures[0].Sig)
		}), verifiers: []dsse.Verifier{alice.Verifier()}, accepted: []string{aliceID}},

		{name: "wrong key", env: signed(alice), verifiers: []dsse.Verifier{bob.Verifier(), carol.Verifier()}, want: sign.ErrNoValidSignature},
		{name: "keyid of another verifier", env: edit(signed(alice), func(e *dsse.Envelope) { e.Signatures[0].KeyID = bobID }), verifiers: []dsse.Verifier{alice.Verifier(), bob.Verifier()}, want: sign.ErrNoValidSignature},
		{name: "payload changed", env: edit(signed(alice), func(e *dsse.Envelope) { e.Payload = base64.StdEncoding.EncodeToString([]byte(statement + " ")) }), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrNoValidSignature},
		{name: "payloadType changed", env: edit(signed(alice), func(e *dsse.Envelope) { e.PayloadType = "application/json" }), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrNoValidSignature},
		{name: "signature changed", env: edit(signed(carol), func(e *dsse.Envelope) { e.Signatures[0].Sig = flip(e.Signatures[0].Sig) }), verifiers: []dsse.Verifier{carol.Verifier()}, want: sign.ErrNoValidSignature},
		{name: "signature of another payload", env: edit(signed(alice), func(e *dsse.Envelope) {
			other, _ := envelope.Sign(ctx, alice, envelope.PayloadTypeInToto, []byte("{}"))
			e.Signatures = other.Signatures
		}), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrNoValidSignature},
		{name: "nil envelope", env: nil, verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrMalformedEnvelope},
		{name: "no signatures", env: edit(signed(alice), func(e *dsse.Envelope) { e.Signatures = nil }), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrMalformedEnvelope},
		{name: "too many signatures", env: signed(slices.Repeat([]*sign.Signer{alice}, sign.MaxSignatures+1)...), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrMalformedEnvelope},
		{name: "empty payloadType", env: edit(signed(alice), func(e *dsse.Envelope) { e.PayloadType = "" }), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrMalformedEnvelope},
		{name: "payload not base64", env: edit(signed(alice), func(e *dsse.Envelope) { e.Payload = "not base64!" }), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrMalformedEnvelope},
		{name: "signature not base64", env: edit(signed(alice, bob), func(e *dsse.Envelope) { e.Signatures[1].Sig = "%%%" }), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrMalformedEnvelope},
		{name: "empty signature", env: edit(signed(alice), func(e *dsse.Envelope) { e.Signatures[0].Sig = "" }), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrMalformedEnvelope},
		{name: "non-canonical base64", env: edit(signed(alice), func(e *dsse.Envelope) {
			e.Payload = base64.StdEncoding.EncodeToString([]byte("x")) // "eA=="
			e.Payload = e.Payload[:1] + "B" + e.Payload[2:]            // "eB==" also decodes to "x" when not strict
		}), verifiers: []dsse.Verifier{alice.Verifier()}, want: sign.ErrMalformedEnvelope},
		{name: "no verifiers", env: signed(alice), want: fault.ErrInvalidInput},
		{name: "nil verifier", env: signed(alice), verifiers: []dsse.Verifier{nil}, want: fault.ErrInvalidInput},
		{name: "nil *Verifier", env: signed(alice), verifiers: []dsse.Verifier{alice.Verifier(), (*sign.Verifier)(nil)}, want: fault.ErrInvalidInput},
		{name: "zero Verifier", env: signed(alice), verifiers: []dsse.Verifier{&sign.Verifier{}}, want: sign.ErrNoValidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload, accepted, err := sign.VerifyEnvelope(ctx, tt.env, tt.verifiers...)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !errors.Is(err, sign.ErrNoValidSignature) {
					t.Errorf("VerifyEnvelope = %v; want %v and ErrNoValidSignature", err, tt.want)
				}
				if payload != nil || accepted != nil {
					t.Errorf("VerifyEnvelope failed with a payload %q or keys %q", payload, accepted)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyEnvelope = %v", err)
			}
			if string(payload) != statement || !slices.Equal(accepted, tt.accepted) {
				t.Errorf("VerifyEnvelope = %q, %q; want the statement, %q", payload, accepted, tt.accepted)
			}
		})
	}
}

func TestVerifyEnvelopeMalformedIsNotInvalidInput(t *testing.T) {
	t.Parallel()
	s := ed25519Signer(t, 1)
	_, _, err := sign.VerifyEnvelope(context.Background(), &dsse.Envelope{}, s.Verifier())
	if !errors.Is(err, sign.ErrMalformedEnvelope) || errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("VerifyEnvelope(empty) = %v; want ErrMalformedEnvelope, not ErrInvalidInput (a failed verification exits 1)", err)
	}
}

func TestSignEnvelopeErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := envelope.Sign(ctx, nil, envelope.PayloadTypeInToto, nil); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("envelope.Sign(nil signer) = %v; want ErrInvalidInput", err)
	}
	if _, err := envelope.Sign(ctx, ed25519Signer(t, 1), "", nil); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("envelope.Sign(empty payload type) = %v; want ErrInvalidInput", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := envelope.Sign(canceled, ed25519Signer(t, 1), envelope.PayloadTypeInToto, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("envelope.Sign(canceled) = %v; want context.Canceled", err)
	}
}

// TestEnvelopeEmptyPayload: DSSE allows an empty payload.
func TestEnvelopeEmptyPayload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := ed25519Signer(t, 3)
	env, err := envelope.Sign(ctx, s, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _, err := sign.VerifyEnvelope(ctx, env, s.Verifier())
	if err != nil || len(payload) != 0 {
		t.Errorf("VerifyEnvelope = %q, %v", payload, err)
	}
}

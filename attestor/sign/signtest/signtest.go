package signtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
)

// Secrets lists strings that must never appear when a signer is printed
// or logged: passwords, tokens, key bytes.
type Secrets []string

// Run checks s:
//
//   - KeyID is the in-toto key id of Public, and stable;
//   - Sign signs in the DSSE scheme sign.Verifier checks, for several
//     messages, and its signatures do not verify other messages;
//   - a LegacySigner's SignLegacy verifies with VerifyLegacy;
//   - envelope.Sign and sign.VerifyEnvelope round-trip, and
//     envelope.SignStatement makes an envelope that verifies;
//   - a canceled context fails Sign;
//   - printing or logging s shows none of secrets.
func Run(t *testing.T, s envelope.Signer, secrets Secrets) {
	t.Helper()
	ctx := context.Background()
	v, err := sign.NewVerifier(s.Public())
	if err != nil {
		t.Fatalf("NewVerifier(Public()): %v", err)
	}
	id, err := s.KeyID()
	if err != nil {
		t.Fatalf("KeyID: %v", err)
	}
	if want, _ := v.KeyID(); id != want {
		t.Errorf("KeyID() = %s; the in-toto key id of Public() is %s", id, want)
	}
	if again, _ := s.KeyID(); again != id {
		t.Errorf("KeyID changed: %s then %s", id, again)
	}

	for _, msg := range [][]byte{[]byte("the message"), {}, bytes.Repeat([]byte{0xff}, 1<<16)} {
		sig, err := s.Sign(ctx, msg)
		if err != nil {
			t.Fatalf("Sign(%d bytes): %v", len(msg), err)
		}
		if err := v.Verify(ctx, msg, sig); err != nil {
			t.Errorf("Sign(%d bytes) does not verify: %v", len(msg), err)
		}
		if err := v.Verify(ctx, append(bytes.Clone(msg), 'x'), sig); !errors.Is(err, sign.ErrNoValidSignature) {
			t.Errorf("a signature verifies another message: %v", err)
		}
		if ls, ok := s.(envelope.LegacySigner); ok {
			lsig, err := ls.SignLegacy(ctx, msg)
			if err != nil {
				t.Errorf("SignLegacy(%d bytes): %v", len(msg), err)
			} else if err := v.VerifyLegacy(ctx, msg, lsig); err != nil {
				t.Errorf("SignLegacy(%d bytes) does not verify: %v", len(msg), err)
			}
		}
	}

	env, err := envelope.Sign(ctx, s, envelope.PayloadTypeInToto, []byte(`{"_type":"x"}`))
	if err != nil {
		t.Fatalf("envelope.Sign: %v", err)
	}
	payload, accepted, err := sign.VerifyEnvelope(ctx, env, v)
	if err != nil || string(payload) != `{"_type":"x"}` || len(accepted) != 1 || accepted[0] != id {
		t.Errorf("VerifyEnvelope = %q, %v, %v", payload, accepted, err)
	}
	if env.Signatures[0].KeyID != id {
		t.Errorf("envelope keyid %q, want %s", env.Signatures[0].KeyID, id)
	}
	if _, _, err := sign.VerifyEnvelope(ctx, &dsse.Envelope{PayloadType: env.PayloadType, Payload: "e30=", Signatures: env.Signatures}, v); !errors.Is(err, sign.ErrNoValidSignature) {
		t.Errorf("an envelope with another payload verifies: %v", err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Sign(canceled, []byte("m")); err == nil {
		t.Error("Sign with a canceled context succeeded")
	}

	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("signer", "s", s)
	shown := fmt.Sprintf("%v %+v %#v %s", s, s, s, s) + logs.String()
	for _, secret := range secrets {
		if secret != "" && bytes.Contains([]byte(shown), []byte(secret)) {
			t.Errorf("a secret shows when the signer is printed or logged")
		}
	}
}

package sign_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
)

// A Signer signs an in-toto statement into a DSSE envelope, and the
// envelope verifies with the public key; a changed payload does not.
func ExampleVerifyEnvelope() {
	ctx := context.Background()
	// A fixed key keeps the output stable; real code calls sign.Load.
	signer, err := sign.New(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	if err != nil {
		log.Fatal(err)
	}
	statement := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)

	env, err := envelope.Sign(ctx, signer, envelope.PayloadTypeInToto, statement)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(env.PayloadType)
	fmt.Println(env.Signatures[0].KeyID)

	payload, keyIDs, err := sign.VerifyEnvelope(ctx, env, signer.Verifier())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s verified by %s\n", payload, keyIDs[0][:8])

	env.Payload = base64.StdEncoding.EncodeToString([]byte(`{"_type":"forged"}`))
	_, _, err = sign.VerifyEnvelope(ctx, env, signer.Verifier())
	fmt.Println(errors.Is(err, sign.ErrNoValidSignature))
	// Output:
	// application/vnd.in-toto+json
	// fbe68150b2532581244184d738dc3756e1d8a5188a8da80061d03e4699670671
	// {"_type":"https://in-toto.io/Statement/v1"} verified by fbe68150
	// true
}

// Load reads a key file; LoadVerifier reads the public key that checks its
// signatures. Both name the key by its in-toto key id.
func ExampleLoad() {
	ctx := context.Background()
	signer, err := sign.Load("testdata/ecdsa-p256.key")
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := sign.LoadVerifier("testdata/ecdsa-p256.pub")
	if err != nil {
		log.Fatal(err)
	}
	env, err := envelope.Sign(ctx, signer, envelope.PayloadTypeInToto, []byte(`{}`))
	if err != nil {
		log.Fatal(err)
	}
	_, keyIDs, err := sign.VerifyEnvelope(ctx, env, verifier)
	fmt.Println(keyIDs, err)
	// Output:
	// [546d241b5d48af865d95ab2745d6eac03c122676727f0a689538ea6d13a24fc7] <nil>
}

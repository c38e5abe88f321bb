package oci_test

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// FuzzBundle: EnvelopeFromBundle never panics on any input, and a bundle
// NewBundle made always gives back the envelope's payload and signature.
func FuzzBundle(f *testing.F) {
	a := storetest.Attestation(f, store.Subject{Name: "bin/app", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}}, "https://slsa.dev/provenance/v1", "seed")
	b, err := oci.NewBundle(a.Envelope, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, a.Envelope)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{}}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, bundle, raw []byte) {
		_, _ = oci.EnvelopeFromBundle(bundle)
		made, err := oci.NewBundle(raw, "")
		if err != nil {
			return
		}
		back, err := oci.EnvelopeFromBundle(made)
		if err != nil {
			t.Fatalf("EnvelopeFromBundle(NewBundle(%q)) = %v", raw, err)
		}
		in, err := envelope.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
		}
		if err := json.Unmarshal(back, &out); err != nil {
			t.Fatal(err)
		}
		if out.PayloadType != in.PayloadType {
			t.Fatalf("payload type %q, want %q", out.PayloadType, in.PayloadType)
		}
	})
}

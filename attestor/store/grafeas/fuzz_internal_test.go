package grafeas

import (
	"bytes"
	"testing"

	"github.com/attestor/attestor/attestor/store"
)

// FuzzItem: any envelope either is refused or goes through both dialects'
// encoders, and what a server would hold decodes back to an attestation
// with the same dedupe digest.
func FuzzItem(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"c2ln"}]}`))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"eyJwcmVkaWNhdGVUeXBlIjoiaHR0cHM6Ly9zbHNhLmRldi9wcm92ZW5hbmNlL3YxIiwicHJlZGljYXRlIjp7fX0=","signatures":[{"keyid":"k","sig":"c2ln"}]}`))
	f.Add([]byte(`{"payloadType":"x","payload":"eyJwcmVkaWNhdGVUeXBlIjoiaHR0cHM6Ly9pbi10b3RvLmlvL2F0dGVzdGF0aW9uL2xpbmsvdjAuMyIsInByZWRpY2F0ZSI6eyJuYW1lIjoiYnVpbGQifX0=","signatures":[{"keyid":"","sig":"_-8"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := newItem(store.Attestation{Envelope: data})
		if err != nil {
			return
		}
		for _, d := range []dialect{v1beta1Dialect{}, v1Dialect{}} {
			o := d.occurrence(it, "https://r@sha256:00", "projects/p/notes/n", "p")
			if _, err := marshalOpts.Marshal(o); err != nil {
				t.Fatalf("encoding the occurrence: %v", err)
			}
			spec := noteSpec{id: "n", kind: it.kind, step: it.step}
			if _, err := marshalOpts.Marshal(d.note(spec, &options{})); err != nil {
				t.Fatalf("encoding the note: %v", err)
			}
		}
		held := rawOcc{hasEnvelope: true, payloadType: it.payloadType, payload: it.payload, sigs: it.sigs}
		a, err := store.NewAttestation(held.envelopeJSON(), nil)
		if err != nil {
			t.Fatalf("stored envelope does not parse: %v", err)
		}
		d, err := a.Digest()
		if err != nil || d != it.digest {
			t.Fatalf("digest %s after a round trip, want %s (%v)", d, it.digest, err)
		}
		if again, err := newItem(a); err != nil || !bytes.Equal(again.payload, it.payload) {
			t.Fatalf("re-reading the stored envelope: %v", err)
		}
	})
}

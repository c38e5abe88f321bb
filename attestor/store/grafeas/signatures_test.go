package grafeas_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	gpb "github.com/grafeas/grafeas/proto/v1beta1/grafeas_go_proto"
	ipb "github.com/grafeas/grafeas/proto/v1beta1/intoto_go_proto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	gv1 "google.golang.org/genproto/googleapis/grafeas/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// keyring is what a verifier is configured with: public key ids and their
// keys. Each key is known by its in-toto key id (what DSSE envelopes name
// it by) and by the RFC 6920 name of its PKIX DER (Binary Authorization's
// default id), so that a signature fails only on what it signs.
type keyring map[string]*sign.Verifier

func newKeyring(t *testing.T, signers ...*sign.Signer) keyring {
	t.Helper()
	k := keyring{}
	for _, s := range signers {
		id, err := s.KeyID()
		if err != nil {
			t.Fatal(err)
		}
		k[id] = s.Verifier()
		k[niKeyID(t, s)] = s.Verifier()
	}
	return k
}

// niKeyID is the ni:///sha-256;… id of the signer's public key, computed
// here as Binary Authorization documents it: base64url (no padding) of the
// SHA-256 of the key's PKIX (SubjectPublicKeyInfo) DER.
func niKeyID(t *testing.T, s *sign.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return "ni:///sha-256;" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func (k keyring) verify(ctx context.Context, keyID string, msg, sig []byte) error {
	v, ok := k[keyID]
	if !ok {
		return fmt.Errorf("public key id %q is not one the verifier knows", keyID)
	}
	return v.Verify(ctx, msg, sig)
}

// signatureFields returns the paths of the populated fields of m whose
// names speak of signatures, in every nested message (but theirs).
func signatureFields(m protoreflect.Message) []string {
	var out []string
	var walk func(m protoreflect.Message, prefix string)
	walk = func(m protoreflect.Message, prefix string) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			path := prefix + string(fd.Name())
			if strings.Contains(string(fd.Name()), "signature") {
				out = append(out, path) // its check covers what it holds
				return true
			}
			switch {
			case fd.IsMap():
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message(), path+".")
				}
			case !fd.IsList() && fd.Message() != nil:
				walk(v.Message(), path+".")
			}
			return true
		})
	}
	walk(m, "")
	return out
}

// checkV1Signatures verifies every signature of a v1 occurrence over the
// bytes its proto says it signs: the envelope's (DSSE, grafeas/v1
// common.proto Envelope) over the pre-authentication encoding of its
// payload; the attestation's (attestation.proto: "signatures over
// serialized_payload") over serializedPayload. Any other populated
// signature field is an error: this test would not know what it signs.
func checkV1Signatures(t *testing.T, o *gv1.Occurrence, keys keyring) {
	t.Helper()
	ctx := t.Context()
	for _, f := range signatureFields(o.ProtoReflect()) {
		switch f {
		case "envelope.signatures":
			e := o.GetEnvelope()
			for _, s := range e.GetSignatures() {
				if err := keys.verify(ctx, s.GetKeyid(), dsse.PAE(e.GetPayloadType(), e.GetPayload()), s.GetSig()); err != nil {
					t.Errorf("occurrence %s (%s): envelope signature %q does not verify over the PAE of the envelope's payload: %v", o.GetName(), o.GetKind(), s.GetKeyid(), err)
				}
			}
		case "attestation.signatures":
			a := o.GetAttestation()
			for _, s := range a.GetSignatures() {
				if err := keys.verify(ctx, s.GetPublicKeyId(), a.GetSerializedPayload(), s.GetSignature()); err != nil {
					t.Errorf("occurrence %s (%s): attestation.signatures[%q] does not verify over serializedPayload: %v", o.GetName(), o.GetKind(), s.GetPublicKeyId(), err)
				}
			}
		default:
			t.Errorf("occurrence %s (%s): signature field %s is filled, and this test does not know what it signs", o.GetName(), o.GetKind(), f)
		}
	}
}

// checkV1Beta1Signatures is checkV1Signatures for the open-source server's
// v1beta1 occurrences: the envelope's signatures over the PAE; a generic
// signed attestation's (attestation.proto: "signatures over
// serialized_payload") over serializedPayload; an in-toto link's
// (intoto.proto: the signatures of the link "signed") over the canonical
// JSON of that link, as in-toto signs links; the step name is the
// note's (stepName).
func checkV1Beta1Signatures(t *testing.T, o *gpb.Occurrence, keys keyring, stepName func(note string) string) {
	t.Helper()
	ctx := t.Context()
	for _, f := range signatureFields(o.ProtoReflect()) {
		switch f {
		case "envelope.signatures":
			e := o.GetEnvelope()
			for _, s := range e.GetSignatures() {
				if err := keys.verify(ctx, s.GetKeyid(), dsse.PAE(e.GetPayloadType(), e.GetPayload()), s.GetSig()); err != nil {
					t.Errorf("occurrence %s (%s): envelope signature %q does not verify over the PAE of the envelope's payload: %v", o.GetName(), o.GetKind(), s.GetKeyid(), err)
				}
			}
		case "attestation.attestation.generic_signed_attestation.signatures":
			g := o.GetAttestation().GetAttestation().GetGenericSignedAttestation()
			for _, s := range g.GetSignatures() {
				if err := keys.verify(ctx, s.GetPublicKeyId(), g.GetSerializedPayload(), s.GetSignature()); err != nil {
					t.Errorf("occurrence %s (%s): genericSignedAttestation.signatures[%q] does not verify over serializedPayload: %v", o.GetName(), o.GetKind(), s.GetPublicKeyId(), err)
				}
			}
		case "intoto.signatures":
			d := o.GetIntoto()
			signed := linkSigned(t, stepName(o.GetNoteName()), d.GetLink())
			for _, s := range d.GetSignatures() {
				sig, err := hex.DecodeString(s.GetSignature())
				if err != nil {
					sig, err = base64.StdEncoding.DecodeString(s.GetSignature())
				}
				if err == nil {
					err = keys.verify(ctx, s.GetKeyId(), signed, sig)
				}
				if err != nil {
					t.Errorf("occurrence %s (%s): intoto.signatures[%q] does not verify over the canonical JSON of the link intoto.signed (link): %v", o.GetName(), o.GetKind(), s.GetKeyId(), err)
				}
			}
		default:
			t.Errorf("occurrence %s (%s): signature field %s is filled, and this test does not know what it signs", o.GetName(), o.GetKind(), f)
		}
	}
}

// linkSigned is the canonical JSON of the in-toto link (v0.9 "signed")
// that a Grafeas in-toto link describes.
func linkSigned(t *testing.T, step string, l *ipb.Link) []byte {
	t.Helper()
	artifacts := func(as []*ipb.Link_Artifact) map[string]any {
		m := map[string]any{}
		for _, a := range as {
			m[a.GetResourceUri()] = map[string]any{"sha256": a.GetHashes().GetSha256()}
		}
		return m
	}
	custom := func(m map[string]string) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	command := []any{}
	for _, c := range l.GetEffectiveCommand() {
		command = append(command, c)
	}
	data, err := cjson.EncodeCanonical(map[string]any{
		"_type":       "link",
		"name":        step,
		"command":     command,
		"materials":   artifacts(l.GetMaterials()),
		"products":    artifacts(l.GetProducts()),
		"byproducts":  custom(l.GetByproducts().GetCustomValues()),
		"environment": custom(l.GetEnvironment().GetCustomValues()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// signedEverything puts what attestor writes about an image: a step
// record, provenance, a verification summary, and a Binary Authorization /
// Kritis attestation of it; and returns the keys that signed them.
func signedEverything(t *testing.T, c *grafeas.Client, subj store.Subject) keyring {
	t.Helper()
	link := linkAttestation(t, subj, "build")
	prov := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "p")
	vsa := storetest.Attestation(t, subj, "https://slsa.dev/verification_summary/v1", "vsa")
	if _, err := c.Push(t.Context(), subj, link, prov, vsa); err != nil {
		t.Fatal(err)
	}
	key := promotionKey(t)
	att, _ := kritisAttestation(t, key, subj, "sha256:1111")
	if _, err := c.PutAttestation(t.Context(), subj, att); err != nil {
		t.Fatal(err)
	}
	return newKeyring(t, storetest.Signer(t), key)
}

// TestV1SignaturesSignWhatTheProtoSays: every signature field of every
// occurrence written with the v1 API (decoded by the fake into genproto's
// grafeas/v1 types) verifies over the bytes its proto names.
func TestV1SignaturesSignWhatTheProtoSays(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f)
	keys := signedEverything(t, c, imageSubject(t))
	occs := f.occurrences()
	if len(occs) != 4 {
		t.Fatalf("%d occurrences, want 4", len(occs))
	}
	kinds := map[string]int{}
	for _, o := range occs {
		kinds[o.GetKind().String()]++
		checkV1Signatures(t, o, keys)
	}
	if want := map[string]int{"ATTESTATION": 3, "BUILD": 1}; !equalCounts(kinds, want) {
		t.Errorf("occurrence kinds %v, want %v", kinds, want)
	}
}

// TestOSSSignaturesSignWhatTheProtoSays: every signature field of every
// occurrence read back from the open-source server (decoded into its
// v1beta1 protos) verifies over the bytes its proto names.
func TestOSSSignaturesSignWhatTheProtoSays(t *testing.T) {
	s := startServer(t, false)
	c := newOSSClient(t, s, "signatures", grafeas.WithNoteProject("notes"))
	keys := signedEverything(t, c, imageSubject(t))

	resp, err := s.Client.Get(s.URL + "/v1beta1/projects/signatures/occurrences?pageSize=1000")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("listing: %s: %s", resp.Status, data)
	}
	var list gpb.ListOccurrencesResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.GetOccurrences()) != 4 {
		t.Fatalf("%d occurrences, want 4", len(list.GetOccurrences()))
	}
	stepName := func(note string) string {
		var n struct {
			Intoto struct {
				StepName string `json:"stepName"`
			} `json:"intoto"`
		}
		getJSON(t, s, "/v1beta1/"+note, &n)
		return n.Intoto.StepName
	}
	kinds := map[string]int{}
	for _, o := range list.GetOccurrences() {
		kinds[o.GetKind().String()]++
		checkV1Beta1Signatures(t, o, keys, stepName)
	}
	if want := map[string]int{"ATTESTATION": 2, "BUILD": 1, "INTOTO": 1}; !equalCounts(kinds, want) {
		t.Errorf("occurrence kinds %v, want %v", kinds, want)
	}
}

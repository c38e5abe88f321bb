package grafeas_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/google/go-containerregistry/pkg/name"
	gv1 "google.golang.org/genproto/googleapis/grafeas/v1"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
)

// promotionKey is an ECDSA key: its signatures differ each time, as a
// second promotion's would.
func promotionKey(t *testing.T) *sign.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signedPayload is a signed simple-signing payload.
type signedPayload struct {
	Payload, Signature []byte
	PublicKeyID        string
}

// kritisAttestation signs the simple-signing payload of subj as promote
// does (the containers/image signature JSON, critical.type gcloud's,
// publicKeyId the ni:/// name of the key's PKIX DER; optional makes the
// payload differ, as each promotion's summary digest does).
func kritisAttestation(t *testing.T, s *sign.Signer, subj store.Subject, optional string) (grafeas.Attestation, *signedPayload) {
	t.Helper()
	d, err := name.NewDigest(subj.Name + "@" + subj.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
		Optional map[string]string `json:"optional,omitempty"`
	}
	p.Critical.Identity.DockerReference = d.Context().Name()
	p.Critical.Image.DockerManifestDigest = d.DigestStr()
	p.Critical.Type = "Google cloud binauthz container signature"
	p.Optional = map[string]string{"verificationSummary": optional}
	payload, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign(t.Context(), payload)
	if err != nil {
		t.Fatal(err)
	}
	ss := &signedPayload{Payload: payload, Signature: sig, PublicKeyID: niKeyID(t, s)}
	return grafeas.Attestation{Payload: ss.Payload, Signatures: []grafeas.Signature{{KeyID: ss.PublicKeyID, Sig: ss.Signature}}}, ss
}

// checkSimpleSigning checks a payload read back from the server: the
// exact bytes signed, the image's reference and digest, the type; and
// that the signature verifies with the key.
func checkSimpleSigning(t *testing.T, subj store.Subject, want *signedPayload, s *sign.Signer, payload []byte, keyID string, sig []byte) {
	t.Helper()
	if !bytes.Equal(payload, want.Payload) {
		t.Errorf("payload = %s, want %s", payload, want.Payload)
	}
	var p struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("payload: %v", err)
	}
	if p.Critical.Identity.DockerReference != subj.Name || p.Critical.Image.DockerManifestDigest != subj.Digest.String() || p.Critical.Type != "Google cloud binauthz container signature" {
		t.Errorf("critical = %+v, want %s@%s, Google cloud binauthz container signature", p.Critical, subj.Name, subj.Digest)
	}
	// Binary Authorization's id of a PKIX key: the ni:/// name of its DER.
	if want := niKeyID(t, s); keyID != want {
		t.Errorf("publicKeyId = %q, want %q", keyID, want)
	}
	if err := s.Verifier().Verify(t.Context(), payload, sig); err != nil {
		t.Errorf("the signature does not verify with the promotion key: %v", err)
	}
}

// TestPutAttestationOSS writes a Kritis attestation to the real
// open-source server: a generic signed attestation (SIMPLE_SIGNING_JSON)
// on the attestation authority's note, in another project; a second
// promotion of the same image writes no duplicate; Get ignores it.
func TestPutAttestationOSS(t *testing.T) {
	s := startServer(t, false)
	c := newOSSClient(t, s, "kritis-occ", grafeas.WithNoteProject("notes"), grafeas.WithAuthorityNote("projects/kritis-notes/notes/prod-attestor"))
	if got := c.AuthorityNote(); got != "projects/kritis-notes/notes/prod-attestor" {
		t.Errorf("AuthorityNote() = %q", got)
	}
	key := promotionKey(t)
	subj := imageSubject(t)
	att, ss := kritisAttestation(t, key, subj, "sha256:1111")
	res, err := c.PutAttestation(t.Context(), subj, att)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || res.Existing != 0 || res.Resource != store.ResourceURI(subj) {
		t.Errorf("first PutAttestation = %+v", res)
	}
	// A second promotion: a fresh signature and summary digest.
	att2, _ := kritisAttestation(t, key, subj, "sha256:2222")
	res, err = newOSSClient(t, s, "kritis-occ", grafeas.WithAuthorityNote("v1beta1/projects/kritis-notes/notes/prod-attestor")).PutAttestation(t.Context(), subj, att2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 0 || res.Existing != 1 {
		t.Errorf("second PutAttestation = %+v, want no new occurrence", res)
	}

	var list struct {
		Occurrences []struct {
			Name     string `json:"name"`
			Kind     string `json:"kind"`
			NoteName string `json:"noteName"`
			Resource struct {
				URI string `json:"uri"`
			} `json:"resource"`
			Envelope    json.RawMessage `json:"envelope"`
			Attestation struct {
				Attestation struct {
					Generic *struct {
						ContentType       string `json:"contentType"`
						SerializedPayload []byte `json:"serializedPayload"`
						Signatures        []struct {
							Signature   []byte `json:"signature"`
							PublicKeyID string `json:"publicKeyId"`
						} `json:"signatures"`
					} `json:"genericSignedAttestation"`
				} `json:"attestation"`
			} `json:"attestation"`
		} `json:"occurrences"`
	}
	getJSON(t, s, "/v1beta1/projects/kritis-occ/occurrences?pageSize=1000", &list)
	if len(list.Occurrences) != 1 {
		t.Fatalf("%d occurrences, want 1: %+v", len(list.Occurrences), list.Occurrences)
	}
	o := list.Occurrences[0]
	if o.Kind != "ATTESTATION" || o.NoteName != "projects/kritis-notes/notes/prod-attestor" || o.Resource.URI != store.ResourceURI(subj) || len(o.Envelope) != 0 {
		t.Errorf("occurrence = kind %s, note %s, resource %s, envelope %s", o.Kind, o.NoteName, o.Resource.URI, o.Envelope)
	}
	g := o.Attestation.Attestation.Generic
	if g == nil || g.ContentType != "SIMPLE_SIGNING_JSON" || len(g.Signatures) != 1 {
		t.Fatalf("genericSignedAttestation = %+v", g)
	}
	checkSimpleSigning(t, subj, ss, key, g.SerializedPayload, g.Signatures[0].PublicKeyID, g.Signatures[0].Signature)

	var note struct {
		Kind                 string `json:"kind"`
		AttestationAuthority struct {
			Hint struct {
				HumanReadableName string `json:"humanReadableName"`
			} `json:"hint"`
		} `json:"attestationAuthority"`
	}
	getJSON(t, s, "/v1beta1/projects/kritis-notes/notes/prod-attestor", &note)
	if note.Kind != "ATTESTATION" || note.AttestationAuthority.Hint.HumanReadableName != "prod-attestor" {
		t.Errorf("authority note = %+v", note)
	}
	// Get returns attestor's envelopes only.
	if got, err := c.Get(t.Context(), subj); err != nil || len(got) != 0 {
		t.Errorf("Get = %d attestations, %v; want none", len(got), err)
	}
	// Another key, or another image, is another attestation.
	other := promotionKey(t)
	att3, _ := kritisAttestation(t, other, subj, "sha256:3333")
	if res, err := c.PutAttestation(t.Context(), subj, att3); err != nil || res.Created != 1 {
		t.Errorf("PutAttestation with another key = %+v, %v", res, err)
	}
	subj2 := imageSubject(t)
	att4, _ := kritisAttestation(t, key, subj2, "sha256:4444")
	if res, err := c.PutAttestation(t.Context(), subj2, att4); err != nil || res.Created != 1 {
		t.Errorf("PutAttestation of another image = %+v, %v", res, err)
	}
	getJSON(t, s, "/v1beta1/projects/kritis-occ/occurrences?pageSize=1000", &list)
	if len(list.Occurrences) != 3 {
		t.Errorf("%d occurrences, want 3", len(list.Occurrences))
	}
}

// TestPutAttestationV1 writes a Binary Authorization attestation with the
// v1 API: an AttestationOccurrence (serialized_payload, signatures with
// public_key_id), decoded by the fake into genproto's types.
func TestPutAttestationV1(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f)
	if got := c.AuthorityNote(); got != "projects/note-project/notes/attestor-authority" {
		t.Errorf("AuthorityNote() = %q", got)
	}
	key := promotionKey(t)
	subj := imageSubject(t)
	att, ss := kritisAttestation(t, key, subj, "sha256:1111")
	for i, a := range []grafeas.Attestation{att, att} {
		if i == 1 {
			a, _ = kritisAttestation(t, key, subj, "sha256:2222")
		}
		res, err := c.PutAttestation(t.Context(), subj, a)
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 - i; res.Created != want {
			t.Errorf("PutAttestation %d created %d, want %d", i+1, res.Created, want)
		}
	}
	occs := f.occurrences()
	if len(occs) != 1 {
		t.Fatalf("%d occurrences, want 1", len(occs))
	}
	o := occs[0]
	if o.GetKind() != gv1.NoteKind_ATTESTATION || o.GetNoteName() != "projects/note-project/notes/attestor-authority" || o.GetResourceUri() != store.ResourceURI(subj) || o.GetEnvelope() != nil {
		t.Errorf("occurrence = %v", o)
	}
	a := o.GetAttestation()
	if a == nil || len(a.GetSignatures()) != 1 {
		t.Fatalf("attestation = %v", a)
	}
	checkSimpleSigning(t, subj, ss, key, a.GetSerializedPayload(), a.GetSignatures()[0].GetPublicKeyId(), a.GetSignatures()[0].GetSignature())
	f.mu.Lock()
	n := f.notes["projects/note-project/notes/attestor-authority"]
	f.mu.Unlock()
	if n.GetKind() != gv1.NoteKind_ATTESTATION || n.GetAttestation() == nil {
		t.Errorf("authority note = %v", n)
	}
	if got, err := c.Get(t.Context(), subj); err != nil || len(got) != 0 {
		t.Errorf("Get = %d attestations, %v; want none", len(got), err)
	}
}

func TestPutAttestationDryRun(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := newV1Client(t, f, grafeas.WithDryRun(ws, &out), grafeas.WithAuthorityNote("kritis"))
	subj := imageSubject(t)
	att, _ := kritisAttestation(t, promotionKey(t), subj, "x")
	res, err := c.PutAttestation(t.Context(), subj, att)
	if err != nil || !res.DryRun || res.Created != 1 {
		t.Fatalf("PutAttestation = %+v, %v", res, err)
	}
	if n := f.count(""); n != 0 {
		t.Errorf("dry run sent %d requests", n)
	}
	var files []string
	filepath.WalkDir(ws.Path(grafeas.DryRunDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(ws.Dir(), p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(files) != 2 || !contains(files, "_dry-run/grafeas/v1/notes/note-project/kritis.json") {
		t.Errorf("dry run wrote %v", files)
	}
	if !strings.Contains(out.String(), `"serializedPayload"`) || !strings.Contains(out.String(), `"publicKeyId"`) {
		t.Errorf("dry run printed:\n%s", out.String())
	}
}

func TestPutAttestationInvalid(t *testing.T) {
	t.Parallel()
	f := newFakeV1(t)
	c := newV1Client(t, f)
	subj := imageSubject(t)
	for name, a := range map[string]grafeas.Attestation{
		"no payload":   {Signatures: []grafeas.Signature{{KeyID: "k", Sig: []byte{1}}}},
		"not JSON":     {Payload: []byte("{"), Signatures: []grafeas.Signature{{KeyID: "k", Sig: []byte{1}}}},
		"no signature": {Payload: []byte(`{}`)},
		"no key id":    {Payload: []byte(`{}`), Signatures: []grafeas.Signature{{Sig: []byte{1}}}},
	} {
		if _, err := c.PutAttestation(t.Context(), subj, a); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want invalid input", name, err)
		}
	}
	if n := f.count(""); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	for _, bad := range []string{"projects/p", "projects//notes/n", "a/b"} {
		if _, err := grafeas.New(grafeas.WithURL(f.srv.URL), grafeas.WithProject("p"), grafeas.WithAuthorityNote(bad)); err == nil {
			t.Errorf("WithAuthorityNote(%q) accepted", bad)
		}
	}
}

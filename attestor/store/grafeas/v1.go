package grafeas

import (
	gv1 "google.golang.org/genproto/googleapis/grafeas/v1"
	"google.golang.org/protobuf/proto"
)

// v1Dialect is Google Container Analysis' v1 API. Its types come from
// genproto (google.golang.org/genproto/googleapis/grafeas/v1), never from
// the grafeas module's v1 protos: both register grafeas.v1 and a binary
// must not link the two.
type v1Dialect struct{}

func (v1Dialect) note(spec noteSpec, _ *options) proto.Message {
	switch spec.kind {
	case kindStep:
		return &gv1.Note{
			ShortDescription: "attestor step " + spec.step,
			LongDescription:  "in-toto step records of the step " + spec.step + ", signed by attestor; the DSSE envelope of each occurrence is what is verified.",
			Kind:             gv1.NoteKind_ATTESTATION,
			Type: &gv1.Note_Attestation{Attestation: &gv1.AttestationNote{
				Hint: &gv1.AttestationNote_Hint{HumanReadableName: "attestor step " + spec.step},
			}},
		}
	case kindProvenance:
		return &gv1.Note{
			ShortDescription: "attestor provenance",
			LongDescription:  "SLSA provenance signed by attestor; the DSSE envelope of each occurrence is what is verified.",
			Kind:             gv1.NoteKind_BUILD,
			Type:             &gv1.Note_Build{Build: &gv1.BuildNote{BuilderVersion: builderVersion}},
		}
	case kindAuthority:
		return &gv1.Note{
			ShortDescription: "attestor attestation authority",
			LongDescription:  "Binary Authorization / Kritis attestations of promoted images, signed by attestor: simple-signing payloads (critical.identity.docker-reference, critical.image.docker-manifest-digest) and their signatures.",
			Kind:             gv1.NoteKind_ATTESTATION,
			Type: &gv1.Note_Attestation{Attestation: &gv1.AttestationNote{
				Hint: &gv1.AttestationNote_Hint{HumanReadableName: spec.id},
			}},
		}
	}
	return &gv1.Note{
		ShortDescription: "attestor attestations",
		LongDescription:  "Attestations signed by attestor (promotions, verification summaries, …); the DSSE envelope of each occurrence is what is verified.",
		Kind:             gv1.NoteKind_ATTESTATION,
		Type: &gv1.Note_Attestation{Attestation: &gv1.AttestationNote{
			Hint: &gv1.AttestationNote_Hint{HumanReadableName: "attestor"},
		}},
	}
}

func (v1Dialect) occurrence(it *item, uri, note, project string) proto.Message {
	env := &gv1.Envelope{Payload: it.payload, PayloadType: it.payloadType}
	for _, s := range it.sigs {
		env.Signatures = append(env.Signatures, &gv1.EnvelopeSignature{Sig: s.sig, Keyid: s.keyID})
	}
	o := &gv1.Occurrence{ResourceUri: uri, NoteName: note, Envelope: env}
	if it.kind == kindProvenance {
		o.Kind = gv1.NoteKind_BUILD
		prov := &gv1.BuildProvenance{Id: provenanceID(it), ProjectId: project, BuilderVersion: builderVersion}
		for _, s := range it.statement.Subject {
			prov.BuiltArtifacts = append(prov.BuiltArtifacts, &gv1.Artifact{Id: s.Name, Checksum: checksum(s.Digest), Names: []string{s.Name}})
		}
		slsa := &gv1.InTotoSlsaProvenanceV1{}
		if len(it.payload) > structuredLimit || unmarshalOpts.Unmarshal(it.payload, slsa) != nil {
			slsa = &gv1.InTotoSlsaProvenanceV1{PredicateType: it.statement.PredicateType}
			for _, s := range it.statement.Subject {
				slsa.Subject = append(slsa.Subject, &gv1.Subject{Name: s.Name, Digest: s.Digest})
			}
		}
		o.Details = &gv1.Occurrence_Build{Build: &gv1.BuildOccurrence{Provenance: prov, InTotoSlsaProvenanceV1: slsa}}
		return o
	}
	// Step records and other attestations: an attestation occurrence whose
	// serialized payload is the statement, for search, and no signatures:
	// see the package doc (Signatures).
	o.Kind = gv1.NoteKind_ATTESTATION
	a := &gv1.AttestationOccurrence{}
	if len(it.payload) <= structuredLimit {
		a.SerializedPayload = it.payload
	}
	o.Details = &gv1.Occurrence_Attestation{Attestation: a}
	return o
}

// authorityOccurrence is the attestation occurrence that Binary
// Authorization reads: the serialized simple-signing payload and each
// signature with its public key id. It has no envelope: Get does not
// read it.
func (v1Dialect) authorityOccurrence(a *Attestation, uri, note string) proto.Message {
	att := &gv1.AttestationOccurrence{SerializedPayload: a.Payload}
	for _, s := range a.Signatures {
		att.Signatures = append(att.Signatures, &gv1.Signature{Signature: s.Sig, PublicKeyId: s.KeyID})
	}
	return &gv1.Occurrence{
		ResourceUri: uri,
		NoteName:    note,
		Kind:        gv1.NoteKind_ATTESTATION,
		Details:     &gv1.Occurrence_Attestation{Attestation: att},
	}
}

func (v1Dialect) newListResponse() proto.Message { return &gv1.ListOccurrencesResponse{} }

func (v1Dialect) occurrences(resp proto.Message) ([]rawOcc, string) {
	r := resp.(*gv1.ListOccurrencesResponse)
	out := make([]rawOcc, 0, len(r.GetOccurrences()))
	for _, o := range r.GetOccurrences() {
		ro := rawOcc{name: o.GetName(), uri: o.GetResourceUri(), note: o.GetNoteName()}
		if e := o.GetEnvelope(); e != nil && len(e.GetSignatures()) > 0 {
			ro.hasEnvelope, ro.payloadType, ro.payload = true, e.GetPayloadType(), e.GetPayload()
			for _, s := range e.GetSignatures() {
				ro.sigs = append(ro.sigs, rawSig{keyID: s.GetKeyid(), sig: s.GetSig()})
			}
		}
		if a := o.GetAttestation(); a != nil && len(a.GetSerializedPayload()) > 0 && len(a.GetSignatures()) > 0 {
			ro.hasAttestation, ro.attPayload = true, a.GetSerializedPayload()
			for _, s := range a.GetSignatures() {
				ro.attSigs = append(ro.attSigs, rawSig{keyID: s.GetPublicKeyId(), sig: s.GetSignature()})
			}
		}
		out = append(out, ro)
	}
	return out, r.GetNextPageToken()
}

func (v1Dialect) filter(uris []string) string { return orFilter("resourceUrl", uris) }

func (v1Dialect) emptyPageEnds() bool { return false }

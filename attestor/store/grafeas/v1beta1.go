package grafeas

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apb "github.com/grafeas/grafeas/proto/v1beta1/attestation_go_proto"
	bpb "github.com/grafeas/grafeas/proto/v1beta1/build_go_proto"
	cpb "github.com/grafeas/grafeas/proto/v1beta1/common_go_proto"
	gpb "github.com/grafeas/grafeas/proto/v1beta1/grafeas_go_proto"
	ipb "github.com/grafeas/grafeas/proto/v1beta1/intoto_go_proto"
	ppb "github.com/grafeas/grafeas/proto/v1beta1/provenance_go_proto"
	"google.golang.org/protobuf/proto"
)

// dialect builds the request bodies of one API and reads its listings.
type dialect interface {
	note(spec noteSpec, o *options) proto.Message
	occurrence(it *item, uri, note, project string) proto.Message
	// authorityOccurrence is the ATTESTATION occurrence of a Binary
	// Authorization / Kritis attestation.
	authorityOccurrence(a *Attestation, uri, note string) proto.Message
	newListResponse() proto.Message
	occurrences(resp proto.Message) (occs []rawOcc, next string)
	filter(uris []string) string
	// emptyPageEnds reports whether an empty page ends a listing even
	// when it has a next page token.
	emptyPageEnds() bool
}

// structuredLimit bounds the payloads whose content is copied into
// structured (search) fields: a larger one travels only in the envelope,
// so that an occurrence stays within the server's 4 MiB message limit.
const structuredLimit = 1 << 20

// builderVersion is the builder version of the provenance note.
const builderVersion = "attestor"

type v1beta1Dialect struct{}

func (v1beta1Dialect) note(spec noteSpec, o *options) proto.Message {
	switch spec.kind {
	case kindStep:
		in := &ipb.InToto{StepName: spec.step}
		if s, ok := o.steps[spec.step]; ok {
			for _, k := range s.Keys {
				in.SigningKeys = append(in.SigningKeys, &ipb.SigningKey{KeyId: k.KeyID, KeyType: k.KeyType, KeyScheme: k.KeyScheme, PublicKeyValue: k.PublicKey})
			}
			for _, r := range s.ExpectedMaterials {
				in.ExpectedMaterials = append(in.ExpectedMaterials, &ipb.InToto_ArtifactRule{ArtifactRule: r})
			}
			for _, r := range s.ExpectedProducts {
				in.ExpectedProducts = append(in.ExpectedProducts, &ipb.InToto_ArtifactRule{ArtifactRule: r})
			}
			in.ExpectedCommand = s.ExpectedCommand
			in.Threshold = int64(s.Threshold)
		}
		return &gpb.Note{
			ShortDescription: "attestor step " + spec.step,
			LongDescription:  "in-toto step records of the step " + spec.step + ", signed by attestor; the DSSE envelope of each occurrence is what is verified.",
			Kind:             cpb.NoteKind_INTOTO,
			Type:             &gpb.Note_Intoto{Intoto: in},
		}
	case kindProvenance:
		return &gpb.Note{
			ShortDescription: "attestor provenance",
			LongDescription:  "SLSA provenance signed by attestor; the DSSE envelope of each occurrence is what is verified.",
			Kind:             cpb.NoteKind_BUILD,
			Type:             &gpb.Note_Build{Build: &bpb.Build{BuilderVersion: builderVersion}},
		}
	case kindAuthority:
		return &gpb.Note{
			ShortDescription: "attestor attestation authority",
			LongDescription:  "Binary Authorization / Kritis attestations of promoted images, signed by attestor: simple-signing payloads (critical.identity.docker-reference, critical.image.docker-manifest-digest) and their signatures.",
			Kind:             cpb.NoteKind_ATTESTATION,
			Type: &gpb.Note_AttestationAuthority{AttestationAuthority: &apb.Authority{
				Hint: &apb.Authority_Hint{HumanReadableName: spec.id},
			}},
		}
	}
	return &gpb.Note{
		ShortDescription: "attestor attestations",
		LongDescription:  "Attestations signed by attestor (promotions, verification summaries, …); the DSSE envelope of each occurrence is what is verified.",
		Kind:             cpb.NoteKind_ATTESTATION,
		Type: &gpb.Note_AttestationAuthority{AttestationAuthority: &apb.Authority{
			Hint: &apb.Authority_Hint{HumanReadableName: "attestor"},
		}},
	}
}

func (v1beta1Dialect) occurrence(it *item, uri, note, project string) proto.Message {
	env := &cpb.Envelope{Payload: it.payload, PayloadType: it.payloadType}
	for _, s := range it.sigs {
		env.Signatures = append(env.Signatures, &cpb.EnvelopeSignature{Sig: s.sig, Keyid: s.keyID})
	}
	o := &gpb.Occurrence{Resource: &gpb.Resource{Uri: uri}, NoteName: note, Envelope: env}
	switch it.kind {
	case kindStep:
		// The link, for search, and no signatures: see the package doc
		// (Signatures).
		o.Kind = cpb.NoteKind_INTOTO
		o.Details = &gpb.Occurrence_Intoto{Intoto: &ipb.Details{Link: v1beta1Link(it)}}
	case kindProvenance:
		o.Kind = cpb.NoteKind_BUILD
		prov := &ppb.BuildProvenance{Id: provenanceID(it), ProjectId: project, BuilderVersion: builderVersion}
		for _, s := range it.statement.Subject {
			prov.BuiltArtifacts = append(prov.BuiltArtifacts, &ppb.Artifact{Id: s.Name, Checksum: checksum(s.Digest), Names: []string{s.Name}})
		}
		slsa := &ppb.InTotoSlsaProvenanceV1{}
		if len(it.payload) > structuredLimit || unmarshalOpts.Unmarshal(it.payload, slsa) != nil {
			slsa = &ppb.InTotoSlsaProvenanceV1{PredicateType: it.statement.PredicateType}
			for _, s := range it.statement.Subject {
				slsa.Subject = append(slsa.Subject, &ipb.Subject{Name: s.Name, Digest: s.Digest})
			}
		}
		o.Details = &gpb.Occurrence_Build{Build: &bpb.Details{Provenance: prov, InTotoSlsaProvenanceV1: slsa}}
	default:
		// The statement, for search, and no signatures: see the package
		// doc (Signatures).
		o.Kind = cpb.NoteKind_ATTESTATION
		g := &apb.GenericSignedAttestation{}
		if len(it.payload) <= structuredLimit {
			g.SerializedPayload = it.payload
		}
		o.Details = &gpb.Occurrence_Attestation{Attestation: &apb.Details{Attestation: &apb.Attestation{
			Signature: &apb.Attestation_GenericSignedAttestation{GenericSignedAttestation: g},
		}}}
	}
	return o
}

// authorityOccurrence is the generic signed attestation that Binary
// Authorization and Kritis read (grafeas v1beta1 attestation.proto):
// contentType SIMPLE_SIGNING_JSON, the payload, and each signature with
// its publicKeyId. It has no envelope: Get does not read it.
func (v1beta1Dialect) authorityOccurrence(a *Attestation, uri, note string) proto.Message {
	g := &apb.GenericSignedAttestation{
		ContentType:       apb.GenericSignedAttestation_SIMPLE_SIGNING_JSON,
		SerializedPayload: a.Payload,
	}
	for _, s := range a.Signatures {
		g.Signatures = append(g.Signatures, &cpb.Signature{Signature: s.Sig, PublicKeyId: s.KeyID})
	}
	return &gpb.Occurrence{
		Resource: &gpb.Resource{Uri: uri},
		NoteName: note,
		Kind:     cpb.NoteKind_ATTESTATION,
		Details: &gpb.Occurrence_Attestation{Attestation: &apb.Details{Attestation: &apb.Attestation{
			Signature: &apb.Attestation_GenericSignedAttestation{GenericSignedAttestation: g},
		}}},
	}
}

func (v1beta1Dialect) newListResponse() proto.Message { return &gpb.ListOccurrencesResponse{} }

func (v1beta1Dialect) occurrences(resp proto.Message) ([]rawOcc, string) {
	r := resp.(*gpb.ListOccurrencesResponse)
	out := make([]rawOcc, 0, len(r.GetOccurrences()))
	for _, o := range r.GetOccurrences() {
		ro := rawOcc{name: o.GetName(), uri: o.GetResource().GetUri(), note: o.GetNoteName()}
		if e := o.GetEnvelope(); e != nil && len(e.GetSignatures()) > 0 {
			ro.hasEnvelope, ro.payloadType, ro.payload = true, e.GetPayloadType(), e.GetPayload()
			for _, s := range e.GetSignatures() {
				ro.sigs = append(ro.sigs, rawSig{keyID: s.GetKeyid(), sig: s.GetSig()})
			}
		}
		if g := o.GetAttestation().GetAttestation().GetGenericSignedAttestation(); g != nil && len(g.GetSerializedPayload()) > 0 && len(g.GetSignatures()) > 0 {
			ro.hasAttestation, ro.attPayload = true, g.GetSerializedPayload()
			for _, s := range g.GetSignatures() {
				ro.attSigs = append(ro.attSigs, rawSig{keyID: s.GetPublicKeyId(), sig: s.GetSignature()})
			}
		}
		out = append(out, ro)
	}
	return out, r.GetNextPageToken()
}

func (v1beta1Dialect) filter(uris []string) string { return orFilter("resource.uri", uris) }

func (v1beta1Dialect) emptyPageEnds() bool { return true }

func orFilter(field string, values []string) string {
	var parts []string
	for _, v := range values {
		parts = append(parts, fmt.Sprintf("%s=%q", field, v))
	}
	return strings.Join(parts, " OR ")
}

// linkPredicate is the part of an in-toto link predicate copied into
// search fields.
type linkPredicate struct {
	Name      string   `json:"name"`
	Command   []string `json:"command"`
	Materials []struct {
		Name   string            `json:"name"`
		URI    string            `json:"uri"`
		Digest map[string]string `json:"digest"`
	} `json:"materials"`
	Byproducts  map[string]any `json:"byproducts"`
	Environment map[string]any `json:"environment"`
}

// maxCustomValue bounds each byproduct or environment value copied.
const maxCustomValue = 4 << 10

func v1beta1Link(it *item) *ipb.Link {
	var lp linkPredicate
	_ = json.Unmarshal(it.statement.Predicate, &lp)
	l := &ipb.Link{EffectiveCommand: lp.Command}
	if len(it.payload) > structuredLimit {
		return l
	}
	for _, m := range lp.Materials {
		name := m.Name
		if name == "" {
			name = m.URI
		}
		l.Materials = append(l.Materials, &ipb.Link_Artifact{ResourceUri: name, Hashes: &ipb.Link_ArtifactHashes{Sha256: m.Digest["sha256"]}})
	}
	for _, s := range it.statement.Subject {
		l.Products = append(l.Products, &ipb.Link_Artifact{ResourceUri: s.Name, Hashes: &ipb.Link_ArtifactHashes{Sha256: s.Digest["sha256"]}})
	}
	if len(lp.Byproducts) > 0 {
		l.Byproducts = &ipb.Link_ByProducts{CustomValues: customValues(lp.Byproducts)}
	}
	if len(lp.Environment) > 0 {
		l.Environment = &ipb.Link_Environment{CustomValues: customValues(lp.Environment)}
	}
	return l
}

func customValues(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		if len(s) > maxCustomValue {
			s = strings.ToValidUTF8(s[:maxCustomValue], "") + "…"
		}
		out[k] = s
	}
	return out
}

// provenanceID is the provenance's build invocation id, or else one made
// from the attestation's digest: the open-source server requires one.
func provenanceID(it *item) string {
	var p struct {
		RunDetails struct {
			Metadata struct {
				InvocationID string `json:"invocationId"`
			} `json:"metadata"`
		} `json:"runDetails"`
	}
	_ = json.Unmarshal(it.statement.Predicate, &p)
	if id := p.RunDetails.Metadata.InvocationID; id != "" && len(id) <= 256 {
		return id
	}
	return "attestor-" + it.digest[:32]
}

// checksum formats a digest set as ALG:HEX, sha256 first.
func checksum(d map[string]string) string {
	if v, ok := d["sha256"]; ok {
		return "sha256:" + v
	}
	algs := make([]string, 0, len(d))
	for a := range d {
		algs = append(algs, a)
	}
	sort.Strings(algs)
	if len(algs) == 0 {
		return ""
	}
	return algs[0] + ":" + d[algs[0]]
}

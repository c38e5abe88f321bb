// Package grafeas stores attestations as occurrences on a Grafeas metadata
// server, in one of two API dialects behind one store.Store:
//
//   - V1Beta1, the open-source Grafeas server (github.com/grafeas/grafeas
//     v0.2.3, go/v1beta1), encoded with that module's v1beta1 protos;
//   - V1, Google Container Analysis (https://containeranalysis.googleapis.com/v1),
//     encoded with genproto's grafeas/v1 types. The grafeas module's own v1
//     protos are never imported: they register the same protobuf names as
//     genproto's and a binary must not link both.
//
// Both speak REST with protojson bodies over go-retryablehttp: bounded
// retries with exponential backoff and jitter, Retry-After honoured; a
// server that still fails returns an error matching
// fault.ErrUnavailable (exit 3). At most 10 redirects are followed
// per request, never from https to plain http, and the bearer token only
// to the origin it was first sent to; at most 64 KiB of an error answer
// is read.
//
// # Mapping
//
// The exact signed bytes travel as the occurrence's DSSE envelope
// (Occurrence.envelope: payload bytes, payload type, and each signature's
// key id and decoded signature). Get reads that field only and re-encodes
// the envelope as attestor writes envelopes (encoding/json, compact), so an
// envelope that attestor signed comes back byte for byte, and any envelope
// comes back with the same store Digest. The structured fields are a
// search aid, never verified, and are left out for payloads over 1 MiB so
// that an occurrence fits the server's 4 MiB message limit. Sigstore
// bundles are not stored (Get returns none): the registry store holds them.
//
//	attestation          v1beta1 note / occurrence              v1 note / occurrence
//	in-toto step record  INTOTO PREFIX-step-STEP /              ATTESTATION PREFIX-step-STEP /
//	                     INTOTO: link (command, materials,      ATTESTATION: serialized payload
//	                     products), no signatures               (the statement), no signatures
//	SLSA provenance      BUILD PREFIX-provenance /              BUILD PREFIX-provenance /
//	                     BUILD: provenance.id (required by      BUILD: provenance.id,
//	                     the open-source server),               inTotoSlsaProvenanceV1
//	                     inTotoSlsaProvenanceV1
//	anything else        ATTESTATION PREFIX-attestation /       ATTESTATION PREFIX-attestation /
//	(promotions, VSAs)   ATTESTATION: generic signed            ATTESTATION: serialized payload
//	                     attestation (the statement as          (the statement), no signatures
//	                     serializedPayload), no signatures
//
// Kind is always set explicitly (the open-source server never sets it).
// Notes are got or created, in the note project (WithNoteProject), which
// may differ from the occurrences' project. Occurrences are on the
// resource https://NAME@DIGEST; Get also reads the scheme-less NAME@DIGEST.
//
// # Signatures
//
// Every signature field of an occurrence means what its proto says. The
// envelope's signatures are DSSE signatures: over the pre-authentication
// encoding of the payload type and payload. The details of these
// occurrences carry none, although their protos have signature fields:
// those sign bytes the details hold (an attestation's signatures, v1
// AttestationOccurrence and v1beta1 GenericSignedAttestation, sign
// serializedPayload: "verified if at least one signature verifies
// serialized_payload"; a v1beta1 in-toto link's sign the link in
// "signed"), which a DSSE signature does not, so copying it there would
// make Binary Authorization, Kritis or any Grafeas verifier reject the
// occurrence as forged. Signing those bytes too would need the private
// key when pushing, which push does not have (it writes what earlier
// steps signed) and must not need. So the envelope is the only signed
// part of these occurrences, and the only part Get (and so the gate)
// reads; an ATTESTATION occurrence with no signature is not one a Binary
// Authorization attestor accepts, which is right: those are
// PutAttestation's, whose signatures sign their serialized payload.
// Occurrences that earlier versions wrote carry the envelope's
// signatures in their details too; a push does not rewrite them (it finds
// the same envelope there and skips it).
//
// # Binary Authorization / Kritis attestations
//
// PutAttestation writes what Binary Authorization and Kritis read, apart
// from the store: an ATTESTATION occurrence of an image on the attestation
// authority's note (WithAuthorityNote, default PREFIX-authority in the note
// project; got or created), carrying a simple-signing payload and its
// signatures with their public key ids: in v1beta1 a generic signed
// attestation (contentType SIMPLE_SIGNING_JSON, serializedPayload,
// signatures[{signature, publicKeyId}]), in v1 an AttestationOccurrence
// (serialized_payload, signatures). It has no DSSE envelope, so Get never
// returns it. It is not written again when an occurrence on the same note
// attests the same critical section of the payload with the same key ids.
//
// # Idempotence
//
// Occurrence ids are chosen by the server and the open-source server
// accepts duplicates, so Put lists the subject's occurrences first and
// skips an attestation whose store Digest (payload type, payload, key ids
// and signatures) is there. A create that fails is retried only after
// looking again, so a write that the server committed before its response
// was lost is not repeated. Two processes putting the same attestation at
// once may still both create it; Get returns it once.
//
// # Reads
//
// Listings use the largest page size and end on an empty token or a token
// seen before, within DefaultMaxPages pages; on the open-source server also
// on an empty page (its PostgreSQL store follows the last page with an
// empty one whose token starts the listing again). Container Analysis may
// return an empty page with a token before a filtered listing ends, so v1
// listings go on. Filters
// are sent but the resource is also checked here: the open-source server
// ignores filters.
//
// # Dry run
//
// WithDryRun sends nothing: Put writes each note and occurrence body it
// would send under the workspace (DryRunDir) and prints it.
package grafeas

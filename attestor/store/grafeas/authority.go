package grafeas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/attestor/attestor/attestor/store"
)

// Attestation is a Binary Authorization / Kritis attestation of an image:
// a simple-signing payload (the containers/image signature JSON with
// critical.identity.docker-reference, critical.image.docker-manifest-digest
// and critical.type, "Google cloud binauthz container signature" as gcloud
// writes it or "atomic container signature" as Kritis does) and its
// signatures.
type Attestation struct {
	// Payload is the simple-signing JSON, exactly as signed.
	Payload []byte
	// Signatures are the raw signatures of Payload (at least one): each
	// signs these bytes, as the Grafeas attestation protos define the
	// signatures of serializedPayload.
	Signatures []Signature
}

// Signature is one signature of an Attestation's payload.
type Signature struct {
	// KeyID is the signer's public key id: the publicKeyId the policy
	// (Binary Authorization attestor, Kritis attestation authority)
	// knows the key by, an RFC 3986 URI: for a PKIX key by default
	// ni:///sha-256;BASE64URL of the SHA-256 of its DER (RFC 6920), for a
	// Cloud KMS key its key version's resource name
	// (//cloudkms.googleapis.com/v1/projects/P/.../cryptoKeyVersions/V).
	KeyID string
	// Sig is the raw signature.
	Sig []byte
}

// maxAuthorityPayload bounds an Attestation's payload (a simple-signing
// payload is well under a kilobyte).
const maxAuthorityPayload = 64 << 10

func (a *Attestation) check() error {
	switch {
	case len(a.Payload) == 0:
		return fault.Invalid(errors.New("grafeas: attestation: empty payload"))
	case len(a.Payload) > maxAuthorityPayload:
		return fmt.Errorf("grafeas: attestation: payload of %d bytes: %w", len(a.Payload), store.ErrTooLarge)
	case !json.Valid(a.Payload):
		return fault.Invalid(errors.New("grafeas: attestation: the payload is not JSON"))
	case len(a.Signatures) == 0:
		return fault.Invalid(errors.New("grafeas: attestation: no signature"))
	}
	for i, s := range a.Signatures {
		if s.KeyID == "" || len(s.Sig) == 0 {
			return fault.Invalid(fmt.Errorf("grafeas: attestation: signature %d needs a key id and a signature", i))
		}
	}
	return nil
}

// authorityNote returns the project and id of the attestation authority's
// note.
func (c *Client) authorityNote() (project, id string) {
	project, id = c.opts.authorityProj, c.opts.authorityNote
	if project == "" {
		project = c.opts.noteProject
	}
	if id == "" {
		id = c.opts.notePrefix + "-authority"
	}
	return project, id
}

// AuthorityNote returns the name (projects/PROJECT/notes/NOTE) of the
// attestation authority's note that PutAttestation writes on.
func (c *Client) AuthorityNote() string {
	p, id := c.authorityNote()
	return "projects/" + p + "/notes/" + id
}

// PutAttestation writes a Binary Authorization / Kritis attestation of the
// image subject: an ATTESTATION occurrence on the resource
// https://NAME@DIGEST, in the client's project, on the attestation
// authority's note (WithAuthorityNote; got or created, in its own
// project). In v1beta1 (the open-source server, Kritis) it is a generic
// signed attestation with contentType SIMPLE_SIGNING_JSON, the serialized
// payload and each signature with its publicKeyId; in v1 (Container
// Analysis, Binary Authorization) an AttestationOccurrence with
// serialized_payload and signatures. The occurrence carries no DSSE
// envelope, so Get does not return it.
//
// It is idempotent: the subject's occurrences are listed first, and the
// attestation is not written when an occurrence on the same note already
// attests the same thing (for a simple-signing payload: the same critical
// section, whatever its optional one; otherwise the same payload) with
// every one of its key ids. Before a create is retried the listing is
// looked at again. With WithDryRun nothing is sent: the note and the
// occurrence bodies are saved under the workspace and printed.
func (c *Client) PutAttestation(ctx context.Context, subject store.Subject, att Attestation) (*Result, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	if err := att.check(); err != nil {
		return nil, err
	}
	project, id := c.authorityNote()
	note := "projects/" + project + "/notes/" + id
	spec := noteSpec{id: id, kind: kindAuthority}
	uri := store.ResourceURI(subject)
	res := &Result{Resource: uri, DryRun: c.opts.dryRun != nil}
	key := authorityKey(att.Payload)
	if c.opts.dryRun != nil {
		res.Created = 1
		return res, c.dryRunAuthority(subject, project, spec, &att, key)
	}
	unlock := c.lock(subject)
	defer unlock()

	found := func(ctx context.Context) (bool, error) {
		occs, err := c.list(ctx, subject, func(o rawOcc) bool { return o.hasAttestation && o.note == note })
		if err != nil {
			return false, err
		}
		for _, o := range occs {
			if authorityKey(o.attPayload) == key && coversKeys(o.attSigs, att.Signatures) {
				return true, nil
			}
		}
		return false, nil
	}
	ok, err := found(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		res.Existing = 1
		return res, nil
	}
	if _, err := c.ensureNote(ctx, project, spec); err != nil {
		return nil, err
	}
	committed := func(ctx context.Context) error {
		ok, err := found(ctx)
		if err != nil {
			return unknownCommit(err)
		}
		if ok {
			return errCommitted
		}
		return nil
	}
	endpoint := c.base + "/projects/" + url.PathEscape(c.opts.project) + "/occurrences"
	err = c.call(ctx, http.MethodPost, endpoint, c.dialect.authorityOccurrence(&att, uri, note), nil, committed)
	if err != nil && !errors.Is(err, errCommitted) {
		if !(ctx.Err() == nil && errors.Is(err, fault.ErrUnavailable) && committed(ctx) == errCommitted) {
			return nil, fmt.Errorf("creating the ATTESTATION occurrence of %s on %s: %w", subject, note, err)
		}
	}
	res.Created = 1
	return res, nil
}

// authorityKey is what an attestation attests, for deduplication: the
// critical section of a simple-signing payload (re-encoded with sorted
// keys), or else the payload's sha256.
func authorityKey(payload []byte) string {
	var p struct {
		Critical json.RawMessage `json:"critical"`
	}
	if json.Unmarshal(payload, &p) == nil && len(bytes.TrimSpace(p.Critical)) > 0 && p.Critical[0] == '{' {
		var v any
		if json.Unmarshal(p.Critical, &v) == nil {
			if b, err := json.Marshal(v); err == nil {
				sum := sha256.Sum256(b)
				return "critical:" + hex.EncodeToString(sum[:])
			}
		}
	}
	sum := sha256.Sum256(payload)
	return "payload:" + hex.EncodeToString(sum[:])
}

// coversKeys reports whether have signs with every key id of want.
func coversKeys(have []rawSig, want []Signature) bool {
	ids := map[string]bool{}
	for _, s := range have {
		ids[s.keyID] = true
	}
	for _, s := range want {
		if !ids[s.KeyID] {
			return false
		}
	}
	return true
}

// dryRunAuthority writes and prints the note and the occurrence that
// PutAttestation would create.
func (c *Client) dryRunAuthority(s store.Subject, project string, spec noteSpec, att *Attestation, key string) error {
	api := string(c.opts.api)
	note := "projects/" + project + "/notes/" + spec.id
	noteURL := c.base + "/projects/" + url.PathEscape(project) + "/notes"
	name := path.Join(DryRunDir, api, "notes", project, spec.id+".json")
	if err := c.dryRunWrite(name, http.MethodPost, noteURL+"?noteId="+url.QueryEscape(spec.id), c.dialect.note(spec, &c.opts)); err != nil {
		return err
	}
	occURL := c.base + "/projects/" + url.PathEscape(c.opts.project) + "/occurrences"
	_, sum, _ := strings.Cut(key, ":")
	name = path.Join(DryRunDir, api, "occurrences", c.opts.project, s.Digest.Algorithm+"-"+s.Digest.Hex, kindAuthority.String()+"-"+sum[:32]+".json")
	return c.dryRunWrite(name, http.MethodPost, occURL, c.dialect.authorityOccurrence(att, store.ResourceURI(s), note))
}

package gate

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/provenance"
)

// Locator is a store that says where it found each copy of an
// attestation: Workspace, oci.Registry and grafeas.Client are Locators.
// Inspect reads a source whose store is not one with Get, and names only
// the source.
type Locator interface {
	Locate(ctx context.Context, subject store.Subject) ([]store.Located, error)
}

// InventorySubjects is how many subject names an InventoryEntry lists
// (SubjectCount has them all).
const InventorySubjects = 3

// Inventory is what Inspect found: every attestation of a subject, once
// however many places hold it, with where each copy is. It is
// JSON-serializable and stable: fields are added, never renamed.
//
// Everything in it but the verification columns (InventoryEntry.Key and
// .Policy) is as the attestation claims it: read, not verified.
type Inventory struct {
	// Subject is what was inspected.
	Subject SubjectRef `json:"subject"`
	// Sources say what each source returned (copies, not attestations).
	Sources []SourceResult `json:"sources"`
	// Attestations are the attestations found, by time (the record's or
	// the build's finish; those without one last), then predicate type,
	// step and digest.
	Attestations []InventoryEntry `json:"attestations"`
}

// InventoryEntry is one attestation and every place it was found.
type InventoryEntry struct {
	// Digest identifies the attestation: store.Attestation.Digest, the
	// hex sha256 of its envelope's payload type, payload and signatures
	// (copies re-encoded by a store are one entry); for an envelope that
	// does not parse, the hex sha256 of its bytes.
	Digest string `json:"digest"`
	// Locations are where its copies were found, in the sources' order.
	Locations []store.Location `json:"locations"`
	// PayloadType is the envelope's payload type.
	PayloadType string `json:"payloadType,omitempty"`
	// PredicateType is the statement's predicate type.
	PredicateType string `json:"predicateType,omitempty"`
	// Step is the step of a step record (link predicate).
	Step string `json:"step,omitempty"`
	// KeyIDs are the key ids the envelope's signatures name.
	KeyIDs []string `json:"keyIds,omitempty"`
	// Keyless is the identity of the signing certificate of a keyless
	// attestation's sigstore bundle.
	Keyless *KeylessIdentity `json:"keyless,omitempty"`
	// SubjectCount is the number of the statement's subjects, and
	// Subjects the names (or, without one, the digests) of the first
	// InventorySubjects of them.
	SubjectCount int      `json:"subjectCount"`
	Subjects     []string `json:"subjects,omitempty"`
	// AboutSubject says whether one of the statement's subjects has the
	// inspected subject's digest (the records of earlier steps in a
	// workspace are about other artifacts).
	AboutSubject bool `json:"aboutSubject"`
	// Time is when the step record's step finished (finishedOn) or the
	// provenance's build finished; zero if it says neither.
	Time time.Time `json:"time,omitzero"`
	// Size is the envelope's size in bytes (the largest copy's).
	Size int `json:"size"`
	// Bundle says whether a sigstore bundle was found with it.
	Bundle bool `json:"bundle"`
	// Key is the check of its signature with WithInspectKey's key.
	Key *KeyCheck `json:"key,omitempty"`
	// Policy is the check of its signature against WithInspectPolicy's
	// functionaries.
	Policy *PolicyCheck `json:"policy,omitempty"`
	// Error says why the envelope or its statement could not be read.
	Error string `json:"error,omitempty"`

	envelope, bundle []byte
}

// Envelope returns the envelope's bytes as found (its first copy).
func (e *InventoryEntry) Envelope() []byte { return e.envelope }

// SigstoreBundle returns the sigstore bundle found with it, nil if none.
func (e *InventoryEntry) SigstoreBundle() []byte { return e.bundle }

// KeylessIdentity is the identity a Fulcio certificate states: the OIDC
// issuer and the subject (the certificate's SAN: a workflow URI, an
// e-mail address).
type KeylessIdentity struct {
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// KeyCheck is the check of an attestation's signature with one key.
type KeyCheck struct {
	// KeyID is the key's in-toto key id.
	KeyID string `json:"keyId"`
	// Verified says whether a signature verifies with the key.
	Verified bool `json:"verified"`
}

// PolicyCheck is the check of an attestation's signatures against a
// policy's functionaries, as Verify checks it.
type PolicyCheck struct {
	// Functionaries are the functionaries whose keys (or keyless
	// identities) verified it, as "name (keyid)" or "name (keyless)".
	Functionaries []string `json:"functionaries"`
	// Status is Verify's status of the envelope: StatusVerified,
	// StatusUntrusted, StatusInvalid or StatusIgnored.
	Status string `json:"status"`
	// Reason says why it is not verified or ignored.
	Reason string `json:"reason,omitempty"`
}

// InspectOption configures Inspect.
type InspectOption func(*inspectOptions) error

type inspectOptions struct {
	key    *sign.Verifier
	policy *Verifier
}

// WithInspectKey checks every attestation's signature with key
// (InventoryEntry.Key). It excludes WithInspectPolicy.
func WithInspectKey(key *sign.Verifier) InspectOption {
	return func(o *inspectOptions) error {
		if key == nil {
			return fault.Invalid(errors.New("gate: nil key"))
		}
		o.key = key
		return nil
	}
}

// WithInspectPolicy checks every attestation against the functionaries
// of v's policy, as v.Verify does (keyless ones need v's trusted
// material): InventoryEntry.Policy. It excludes WithInspectKey.
func WithInspectPolicy(v *Verifier) InspectOption {
	return func(o *inspectOptions) error {
		if v == nil {
			return fault.Invalid(errors.New("gate: nil verifier"))
		}
		o.policy = v
		return nil
	}
}

// Inspect lists every attestation of subject that the sources hold,
// concurrently read: one entry per attestation, whichever sources and
// places hold copies of it. A source whose store is a Locator names the
// place of each copy.
//
// What the sources return is read as hostile data: within their bounds
// (store.MaxEnvelopeSize for a registry or Grafeas, the workspace bounds
// of Workspace), decoded without trust, and verified only by the checks
// the options ask for. An attestation that does not parse is listed with
// its Error.
//
// The entries of the sources that answered are returned even when others
// failed; err then joins the failures (a source that failed after its
// retries matches fault.ErrUnavailable). Finding nothing is no error.
func Inspect(ctx context.Context, subject store.Subject, sources []Source, opts ...InspectOption) (*Inventory, error) {
	var o inspectOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.key != nil && o.policy != nil {
		return nil, fault.Invalid(errors.New("gate: inspect with a key or a policy, not both"))
	}
	if subject.Digest.Hex == "" || subject.Digest.Algorithm == "" {
		return nil, fault.Invalid(fmt.Errorf("gate: subject %q has no digest", subject.Name))
	}
	inv := &Inventory{
		Subject:      SubjectRef{Name: subject.Name, Digest: subject.Digest.String()},
		Sources:      make([]SourceResult, len(sources)),
		Attestations: []InventoryEntry{},
	}
	got := make([][]store.Located, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		inv.Sources[i].Name = src.Name
		if src.Store == nil {
			errs[i] = fault.Invalid(fmt.Errorf("source %q: no store", src.Name))
			inv.Sources[i].Error = errs[i].Error()
			continue
		}
		wg.Go(func() {
			located, err := locate(ctx, src, subject)
			if err != nil {
				errs[i] = fmt.Errorf("fetching from %s: %w", src.Name, err)
				inv.Sources[i].Error = errs[i].Error()
				return
			}
			got[i] = located
			inv.Sources[i].Attestations = len(located)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	byDigest := map[string]int{}
	for _, located := range got {
		for _, l := range located {
			key, env, perr := entryDigest(l.Envelope)
			i, ok := byDigest[key]
			if !ok {
				i = len(inv.Attestations)
				byDigest[key] = i
				inv.Attestations = append(inv.Attestations, newEntry(key, env, perr, l.Attestation, subject))
			}
			e := &inv.Attestations[i]
			if !slices.Contains(e.Locations, l.Location) {
				e.Locations = append(e.Locations, l.Location)
			}
			// A bundle counts only when it carries this envelope: one
			// of another (planted beside it, or served with it) would
			// lend the row a keyless identity that never signed it.
			if e.bundle == nil && l.Bundle != nil && env != nil && bundleCarries(l.Bundle, env) {
				e.bundle = l.Bundle
				e.Bundle = true
				e.Keyless = keylessIdentity(l.Bundle)
			}
			e.Size = max(e.Size, len(l.Envelope))
		}
	}

	switch {
	case o.key != nil:
		checkKey(ctx, inv, o.key)
	case o.policy != nil:
		if err := checkPolicy(ctx, inv, o.policy, subject); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(inv.Attestations, func(a, b InventoryEntry) int {
		switch {
		case a.Time.IsZero() != b.Time.IsZero():
			if a.Time.IsZero() {
				return 1
			}
			return -1
		case !a.Time.Equal(b.Time):
			return a.Time.Compare(b.Time)
		}
		return cmp.Or(cmp.Compare(a.PredicateType, b.PredicateType), cmp.Compare(a.Step, b.Step), cmp.Compare(a.Digest, b.Digest))
	})
	return inv, errors.Join(errs...)
}

// locate returns the copies src holds, with their places when its store
// is a Locator.
func locate(ctx context.Context, src Source, subject store.Subject) ([]store.Located, error) {
	var located []store.Located
	if l, ok := src.Store.(Locator); ok {
		var err error
		if located, err = l.Locate(ctx, subject); err != nil {
			return nil, err
		}
	} else {
		atts, err := src.Store.Get(ctx, subject)
		if err != nil {
			return nil, err
		}
		for _, a := range atts {
			located = append(located, store.Located{Attestation: a})
		}
	}
	for i := range located {
		located[i].Location.Source = src.Name
	}
	return located, nil
}

// entryDigest returns the key of an envelope's entry (see
// InventoryEntry.Digest) and the parsed envelope, or the error parsing it.
func entryDigest(data []byte) (string, *dsse.Envelope, error) {
	env, err := envelope.Parse(data)
	if err != nil {
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:]), nil, err
	}
	return store.EnvelopeDigest(env), env, nil
}

// inspectStatement is what an entry shows of a statement.
type inspectStatement struct {
	Type          string       `json:"_type"`
	Subject       []descriptor `json:"subject"`
	PredicateType string       `json:"predicateType"`
	Predicate     struct {
		// A step record's (link predicate).
		Name        string `json:"name"`
		Environment struct {
			FinishedOn string `json:"finishedOn"`
		} `json:"environment"`
		// SLSA v1 provenance's.
		RunDetails struct {
			Metadata struct {
				FinishedOn string `json:"finishedOn"`
			} `json:"metadata"`
		} `json:"runDetails"`
		// SLSA v0.2 provenance's.
		Metadata struct {
			BuildFinishedOn string `json:"buildFinishedOn"`
		} `json:"metadata"`
	} `json:"predicate"`
}

// newEntry reads what an entry shows from the envelope, unverified.
func newEntry(digest string, env *dsse.Envelope, perr error, a store.Attestation, subject store.Subject) InventoryEntry {
	e := InventoryEntry{Digest: digest, Locations: []store.Location{}, envelope: a.Envelope}
	if perr != nil {
		e.Error = perr.Error()
		return e
	}
	e.PayloadType = env.PayloadType
	for _, s := range env.Signatures {
		if s.KeyID != "" && !slices.Contains(e.KeyIDs, s.KeyID) {
			e.KeyIDs = append(e.KeyIDs, s.KeyID)
		}
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		e.Error = "payload is not base64"
		return e
	}
	if env.PayloadType != envelope.PayloadTypeInToto {
		e.Error = fmt.Sprintf("payload type %q is not an in-toto statement", env.PayloadType)
		return e
	}
	var st inspectStatement
	if err := json.Unmarshal(payload, &st); err != nil {
		e.Error = fmt.Sprintf("decoding statement: %v", err)
		return e
	}
	if st.Type != statementV1 && st.Type != statementV01 {
		e.Error = fmt.Sprintf("statement type %q is not an in-toto statement", st.Type)
	}
	e.PredicateType = st.PredicateType
	e.SubjectCount = len(st.Subject)
	for _, rd := range st.Subject[:min(len(st.Subject), InventorySubjects)] {
		e.Subjects = append(e.Subjects, cmp.Or(rd.Name, rd.URI, string(rd.Digest)))
	}
	e.AboutSubject = describes(st.Subject, subject)
	var when string
	switch st.PredicateType {
	case envelope.PredicateTypeLink:
		e.Step, when = st.Predicate.Name, st.Predicate.Environment.FinishedOn
	case provenance.PredicateTypeV1:
		when = st.Predicate.RunDetails.Metadata.FinishedOn
	case provenance.PredicateTypeV02:
		when = st.Predicate.Metadata.BuildFinishedOn
	}
	if t, err := time.Parse(time.RFC3339Nano, when); err == nil {
		e.Time = t.UTC()
	}
	return e
}

// bundleCarries reports whether the sigstore bundle holds env: the same
// payload type and payload (as Verify's keyless check requires; the
// bundle may hold the envelope re-encoded, without keyids).
func bundleCarries(bundle []byte, env *dsse.Envelope) bool {
	be, err := sign.BundleEnvelope(bundle)
	if err != nil || be.PayloadType != env.PayloadType {
		return false
	}
	want, err1 := be.DecodeB64Payload()
	got, err2 := env.DecodeB64Payload()
	return err1 == nil && err2 == nil && bytes.Equal(want, got)
}

// keylessIdentity returns the identity of a bundle's signing certificate,
// nil if it has none.
func keylessIdentity(bundle []byte) *KeylessIdentity {
	b, err := sign.ParseBundle(bundle)
	if err != nil {
		return nil
	}
	vc, err := b.VerificationContent()
	if err != nil || vc.Certificate() == nil {
		return nil
	}
	s, err := certificate.SummarizeCertificate(vc.Certificate())
	if err != nil {
		return nil
	}
	return &KeylessIdentity{Issuer: s.Issuer, Subject: s.SubjectAlternativeName}
}

// checkKey fills each entry's Key.
func checkKey(ctx context.Context, inv *Inventory, key *sign.Verifier) {
	id, _ := key.KeyID()
	for i := range inv.Attestations {
		e := &inv.Attestations[i]
		e.Key = &KeyCheck{KeyID: id}
		if e.Error != "" && e.PayloadType == "" {
			continue // no envelope
		}
		env, err := envelope.Parse(e.envelope)
		if err != nil {
			continue
		}
		_, _, err = sign.VerifyEnvelope(ctx, env, key)
		e.Key.Verified = err == nil
	}
}

// checkPolicy fills each entry's Policy with what v.Verify says of its
// envelope.
func checkPolicy(ctx context.Context, inv *Inventory, v *Verifier, subject store.Subject) error {
	atts := make([]store.Attestation, len(inv.Attestations))
	for i, e := range inv.Attestations {
		atts[i] = store.Attestation{Envelope: e.envelope, Bundle: e.bundle}
	}
	res, err := v.Verify(ctx, subject, atts)
	if res == nil {
		return err
	}
	byRaw := map[string]EnvelopeResult{}
	for _, er := range res.Envelopes {
		byRaw[er.Digest] = er
	}
	for i := range inv.Attestations {
		e := &inv.Attestations[i]
		sum := sha256.Sum256(e.envelope)
		if er, ok := byRaw[hex.EncodeToString(sum[:])]; ok {
			e.Policy = &PolicyCheck{Functionaries: append([]string{}, er.Signers...), Status: er.Status, Reason: er.Reason}
		}
	}
	return nil
}

package gate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/gate/internal/linkjson"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/provenance"
)

// Statement types the gate reads.
const (
	statementV1  = "https://in-toto.io/Statement/v1"
	statementV01 = "https://in-toto.io/Statement/v0.1"
)

// Option configures a Verifier.
type Option func(*options) error

type options struct {
	clock         func() time.Time
	logger        *slog.Logger
	expiredUnsafe bool // set by a test hook only (export_test.go)
	trusted       root.TrustedMaterial
	bundleOpts    []sign.BundleOption
}

func defaultOptions() options {
	return options{clock: time.Now, logger: slog.New(slog.DiscardHandler)}
}

// WithLogger logs the verification's progress at debug level to l. The
// default discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fault.Invalid(errors.New("gate: nil logger"))
		}
		o.logger = l
		return nil
	}
}

// WithTrustedMaterial sets the sigstore trusted root (Fulcio CAs,
// transparency logs, timestamp authorities) that keyless functionaries'
// signatures are checked against: an attestation whose sigstore bundle
// verifies (sign.VerifyBundle, with opts) for a functionary's identity is
// signed by that functionary. Without it, a policy that uses a keyless
// functionary fails with ErrKeyless.
func WithTrustedMaterial(trusted root.TrustedMaterial, opts ...sign.BundleOption) Option {
	return func(o *options) error {
		if trusted == nil {
			return fault.Invalid(errors.New("gate: nil trusted material"))
		}
		o.trusted, o.bundleOpts = trusted, opts
		return nil
	}
}

// keylessPrefix starts the signer ids of keyless functionaries (which
// have no fixed key: the key that signed is the certificate's, see
// envelope.keys).
const keylessPrefix = "keyless:"

// Verifier verifies subjects against a policy. It is immutable and safe
// for concurrent use.
type Verifier struct {
	policy *Policy
	opts   options
	// trusted key id → verifier, and → functionary names.
	verifiers   []dsse.Verifier
	keyIDs      map[string]bool
	functionary map[string][]string
	// trusted key id → its signing key (see signingKey).
	signingKey map[string]string
	// keyless functionaries, sorted.
	keyless []string
}

// NewVerifier returns a Verifier for p, a policy from ParsePolicy or
// LoadPolicy. Checks are all on.
func NewVerifier(p *Policy, opts ...Option) (*Verifier, error) {
	if p == nil || !p.compiled {
		return nil, fault.Invalid(errors.New("gate: the policy is nil or not compiled (use ParsePolicy or LoadPolicy)"))
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	v := &Verifier{policy: p, opts: o, keyIDs: map[string]bool{}, functionary: map[string][]string{}, signingKey: map[string]string{}}
	names := make([]string, 0, len(p.keys))
	for name := range p.keys {
		names = append(names, name)
	}
	sort.Strings(names)
	for name := range p.keyless {
		id := keylessPrefix + name
		v.functionary[id] = []string{name}
		v.keyless = append(v.keyless, name)
	}
	sort.Strings(v.keyless)
	for _, name := range names {
		key := p.keys[name]
		id, _ := key.KeyID()
		v.functionary[id] = append(v.functionary[id], name)
		if !v.keyIDs[id] {
			v.keyIDs[id] = true
			v.verifiers = append(v.verifiers, key)
			sk, err := signingKey(key.Public())
			if err != nil {
				return nil, fault.Invalid(fmt.Errorf("gate: functionary %q: %w", name, err))
			}
			v.signingKey[id] = sk
		}
	}
	return v, nil
}

// envelope is one attestation as examined.
type fetched struct {
	bundle    []byte
	rawDigest string
	envDigest string
	env       *dsse.Envelope
	keyIDs    []string          // signer ids (trusted key ids, keylessPrefix+name) that verified it
	keys      map[string]string // signer id → the signing key (see signingKey)
	st        *statement
	claimed   *statement // decoded without verification, to report
	res       *EnvelopeResult
	record    *record
	fails     []*ReasonError
}

// The decoded forms of step records and digests (package linkjson).
type (
	descriptor    = linkjson.Descriptor
	digestSet     = linkjson.DigestSet
	linkPredicate = linkjson.Predicate
	linkStatement = linkjson.Statement
)

// statement is the part of an in-toto statement the gate reads.
type statement struct {
	Type          string          `json:"_type"`
	Subject       []descriptor    `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
	payload       []byte          `json:"-"`
	link          *linkPredicate  `json:"-"` // decoded, for a step record
}

// record is a verified step record.
type record struct {
	env       *fetched
	step      string
	command   []string
	artifacts stepArtifacts
	print     string // fingerprint of materials and products, computed when needed
}

var linkTypeJSON = []byte(`"predicateType":"` + envelope.PredicateTypeLink + `"`)

func decodeStatement(payload []byte) (*statement, error) {
	// A step record (which may list many artifacts) is decoded in one
	// pass; the decoded predicateType, not the byte search, decides.
	if bytes.Contains(payload, linkTypeJSON) {
		if ls, err := linkjson.DecodeStatement(payload); err == nil && ls.PredicateType == envelope.PredicateTypeLink {
			if ls.Type != statementV1 && ls.Type != statementV01 {
				return nil, fmt.Errorf("statement type %q is not an in-toto statement", ls.Type)
			}
			return &statement{Type: ls.Type, Subject: ls.Subject, PredicateType: ls.PredicateType, link: &ls.Predicate}, nil
		}
	}
	st := &statement{}
	if err := json.Unmarshal(payload, st); err != nil {
		return nil, fmt.Errorf("decoding statement: %v", err)
	}
	if st.Type != statementV1 && st.Type != statementV01 {
		return nil, fmt.Errorf("statement type %q is not an in-toto statement", st.Type)
	}
	if st.PredicateType == "" {
		return nil, errors.New("statement has no predicate type")
	}
	st.payload = payload
	return st, nil
}

func (st *statement) about(s store.Subject) bool {
	return describes(st.Subject, s)
}

func describes(rds []descriptor, s store.Subject) bool {
	for _, rd := range rds {
		if s.Digest.Hex != "" && rd.Digest.Has(s.Digest.Algorithm, s.Digest.Hex) {
			return true
		}
	}
	return false
}

func toRecord(e *fetched) (*record, error) {
	st := e.st
	if st.Type != statementV1 {
		return nil, fmt.Errorf("step record of statement type %q (want %s)", st.Type, statementV1)
	}
	var link linkPredicate
	if st.link != nil {
		link = *st.link
	} else if err := json.Unmarshal(st.Predicate, &link); err != nil {
		return nil, fmt.Errorf("decoding link predicate: %v", err)
	}
	if err := workspace.ValidateStepName(link.Name); err != nil {
		return nil, err
	}
	r := &record{env: e, step: link.Name, command: link.Command}
	r.artifacts.materials = artifactsOf(link.Materials)
	if s, _ := link.Byproducts["subjects"].(string); s == "materials" {
		r.artifacts.products = artifactSet{}
	} else {
		r.artifacts.products = artifactsOf(st.Subject)
	}
	return r, nil
}

// artifactsOf returns the set of artifacts rds describes (named by their
// name, or else their URI); of several of the same name, the last counts.
func artifactsOf(rds []descriptor) artifactSet {
	nameOf := func(rd descriptor) string {
		if rd.Name == "" {
			return rd.URI
		}
		return rd.Name
	}
	set := make(artifactSet, len(rds))
	for i, rd := range rds {
		set[i] = artifact{name: nameOf(rd), digest: string(rd.Digest)}
	}
	byName := func(a, b artifact) int { return strings.Compare(a.name, b.name) }
	if !slices.IsSortedFunc(set, byName) {
		slices.SortFunc(set, byName)
	}
	// Rare: several artifacts of one name (the sort did not keep their
	// order).
	dup := false
	for i := 1; i < len(set) && !dup; i++ {
		dup = set[i].name == set[i-1].name
	}
	if dup {
		last := make(map[string]string, len(rds))
		for _, rd := range rds {
			last[nameOf(rd)] = string(rd.Digest)
		}
		set = slices.CompactFunc(set, func(a, b artifact) bool { return a.name == b.name })
		for i := range set {
			set[i].digest = last[set[i].name]
		}
	}
	return set
}

func fingerprint(a stepArtifacts) string {
	h := sha256.New()
	for _, set := range []artifactSet{a.materials, a.products} {
		for _, a := range set { // sorted
			h.Write([]byte(a.name))
			h.Write([]byte{0})
			h.Write([]byte(a.digest))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// verification is the state of one Verify call.
type verification struct {
	v       *Verifier
	p       *Policy
	subject store.Subject
	now     time.Time
	res     *Result
	errs    []error
	envs    []*fetched
}

func (vr *verification) fail(kind error, step, format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	vr.errs = append(vr.errs, &ReasonError{Kind: kind, Step: step, Msg: msg})
	vr.res.Reasons = append(vr.res.Reasons, Reason{Code: codeOf(kind), Step: step, Message: msg})
	return msg
}

// Verify verifies the attestations atts of subject against the policy and
// returns the result. Every attestation given is examined (duplicates, by
// store.Attestation.Digest, once); fetching them is the caller's business
// (see Fetch).
//
// What fails, besides a missing or short step: an envelope that does not
// parse or whose signature names a trusted key but does not verify
// (ErrSignature); one no policy key verifies that claims to be a step
// record of a policy step, a provenance or a required attestation
// (ErrUntrustedSigner); a record of a step signed by a functionary not
// allowed for that step, even when others meet the threshold
// (ErrUntrustedSigner). The provenance and each required attestation pass
// when one candidate qualifies; the others are reported only when none
// does. Envelopes the policy does not ask for are listed as ignored.
//
// The result is never nil unless err is a usage error or ctx's. On a pass
// err is nil and Result.Verified is true. On a failure err joins one
// *ReasonError per reason, each matching ErrVerification and its sentinel
// (ErrMissingStep, ErrThreshold, ...), and the result lists the same
// reasons.
func (v *Verifier) Verify(ctx context.Context, subject store.Subject, atts []store.Attestation) (*Result, error) {
	if subject.Digest.Hex == "" || subject.Digest.Algorithm == "" {
		return nil, fault.Invalid(fmt.Errorf("gate: subject %q has no digest", subject.Name))
	}
	p := v.policy
	vr := &verification{v: v, p: p, subject: subject, now: v.opts.clock().UTC()}
	vr.res = &Result{
		Subject:    SubjectRef{Name: subject.Name, Digest: subject.Digest.String()},
		Policy:     PolicyRef{Source: p.source, Digest: p.digest, Expires: p.Expires},
		VerifiedAt: vr.now,
		Steps:      []StepResult{},
		Envelopes:  []EnvelopeResult{},
		Reasons:    []Reason{},
	}

	if !vr.now.Before(p.Expires) {
		if v.opts.expiredUnsafe {
			vr.res.Warnings = append(vr.res.Warnings, fmt.Sprintf("the policy expired at %s (accepted: WithExpiredPolicyUnsafe)", p.Expires.Format(time.RFC3339)))
		} else {
			vr.fail(ErrPolicyExpired, "", "the policy expired at %s", p.Expires.Format(time.RFC3339))
		}
	}
	if err := vr.examine(ctx, atts); err != nil {
		return nil, err
	}
	if len(vr.envs) == 0 {
		vr.fail(ErrNoAttestations, "", "no attestations found for %s", subject)
	}
	bound := vr.checkProvenance()
	vr.checkSteps(bound)
	vr.checkAttestations()
	vr.checkKeyless()

	for _, e := range vr.envs {
		vr.res.Envelopes = append(vr.res.Envelopes, *e.res)
	}
	sort.SliceStable(vr.res.Envelopes, func(i, j int) bool { return vr.res.Envelopes[i].Digest < vr.res.Envelopes[j].Digest })
	vr.res.Verified = len(vr.errs) == 0
	vr.res.Verdict = Failed
	if vr.res.Verified {
		vr.res.Verdict = Passed
	}
	v.opts.logger.Debug("verified", "subject", subject.String(), "verdict", vr.res.Verdict, "reasons", len(vr.errs))
	return vr.res, errors.Join(vr.errs...)
}

// examine decodes and verifies every envelope, deduplicated, on up to
// GOMAXPROCS goroutines; the reasons are recorded in the envelopes' order.
func (vr *verification) examine(ctx context.Context, atts []store.Attestation) error {
	// Hash and decode every attestation (the slow part), in parallel.
	all := make([]*fetched, len(atts))
	errs := make([]error, len(atts))
	parallel(ctx, len(atts), func(i int) {
		sum := sha256.Sum256(atts[i].Envelope)
		e := &fetched{bundle: atts[i].Bundle, rawDigest: hex.EncodeToString(sum[:])}
		e.res = &EnvelopeResult{Digest: e.rawDigest}
		// The shape is checked by sign.VerifyEnvelope; decoding the
		// payload here too would double the work on large records.
		e.env, errs[i] = linkjson.DecodeEnvelope(atts[i].Envelope)
		all[i] = e
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	seenRaw := map[string]bool{}
	seen := map[string][]*dsse.Envelope{} // by signedKey
	var todo []*fetched
	for i, e := range all {
		if seenRaw[e.rawDigest] {
			continue
		}
		seenRaw[e.rawDigest] = true
		if err := errs[i]; err != nil {
			vr.envs = append(vr.envs, e)
			e.res.Status = StatusInvalid
			e.res.Reason = e.fail(ErrSignature, "", "envelope %s: decoding DSSE envelope: %v", short(e.rawDigest), err)
			continue
		}
		key := signedKey(e.env)
		if slices.ContainsFunc(seen[key], func(o *dsse.Envelope) bool { return sameSigned(o, e.env) }) {
			continue
		}
		seen[key] = append(seen[key], e.env)
		vr.envs = append(vr.envs, e)
		todo = append(todo, e)
	}
	parallel(ctx, len(todo), func(i int) { vr.verifyEnvelope(ctx, todo[i]) })
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, e := range vr.envs {
		for _, f := range e.fails {
			vr.errs = append(vr.errs, f)
			vr.res.Reasons = append(vr.res.Reasons, Reason{Code: codeOf(f.Kind), Step: f.Step, Message: f.Msg})
		}
	}
	return nil
}

// parallel calls f(0), ..., f(n-1) on up to GOMAXPROCS goroutines, and
// returns when they are done; once ctx is done, it calls f no more.
func parallel(ctx context.Context, n int, f func(i int)) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// signedKey and sameSigned deduplicate copies of an envelope from several
// sources: two envelopes are the same when they sign the same payload, of
// the same type, with the same signatures, whatever their JSON encoding.
// signedKey hashes all but the payload (its length only): envelopes with
// equal keys are compared with sameSigned.
func signedKey(env *dsse.Envelope) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		for i := range n {
			n[i] = byte(uint64(len(s)) >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(env.PayloadType)
	field(strconv.Itoa(len(env.Payload)))
	for _, sig := range env.Signatures {
		field(sig.KeyID)
		field(sig.Sig)
	}
	return string(h.Sum(nil))
}

func sameSigned(a, b *dsse.Envelope) bool {
	return a.PayloadType == b.PayloadType && a.Payload == b.Payload && slices.Equal(a.Signatures, b.Signatures)
}

// envelopeDigest returns store.EnvelopeDigest of the envelope, computed
// once, on demand (a store may re-encode envelopes; see checkProvenance).
func (e *fetched) envelopeDigest() string {
	if e.envDigest == "" && e.env != nil {
		e.envDigest = store.EnvelopeDigest(e.env)
	}
	return e.envDigest
}

// fail records a reason of the envelope (examined concurrently; the
// verification collects them in order) and returns its message.
func (e *fetched) fail(kind error, step, format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	e.fails = append(e.fails, &ReasonError{Kind: kind, Step: step, Msg: msg})
	return msg
}

func (vr *verification) verifyEnvelope(ctx context.Context, e *fetched) {
	var (
		payload []byte
		err     error
	)
	if len(vr.v.verifiers) == 0 {
		err = fmt.Errorf("%w: the policy has no public keys", sign.ErrNoValidSignature)
	} else {
		payload, e.keyIDs, err = sign.VerifyEnvelope(ctx, e.env, vr.v.verifiers...)
	}
	e.keys = make(map[string]string, len(e.keyIDs))
	for _, id := range e.keyIDs {
		e.keys[id] = vr.v.signingKey[id]
	}
	if ids, key, body := vr.verifyKeyless(ctx, e); len(ids) > 0 {
		if err != nil {
			payload, err = body, nil
		}
		e.keyIDs = append(e.keyIDs, ids...)
		for _, id := range ids {
			e.keys[id] = key
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		// Decoded without verification, only to say what it claims.
		if payload, err := e.env.DecodeB64Payload(); err == nil {
			if st, err := decodeStatement(payload); err == nil {
				e.claimed = st
				e.res.PredicateType = st.PredicateType
				if st.link != nil {
					e.res.Step = st.link.Name
				}
			}
		}
		vr.unverified(e, err)
		return
	}
	e.res.Signers = vr.signerNames(e.keyIDs)
	if e.env.PayloadType != envelope.PayloadTypeInToto {
		e.res.Status, e.res.Reason = StatusIgnored, fmt.Sprintf("payload type %q is not an in-toto statement", e.env.PayloadType)
		return
	}
	st, err := decodeStatement(payload)
	if err != nil {
		e.res.Status, e.res.Reason = StatusIgnored, err.Error()
		return
	}
	e.st = st
	e.res.PredicateType = st.PredicateType
	e.res.Status = StatusVerified
	if st.PredicateType == envelope.PredicateTypeLink {
		r, err := toRecord(e)
		if err != nil {
			e.res.Status = StatusInvalid
			e.res.Reason = e.fail(ErrSignature, "", "step record %s: %v", short(e.rawDigest), err)
			return
		}
		e.record = r
		e.res.Step = r.step
		// The record holds what the gate needs; drop the decoded
		// statement of a large step (memory stays bounded by the
		// artifact sets).
		st.Subject, st.Predicate, st.payload, st.link = nil, nil, nil, nil
	}
}

// verifyKeyless checks the envelope's sigstore bundle against every
// keyless functionary and returns the signer ids of those whose identity
// signed it, the signing key (see signingKey: the public key of the
// bundle's certificate, one key however many identities it matches), and
// the payload. The bundle must carry the same envelope.
func (vr *verification) verifyKeyless(ctx context.Context, e *fetched) (ids []string, key string, body []byte) {
	o := vr.v.opts
	if len(e.bundle) == 0 || o.trusted == nil || len(vr.v.keyless) == 0 {
		return nil, "", nil
	}
	b, err := sign.ParseBundle(e.bundle)
	if err != nil {
		return nil, "", nil
	}
	be, err := sign.BundleEnvelope(e.bundle)
	if err != nil || be.PayloadType != e.env.PayloadType {
		return nil, "", nil
	}
	want, err1 := be.DecodeB64Payload()
	got, err2 := e.env.DecodeB64Payload()
	if err1 != nil || err2 != nil || !bytes.Equal(want, got) {
		return nil, "", nil
	}
	// The certificate VerifyBundle checks the signature with (sigstore-go
	// takes it from the same place); without one, no keyless signer.
	vc, err := b.VerificationContent()
	if err != nil || vc.Certificate() == nil {
		return nil, "", nil
	}
	if key, err = signingKey(vc.Certificate().PublicKey); err != nil {
		return nil, "", nil
	}
	for _, name := range vr.v.keyless {
		payload, err := sign.VerifyBundle(ctx, e.bundle, o.trusted, vr.p.keyless[name], o.bundleOpts...)
		if err != nil || !bytes.Equal(payload, got) {
			continue
		}
		ids, body = append(ids, keylessPrefix+name), payload
	}
	return ids, key, body
}

// unverified handles an envelope no trusted key verified: a failure if it
// is malformed, names a trusted key (tampered), or claims to be something
// the policy needs; ignored otherwise.
func (vr *verification) unverified(e *fetched, err error) {
	if errors.Is(err, sign.ErrMalformedEnvelope) {
		e.res.Status = StatusInvalid
		e.res.Reason = e.fail(ErrSignature, e.res.Step, "envelope %s: %v", short(e.rawDigest), err)
		return
	}
	for _, s := range e.env.Signatures {
		if s.KeyID != "" && vr.v.keyIDs[s.KeyID] {
			e.res.Status = StatusInvalid
			e.res.Reason = e.fail(ErrSignature, e.res.Step, "envelope %s (%s): the signature of trusted key %s (%s) does not verify: the envelope was altered",
				short(e.rawDigest), describeClaim(e), short(s.KeyID), strings.Join(vr.v.functionary[s.KeyID], ", "))
			return
		}
	}
	if vr.needed(e.claimed) {
		var ids []string
		for _, s := range e.env.Signatures {
			if s.KeyID != "" {
				ids = append(ids, short(s.KeyID))
			}
		}
		who := "an unknown key"
		if len(ids) > 0 {
			who = "unknown key " + strings.Join(ids, ", ")
		}
		e.res.Status = StatusUntrusted
		e.res.Reason = e.fail(ErrUntrustedSigner, e.res.Step, "envelope %s (%s) is signed by %s, not by a functionary of the policy", short(e.rawDigest), describeClaim(e), who)
		return
	}
	e.res.Status, e.res.Reason = StatusIgnored, "not signed by a functionary of the policy, and not something the policy requires"
}

func describeClaim(e *fetched) string {
	switch {
	case e.claimed == nil:
		return "not an in-toto statement"
	case e.res.Step != "":
		return "step record of " + quote(e.res.Step)
	}
	return e.claimed.PredicateType
}

// needed reports whether a statement (unverified) claims to be something
// the policy needs: a step record of a policy step, a provenance, a
// required attestation.
func (vr *verification) needed(st *statement) bool {
	if st == nil {
		return false
	}
	switch st.PredicateType {
	case envelope.PredicateTypeLink:
		if st.link == nil {
			return true
		}
		return slices.ContainsFunc(vr.p.Steps, func(s Step) bool { return s.Name == st.link.Name })
	case provenance.PredicateTypeV1, provenance.PredicateTypeV02:
		return vr.p.Provenance != nil
	}
	return slices.ContainsFunc(vr.p.Attestations, func(a AttestationPolicy) bool { return a.PredicateType == st.PredicateType })
}

func (vr *verification) signerNames(keyIDs []string) []string {
	var names []string
	for _, id := range keyIDs {
		for _, n := range vr.v.functionary[id] {
			names = append(names, signerLabel(n, id))
		}
	}
	sort.Strings(names)
	return names
}

// checkSteps checks every step: records, signers, threshold, command; then
// the artifact rules across steps and the subject among the final
// products. bound, if not nil, is the set of envelope digests the accepted
// provenance lists: other step records are ignored.
func (vr *verification) checkSteps(bound map[string]bool) {
	byStep := map[string][]*record{}
	for _, e := range vr.envs {
		if e.record == nil {
			continue
		}
		if bound != nil && !bound[e.rawDigest] {
			e.res.Status, e.res.Reason = StatusIgnored, "not listed in the accepted provenance"
			continue
		}
		byStep[e.record.step] = append(byStep[e.record.step], e.record)
	}
	chosen := map[string]*stepArtifacts{}
	for _, s := range vr.p.Steps {
		sr := StepResult{Name: s.Name, Threshold: s.Threshold, Signers: []string{}, Verdict: Passed}
		failStep := func(kind error, format string, args ...any) {
			sr.Reasons = append(sr.Reasons, vr.fail(kind, s.Name, format, args...))
			sr.Verdict = Failed
		}
		recs := byStep[s.Name]
		sr.Records = len(recs)
		type group struct {
			rec     *record
			signers signerSet
			counted []signerMatch
		}
		var groups []*group
		byPrint := map[string]*group{}
		// Records are grouped by what they say only when there are
		// several (a fingerprint sorts every artifact name).
		if len(recs) > 1 {
			for _, r := range recs {
				if r.print == "" {
					r.print = fingerprint(r.artifacts)
				}
			}
		}
		for _, r := range recs {
			g := byPrint[r.print]
			if g == nil {
				g = &group{rec: r, signers: signerSet{}}
			}
			if !vr.addSigners(g.signers, r.env, s.Functionaries) {
				failStep(ErrUntrustedSigner, "record %s is signed by %s, not by a functionary of the step (%s)",
					short(r.env.rawDigest), strings.Join(r.env.res.Signers, ", "), strings.Join(s.Functionaries, ", "))
				continue
			}
			if byPrint[r.print] == nil {
				byPrint[r.print] = g
				groups = append(groups, g)
			}
		}
		// The threshold counts distinct signing keys, each for one
		// functionary (see signerSet.count), never signatures or
		// functionaries.
		var best *group
		for _, g := range groups {
			g.counted = g.signers.count()
			if best == nil || len(g.counted) > len(best.counted) {
				best = g
			}
		}
		switch {
		case len(recs) == 0:
			failStep(ErrMissingStep, "no record of the step was found")
		case best == nil:
			failStep(ErrThreshold, "0 distinct signing keys of the %d required", s.Threshold)
		default:
			sr.Signers = append(sr.Signers, labelsOf(best.counted)...)
			if len(best.counted) < s.Threshold {
				extra := ""
				if len(groups) > 1 {
					extra = fmt.Sprintf("; the records disagree on materials and products (%d different sets)", len(groups))
				}
				failStep(ErrThreshold, "%s%s", thresholdReason(best.signers, best.counted, s.Threshold), extra)
			}
			if s.ExpectedCommand != nil && !slices.Equal(best.rec.command, s.ExpectedCommand) {
				failStep(ErrCommand, "command %q, expected %q", best.rec.command, s.ExpectedCommand)
			}
			chosen[s.Name] = &best.rec.artifacts
		}
		vr.res.Steps = append(vr.res.Steps, sr)
	}

	// The rules of each step and kind only read the chosen artifacts:
	// they are applied in parallel (all of them: not cancelled with the
	// verification's context), their failures reported in order.
	type ruleSet struct {
		step  int
		kind  string
		rules []*rule
	}
	var sets []ruleSet
	for i, s := range vr.p.Steps {
		if chosen[s.Name] == nil {
			continue
		}
		rules := vr.p.rules[s.Name]
		sets = append(sets, ruleSet{i, materialsKind, rules.materials}, ruleSet{i, productsKind, rules.products})
	}
	ruleErrs := make([]error, len(sets))
	parallel(context.Background(), len(sets), func(j int) {
		rs := sets[j]
		ruleErrs[j] = applyRules(rs.rules, vr.p.Steps[rs.step].Name, rs.kind, chosen)
	})
	for j, err := range ruleErrs {
		if err != nil {
			i := sets[j].step
			msg := vr.fail(ErrArtifactRule, vr.p.Steps[i].Name, "%v", err)
			vr.res.Steps[i].Reasons = append(vr.res.Steps[i].Reasons, msg)
			vr.res.Steps[i].Verdict = Failed
		}
	}

	last := vr.p.Steps[len(vr.p.Steps)-1]
	if final := chosen[last.Name]; final != nil {
		want := linkjson.Canonical(map[string]string{vr.subject.Digest.Algorithm: vr.subject.Digest.Hex})
		found := false
		for _, a := range final.products {
			if d := a.digest; d == want || strings.Contains(","+d+",", ","+want+",") {
				found = true
				break
			}
		}
		if !found {
			i := len(vr.p.Steps) - 1
			msg := vr.fail(ErrSubjectMismatch, last.Name, "the products of the final step do not include %s: the records are of another artifact", vr.subject.Digest)
			vr.res.Steps[i].Reasons = append(vr.res.Steps[i].Reasons, msg)
			vr.res.Steps[i].Verdict = Failed
		}
	}
}

// checkAttestations checks the required attestations.
func (vr *verification) checkAttestations() {
	for _, req := range vr.p.Attestations {
		ar := AttestationResult{PredicateType: req.PredicateType, Verdict: Failed}
		// Candidates that do not qualify are reasons only when none does
		// (as for the provenance).
		type reason struct {
			kind error
			msg  string
		}
		var why []reason
		for _, e := range vr.envs {
			if e.st == nil || e.st.PredicateType != req.PredicateType {
				continue
			}
			signers := signerSet{}
			switch {
			case !vr.addSigners(signers, e, req.Functionaries):
				why = append(why, reason{ErrUntrustedSigner, fmt.Sprintf("%s attestation %s is signed by %s, not by %s", req.PredicateType, short(e.rawDigest), strings.Join(e.res.Signers, ", "), strings.Join(req.Functionaries, ", "))})
			case !e.st.about(vr.subject):
				why = append(why, reason{ErrSubjectMismatch, fmt.Sprintf("%s attestation %s is about another artifact, not %s", req.PredicateType, short(e.rawDigest), vr.subject.Digest)})
			default:
				ar.Verdict, ar.Signers = Passed, labelsOf(signers.count())
			}
			if ar.Verdict == Passed {
				break
			}
		}
		if ar.Verdict != Passed {
			for _, r := range why {
				ar.Reasons = append(ar.Reasons, vr.fail(r.kind, "", "%s", r.msg))
			}
			ar.Reasons = append(ar.Reasons, vr.fail(ErrMissingAttestation, "", "no %s attestation of %s signed by %s", req.PredicateType, vr.subject.Digest, strings.Join(req.Functionaries, ", ")))
		}
		vr.res.Attestations = append(vr.res.Attestations, ar)
	}
}

// checkKeyless fails, clearly, every use of a keyless functionary: this
// build has no trusted root to check certificate identities with.
func (vr *verification) checkKeyless() {
	if len(vr.p.keyless) == 0 || vr.v.opts.trusted != nil {
		return
	}
	names := make([]string, 0, len(vr.p.keyless))
	for n := range vr.p.keyless {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var uses []string
		for _, s := range vr.p.Steps {
			if slices.Contains(s.Functionaries, n) {
				uses = append(uses, "step "+quote(s.Name))
			}
		}
		if vr.p.Provenance != nil && slices.Contains(vr.p.Provenance.Functionaries, n) {
			uses = append(uses, "provenance")
		}
		for _, a := range vr.p.Attestations {
			if slices.Contains(a.Functionaries, n) {
				uses = append(uses, a.PredicateType)
			}
		}
		if len(uses) > 0 {
			vr.fail(ErrKeyless, "", "functionary %q (keyless) signs %s: keyless functionaries need a trusted root (--trusted-root); none of their signatures was accepted",
				n, strings.Join(uses, ", "))
		}
	}
}

// signerLabel names a signer in results: the functionary and its key id
// (or "keyless").
func signerLabel(functionary, id string) string {
	if strings.HasPrefix(id, keylessPrefix) {
		return functionary + " (keyless)"
	}
	return functionary + " (" + short(id) + ")"
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

package gate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/attestor/attestor/attestor/sign"
)

// MaxLayoutSize bounds a layout file.
const MaxLayoutSize = 4 << 20

// VerifyLayout verifies a classic signed in-toto layout over the legacy
// links (<step>.<keyid[:8]>.link) in linkDir, for teams that already have
// layouts: it validates the layout first (not expired by the injected
// clock, at least one step, every threshold at least 1 and met by the
// step's distinct public keys, every key present, rules well-formed, no
// inspections, which would run commands from the layout, no certificate
// authorities or constraints), checks its signatures and the links', and
// then runs in-toto-golang's checks of the chain (the links of a step
// agree on their artifacts, the artifact rules) on what was verified. A
// panic there is recovered and reported as a failure. (in-toto-golang
// checks the expiry against the wall clock too.)
//
// Signatures are checked as the Python reference verifier
// (in-toto-verify) checks them: over the canonical JSON (OLPC, as
// securesystemslib writes it) of the document's "signed" part exactly as
// it was read, not over a re-encoding of what a decoder kept of it (which
// drops a key's "private": "" and turns a missing keyid_hash_algorithms
// into null, so in-toto-golang's own verifier rejects layouts that Python
// signed). Each of layoutKeys must verify one of the layout's signatures
// (sign.Verifier.VerifyLegacy: RSASSA-PSS, ECDSA by curve, Ed25519),
// whatever key id labels it: Python gives an ECDSA key another id than
// attestor does. A step's link, <step>.<K[:8]>.link, counts for the key id
// K only if K is one of the step's pubkeys, the layout's keys hold K (read
// with sign.ParseVerifier), one of the link's signatures verifies with
// that key and the link names the step; a step needs links of at least
// threshold such keys (distinct public keys: see above). A layout or link
// in a DSSE envelope (in-toto-golang's --use-dsse) is verified over its
// payload as read (sign.Verifier.Verify). A link whose command is not the
// step's expected command is a warning in the Result (in-toto only warns),
// logged too; nothing is printed.
//
// The layout and the links are read as the workspace source reads
// envelopes: opened without blocking, regular files only, each link at
// most 64 MiB, all of them at most 512 MiB in all, 4096 at most; every
// <step>.*.link of the layout's steps is read, and whatever is planted
// there (a FIFO, a link beyond the bounds) is an error. Nothing else reads
// them: in-toto-golang gets the metadata decoded from what was read. A
// link that is itself a layout (a sublayout, whose inspections the
// reference verifier would run, signed by a step's functionary only)
// fails the verification.
//
// A layout that cannot be read or is malformed returns an error matching
// ErrPolicy (and fault.ErrInvalidInput); links that cannot be read
// (not regular files, beyond the bounds), an error matching
// fault.ErrInvalidInput; a layout that does not verify, a Result and
// an error matching ErrLayout, ErrUntrustedSigner (a layout key did not
// sign it) or ErrPolicyExpired (and ErrVerification).
func VerifyLayout(ctx context.Context, layoutPath string, layoutKeys []*sign.Verifier, linkDir string, opts ...Option) (*Result, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(layoutKeys) == 0 {
		return nil, policyErr(layoutPath, 0, "", "no layout key given (--layout-key)")
	}
	data, err := safefile.Read(layoutPath, MaxLayoutSize)
	if err != nil {
		return nil, policyErr(layoutPath, 0, "", "%v", err)
	}
	doc, err := readSignedMetadata(data)
	if err != nil {
		return nil, policyErr(layoutPath, 0, "", "reading the layout: %v", err)
	}
	layout, ok := doc.payload.(in_toto.Layout)
	if !ok {
		return nil, policyErr(layoutPath, 0, "", "not a layout")
	}
	if err := validateLayout(layout); err != nil {
		return nil, policyErr(layoutPath, 0, "", "%v", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	links, err := readLinks(ctx, layout, linkDir)
	if err != nil {
		return nil, err
	}

	now := o.clock().UTC()
	res := &Result{
		Subject:    SubjectRef{},
		Policy:     PolicyRef{Source: layoutPath},
		VerifiedAt: now,
		Steps:      []StepResult{},
		Envelopes:  []EnvelopeResult{},
		Reasons:    []Reason{},
	}
	if exp, err := time.Parse(in_toto.ISO8601DateSchema, layout.Expires); err == nil {
		res.Policy.Expires = exp
	}
	var errs []error
	fail := func(kind error, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		errs = append(errs, &ReasonError{Kind: kind, Msg: msg})
		res.Reasons = append(res.Reasons, Reason{Code: codeOf(kind), Message: msg})
	}
	if !now.Before(res.Policy.Expires) {
		fail(ErrPolicyExpired, "the layout expired at %s", layout.Expires)
	}
	for _, key := range layoutKeys {
		signed, err := doc.signedBy(ctx, key)
		if err != nil {
			return nil, err
		}
		if !signed {
			id, _ := key.KeyID()
			fail(ErrUntrustedSigner, "the layout is not signed by layout key %s: none of its %d signatures verifies with it", short(id), len(doc.signatures))
		}
	}
	if len(errs) == 0 {
		warnings, err := inTotoVerify(ctx, layout, links)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		for _, w := range warnings {
			o.logger.WarnContext(ctx, w, "layout", layoutPath)
		}
		res.Warnings = append(res.Warnings, warnings...)
		if err != nil {
			fail(ErrLayout, "%v", err)
		}
	}
	verdict := Passed
	if len(errs) > 0 {
		verdict = Failed
	}
	for _, s := range layout.Steps {
		sr := StepResult{Name: s.Name, Threshold: s.Threshold, Signers: []string{}, Verdict: verdict}
		for _, id := range s.PubKeys {
			sr.Signers = append(sr.Signers, short(id))
		}
		res.Steps = append(res.Steps, sr)
	}
	res.Verified, res.Verdict = len(errs) == 0, verdict
	return res, errors.Join(errs...)
}

// readLinks reads the links of the layout's steps in linkDir, by file
// name, bounded as the workspace source is: they are listed (not globbed:
// linkDir may hold glob metacharacters), their sizes checked before any
// is read, each opened without blocking.
func readLinks(ctx context.Context, layout in_toto.Layout, linkDir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(linkDir)
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("listing links: %w", err))
	}
	var names []string
	for _, e := range entries {
		for _, s := range layout.Steps {
			// Step names are validated: no metacharacters.
			if ok, _ := filepath.Match(fmt.Sprintf(in_toto.LinkGlobFormat, s.Name), e.Name()); ok {
				names = append(names, e.Name())
				break
			}
		}
	}
	if len(names) > maxWorkspaceFiles {
		return nil, fault.Invalid(fmt.Errorf("%s holds %d links, more than the %d the gate reads: %w", linkDir, len(names), maxWorkspaceFiles, fault.ErrTooLarge))
	}
	b := newReadBudget(maxWorkspaceTotal, maxWorkspaceEnvelope)
	for _, name := range names {
		if err := b.plan(filepath.Join(linkDir, name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fault.Invalid(err)
			}
			return nil, err
		}
	}
	links := make(map[string][]byte, len(names))
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := b.read(filepath.Join(linkDir, name))
		if err != nil {
			return nil, err
		}
		links[name] = data
	}
	return links, nil
}

// inTotoVerify verifies the links (file name → content) against the
// layout, whose signature was verified: the links' signatures and the
// steps' thresholds (verifyLinks), then in-toto-golang's checks as its
// InTotoVerify runs them, on the metadata verified, turning a panic into
// an error. What InTotoVerify would do beyond them is refused instead: a
// link that is a layout (a sublayout, which it would verify with its own
// links and inspections, running their commands: a step's functionary
// would run commands here) fails; inspections are refused by
// validateLayout. It returns a warning for each link whose command is not
// its step's expected command, which in-toto-golang would print to
// standard output.
func inTotoVerify(ctx context.Context, layout in_toto.Layout, links map[string][]byte) (warnings []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("in-toto verifier failed on malformed metadata: %v", r)
		}
	}()
	if err := in_toto.VerifyLayoutExpiration(layout); err != nil {
		return nil, err
	}
	verified, err := verifyLinks(ctx, layout, links)
	if err != nil {
		return nil, err
	}
	for _, s := range layout.Steps {
		ids := make([]string, 0, len(verified[s.Name]))
		for id := range verified[s.Name] {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			link := verified[s.Name][id].GetPayload().(in_toto.Link)
			if !slices.Equal(link.Command, s.ExpectedCommand) {
				warnings = append(warnings, fmt.Sprintf("step %q: the link of key %s ran %q, the layout expects %q (in-toto only warns)",
					s.Name, short(id), strings.Join(link.Command, " "), strings.Join(s.ExpectedCommand, " ")))
			}
		}
	}
	reduced, err := in_toto.ReduceStepsMetadata(layout, verified)
	if err != nil {
		return warnings, err
	}
	steps := make([]any, len(layout.Steps))
	for i, s := range layout.Steps {
		steps[i] = s
	}
	return warnings, in_toto.VerifyArtifacts(steps, reduced)
}

// verifyLinks returns, for each step of the layout, the links that count
// toward its threshold, by key id: the link <step>.<K[:8]>.link of each of
// the step's keys K, if one of its signatures verifies with the layout's
// key K and it is the step's link. A step with fewer than its threshold
// fails, with the reason of each link that did not count.
func verifyLinks(ctx context.Context, layout in_toto.Layout, links map[string][]byte) (map[string]map[string]in_toto.Metadata, error) {
	type key struct {
		v   *sign.Verifier
		err error
	}
	keys := map[string]key{}
	verifier := func(id string) (*sign.Verifier, error) {
		k, ok := keys[id]
		if !ok {
			k.v, k.err = functionaryVerifier(layout.Keys[id])
			keys[id] = k
		}
		return k.v, k.err
	}
	out := make(map[string]map[string]in_toto.Metadata, len(layout.Steps))
	for _, s := range layout.Steps {
		verified := map[string]in_toto.Metadata{}
		var why []string
		for _, id := range s.PubKeys {
			name := fmt.Sprintf(in_toto.LinkNameFormat, s.Name, id)
			data, ok := links[name]
			if !ok {
				why = append(why, name+": no such link")
				continue
			}
			doc, err := readSignedMetadata(data)
			if err != nil {
				why = append(why, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			link, ok := doc.payload.(in_toto.Link)
			if !ok {
				return nil, fmt.Errorf("step %q: the link of key %s is a sublayout: not supported (verifying it would run its inspections' commands)", s.Name, short(id))
			}
			v, err := verifier(id)
			if err != nil {
				why = append(why, fmt.Sprintf("%s: the layout's key %s: %v", name, short(id), err))
				continue
			}
			signed, err := doc.signedBy(ctx, v)
			if err != nil {
				return nil, err
			}
			if !signed {
				why = append(why, fmt.Sprintf("%s: none of its %d signatures verifies with key %s", name, len(doc.signatures), short(id)))
				continue
			}
			if link.Name != s.Name {
				why = append(why, fmt.Sprintf("%s: the link of step %q, not of step %q", name, link.Name, s.Name))
				continue
			}
			verified[id] = &in_toto.Metablock{Signed: link, Signatures: doc.signatures}
		}
		if len(verified) < s.Threshold {
			return nil, fmt.Errorf("step %q requires links signed by %d of its functionaries' keys, %d found: %s",
				s.Name, s.Threshold, len(verified), strings.Join(why, "; "))
		}
		out[s.Name] = verified
	}
	return out, nil
}

// functionaryVerifier returns the verifier of a key of the layout. Its
// key id is not checked against the key (the layout names it; Python's
// ids of ECDSA keys are not attestor's), nor are its keyid_hash_algorithms
// or an empty private part, which do not change the key.
func functionaryVerifier(k in_toto.Key) (*sign.Verifier, error) {
	data, err := json.Marshal(map[string]any{"keytype": k.KeyType, "scheme": k.Scheme, "keyval": map[string]string{"public": k.KeyVal.Public}})
	if err != nil {
		return nil, err
	}
	return sign.ParseVerifier(data)
}

// signedMetadata is an in-toto link or layout as read: a classic metablock
// ({"signed": ..., "signatures": [...]}) or a DSSE envelope of one.
type signedMetadata struct {
	// payload is the in_toto.Link or in_toto.Layout decoded from the
	// value whose encoding message holds, never from other bytes.
	payload any
	// message is what the signatures sign: the canonical JSON of the
	// "signed" value as read, or the DSSE pre-authentication encoding of
	// the payload.
	message  []byte
	envelope bool // DSSE: signatures in the DSSE scheme (sign.Verifier.Verify)
	// signatures as read, and their decoded bytes (nil when malformed).
	signatures []in_toto.Signature
	sigs       [][]byte
}

// readSignedMetadata decodes an in-toto metablock or DSSE envelope. The
// metadata is decoded from the value that is signed as in-toto-golang's
// LoadMetadata decodes it (a link or a layout by "_type", every field its
// type requires present, no unknown field), but from a re-encoding of the
// very value the signatures are checked over, so that nothing the decoder
// reads differently (a key given twice, where the last one counts) is
// used unverified.
func readSignedMetadata(data []byte) (*signedMetadata, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	m := &signedMetadata{}
	var signed []byte
	if _, ok := top["payloadType"]; ok {
		var env dsse.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, err
		}
		if env.PayloadType != in_toto.PayloadType {
			return nil, fmt.Errorf("DSSE payload type %q, not %q", env.PayloadType, in_toto.PayloadType)
		}
		payload, err := env.DecodeB64Payload()
		if err != nil {
			return nil, fmt.Errorf("DSSE payload: %w", err)
		}
		m.message, m.envelope, signed = dsse.PAE(env.PayloadType, payload), true, payload
		for _, s := range env.Signatures {
			m.signatures = append(m.signatures, in_toto.Signature{KeyID: s.KeyID, Sig: s.Sig})
			sig, err := base64.StdEncoding.DecodeString(s.Sig)
			if err != nil {
				sig, _ = base64.URLEncoding.DecodeString(s.Sig)
			}
			m.sigs = append(m.sigs, sig)
		}
	} else {
		if isNull(top["signed"]) || isNull(top["signatures"]) {
			return nil, errors.New(`in-toto metadata requires "signed" and "signatures"`)
		}
		if err := json.Unmarshal(top["signatures"], &m.signatures); err != nil {
			return nil, fmt.Errorf("signatures: %w", err)
		}
		for _, s := range m.signatures {
			sig, _ := hex.DecodeString(s.Sig)
			m.sigs = append(m.sigs, sig)
		}
		signed = top["signed"]
	}
	dec := json.NewDecoder(bytes.NewReader(signed))
	dec.UseNumber()
	var value any
	if err := dec.Decode(&value); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the signed value")
	}
	// Keys sorted, each once, numbers as written: what the canonical
	// JSON holds, in JSON that encoding/json reads back.
	normalized, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	if !m.envelope {
		if m.message, err = cjson.EncodeCanonical(json.RawMessage(normalized)); err != nil {
			return nil, fmt.Errorf("canonical JSON of the signed value: %w", err)
		}
	}
	obj, _ := value.(map[string]any)
	switch obj["_type"] {
	case "link":
		m.payload, err = decodeMetadata[in_toto.Link](obj, normalized)
	case "layout":
		m.payload, err = decodeMetadata[in_toto.Layout](obj, normalized)
	default:
		err = in_toto.ErrUnknownMetadataType
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// decodeMetadata decodes data, the encoding of obj, into T, as
// in-toto-golang decodes a link or a layout: every field of T that is not
// omitempty must be in obj, and a field T does not have is an error.
func decodeMetadata[T any](obj map[string]any, data []byte) (T, error) {
	var v T
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if _, ok := obj[name]; !ok && name != "" && name != "-" && !strings.Contains(opts, "omitempty") {
			return v, fmt.Errorf("required field %s missing", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, err
	}
	return v, nil
}

// signedBy reports whether one of the signatures verifies with v,
// whatever key id labels it. It fails only when ctx is done.
func (m *signedMetadata) signedBy(ctx context.Context, v *sign.Verifier) (bool, error) {
	for _, sig := range m.sigs {
		if len(sig) == 0 {
			continue
		}
		var err error
		if m.envelope {
			err = v.Verify(ctx, m.message, sig)
		} else {
			err = v.VerifyLegacy(ctx, m.message, sig)
		}
		if err == nil {
			return true, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return false, ctxErr
		}
	}
	return false, nil
}

// isNull reports whether a JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// layoutSigningKey returns the signing key (see signingKey) of a layout
// key: its public key, hex (Ed25519) or PEM (ECDSA, RSA), parsed; a key
// that does not parse (the reference verifier refuses it) is named by its
// type and its public value, trimmed.
func layoutSigningKey(k in_toto.Key) string {
	var pub crypto.PublicKey
	public := strings.TrimSpace(k.KeyVal.Public)
	if b, err := hex.DecodeString(public); err == nil && len(b) == ed25519.PublicKeySize {
		pub = ed25519.PublicKey(b)
	} else if block, _ := pem.Decode([]byte(public)); block != nil {
		pub, _ = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if pub != nil {
		if key, err := signingKey(pub); err == nil {
			return key
		}
	}
	return k.KeyType + ":" + public
}

// validateLayout checks what the reference verifier assumes: it panics
// on a threshold of 0, runs inspections' commands, and accepts layouts
// that can never be met.
func validateLayout(l in_toto.Layout) error {
	var errs []error
	if l.Type != "layout" {
		errs = append(errs, fmt.Errorf("_type %q is not \"layout\"", l.Type))
	}
	if _, err := time.Parse(in_toto.ISO8601DateSchema, l.Expires); err != nil {
		errs = append(errs, fmt.Errorf("expires %q is not %s", l.Expires, in_toto.ISO8601DateSchema))
	}
	if len(l.Steps) == 0 {
		errs = append(errs, errors.New("the layout has no steps: it verifies nothing"))
	}
	if len(l.Inspect) > 0 {
		errs = append(errs, errors.New("the layout has inspections, which run commands from the layout: not supported"))
	}
	if len(l.RootCas) > 0 || len(l.IntermediateCas) > 0 {
		errs = append(errs, errors.New("the layout has certificate authorities: not supported"))
	}
	for id, k := range l.Keys {
		if k.KeyID != id {
			errs = append(errs, fmt.Errorf("key %s: listed under another key id (%s)", short(k.KeyID), short(id)))
		}
		if k.KeyVal.Public == "" {
			errs = append(errs, fmt.Errorf("key %s: no public key", short(id)))
		}
	}
	names := map[string]bool{}
	for i, s := range l.Steps {
		where := fmt.Sprintf("step %d (%q)", i, s.Name)
		if err := workspace.ValidateStepName(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("%s: defined twice", where))
		}
		names[s.Name] = true
		if s.Type != "step" {
			errs = append(errs, fmt.Errorf("%s: _type %q is not \"step\"", where, s.Type))
		}
		if s.Threshold < 1 {
			errs = append(errs, fmt.Errorf("%s: threshold %d: must be at least 1", where, s.Threshold))
		}
		if len(s.PubKeys) == 0 {
			errs = append(errs, fmt.Errorf("%s: no functionary keys (pubkeys)", where))
		}
		if len(s.CertificateConstraints) > 0 {
			errs = append(errs, fmt.Errorf("%s: certificate constraints: not supported", where))
		}
		// The reference verifier counts a step's links by key id: one
		// public key under two ids would count twice. The threshold
		// counts distinct signing keys.
		seen := map[string]bool{}
		byKey := map[string]string{} // signing key → the first key id listing it
		for _, id := range s.PubKeys {
			k, ok := l.Keys[id]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: key %s is not in the layout's keys", where, short(id)))
			}
			if seen[id] {
				errs = append(errs, fmt.Errorf("%s: key %s listed twice", where, short(id)))
				continue
			}
			seen[id] = true
			if !ok {
				continue
			}
			key := layoutSigningKey(k)
			if first, dup := byKey[key]; dup {
				errs = append(errs, fmt.Errorf("%s: keys %s and %s are the same public key, which counts once toward the threshold", where, short(first), short(id)))
				continue
			}
			byKey[key] = id
		}
		if s.Threshold > len(seen) {
			errs = append(errs, fmt.Errorf("%s: threshold %d with %d keys can never be met", where, s.Threshold, len(seen)))
		}
		for _, rules := range [][][]string{s.ExpectedMaterials, s.ExpectedProducts} {
			for _, raw := range rules {
				if _, err := parseRule(raw); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
					continue
				}
				if _, err := in_toto.UnpackRule(raw); err != nil {
					errs = append(errs, fmt.Errorf("%s: rule %q: %w", where, strings.Join(raw, " "), err))
				}
			}
		}
	}
	for i, s := range l.Steps {
		for _, rules := range [][][]string{s.ExpectedMaterials, s.ExpectedProducts} {
			for _, raw := range rules {
				if r, err := parseRule(raw); err == nil && r.typ == RuleMatch && !names[r.dstStep] {
					errs = append(errs, fmt.Errorf("step %d (%q): rule %q: FROM %q: no such step", i, s.Name, strings.Join(raw, " "), r.dstStep))
				}
			}
		}
	}
	return errors.Join(errs...)
}

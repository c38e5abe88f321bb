package gate

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/sign"
)

// MaxLayoutSize bounds a layout file.
const MaxLayoutSize = 4 << 20

// VerifyLayout verifies a classic signed in-toto layout over the legacy
// links (<step>.<keyid[:8]>.link) in linkDir, for teams that already have
// layouts: it validates the layout first (signed by one of layoutKeys,
// not expired by the injected clock, at least one step, every threshold
// at least 1 and met by the step's distinct public keys, every key
// present, rules well-formed, no inspections, which would run commands
// from the layout, no certificate authorities or constraints) so that the
// reference verifier cannot panic on it, then delegates to in-toto-golang's
// InTotoVerify. A panic there is recovered and reported as a failure.
// (in-toto-golang checks the expiry against the wall clock too.)
//
// The layout and the links are read as the workspace source reads
// envelopes: opened without blocking, regular files only, each link at
// most 64 MiB, all of them at most 512 MiB in all, 4096 at most. The
// reference verifier reads private copies of them, never linkDir. A link
// that is itself a layout (a sublayout, whose inspections the reference
// verifier would run, signed by a step's functionary only) fails the
// verification.
//
// A layout that cannot be read or is malformed returns an error matching
// ErrPolicy (and attestor.ErrInvalidInput); links that cannot be read
// (not regular files, beyond the bounds), an error matching
// attestor.ErrInvalidInput; a layout that does not verify, a Result and
// an error matching ErrLayout (and ErrVerification).
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
	data, err := attestor.ReadRegular(layoutPath, MaxLayoutSize)
	if err != nil {
		return nil, policyErr(layoutPath, 0, "", "%v", err)
	}
	// The reference verifier reads files by name: it reads copies, in a
	// directory of this process's own, of what was read here.
	dir, err := os.MkdirTemp("", "attestor-layout-")
	if err != nil {
		return nil, fmt.Errorf("verifying layout: %w", err)
	}
	defer os.RemoveAll(dir)
	layoutCopy := filepath.Join(dir, "root.layout")
	if err := os.WriteFile(layoutCopy, data, 0o600); err != nil {
		return nil, fmt.Errorf("verifying layout: %w", err)
	}
	md, err := in_toto.LoadMetadata(layoutCopy)
	if err != nil {
		return nil, policyErr(layoutPath, 0, "", "reading the layout: %v", err)
	}
	layout, ok := md.GetPayload().(in_toto.Layout)
	if !ok {
		return nil, policyErr(layoutPath, 0, "", "not a layout")
	}
	keys := map[string]in_toto.Key{}
	for _, v := range layoutKeys {
		k := v.InTotoKey()
		keys[k.KeyID] = k
	}
	if err := validateLayout(layout); err != nil {
		return nil, policyErr(layoutPath, 0, "", "%v", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	links := filepath.Join(dir, "links")
	if err := copyLinks(ctx, layout, linkDir, links); err != nil {
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
	if err := in_toto.VerifyLayoutSignatures(md, keys); err != nil {
		fail(ErrUntrustedSigner, "the layout is not signed by a layout key: %v", err)
	}
	if len(errs) == 0 {
		if err := inTotoVerify(md, keys, links); err != nil {
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

// copyLinks copies the links of the layout's steps from linkDir to dir
// (which it creates), bounded as the workspace source is: they are listed
// (not globbed: linkDir may hold glob metacharacters), their sizes
// checked before any is read, each opened without blocking.
func copyLinks(ctx context.Context, layout in_toto.Layout, linkDir, dir string) error {
	entries, err := os.ReadDir(linkDir)
	if err != nil {
		return attestor.Invalid(fmt.Errorf("listing links: %w", err))
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
		return attestor.Invalid(fmt.Errorf("%s holds %d links, more than the %d the gate reads: %w", linkDir, len(names), maxWorkspaceFiles, attestor.ErrTooLarge))
	}
	b := newReadBudget(maxWorkspaceTotal, maxWorkspaceEnvelope)
	for _, name := range names {
		if err := b.plan(filepath.Join(linkDir, name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = attestor.Invalid(err)
			}
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("verifying layout: %w", err)
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := b.read(filepath.Join(linkDir, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("verifying layout: %w", err)
		}
	}
	return nil
}

// inTotoVerify runs the reference verifier's checks, in-toto-golang's
// InTotoVerify step by step, over the links in linkDir (loaded once, by
// in-toto-golang), turning a panic into an error. What InTotoVerify would
// do beyond them is refused instead: a link that is a layout (a
// sublayout, which it would verify with its own links and inspections,
// running their commands: a step's functionary would run commands here)
// fails, on the very metadata verified; inspections are refused by
// validateLayout.
func inTotoVerify(md in_toto.Metadata, keys map[string]in_toto.Key, linkDir string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("in-toto verifier failed on malformed metadata: %v", r)
		}
	}()
	if err := in_toto.VerifyLayoutSignatures(md, keys); err != nil {
		return err
	}
	layout, ok := md.GetPayload().(in_toto.Layout)
	if !ok {
		return in_toto.ErrNotLayout
	}
	if err := in_toto.VerifyLayoutExpiration(layout); err != nil {
		return err
	}
	roots, intermediates, err := in_toto.LoadLayoutCertificates(layout, nil)
	if err != nil {
		return err
	}
	links, err := in_toto.LoadLinksForLayout(layout, linkDir)
	if err != nil {
		return err
	}
	for _, s := range layout.Steps {
		for keyID, m := range links[s.Name] {
			if _, ok := m.GetPayload().(in_toto.Layout); ok {
				return fmt.Errorf("step %q: the link of key %s is a sublayout: not supported (verifying it would run its inspections' commands)", s.Name, short(keyID))
			}
		}
	}
	verified, err := in_toto.VerifyLinkSignatureThesholds(layout, links, roots, intermediates)
	if err != nil {
		return err
	}
	in_toto.VerifyStepCommandAlignment(layout, verified)
	reduced, err := in_toto.ReduceStepsMetadata(layout, verified)
	if err != nil {
		return err
	}
	steps := make([]any, len(layout.Steps))
	for i, s := range layout.Steps {
		steps[i] = s
	}
	return in_toto.VerifyArtifacts(steps, reduced)
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
		if err := attestor.ValidateStepName(s.Name); err != nil {
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

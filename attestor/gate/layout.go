package gate

import (
	"context"
	"errors"
	"fmt"
	"os"
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
// at least 1 and met by the step's listed keys, every key present, rules
// well-formed, no inspections, which would run commands from the layout)
// so that the reference verifier cannot panic on it, then delegates to
// in-toto-golang's InTotoVerify. A panic there (a malformed sublayout) is
// recovered and reported as a failure. (in-toto-golang checks the expiry
// against the wall clock too.)
//
// A layout that cannot be read or is malformed returns an error matching
// ErrPolicy (and attestor.ErrInvalidInput); a layout that does not verify,
// a Result and an error matching ErrLayout (and ErrVerification).
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
	if fi, err := os.Stat(layoutPath); err != nil {
		return nil, policyErr(layoutPath, 0, "", "%v", err)
	} else if fi.Size() > MaxLayoutSize {
		return nil, policyErr(layoutPath, 0, "", "larger than %d bytes", MaxLayoutSize)
	}
	md, err := in_toto.LoadMetadata(layoutPath)
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
		if err := inTotoVerify(md, keys, linkDir); err != nil {
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

// inTotoVerify runs the reference verifier, turning a panic into an error.
func inTotoVerify(md in_toto.Metadata, keys map[string]in_toto.Key, linkDir string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("in-toto verifier failed on malformed metadata: %v", r)
		}
	}()
	_, err = in_toto.InTotoVerify(md, keys, linkDir, "", nil, nil, false)
	return err
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
		seen := map[string]bool{}
		for _, id := range s.PubKeys {
			if _, ok := l.Keys[id]; !ok {
				errs = append(errs, fmt.Errorf("%s: key %s is not in the layout's keys", where, short(id)))
			}
			if seen[id] {
				errs = append(errs, fmt.Errorf("%s: key %s listed twice", where, short(id)))
			}
			seen[id] = true
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

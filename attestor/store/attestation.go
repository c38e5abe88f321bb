package store

import (
	"encoding/json"
	"fmt"

	"github.com/attestor/attestor/attestor/envelope"
)

// MaxBundleSize bounds a sigstore bundle: the envelope it carries plus its
// verification material.
const MaxBundleSize = MaxEnvelopeSize + 64<<10

// NewAttestation returns the attestation of a DSSE envelope (and,
// optionally, a sigstore bundle for it): it checks the envelope's shape and
// size and reads the predicate type from its in-toto statement, as an index
// only. An envelope larger than MaxEnvelopeSize, or a bundle larger than
// MaxBundleSize, returns an error matching ErrTooLarge; a malformed
// envelope, one matching fault.ErrInvalidInput.
func NewAttestation(raw, bundle []byte) (Attestation, error) {
	if len(raw) > MaxEnvelopeSize {
		return Attestation{}, fmt.Errorf("envelope of %d bytes (at most %d): %w", len(raw), MaxEnvelopeSize, ErrTooLarge)
	}
	if len(bundle) > MaxBundleSize {
		return Attestation{}, fmt.Errorf("bundle of %d bytes (at most %d): %w", len(bundle), MaxBundleSize, ErrTooLarge)
	}
	env, err := envelope.Parse(raw)
	if err != nil {
		return Attestation{}, err
	}
	a := Attestation{Envelope: raw, Bundle: bundle}
	if payload, err := env.DecodeB64Payload(); err == nil {
		var st struct {
			PredicateType string `json:"predicateType"`
		}
		if json.Unmarshal(payload, &st) == nil {
			a.PredicateType = st.PredicateType
		}
	}
	return a, nil
}

// Check reports whether a can be stored: its envelope parses and neither
// it nor its bundle is too large (an error matching ErrTooLarge).
func (a Attestation) Check() error {
	_, err := NewAttestation(a.Envelope, a.Bundle)
	return err
}

// Dedupe returns atts without the ones whose Digest repeats an earlier
// one's (a later copy's Bundle fills an earlier one's missing Bundle) and
// without envelopes that do not parse, which it returns as errs.
func Dedupe(atts []Attestation) (out []Attestation, errs []error) {
	seen := map[string]int{}
	for _, a := range atts {
		d, err := a.Digest()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if i, ok := seen[d]; ok {
			if out[i].Bundle == nil && a.Bundle != nil {
				out[i].Bundle = a.Bundle
			}
			if out[i].PredicateType == "" {
				out[i].PredicateType = a.PredicateType
			}
			continue
		}
		seen[d] = len(out)
		out = append(out, a)
	}
	return out, errs
}

package grafeas

import (
	"context"

	"github.com/attestor/attestor/attestor/store"
)

// Locate returns the attestation on each of the subject's occurrences
// that carries a DSSE envelope, with the occurrence's name
// (store.LocationOccurrence): one per occurrence, so an envelope written
// twice (the server accepts duplicates) is returned twice. As Get, it
// reads only the envelopes; one larger than store.MaxEnvelopeSize is
// ignored and logged.
func (c *Client) Locate(ctx context.Context, subject store.Subject) ([]store.Located, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	occs, err := c.list(ctx, subject, withEnvelope)
	if err != nil {
		return nil, err
	}
	var out []store.Located
	for _, o := range occs {
		a, err := store.NewAttestation(o.envelopeJSON(), nil)
		if err != nil {
			c.opts.logger.WarnContext(ctx, "grafeas: ignoring occurrence", "occurrence", o.name, "error", err)
			continue
		}
		out = append(out, store.Located{Attestation: a, Location: store.Location{Kind: store.LocationOccurrence, Ref: o.name}})
	}
	return out, nil
}

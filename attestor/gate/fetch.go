package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
)

// Source is a named store the gate fetches attestations from: "dir",
// "oci", "grafeas", ...
type Source struct {
	Name  string
	Store store.Store
}

// SourceResult says what one source returned.
type SourceResult struct {
	Name         string `json:"name"`
	Attestations int    `json:"attestations"`
	Error        string `json:"error,omitempty"`
}

// Fetch gets subject's attestations from every source, concurrently, and
// returns them all (Verify deduplicates them) with what each source
// returned. Attestations from the sources that answered are returned even
// when others failed; err then joins the failures (a source that failed
// after its retries matches attestor.ErrUnavailable).
func Fetch(ctx context.Context, subject store.Subject, sources ...Source) ([]store.Attestation, []SourceResult, error) {
	results := make([]SourceResult, len(sources))
	got := make([][]store.Attestation, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		results[i].Name = src.Name
		if src.Store == nil {
			errs[i] = attestor.Invalid(fmt.Errorf("source %q: no store", src.Name))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			atts, err := src.Store.Get(ctx, subject)
			if err != nil {
				errs[i] = fmt.Errorf("fetching from %s: %w", src.Name, err)
				results[i].Error = errs[i].Error()
				return
			}
			got[i] = atts
			results[i].Attestations = len(atts)
		}()
	}
	wg.Wait()
	var all []store.Attestation
	for _, atts := range got {
		all = append(all, atts...)
	}
	return all, results, errors.Join(errs...)
}

// maxWorkspaceEnvelope bounds one workspace envelope the gate reads; step
// records of large builds exceed store.MaxEnvelopeSize.
const maxWorkspaceEnvelope = 64 << 20

// Workspace is a read-only store.Store over a workspace's signed envelopes
// (step records, provenance, other attestations): Get returns every
// envelope at the top of the workspace, whatever the subject (the gate
// checks what each is about), malformed ones included (the gate reports
// them), each with the sigstore bundle beside it, if any
// (<name>.sigstore.json). Put is refused.
type Workspace struct {
	ws *attestor.Workspace
}

var _ store.Store = (*Workspace)(nil)

// NewWorkspace returns the store over ws.
func NewWorkspace(ws *attestor.Workspace) *Workspace { return &Workspace{ws: ws} }

// Get returns the workspace's envelopes.
func (w *Workspace) Get(ctx context.Context, _ store.Subject) ([]store.Attestation, error) {
	names, err := w.ws.Envelopes()
	if err != nil {
		return nil, attestor.Invalid(err)
	}
	var atts []store.Attestation
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := w.ws.Read(name)
		if err != nil {
			return nil, attestor.Invalid(fmt.Errorf("reading %s: %w", w.ws.Path(name), err))
		}
		// A sigstore bundle beside the envelope (keyless signatures):
		// <step>.<keyid8>.sigstore.json.
		var bundle []byte
		bname := strings.TrimSuffix(name, attestor.SuffixEnvelope) + sign.BundleExt
		if b, err := w.ws.Read(bname); err == nil {
			bundle = b
		}
		a, err := store.NewAttestation(data, bundle)
		if err != nil {
			a = store.Attestation{Envelope: data, Bundle: bundle}
		}
		atts = append(atts, a)
	}
	return atts, nil
}

// Put is refused: the workspace is written by the recorder.
func (w *Workspace) Put(context.Context, store.Subject, ...store.Attestation) error {
	return attestor.Invalid(errors.New("gate: the workspace source is read-only"))
}

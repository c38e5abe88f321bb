package gate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

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
// after its retries matches fault.ErrUnavailable).
func Fetch(ctx context.Context, subject store.Subject, sources ...Source) ([]store.Attestation, []SourceResult, error) {
	results := make([]SourceResult, len(sources))
	got := make([][]store.Attestation, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		results[i].Name = src.Name
		if src.Store == nil {
			errs[i] = fault.Invalid(fmt.Errorf("source %q: no store", src.Name))
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

// maxWorkspaceEnvelope bounds one workspace envelope or bundle the gate
// reads; step records of large builds exceed store.MaxEnvelopeSize.
const maxWorkspaceEnvelope = 64 << 20

// maxWorkspaceTotal and maxWorkspaceFiles bound what the gate reads from
// a workspace: the gate holds a few times what it reads while it verifies
// (the bytes, the decoded envelope and payload), so the total keeps it
// around 1.5 GiB at worst, where planted envelopes without a bound (16 of
// 59 MiB) took it to 2 GiB and more.
const (
	maxWorkspaceTotal = store.MaxWorkspaceTotal
	maxWorkspaceFiles = store.MaxWorkspaceFiles
)

// Workspace is a read-only store.Store over a workspace's signed envelopes
// (step records, provenance, other attestations): Get returns every
// envelope at the top of the workspace, whatever the subject (the gate
// checks what each is about), malformed ones included (the gate reports
// them), each with the sigstore bundle beside it, if any
// (<name>.sigstore.json). Put is refused.
//
// What it reads is bounded: each file at 64 MiB, all of them together at
// 512 MiB, at most 4096 envelopes. Every file is opened without blocking
// and must be a regular file (a FIFO or device planted in the workspace is
// refused, never waited on). Beyond a bound, or on a file that is not
// regular, Get fails with an error matching fault.ErrInvalidInput that
// names the file.
type Workspace struct {
	ws *workspace.Workspace
}

var _ store.Store = (*Workspace)(nil)

// NewWorkspace returns the store over ws.
func NewWorkspace(ws *workspace.Workspace) *Workspace { return &Workspace{ws: ws} }

// Get returns the workspace's envelopes. The sizes of every envelope and
// bundle are checked against the bounds before any is read, so a
// workspace over the total costs no memory.
func (w *Workspace) Get(ctx context.Context, _ store.Subject) ([]store.Attestation, error) {
	found, err := w.read(ctx)
	if err != nil {
		return nil, err
	}
	atts := make([]store.Attestation, len(found))
	for i, f := range found {
		atts[i] = f.Attestation
	}
	return atts, nil
}

// Locate is Get, with the path of each envelope (store.LocationFile).
func (w *Workspace) Locate(ctx context.Context, _ store.Subject) ([]store.Located, error) {
	return w.read(ctx)
}

// read reads the workspace's envelopes and bundles, within the bounds.
func (w *Workspace) read(ctx context.Context) ([]store.Located, error) {
	names, err := w.ws.Envelopes()
	if err != nil {
		return nil, fault.Invalid(err)
	}
	if len(names) > maxWorkspaceFiles {
		return nil, fault.Invalid(fmt.Errorf("workspace %s holds %d envelopes, more than the %d the gate reads: %w",
			w.ws.Dir(), len(names), maxWorkspaceFiles, fault.ErrTooLarge))
	}
	// The files to read: each envelope and, where there is one, the
	// sigstore bundle beside it (keyless signatures):
	// <step>.<keyid8>.sigstore.json.
	type file struct {
		envelope, bundle string
	}
	files := make([]file, len(names))
	b := newReadBudget(maxWorkspaceTotal, maxWorkspaceEnvelope)
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		files[i].envelope = w.ws.Path(name)
		if err := b.plan(files[i].envelope); err != nil {
			return nil, err
		}
		bundle := w.ws.Path(strings.TrimSuffix(name, workspace.SuffixEnvelope) + sign.BundleExt)
		switch err := b.plan(bundle); {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			files[i].bundle = bundle
		}
	}
	var atts []store.Located
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := b.read(f.envelope)
		if err != nil {
			return nil, err
		}
		var bundle []byte
		if f.bundle != "" {
			if bundle, err = b.read(f.bundle); err != nil {
				return nil, err
			}
		}
		a, err := store.NewAttestation(data, bundle)
		if err != nil {
			a = store.Attestation{Envelope: data, Bundle: bundle}
		}
		atts = append(atts, store.Located{Attestation: a, Location: store.Location{Kind: store.LocationFile, Ref: f.envelope}})
	}
	return atts, nil
}

// Put is refused: the workspace is written by the recorder.
func (w *Workspace) Put(context.Context, store.Subject, ...store.Attestation) error {
	return fault.Invalid(errors.New("gate: the workspace source is read-only"))
}

package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/attestor/attestor/attestor/store"
)

const (
	suffixEnvelope = ".dsse.json"
	suffixBundle   = ".bundle.json"
	// suffixWorkspaceBundle ends the name of a sigstore bundle written
	// next to a workspace envelope (sign.BundleExt):
	// <step>.<keyid8>.sigstore.json beside <step>.<keyid8>.dsse.json.
	suffixWorkspaceBundle = ".sigstore.json"
	// maxNameKey bounds the escaped subject name used as a directory
	// name; longer names are hashed.
	maxNameKey = 128
)

// Dir is a store.Store over a directory. Its methods are safe for
// concurrent use, also by several processes sharing the directory.
type Dir struct {
	root string
}

var _ store.Store = (*Dir)(nil)

// New returns the store over root, creating the directory if needed.
func New(root string) (*Dir, error) {
	if root == "" {
		return nil, fault.Invalid(errors.New("local: empty directory"))
	}
	d := &Dir{root: filepath.Clean(root)}
	if err := os.MkdirAll(d.root, 0o755); err != nil {
		return nil, fault.Invalid(fmt.Errorf("creating store directory %q: %w", root, err))
	}
	return d, nil
}

// SubjectDir returns the directory that holds subject's attestations.
func (d *Dir) SubjectDir(subject store.Subject) string {
	return filepath.Join(d.root, subject.Digest.Algorithm+"-"+subject.Digest.Hex, nameKey(subject.Name))
}

func nameKey(name string) string {
	esc := url.PathEscape(name)
	if len(esc) > maxNameKey {
		sum := sha256.Sum256([]byte(name))
		return "h-" + hex.EncodeToString(sum[:])
	}
	return "n-" + esc
}

func checkSubject(subject store.Subject) error {
	h := subject.Digest
	if h.Algorithm == "" || h.Hex == "" || strings.ContainsAny(h.Algorithm+h.Hex, `/\.`) || !filepath.IsLocal(h.Algorithm+"-"+h.Hex) {
		return fault.Invalid(fmt.Errorf("local: invalid subject digest %q", h.String()))
	}
	return nil
}

// Put stores atts for subject. Every attestation is checked before any is
// written: a malformed one fails the Put with an error matching
// fault.ErrInvalidInput, an oversize one with store.ErrTooLarge, and
// nothing is written. An attestation already stored is left as it is
// (its bundle is added if it had none).
func (d *Dir) Put(ctx context.Context, subject store.Subject, atts ...store.Attestation) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	type item struct {
		digest string
		att    store.Attestation
	}
	items := make([]item, 0, len(atts))
	for i, a := range atts {
		if err := a.Check(); err != nil {
			return fmt.Errorf("attestation %d: %w", i, err)
		}
		dg, err := a.Digest()
		if err != nil {
			return fmt.Errorf("attestation %d: %w", i, err)
		}
		items = append(items, item{dg, a})
	}
	dir := d.SubjectDir(subject)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		base := filepath.Join(dir, it.digest)
		if it.att.Bundle != nil {
			if _, err := os.Stat(base + suffixBundle); errors.Is(err, fs.ErrNotExist) {
				if err := safefile.WriteAtomic(base+suffixBundle, it.att.Bundle, 0o644); err != nil {
					return err
				}
			}
		}
		if _, err := os.Stat(base + suffixEnvelope); err == nil {
			continue
		}
		if err := safefile.WriteAtomic(base+suffixEnvelope, it.att.Envelope, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Get returns the attestations stored for subject, sorted by digest. A
// subject with none returns none and no error. Files larger than
// store.MaxEnvelopeSize (store.MaxBundleSize for bundles), that do not
// parse, or whose content does not match their name are skipped.
func (d *Dir) Get(ctx context.Context, subject store.Subject) ([]store.Attestation, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	dir := d.SubjectDir(subject)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var out []store.Attestation
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, suffixEnvelope) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		base := filepath.Join(dir, strings.TrimSuffix(name, suffixEnvelope))
		env, err := readBounded(base+suffixEnvelope, store.MaxEnvelopeSize)
		if err != nil {
			continue
		}
		// A bundle that cannot be read is left out (its attestation is
		// kept).
		bundle, _ := readBounded(base+suffixBundle, store.MaxBundleSize)
		a, err := store.NewAttestation(env, bundle)
		if err != nil {
			continue
		}
		if dg, _ := a.Digest(); dg != filepath.Base(base) {
			continue
		}
		out = append(out, a)
	}
	out, _ = store.Dedupe(out)
	return out, nil
}

// readBounded reads the regular file path, at most limit bytes, without
// blocking (see safefile.Read): a FIFO or other non-regular file
// is an error matching fault.ErrInvalidInput, a larger file one
// matching store.ErrTooLarge, a missing one fs.ErrNotExist.
func readBounded(path string, limit int64) ([]byte, error) {
	data, err := safefile.Read(path, limit)
	if errors.Is(err, fault.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", store.ErrTooLarge, err)
	}
	return data, err
}

// ReadWorkspace returns the signed envelopes of ws (step records and
// provenance, as ws.Envelopes lists them) as attestations, in ws.Envelopes
// order, with the workspace file name of each. A sigstore bundle written
// next to an envelope (<name>.sigstore.json for <name>.dsse.json) becomes
// its Bundle. An envelope that does not parse, or is larger than
// store.MaxEnvelopeSize, fails the call; so do more than
// store.MaxWorkspaceFiles envelopes, or more than store.MaxWorkspaceTotal
// bytes of them in all (errors matching store.ErrTooLarge).
func ReadWorkspace(ws *workspace.Workspace) (atts []store.Attestation, names []string, err error) {
	names, err = ws.Envelopes()
	if err != nil {
		return nil, nil, err
	}
	if len(names) > store.MaxWorkspaceFiles {
		return nil, nil, fault.Invalid(fmt.Errorf("workspace %s holds %d envelopes, more than the %d read: %w",
			ws.Dir(), len(names), store.MaxWorkspaceFiles, store.ErrTooLarge))
	}
	var total int64
	for _, name := range names {
		data, err := readBounded(ws.Path(name), store.MaxEnvelopeSize)
		if err != nil {
			return nil, nil, fault.Invalid(err)
		}
		bundlePath := ws.Path(strings.TrimSuffix(name, workspace.SuffixEnvelope) + suffixWorkspaceBundle)
		bundle, err := readBounded(bundlePath, store.MaxBundleSize)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fault.Invalid(err)
		}
		if total += int64(len(data) + len(bundle)); total > store.MaxWorkspaceTotal {
			return nil, nil, fault.Invalid(fmt.Errorf("%s brings the workspace's envelopes to more than %d MiB: %w",
				ws.Path(name), store.MaxWorkspaceTotal>>20, store.ErrTooLarge))
		}
		a, err := store.NewAttestation(data, bundle)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", ws.Path(name), err)
		}
		atts = append(atts, a)
	}
	return atts, names, nil
}

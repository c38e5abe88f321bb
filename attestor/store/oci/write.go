package oci

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Write is one write to a registry: a blob, a manifest by digest, or a
// manifest by tag.
type Write struct {
	// Kind is "blob", "manifest" (put by digest) or "tag" (a manifest put
	// by tag).
	Kind string `json:"kind"`
	// Ref is where it is written: repository@digest for blobs and
	// manifests, repository:tag for tags.
	Ref string `json:"ref"`
	// Digest, MediaType and Size describe the content.
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	// Path is where a dry run saved the content.
	Path string `json:"path,omitempty"`
}

// recorder collects the writes of one call.
type recorder struct {
	mu     sync.Mutex
	writes []Write
}

func (rc *recorder) add(w Write) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.writes = append(rc.writes, w)
}

// writeBlob uploads l to repo, or hands it to the dry run.
func (r *Registry) writeBlob(f *fetcher, rec *recorder, repo name.Repository, l v1.Layer) error {
	dg, err := l.Digest()
	if err != nil {
		return err
	}
	mt, err := l.MediaType()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return err
	}
	w := Write{Kind: "blob", Ref: repo.Digest(dg.String()).String(), Digest: dg.String(), MediaType: string(mt), Size: size}
	if r.o.dryRun != nil {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		defer rc.Close()
		buf := make([]byte, 0, size)
		buf, err = readAllBounded(rc, buf, size)
		if err != nil {
			return err
		}
		if w.Path, err = r.o.dryRun.save(repo, filepath.Join("blobs", dg.Algorithm, dg.Hex), buf, w); err != nil {
			return err
		}
	} else if err := remote.WriteLayer(repo, l, f.opts...); err != nil {
		return fmt.Errorf("uploading blob %s: %w", dg, err)
	}
	rec.add(w)
	return nil
}

// rawManifest is a manifest to put as it is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// putManifest puts a manifest at ref (a tag or a digest), or hands it to
// the dry run.
func (r *Registry) putManifest(f *fetcher, rec *recorder, ref name.Reference, raw []byte, mt types.MediaType) error {
	dg, size, err := v1.SHA256(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	w := Write{Kind: "manifest", Ref: ref.Context().Digest(dg.String()).String(), Digest: dg.String(), MediaType: string(mt), Size: size}
	rel := filepath.Join("manifests", dg.Algorithm+"-"+dg.Hex+".json")
	if t, ok := ref.(name.Tag); ok {
		w.Kind, w.Ref = "tag", t.String()
		rel = filepath.Join("tags", t.TagStr()+".json")
	}
	if r.o.dryRun != nil {
		if w.Path, err = r.o.dryRun.save(ref.Context(), rel, raw, w); err != nil {
			return err
		}
	} else if err := remote.Put(ref, rawManifest{raw, mt}, f.opts...); err != nil {
		return fmt.Errorf("putting manifest %s: %w", w.Ref, err)
	}
	rec.add(w)
	return nil
}

// DryRun receives the writes of a Registry made WithDryRun: it saves each
// blob and manifest under its directory and keeps the list.
//
// The layout is <dir>/<registry>/<repository>/blobs/<alg>/<hex>,
// …/manifests/<alg>-<hex>.json and …/tags/<tag>.json, with index.json
// listing every write.
type DryRun struct {
	dir    string
	mu     sync.Mutex
	writes []Write
}

// NewDryRun returns a DryRun that saves under dir, creating it if needed.
func NewDryRun(dir string) (*DryRun, error) {
	if dir == "" {
		return nil, fault.Invalid(fmt.Errorf("oci: empty dry-run directory"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fault.Invalid(fmt.Errorf("creating dry-run directory %q: %w", dir, err))
	}
	return &DryRun{dir: filepath.Clean(dir)}, nil
}

// Dir returns the directory the dry run saves under.
func (d *DryRun) Dir() string { return d.dir }

// Writes returns the writes received so far, in order.
func (d *DryRun) Writes() []Write {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Write(nil), d.writes...)
}

func (d *DryRun) save(repo name.Repository, rel string, data []byte, w Write) (string, error) {
	path := filepath.Join(d.dir, url.PathEscape(repo.RegistryStr()), filepath.FromSlash(repo.RepositoryStr()), rel)
	if !filepath.IsLocal(mustRel(d.dir, path)) {
		return "", fault.Invalid(fmt.Errorf("dry run: %q escapes %s", repo.String(), d.dir))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("dry run: %w", err)
	}
	if err := safefile.WriteAtomic(path, data, 0o644); err != nil {
		return "", fmt.Errorf("dry run: %w", err)
	}
	w.Path = path
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes = append(d.writes, w)
	index, err := json.MarshalIndent(d.writes, "", "  ")
	if err != nil {
		return "", err
	}
	if err := safefile.WriteAtomic(filepath.Join(d.dir, "index.json"), append(index, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("dry run: %w", err)
	}
	return path, nil
}

func mustRel(base, path string) string {
	rel, err := filepath.Rel(base, path)
	if err != nil {
		return ".."
	}
	return rel
}

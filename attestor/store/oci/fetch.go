package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/attestor/attestor/attestor/store"
)

// fetcher reads from (and writes to) a registry within one call's
// context and budget, reusing one puller and one pusher so that each
// repository is pinged and authenticated once per call.
type fetcher struct {
	r    *Registry
	ctx  context.Context
	opts []remote.Option
	// layerDigests caches the envelope digest (store.Attestation.Digest)
	// of each DSSE layer read, by layer digest; "" for one that does not
	// parse.
	layerDigests map[v1.Hash]string
}

func (r *Registry) newFetcher(ctx context.Context) *fetcher {
	opts := r.RemoteOptions(ctx)
	f := &fetcher{r: r, ctx: ctx, opts: opts, layerDigests: map[v1.Hash]string{}}
	if p, err := remote.NewPuller(opts...); err == nil {
		f.opts = append(f.opts, remote.Reuse(p))
	}
	if p, err := remote.NewPusher(opts...); err == nil {
		f.opts = append(f.opts, remote.Reuse(p))
	}
	return f
}

func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// manifest fetches the manifest at ref, bounded by MaxManifestSize. A
// missing manifest returns nil, nil.
func (f *fetcher) manifest(ref name.Reference) (*remote.Descriptor, error) {
	desc, err := remote.Get(ref, f.opts...)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(desc.Manifest) > MaxManifestSize {
		return nil, fmt.Errorf("manifest %s of %d bytes (at most %d): %w", ref, len(desc.Manifest), MaxManifestSize, ErrResponseTooLarge)
	}
	return desc, nil
}

// head returns the descriptor of the manifest at ref; nil, nil when there
// is none.
func (f *fetcher) head(ref name.Reference) (*v1.Descriptor, error) {
	desc, err := remote.Head(ref, f.opts...)
	if notFound(err) {
		return nil, nil
	}
	return desc, err
}

// blob fetches the blob desc names from repo, at most limit bytes, and
// checks its digest.
func (f *fetcher) blob(repo name.Repository, desc v1.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("blob %s of %d bytes (at most %d): %w", desc.Digest, desc.Size, limit, ErrResponseTooLarge)
	}
	if desc.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("blob %s: unsupported digest algorithm", desc.Digest)
	}
	l, err := remote.Layer(repo.Digest(desc.Digest.String()), f.opts...)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := readAllBounded(rc, nil, limit)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	got, _, _ := v1.SHA256(bytes.NewReader(data))
	if got != desc.Digest {
		return nil, fmt.Errorf("blob %s: content has digest %s", desc.Digest, got)
	}
	return data, nil
}

// envelope fetches a DSSE layer and returns it as an attestation.
func (f *fetcher) envelope(repo name.Repository, desc v1.Descriptor) (store.Attestation, error) {
	data, err := f.blob(repo, desc, store.MaxEnvelopeSize)
	if err != nil {
		f.layerDigests[desc.Digest] = ""
		return store.Attestation{}, err
	}
	a, err := store.NewAttestation(data, nil)
	if err != nil {
		f.layerDigests[desc.Digest] = ""
		return store.Attestation{}, err
	}
	f.layerDigests[desc.Digest], _ = a.Digest()
	return a, nil
}

// readAllBounded appends r to buf, failing beyond limit bytes.
func readAllBounded(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	var b bytes.Buffer
	b.Write(buf)
	n, err := io.Copy(&b, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("more than %d bytes: %w", limit, ErrResponseTooLarge)
	}
	return b.Bytes(), nil
}

func isImageManifest(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

// isContentError reports whether err is about what the registry holds (a
// malformed, oversize or missing item, which is skipped) rather than the
// registry failing (which fails the call).
func isContentError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrTooManyRedirects) || errors.Is(err, ErrInsecure) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode == http.StatusNotFound
	}
	var ex *exhaustedError
	if errors.As(err, &ex) {
		return false
	}
	if errors.Is(err, ErrResponseTooLarge) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return false
	}
	return !transient(err)
}

package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/attestor/attestor/attestor/store"
)

// The cosign attestation scheme, as cosign v2 writes and reads it
// (pkg/oci/static, pkg/oci/mutate, pkg/oci/remote, pkg/types).
const (
	// MediaTypeDSSE is the media type of an attestation layer: the DSSE
	// envelope's JSON.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// AnnotationPredicateType annotates an attestation layer with the
	// statement's predicate type.
	AnnotationPredicateType = "predicateType"
	// AnnotationSignature is cosign's signature annotation, empty on
	// attestation layers (the signature is in the envelope).
	AnnotationSignature = "dev.cosignproject.cosign/signature"
	// SuffixAttestation ends the tag of the attestations image:
	// sha256-<hex>.att.
	SuffixAttestation = ".att"
)

// AttestationTag returns the tag of d's cosign attestations image:
// sha256-<hex>.att in d's repository.
func AttestationTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + SuffixAttestation)
}

// attImage is the attestations image read from the .att tag.
type attImage struct {
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.Manifest
	// have holds the envelope digests of its DSSE layers, and certified
	// those of its layers annotated with a certificate, with the envelope
	// digests they are annotated with (filled on demand).
	have, certified map[string]bool
}

// readAtt reads the .att image at tag; nil when there is none.
func (f *fetcher) readAtt(tag name.Tag) (*attImage, error) {
	desc, err := f.manifest(tag)
	if err != nil || desc == nil {
		return nil, err
	}
	if !isImageManifest(desc.MediaType) {
		return nil, fmt.Errorf("%s is a %s, not an image manifest", tag, desc.MediaType)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tag, err)
	}
	return &attImage{desc: desc.Descriptor, raw: desc.Manifest, manifest: m}, nil
}

// contains reports which of items the image holds: first by layer digest
// (the same layer bytes), then by envelope digest, reading the DSSE
// layers not read before. A keyless item counts as held only by a layer
// annotated with a certificate: a layer without one (as attestor wrote
// them before it wrote cosign's keyless annotations) does not verify with
// cosign, so the annotated layer is added once.
func (f *fetcher) contains(repo name.Repository, img *attImage, items []item) (missing []item) {
	if img == nil {
		return items
	}
	layers := map[v1.Hash]bool{}
	for _, l := range img.manifest.Layers {
		layers[l.Digest] = true
	}
	var unsure []item
	for _, it := range items {
		h, _, _ := v1.SHA256(bytes.NewReader(it.attLayer()))
		if !layers[h] {
			unsure = append(unsure, it)
		}
	}
	if len(unsure) == 0 {
		return nil
	}
	if img.have == nil {
		img.have, img.certified = map[string]bool{}, map[string]bool{}
		for i, l := range img.manifest.Layers {
			if i >= MaxLayers {
				break
			}
			if string(l.MediaType) != MediaTypeDSSE {
				continue
			}
			dg, ok := f.layerDigests[l.Digest]
			if !ok {
				if _, err := f.envelope(repo, l); err != nil {
					f.r.o.logger.Warn("skipping attestation layer", "layer", l.Digest.String(), "err", err)
				}
				dg = f.layerDigests[l.Digest]
			}
			if dg == "" {
				continue
			}
			img.have[dg] = true
			if l.Annotations[AnnotationCertificate] != "" {
				img.certified[dg] = true
				if put := l.Annotations[AnnotationEnvelopeDigest]; put != "" {
					img.certified[put] = true
				}
			}
		}
	}
	for _, it := range unsure {
		if it.keyless != nil && !img.certified[it.digest] || it.keyless == nil && !img.have[it.digest] {
			missing = append(missing, it)
		}
	}
	return missing
}

// putCosign appends the missing items to d's .att image: read, merge,
// write, then read again after a pause and repeat while another writer's
// image replaced ours. It returns the digests of the attestations it
// wrote.
func (r *Registry) putCosign(ctx context.Context, rec *recorder, repo name.Repository, d name.Digest, items []item) ([]string, error) {
	tag := AttestationTag(d)
	f := r.newFetcher(ctx)
	written := map[string]bool{}
	var order []string
	done := func() []string { return order }
	confirmed := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := r.settle(ctx); err != nil {
				return done(), err
			}
		}
		cur, err := f.readAtt(tag)
		if err != nil {
			return done(), err
		}
		if err := ctx.Err(); err != nil {
			return done(), err
		}
		missing := f.contains(repo, cur, items)
		if len(missing) == 0 {
			// After writing, check twice: a writer that read before our
			// write may still replace it.
			if len(order) == 0 || confirmed > 0 {
				return done(), nil
			}
			confirmed++
			continue
		}
		confirmed = 0
		if attempt > r.o.conflicts {
			return done(), fmt.Errorf("%s: %d attestation(s) still missing after %d attempts: %w", tag, len(missing), attempt, ErrConflict)
		}
		if attempt > 0 {
			r.o.logger.Info("attestations replaced by another writer; merging again", "tag", tag.String(), "missing", len(missing), "attempt", attempt)
		}
		if cur != nil && len(cur.manifest.Layers)+len(missing) > MaxLayers {
			return done(), fmt.Errorf("%s: %d layers already; cosign reads at most %d", tag, len(cur.manifest.Layers), MaxLayers)
		}
		img, err := appendAttestations(f, repo, cur, missing)
		if err != nil {
			return done(), err
		}
		cfg, err := partial.ConfigLayer(img)
		if err != nil {
			return done(), err
		}
		if err := r.writeBlob(f, rec, repo, cfg); err != nil {
			return done(), err
		}
		for _, it := range missing {
			if err := r.writeBlob(f, rec, repo, attLayer(it)); err != nil {
				return done(), err
			}
		}
		// Last check before writing: another writer may have replaced the
		// image while the blobs went up.
		if r.o.dryRun == nil {
			now, err := f.head(tag)
			if err != nil {
				return done(), err
			}
			if (now == nil) != (cur == nil) || (now != nil && now.Digest != cur.desc.Digest) {
				continue
			}
		}
		raw, err := img.RawManifest()
		if err != nil {
			return done(), err
		}
		if len(raw) > MaxManifestSize {
			return done(), fmt.Errorf("%s: a manifest of %d bytes, more than the %d read back: %w", tag, len(raw), MaxManifestSize, store.ErrTooLarge)
		}
		mt, err := img.MediaType()
		if err != nil {
			return done(), err
		}
		if err := r.putManifest(f, rec, tag, raw, mt); err != nil {
			return done(), err
		}
		for _, it := range missing {
			if !written[it.digest] {
				written[it.digest] = true
				order = append(order, it.digest)
			}
		}
		if r.o.dryRun != nil {
			return done(), nil
		}
	}
}

func attLayer(it item) v1.Layer {
	return static.NewLayer(it.attLayer(), MediaTypeDSSE)
}

// emptyAttestations is the image cosign starts from (empty.Signatures):
// an empty image with OCI manifest and config media types.
func emptyAttestations() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// appendAttestations returns cur (or an empty attestations image) with one
// layer per item appended, as cosign's mutate.AppendSignatures does.
func appendAttestations(f *fetcher, repo name.Repository, cur *attImage, items []item) (v1.Image, error) {
	base := emptyAttestations()
	if cur != nil {
		cfg, err := f.blob(repo, cur.manifest.Config, MaxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("reading the config of %s: %w", cur.desc.Digest, err)
		}
		base, err = partial.CompressedToImage(&rawImage{raw: cur.raw, config: cfg, manifest: cur.manifest, mt: cur.desc.MediaType})
		if err != nil {
			return nil, err
		}
	}
	adds := make([]mutate.Addendum, 0, len(items))
	for _, it := range items {
		adds = append(adds, mutate.Addendum{Layer: attLayer(it), Annotations: it.annotations()})
	}
	return mutate.Append(base, adds...)
}

// rawImage is an image known by its manifest and config only: enough to
// append layers to without fetching the ones it has.
type rawImage struct {
	raw      []byte
	config   []byte
	manifest *v1.Manifest
	mt       types.MediaType
}

func (i *rawImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *rawImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *rawImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.manifest.Layers {
		if l.Digest == h {
			return descLayer{l}, nil
		}
	}
	return nil, fmt.Errorf("layer %s not in the manifest", h)
}

// descLayer is a layer already in the registry, known by its descriptor.
type descLayer struct{ desc v1.Descriptor }

func (l descLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l descLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l descLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l descLayer) Compressed() (io.ReadCloser, error) {
	return nil, errors.New("layer content not fetched")
}

// attached is an attestation read from a .att layer; derived tells that
// its Bundle was made from the layer's keyless annotations (see
// keylessAttestation), to be replaced by a referrer's bundle of the same
// attestation, which has the inclusion proof the annotations lack.
type attached struct {
	att     store.Attestation
	derived bool
	layer   v1.Hash // the layer's digest, for Locate
}

// getCosign returns the attestations in d's .att image.
func (r *Registry) getCosign(f *fetcher, repo name.Repository, d name.Digest) ([]attached, error) {
	tag := AttestationTag(d)
	cur, err := f.readAtt(tag)
	if err != nil {
		if errors.Is(err, f.ctx.Err()) || !isContentError(err) {
			return nil, err
		}
		r.o.logger.Warn("skipping attestations image", "tag", tag.String(), "err", err)
		return nil, nil
	}
	if cur == nil {
		return nil, nil
	}
	var out []attached
	for i, l := range cur.manifest.Layers {
		if i >= MaxLayers {
			r.o.logger.Warn("skipping layers beyond the limit", "tag", tag.String(), "layers", len(cur.manifest.Layers), "limit", MaxLayers)
			break
		}
		if string(l.MediaType) != MediaTypeDSSE {
			continue
		}
		a, err := f.envelope(repo, l)
		if err != nil {
			if !isContentError(err) {
				return nil, err
			}
			r.o.logger.Warn("skipping attestation layer", "tag", tag.String(), "layer", l.Digest.String(), "err", err)
			continue
		}
		ka, derived, err := keylessAttestation(a, l.Annotations)
		if err != nil {
			r.o.logger.Warn("ignoring the keyless annotations of an attestation layer", "tag", tag.String(), "layer", l.Digest.String(), "err", err)
		}
		out = append(out, attached{ka, derived, l.Digest})
	}
	return out, nil
}

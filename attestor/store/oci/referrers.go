package oci

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestor/attestor/attestor/store"
)

// Annotations of a referrer manifest. The first two are cosign's
// (WriteAttestationNewBundleFormat); the last is attestor's, so that Put
// finds an attestation already attached without reading its bundle.
const (
	AnnotationBundleContent       = "dev.sigstore.bundle.content"
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	AnnotationEnvelopeDigest      = "dev.attestor.envelope.digest"
)

const (
	mediaTypeEmpty = "application/vnd.oci.empty.v1+json"
	// mediaTypeInToto is the artifactType cosign gives referrers whose
	// layers are DSSE envelopes (WriteAttestationsReferrer).
	mediaTypeInToto = "application/vnd.in-toto+json"
)

// emptyConfig is the OCI empty descriptor's content.
var emptyConfig = []byte("{}")

// referrer is the manifest that attaches one attestation.
type referrer struct {
	it     item
	bundle v1.Layer
	config v1.Layer
	raw    []byte
	digest v1.Hash
	size   int64
}

func newReferrer(it item, subject v1.Descriptor) (*referrer, error) {
	b := it.att.Bundle
	if b == nil {
		var err error
		if b, err = NewBundle(it.att.Envelope, ""); err != nil {
			return nil, err
		}
	}
	ref := &referrer{it: it, bundle: static.NewLayer(b, MediaTypeBundle), config: static.NewLayer(emptyConfig, mediaTypeEmpty)}
	bd, _ := ref.bundle.Digest()
	cd, _ := ref.config.Digest()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  MediaTypeBundle,
		Config:        v1.Descriptor{MediaType: mediaTypeEmpty, Digest: cd, Size: int64(len(emptyConfig))},
		Layers:        []v1.Descriptor{{MediaType: MediaTypeBundle, Digest: bd, Size: int64(len(b))}},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{
			AnnotationBundleContent:       "dsse-envelope",
			AnnotationBundlePredicateType: it.att.PredicateType,
			AnnotationEnvelopeDigest:      it.digest,
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	ref.raw = raw
	ref.digest, ref.size, err = v1.SHA256(strings.NewReader(string(raw)))
	return ref, err
}

// referrers lists d's referrers (through the API or the tag fallback),
// at most MaxReferrers of them.
func (f *fetcher) referrers(d name.Digest) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(d, f.opts...)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	descs := im.Manifests
	if len(descs) > MaxReferrers {
		f.r.o.logger.Warn("skipping referrers beyond the limit", "image", d.String(), "referrers", len(descs), "limit", MaxReferrers)
		descs = descs[:MaxReferrers]
	}
	return descs, nil
}

// putReferrers attaches one referrer manifest per missing item, then
// checks that the referrers list has them, writing again those another
// writer's fallback-tag update lost. It returns the digests of the
// attestations it wrote.
func (r *Registry) putReferrers(ctx context.Context, rec *recorder, repo name.Repository, d name.Digest, items []item) ([]string, error) {
	f := r.newFetcher(ctx)
	subject, err := f.head(d)
	if err != nil {
		return nil, err
	}
	if subject == nil {
		return nil, fmt.Errorf("%s: %w", d, ErrSubjectNotFound)
	}
	refs := make([]*referrer, 0, len(items))
	for _, it := range items {
		ref, err := newReferrer(it, *subject)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	uploaded := map[v1.Hash]bool{}
	written := map[string]bool{}
	var order []string
	confirmed := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := r.settle(ctx); err != nil {
				return order, err
			}
		}
		descs, err := f.referrers(d)
		if err != nil {
			return order, err
		}
		have := map[string]bool{}
		for _, desc := range descs {
			have[desc.Digest.String()] = true
			if dg := desc.Annotations[AnnotationEnvelopeDigest]; dg != "" {
				have[dg] = true
			}
		}
		var missing []*referrer
		for _, ref := range refs {
			if !have[ref.digest.String()] && !have[ref.it.digest] {
				missing = append(missing, ref)
			}
		}
		if len(missing) == 0 {
			// After writing, check twice: a writer that read the
			// fallback tag before our write may still replace it.
			if len(order) == 0 || confirmed > 0 {
				return order, nil
			}
			confirmed++
			continue
		}
		confirmed = 0
		if attempt > r.o.conflicts {
			return order, fmt.Errorf("referrers of %s: %d attestation(s) still missing after %d attempts: %w", d, len(missing), attempt, ErrConflict)
		}
		if attempt > 0 {
			r.o.logger.Info("referrers replaced by another writer; writing again", "image", d.String(), "missing", len(missing), "attempt", attempt)
		}
		for _, ref := range missing {
			if !uploaded[ref.digest] {
				if err := r.writeBlob(f, rec, repo, ref.config); err != nil {
					return order, err
				}
				if err := r.writeBlob(f, rec, repo, ref.bundle); err != nil {
					return order, err
				}
				uploaded[ref.digest] = true
			}
			if err := r.putManifest(f, rec, repo.Digest(ref.digest.String()), ref.raw, types.OCIManifestSchema1); err != nil {
				return order, err
			}
			if r.o.dryRun != nil {
				descs = append(descs, v1.Descriptor{
					MediaType:    types.OCIManifestSchema1,
					ArtifactType: MediaTypeBundle,
					Digest:       ref.digest,
					Size:         ref.size,
					Annotations:  map[string]string{AnnotationEnvelopeDigest: ref.it.digest},
				})
			}
			if !written[ref.it.digest] {
				written[ref.it.digest] = true
				order = append(order, ref.it.digest)
			}
		}
		if r.o.dryRun != nil {
			return order, r.dryRunFallback(f, rec, d, descs)
		}
	}
}

// dryRunFallback records the referrers fallback tag a registry without
// the referrers API would get.
func (r *Registry) dryRunFallback(f *fetcher, rec *recorder, d name.Digest, descs []v1.Descriptor) error {
	api, err := r.referrersAPI(f.ctx, d)
	if err != nil || api {
		return err
	}
	sort.Slice(descs, func(i, j int) bool { return descs[i].Digest.String() < descs[j].Digest.String() })
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		return err
	}
	return r.putManifest(f, rec, d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1)), raw, types.OCIImageIndex)
}

// referrersAPI reports whether d's registry serves the referrers API.
func (r *Registry) referrersAPI(ctx context.Context, d name.Digest) (bool, error) {
	repo := d.Context()
	var auth authn.Authenticator = r.o.auth
	if auth == nil {
		var err error
		if auth, err = authn.Resolve(ctx, r.o.keychain, repo); err != nil {
			return false, err
		}
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, r.rt, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return false, err
	}
	u := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), d.DigestStr())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == string(types.OCIImageIndex), nil
}

// referred is an attestation read from a referrer, with the envelope
// digest its manifest is annotated with (AnnotationEnvelopeDigest): the
// digest of the envelope pushed, which a bundle may carry re-encoded
// (without keyids).
type referred struct {
	att      store.Attestation
	want     string
	manifest v1.Hash // the referrer's manifest digest, for Locate
}

// getReferrers returns the attestations in d's referrers: sigstore
// bundles and DSSE envelopes.
func (r *Registry) getReferrers(f *fetcher, repo name.Repository, d name.Digest) ([]referred, error) {
	descs, err := f.referrers(d)
	if err != nil {
		if isContentError(err) {
			r.o.logger.Warn("skipping referrers", "image", d.String(), "err", err)
			return nil, nil
		}
		return nil, err
	}
	var out []referred
	for _, desc := range descs {
		if !attestationArtifact(desc.ArtifactType) {
			continue
		}
		atts, err := r.readReferrer(f, repo, d, desc)
		if err != nil {
			if !isContentError(err) {
				return nil, err
			}
			r.o.logger.Warn("skipping referrer", "image", d.String(), "referrer", desc.Digest.String(), "err", err)
			continue
		}
		out = append(out, atts...)
	}
	return out, nil
}

// attestationArtifact reports whether a referrer of this artifactType may
// hold attestations. Some registries report the config's media type (the
// empty one) instead of the manifest's artifactType, so that is read too.
func attestationArtifact(at string) bool {
	switch at {
	case "", mediaTypeEmpty, mediaTypeInToto, MediaTypeDSSE:
		return true
	}
	return strings.HasPrefix(at, "application/vnd.dev.sigstore.bundle")
}

func (r *Registry) readReferrer(f *fetcher, repo name.Repository, d name.Digest, desc v1.Descriptor) ([]referred, error) {
	if desc.Size > MaxManifestSize {
		return nil, fmt.Errorf("manifest of %d bytes: %w", desc.Size, ErrResponseTooLarge)
	}
	md, err := f.manifest(repo.Digest(desc.Digest.String()))
	if err != nil {
		return nil, err
	}
	if md == nil {
		return nil, nil
	}
	if !isImageManifest(md.MediaType) {
		return nil, fmt.Errorf("referrer is a %s, not an image manifest", md.MediaType)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(md.Manifest)))
	if err != nil {
		return nil, err
	}
	if m.Subject == nil || m.Subject.Digest.String() != d.DigestStr() {
		return nil, fmt.Errorf("referrer's subject is not %s", d.DigestStr())
	}
	want := m.Annotations[AnnotationEnvelopeDigest]
	var out []referred
	for i, l := range m.Layers {
		if i >= MaxLayers {
			break
		}
		switch {
		case strings.HasPrefix(string(l.MediaType), "application/vnd.dev.sigstore.bundle"):
			b, err := f.blob(repo, l, store.MaxBundleSize)
			if err != nil {
				return out, err
			}
			a, err := attestationFromBundle(b, want)
			if err != nil {
				return out, err
			}
			out = append(out, referred{a, want, desc.Digest})
		case string(l.MediaType) == MediaTypeDSSE:
			a, err := f.envelope(repo, l)
			if err != nil {
				return out, err
			}
			out = append(out, referred{a, want, desc.Digest})
		}
	}
	return out, nil
}

// attestationFromBundle returns the attestation a bundle carries. A bundle
// has no keyid in its signature (see NewBundle): a key bundle this
// package wrote has the keyid as its hint, and a keyless bundle's keyid
// is that of its certificate's key; want, the envelope digest its
// manifest is annotated with, tells when putting the keyid back restores
// the envelope pushed.
func attestationFromBundle(bundle []byte, want string) (store.Attestation, error) {
	env, hint, err := envelopeFromBundle(bundle, "")
	if err != nil {
		return store.Attestation{}, err
	}
	a, err := store.NewAttestation(env, bundle)
	if err != nil {
		return store.Attestation{}, err
	}
	if dg, _ := a.Digest(); want == "" || dg == want {
		return a, nil
	}
	if hint == "" {
		b := &protobundle.Bundle{}
		if (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(bundle, b) != nil {
			return a, nil
		}
		cert, err := x509.ParseCertificate(bundleCertificate(b))
		if err != nil {
			return a, nil
		}
		return withKeyID(a, cert, want), nil
	}
	env2, _, err := envelopeFromBundle(bundle, hint)
	if err != nil {
		return a, nil
	}
	a2, err := store.NewAttestation(env2, bundle)
	if err != nil {
		return a, nil
	}
	if dg, _ := a2.Digest(); dg == want {
		return a2, nil
	}
	return a, nil
}

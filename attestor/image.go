package attestor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/google/go-containerregistry/pkg/name"
)

// ImageResolver returns the digest ("sha256:HEX") of the manifest or
// index that ref (REGISTRY/REPO:TAG or REGISTRY/REPO@DIGEST, without the
// oci:// prefix) names now: an index stays an index, its digest is the
// artifact. An image the registry does not hold must be an error matching
// fault.ErrInvalidInput; a registry that cannot be reached after retries one
// matching fault.ErrUnavailable. The Recorder does no network I/O itself: the
// caller passes a resolver that does (cmd uses the registry client of
// push, with its credentials, retries and time limits).
type ImageResolver func(ctx context.Context, ref string) (digest string, err error)

// WithImageResolver sets how the Recorder resolves the images among a
// step's materials and products (see Step). The default is none: a step
// that names an image is a fault.ErrInvalidInput error.
func WithImageResolver(resolve ImageResolver) Option {
	return func(o *recorderOptions) error {
		o.resolveImage = resolve
		return nil
	}
}

// ErrImageNotFound is returned when a product image does not exist once
// the command is done (its push failed). It wraps fault.ErrInvalidInput.
var ErrImageNotFound = fault.New("product image not found", fault.ErrInvalidInput)

// imageRef is an image named as a material or product.
type imageRef struct {
	arg  string // as given
	ref  string // what the resolver is asked
	name string // the recorded name: oci://REGISTRY/REPO
}

func parseImage(arg string) (imageRef, error) {
	s := strings.TrimPrefix(arg, workspace.ImagePrefix)
	if s == "" || strings.TrimSpace(s) != s {
		return imageRef{}, fault.Invalidf("image reference %q: give oci://REGISTRY/REPO:TAG or oci://REGISTRY/REPO@sha256:DIGEST", arg)
	}
	r, err := name.ParseReference(s)
	if err != nil {
		return imageRef{}, fault.Invalid(fmt.Errorf("image reference %q: %w", arg, err))
	}
	if d, ok := r.(name.Digest); ok && !strings.HasPrefix(d.DigestStr(), "sha256:") {
		return imageRef{}, fault.Invalidf("image reference %q: only sha256 digests are supported", arg)
	}
	return imageRef{arg: arg, ref: r.String(), name: workspace.ImagePrefix + r.Context().Name()}, nil
}

// splitImages separates the images (oci://...) of paths from the paths.
// Two images of the same repository are an error: they would be two
// artifacts of one name.
func splitImages(what string, paths []string) (files []string, images []imageRef, err error) {
	for _, p := range paths {
		if !strings.HasPrefix(p, workspace.ImagePrefix) {
			files = append(files, p)
			continue
		}
		r, err := parseImage(p)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range images {
			if o.name == r.name {
				return nil, nil, fault.Invalidf("%s %q and %q: two images of one repository would be two artifacts named %q: name one of them", what, o.arg, r.arg, r.name)
			}
		}
		images = append(images, r)
	}
	return files, images, nil
}

// stepImages are the images a step names.
type stepImages struct {
	materials, products []imageRef
	materialFiles       []string
	productFiles        []string
}

// images splits the step's images from its paths, and checks that there
// is a resolver when it names any.
func (r *Recorder) images(s Step) (*stepImages, error) {
	var si stepImages
	var err error
	if si.materialFiles, si.materials, err = splitImages("materials", s.Materials); err != nil {
		return nil, err
	}
	if si.productFiles, si.products, err = splitImages("products", s.Products); err != nil {
		return nil, err
	}
	if (len(si.materials) > 0 || len(si.products) > 0) && r.o.resolveImage == nil {
		return nil, fault.Invalidf("step %q names an image, but this recorder cannot resolve images (no image resolver)", s.Name)
	}
	if err := r.dirs.CheckPaths(slices.Concat(si.materialFiles, si.productFiles)); err != nil {
		return nil, err
	}
	return &si, nil
}

// resolveImages resolves images and returns their artifacts. With
// keepGoing, an image that cannot be resolved is left out and its error
// joined to the others; without it, the first error returns.
func (r *Recorder) resolveImages(ctx context.Context, what string, images []imageRef, keepGoing bool) ([]hashing.FileSum, error) {
	var (
		out  []hashing.FileSum
		errs []error
	)
	for _, img := range images {
		digest, err := r.o.resolveImage(ctx, img.ref)
		if err == nil {
			hexDigest, ok := strings.CutPrefix(digest, "sha256:")
			if !ok || !hashing.IsHex64(hexDigest) {
				err = fmt.Errorf("image %q: the registry names its manifest %q, not a sha256 digest", img.arg, digest)
			} else {
				out = append(out, hashing.FileSum{Name: img.name, Sums: hashing.Sums{hexDigest}})
				r.o.logger.Debug("image resolved", "what", what, "image", img.arg, "digest", digest)
				continue
			}
		}
		if what == "products" && errors.Is(err, fault.ErrInvalidInput) && !errors.Is(err, fault.ErrUnavailable) {
			err = fmt.Errorf("%w: %s %q after the command: %w", ErrImageNotFound, what, img.arg, err)
		} else {
			err = fmt.Errorf("recording %s: %w", what, err)
		}
		if !keepGoing {
			return nil, err
		}
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// withImages adds the image artifacts to hs (sorted by name) and returns
// the list, sorted by name.
func withImages(hs, images []hashing.FileSum) []hashing.FileSum {
	if len(images) == 0 {
		return hs
	}
	hs = append(hs, images...)
	slices.SortFunc(hs, func(a, b hashing.FileSum) int { return strings.Compare(a.Name, b.Name) })
	return hs
}

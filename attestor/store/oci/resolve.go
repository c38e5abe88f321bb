package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Resolve returns the manifest digest of the image ref names (with or
// without the "oci://" prefix): a tag is resolved with a HEAD request
// (falling back to GET where the registry does not answer HEAD with a
// digest); a digest reference is returned as is once a HEAD request shows
// the registry holds it. For an index (a multi-platform image) the digest
// is the index's.
//
// opts are go-containerregistry's remote options (authentication,
// transport, retry backoff); ctx is applied last. The default is anonymous
// access with go-containerregistry's retries.
//
// A malformed reference, an image the registry does not hold and refused
// credentials are bad input (fault.ErrInvalidInput); a registry that
// cannot be reached or keeps failing after the retries is
// fault.ErrUnavailable.
func Resolve(ctx context.Context, ref string, opts ...remote.Option) (name.Digest, error) {
	s := strings.TrimPrefix(strings.TrimSpace(ref), workspace.ImagePrefix)
	r, err := name.ParseReference(s)
	if err != nil {
		return name.Digest{}, fault.Invalid(fmt.Errorf("image reference %q: %w", ref, err))
	}
	opts = append(append([]remote.Option(nil), opts...), remote.WithContext(ctx))

	desc, err := remote.Head(r, opts...)
	if err != nil && resolveFallback(ctx, err) {
		var gd *remote.Descriptor
		if gd, err = remote.Get(r, opts...); err == nil {
			desc = &gd.Descriptor
		}
	}
	if err != nil {
		return name.Digest{}, resolveError(ctx, ref, err)
	}
	if d, ok := r.(name.Digest); ok {
		if desc.Digest.String() != d.DigestStr() {
			return name.Digest{}, fault.Invalid(fmt.Errorf("image %q: the registry serves digest %s", ref, desc.Digest))
		}
		return d, nil
	}
	return r.Context().Digest(desc.Digest.String()), nil
}

// resolveFallback says whether a failed HEAD is worth a GET: the registry
// answered, but not with what HEAD needs (no digest header, HEAD not
// allowed). A network failure, a missing image, refused credentials or a
// registry that failed after retries would fail the same way again.
func resolveFallback(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusMethodNotAllowed, http.StatusBadRequest, http.StatusNotImplemented, http.StatusNotAcceptable:
			return true
		}
		return false
	}
	return !resolveNetworkError(err)
}

func resolveNetworkError(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}

// resolveError marks err as bad input or an unavailable registry.
func resolveError(ctx context.Context, ref string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		// The call's time limit, retries included: the registry kept
		// failing or did not answer (as Registry.classify says).
		return fault.Unavailable(fmt.Errorf("resolving image %q: no answer from the registry within the time limit: %w", ref, err))
	case ctx.Err() != nil:
		return fmt.Errorf("resolving image %q: %w", ref, ctx.Err())
	}
	err = fmt.Errorf("resolving image %q: %w", ref, err)
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound, resolveHasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
			return fault.Invalid(fmt.Errorf("image %q not found in the registry: %w", ref, err))
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return fault.Invalid(fmt.Errorf("the registry refused access to image %q (log in, or check the credentials): %w", ref, err))
		case te.StatusCode == http.StatusTooManyRequests || te.StatusCode >= 500:
			return fault.Unavailable(err)
		}
		return fault.Invalid(err)
	}
	// No answer from the registry (refused, reset, timed out, DNS).
	return fault.Unavailable(err)
}

func resolveHasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// ParseDigestRef returns the image ref names when it names it by digest
// (REGISTRY/REPO@sha256:..., with or without the "oci://" prefix), without
// asking any registry: a writer that does not write to the registry (a
// push to Grafeas alone, a dry run of it) needs nothing else. ok is false
// for a tag; a malformed reference is an error matching
// fault.ErrInvalidInput.
func ParseDigestRef(ref string) (d name.Digest, ok bool, err error) {
	s := strings.TrimPrefix(strings.TrimSpace(ref), workspace.ImagePrefix)
	r, err := name.ParseReference(s)
	if err != nil {
		return name.Digest{}, false, fault.Invalid(fmt.Errorf("image reference %q: %w", ref, err))
	}
	d, ok = r.(name.Digest)
	return d, ok, nil
}

package promote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/oci"
)

// AuthorityWriter writes Binary Authorization / Kritis attestations (a
// simple-signing payload and its signatures) as ATTESTATION occurrences on
// an attestation authority's note. *grafeas.Client is one; Image writes
// through it when the store of WithGrafeas is one.
type AuthorityWriter interface {
	PutAttestation(ctx context.Context, subject store.Subject, att grafeas.Attestation) (*grafeas.Result, error)
	// AuthorityNote names the note (projects/PROJECT/notes/NOTE).
	AuthorityNote() string
}

var _ AuthorityWriter = (*grafeas.Client)(nil)

// Option configures Image.
type Option func(*options) error

type options struct {
	registry      *oci.Registry
	sources       []gate.Source
	grafeas       store.Store
	dryRun        bool
	simpleSigning []SimpleSigningOption
}

// WithRegistry sets the registry client that reads the source image, its
// attestations, and writes the copy and the promotion attestation (its
// credentials, transport and dry run apply). The default is oci.New().
func WithRegistry(r *oci.Registry) Option {
	return func(o *options) error {
		if r == nil {
			return fault.Invalid(errors.New("promote: nil registry"))
		}
		o.registry = r
		return nil
	}
}

// WithSources sets where the source image's attestations are fetched
// from. The default is the registry (WithRegistry) alone.
func WithSources(sources ...gate.Source) Option {
	return func(o *options) error {
		o.sources = sources
		return nil
	}
}

// WithGrafeas also puts the promotion attestation (the verification
// summary) into a Grafeas store and, when the store is an AuthorityWriter
// (a *grafeas.Client), writes the Binary Authorization / Kritis
// attestation of the destination on the attestation authority's note.
// The default writes to the registry only.
func WithGrafeas(s store.Store) Option {
	return func(o *options) error {
		if s == nil {
			return fault.Invalid(errors.New("promote: nil Grafeas store"))
		}
		o.grafeas = s
		return nil
	}
}

// WithDryRun verifies and signs but writes nothing: no copy, no
// attestation; the Result says what would be written and carries the
// signed summary and simple-signing payload. The default writes.
func WithDryRun() Option {
	return func(o *options) error {
		o.dryRun = true
		return nil
	}
}

// WithSimpleSigning sets how the simple-signing payload of the Binary
// Authorization / Kritis attestation is made: its type
// (WithPayloadType) and the public key id of its signature
// (WithPublicKeyID). The defaults are NewSimpleSigning's.
func WithSimpleSigning(opts ...SimpleSigningOption) Option {
	return func(o *options) error {
		o.simpleSigning = append(o.simpleSigning, opts...)
		return nil
	}
}

// Result is what Image did.
type Result struct {
	// Source and Destination are the images by digest
	// (repository@sha256:…); Tag is the destination tag, if any.
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"`
	Tag         string `json:"tag,omitempty"`
	// Result is the verification of the source.
	Result *gate.Result `json:"result"`
	// Copied says the image was copied (false on a failure or a dry run).
	Copied bool `json:"copied"`
	DryRun bool `json:"dryRun,omitempty"`
	// MediaType is the copied manifest's media type (an index for a
	// multi-platform image).
	MediaType string `json:"mediaType,omitempty"`
	// Summary is the signed verification summary of the destination,
	// attached to it: its envelope's JSON.
	Summary []byte `json:"-"`
	// SummaryDigest is the summary's store.Attestation.Digest.
	SummaryDigest string `json:"summaryDigest,omitempty"`
	// SimpleSigning is the Binary Authorization / Kritis attestation of
	// the destination: a simple-signing payload and its signature.
	SimpleSigning *SimpleSigning `json:"simpleSigning,omitempty"`
	// Attached is how many of the source's attestations (those that
	// verified) were attached to the copy along with the summary.
	Attached int `json:"attached"`
	// Written lists where the promotion attestation went ("oci",
	// "grafeas"), and "grafeas-authority" when the simple-signing
	// attestation was written to Grafeas.
	Written []string `json:"written,omitempty"`
	// AuthorityNote is the attestation authority's note that the
	// Binary Authorization / Kritis ATTESTATION occurrence of the
	// destination is on (written, or found already there).
	AuthorityNote string `json:"authorityNote,omitempty"`
	// Pending lists writes this build cannot make yet, with why.
	Pending []string `json:"pending,omitempty"`
}

// Image verifies the image src (a tag or a digest) with v (its policy)
// and, only if it passes, copies it by digest to dst (REGISTRY/REPO for the
// same digest, or REGISTRY/REPO:TAG; the same or another registry;
// multi-platform indexes with every platform), then signs a verification
// summary of the destination with signer and attaches it there (the
// registry, and Grafeas with WithGrafeas) with the source's attestations
// that verified (so the copy verifies too), and signs the simple-signing
// payload of a Binary Authorization / Kritis attestation (NewSimpleSigning
// with the options of WithSimpleSigning; returned, and written with
// WithGrafeas as an ATTESTATION occurrence on the attestation authority's
// note whose signature's publicKeyId is the SimpleSigning's PublicKeyID:
// see AuthorityWriter).
//
// On a failed verification nothing is copied or written: the Result
// holds the verification's result and the error matches
// gate.ErrNotVerified and the reasons' sentinels. Registry failures match
// fault.ErrUnavailable.
func Image(ctx context.Context, v *gate.Verifier, src, dst string, signer envelope.Signer, opts ...Option) (*Result, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if v == nil {
		return nil, fault.Invalid(errors.New("promote: no verifier"))
	}
	if signer == nil {
		return nil, fault.Invalid(errors.New("promote: a signing key is required for the promotion attestation"))
	}
	// Bad simple-signing options fail before anything is read or copied.
	var sso simpleSigningOptions
	for _, opt := range o.simpleSigning {
		if err := opt(&sso); err != nil {
			return nil, err
		}
	}
	if o.registry == nil {
		r, err := oci.New()
		if err != nil {
			return nil, err
		}
		o.registry = r
	}
	reg := o.registry
	ropts := reg.RemoteOptions(ctx)

	srcDigest, err := oci.Resolve(ctx, src, ropts...)
	if err != nil {
		return nil, err
	}
	dstRepo, dstTag, err := parseDestination(dst, srcDigest, reg.NameOptions())
	if err != nil {
		return nil, err
	}
	subject, err := store.ImageSubject(srcDigest)
	if err != nil {
		return nil, err
	}
	sources := o.sources
	if len(sources) == 0 {
		sources = []gate.Source{{Name: "oci", Store: reg}}
	}
	atts, _, fetchErr := gate.Fetch(ctx, subject, sources...)
	if fetchErr != nil {
		return nil, fmt.Errorf("promote: fetching the attestations of %s: %w", srcDigest, fetchErr)
	}
	res, verr := v.Verify(ctx, subject, atts)
	if res == nil {
		return nil, verr
	}
	p := &Result{Source: srcDigest.String(), Result: res, DryRun: o.dryRun}
	if verr != nil {
		return p, errors.Join(fmt.Errorf("promote %s: %w", srcDigest, gate.ErrNotVerified), verr)
	}

	dstDigest := dstRepo.Digest(srcDigest.DigestStr())
	p.Destination = dstDigest.String()
	if dstTag != nil {
		p.Tag = dstTag.TagStr()
	}
	mt, err := copyImage(ctx, srcDigest, dstDigest, dstTag, ropts, o.dryRun)
	p.MediaType = mt
	if err != nil {
		return p, err
	}
	p.Copied = !o.dryRun

	// The promotion attestation: the summary, about the destination.
	dstRes := *res
	dstRes.Subject = gate.SubjectRef{Name: dstRepo.Name(), Digest: srcDigest.DigestStr()}
	summary, _, err := gate.SignSummary(ctx, &dstRes, signer, "")
	if err != nil {
		return p, err
	}
	att, err := store.NewAttestation(summary, nil)
	if err != nil {
		return p, err
	}
	p.Summary = summary
	p.SummaryDigest, _ = att.Digest()
	dstSubject, err := store.ImageSubject(dstDigest)
	if err != nil {
		return p, err
	}
	ss, err := NewSimpleSigning(ctx, dstDigest, signer, map[string]string{"verificationSummary": "sha256:" + p.SummaryDigest}, o.simpleSigning...)
	if err != nil {
		return p, err
	}
	p.SimpleSigning = ss
	if o.dryRun {
		p.Pending = append(p.Pending, fmt.Sprintf("dry run: would copy %s to %s", srcDigest, dstDigest))
		if dstTag != nil {
			p.Pending = append(p.Pending, fmt.Sprintf("dry run: would tag %s", dstTag))
		}
		p.Pending = append(p.Pending, fmt.Sprintf("dry run: would attach the verification summary to %s", dstDigest))
		if o.grafeas != nil {
			p.Pending = append(p.Pending, fmt.Sprintf("dry run: would write the verification summary of %s to Grafeas", dstDigest))
			if aw, ok := o.grafeas.(AuthorityWriter); ok {
				p.Pending = append(p.Pending, fmt.Sprintf("dry run: would write the Binary Authorization / Kritis ATTESTATION occurrence of %s on %s", dstDigest, aw.AuthorityNote()))
			}
		}
		return p, nil
	}
	// The chain comes along (every attestation that verified), so the
	// copy verifies where it now lives.
	chain := verifiedAttestations(res, atts)
	if err := reg.Put(ctx, dstSubject, append(chain, att)...); err != nil {
		return p, fmt.Errorf("attaching the promotion attestation to %s: %w", dstDigest, err)
	}
	p.Attached = len(chain)
	p.Written = append(p.Written, "oci")
	if o.grafeas == nil {
		p.Pending = append(p.Pending, "the Binary Authorization / Kritis ATTESTATION occurrence is signed but not written: no Grafeas to write it to")
		return p, nil
	}
	if err := o.grafeas.Put(ctx, dstSubject, att); err != nil {
		return p, fmt.Errorf("writing the promotion attestation of %s to Grafeas: %w", dstDigest, err)
	}
	p.Written = append(p.Written, "grafeas")
	aw, ok := o.grafeas.(AuthorityWriter)
	if !ok {
		p.Pending = append(p.Pending, "the Binary Authorization / Kritis ATTESTATION occurrence is signed but not written: the Grafeas store cannot write attestation-authority occurrences")
		return p, nil
	}
	kritis := grafeas.Attestation{Payload: ss.Payload, Signatures: []grafeas.Signature{{KeyID: ss.PublicKeyID, Sig: ss.Signature}}}
	if _, err := aw.PutAttestation(ctx, dstSubject, kritis); err != nil {
		return p, fmt.Errorf("writing the Binary Authorization / Kritis attestation of %s to Grafeas: %w", dstDigest, err)
	}
	p.Written = append(p.Written, "grafeas-authority")
	p.AuthorityNote = aw.AuthorityNote()
	return p, nil
}

// verifiedAttestations returns the attestations whose envelopes verified.
func verifiedAttestations(res *gate.Result, atts []store.Attestation) []store.Attestation {
	ok := map[string]bool{}
	for _, e := range res.Envelopes {
		if e.Status == gate.StatusVerified {
			ok[e.Digest] = true
		}
	}
	var out []store.Attestation
	seen := map[string]bool{}
	for _, a := range atts {
		sum := sha256.Sum256(a.Envelope)
		d := hex.EncodeToString(sum[:])
		if ok[d] && !seen[d] {
			seen[d] = true
			out = append(out, a)
		}
	}
	return out
}

// parseDestination returns the repository (and tag, if any) of dst; a
// digest in dst must be the source's.
func parseDestination(dst string, src name.Digest, opts []name.Option) (name.Repository, *name.Tag, error) {
	s := strings.TrimPrefix(strings.TrimSpace(dst), workspace.ImagePrefix)
	if strings.Contains(s, "@") {
		d, err := name.NewDigest(s, opts...)
		if err != nil {
			return name.Repository{}, nil, fault.Invalid(fmt.Errorf("destination %q: %w", dst, err))
		}
		if d.DigestStr() != src.DigestStr() {
			return name.Repository{}, nil, fault.Invalid(fmt.Errorf("destination %q: the image to promote is %s", dst, src.DigestStr()))
		}
		return d.Context(), nil, nil
	}
	if t, err := name.NewTag(s, append([]name.Option{name.StrictValidation}, opts...)...); err == nil {
		return t.Context(), &t, nil
	}
	repo, err := name.NewRepository(s, opts...)
	if err != nil {
		return name.Repository{}, nil, fault.Invalid(fmt.Errorf("destination %q: want REGISTRY/REPO or REGISTRY/REPO:TAG: %w", dst, err))
	}
	return repo, nil, nil
}

// copyImage copies the manifest src (an image, an index with every
// image it lists, or another artifact) to dst by digest, and tags it.
func copyImage(ctx context.Context, src, dst name.Digest, tag *name.Tag, ropts []remote.Option, dryRun bool) (string, error) {
	desc, err := remote.Get(src, ropts...)
	if err != nil {
		return "", registryErr(fmt.Sprintf("reading %s", src), err)
	}
	mt := string(desc.MediaType)
	if dryRun {
		return mt, nil
	}
	targets := []name.Reference{dst}
	if tag != nil {
		targets = append(targets, *tag)
	}
	for _, ref := range targets {
		switch {
		case desc.MediaType.IsIndex():
			idx, err := desc.ImageIndex()
			if err == nil {
				err = remote.WriteIndex(ref, idx, ropts...)
			}
			if err != nil {
				return mt, registryErr(fmt.Sprintf("copying index %s to %s", src, ref), err)
			}
		case desc.MediaType.IsImage():
			img, err := desc.Image()
			if err == nil {
				err = remote.Write(ref, img, ropts...)
			}
			if err != nil {
				return mt, registryErr(fmt.Sprintf("copying image %s to %s", src, ref), err)
			}
		default:
			if err := remote.Put(ref, desc, ropts...); err != nil {
				return mt, registryErr(fmt.Sprintf("copying %s to %s", src, ref), err)
			}
		}
	}
	got, err := remote.Head(dst, ropts...)
	if err != nil {
		return mt, registryErr(fmt.Sprintf("checking the copy %s", dst), err)
	}
	if got.Digest.String() != src.DigestStr() {
		return mt, fault.Unavailable(fmt.Errorf("the copy %s has digest %s", dst, got.Digest))
	}
	return mt, nil
}

// registryErr marks a registry error: refused credentials and missing
// images are bad input (exit 2), the rest unavailable (exit 3).
func registryErr(what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return fault.Invalid(err)
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fault.Unavailable(err)
}

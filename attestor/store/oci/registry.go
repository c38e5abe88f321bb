package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/attestor/attestor/attestor/internal/retry"
	"github.com/attestor/attestor/attestor/store"
)

// Registry is a store.Store over OCI registries. The subject's Name is the
// image repository ("registry.example/team/app") and its Digest the
// image's manifest digest. A Registry holds no state between calls and is
// safe for concurrent use.
type Registry struct {
	o  options
	rt http.RoundTripper
}

var _ store.Store = (*Registry)(nil)

// New returns a Registry configured by opts (see the With… options for the
// defaults).
func New(opts ...Option) (*Registry, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	r := &Registry{o: o}
	r.rt = &roundTripper{
		base:       o.transport,
		insecure:   o.insecure,
		attempts:   o.attempts,
		backoff:    o.backoff,
		maxBackoff: o.maxBackoff,
		timeout:    o.requestTimeout,
		logger:     o.logger,
	}
	return r, nil
}

// RemoteOptions returns the go-containerregistry options that reach
// registries as r does (credentials, transport, retries, time limits), for
// calls r does not make itself, such as resolving a tag with Resolve.
func (r *Registry) RemoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(r.rt),
		remote.WithUserAgent(r.o.userAgent),
		// go-containerregistry retries only what the transport cannot:
		// a write that got no answer (its body may be a stream only
		// go-containerregistry can make again). Statuses are the
		// transport's (none here), and transient refuses what the
		// transport has retried. Its backoff has the parameters of
		// retry.Backoff, which it has no hook for.
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(transient),
		remote.WithRetryBackoff(remote.Backoff{
			Duration: r.o.backoff,
			Factor:   2,
			Jitter:   0.5,
			Steps:    r.o.attempts,
			Cap:      r.o.maxBackoff,
		}),
		remote.WithJobs(2),
	}
	if r.o.auth != nil {
		opts = append(opts, remote.WithAuth(r.o.auth))
	} else {
		opts = append(opts, remote.WithAuthFromKeychain(r.o.keychain))
	}
	return opts
}

// NameOptions returns the name options that parse references as r reaches
// them: name.Insecure when WithInsecure was given.
func (r *Registry) NameOptions() []name.Option {
	if r.o.insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ref returns the repository and the image digest reference of subject.
func (r *Registry) ref(subject store.Subject) (name.Repository, name.Digest, error) {
	if subject.Digest.Algorithm == "" || subject.Digest.Hex == "" {
		return name.Repository{}, name.Digest{}, fault.Invalid(fmt.Errorf("subject %q has no digest", subject.Name))
	}
	repo, err := name.NewRepository(subject.Name, r.NameOptions()...)
	if err != nil {
		return name.Repository{}, name.Digest{}, fault.Invalid(fmt.Errorf("subject %q is not an image repository: %w", subject.Name, err))
	}
	if _, err := v1.NewHash(subject.Digest.String()); err != nil {
		return name.Repository{}, name.Digest{}, fault.Invalid(fmt.Errorf("subject %q: %w", subject.String(), err))
	}
	return repo, repo.Digest(subject.Digest.String()), nil
}

// item is one attestation to put.
type item struct {
	att    store.Attestation
	digest string // store.Attestation.Digest
	// keyless is the .att layer of an attestation whose bundle holds a
	// certificate (see keylessLayer); nil for the others.
	keyless *keyless
}

// attLayer returns the content of it's .att layer: its envelope, or for
// a keyless attestation the envelope as its Rekor entry hashed it.
func (it item) attLayer() []byte {
	if it.keyless != nil {
		return it.keyless.layer
	}
	return it.att.Envelope
}

// annotations returns the annotations of it's .att layer: its predicate
// type and cosign's empty signature, as cosign attest writes them with a
// key, and for a keyless attestation the certificate, chain and Rekor
// bundle it writes with a Fulcio certificate.
func (it item) annotations() map[string]string {
	if it.keyless != nil {
		return it.keyless.ann
	}
	return map[string]string{
		AnnotationSignature:     "",
		AnnotationPredicateType: it.att.PredicateType,
	}
}

func prepare(atts []store.Attestation) ([]item, error) {
	var items []item
	seen := map[string]bool{}
	for i, a := range atts {
		if err := a.Check(); err != nil {
			return nil, fmt.Errorf("attestation %d: %w", i, err)
		}
		d, err := a.Digest()
		if err != nil {
			return nil, fmt.Errorf("attestation %d: %w", i, err)
		}
		if a.PredicateType == "" {
			parsed, _ := store.NewAttestation(a.Envelope, a.Bundle)
			a.PredicateType = parsed.PredicateType
		}
		if !seen[d] {
			seen[d] = true
			items = append(items, item{att: a, digest: d})
		}
	}
	return items, nil
}

// Put attaches atts to the image subject in the schemes chosen with
// WithScheme. Every attestation is checked before anything is written: a
// malformed one fails with an error matching fault.ErrInvalidInput, an
// oversize one with store.ErrTooLarge. Attestations already attached are
// not written again. A registry that still fails after retries returns an
// error matching fault.ErrUnavailable.
func (r *Registry) Put(ctx context.Context, subject store.Subject, atts ...store.Attestation) error {
	_, err := r.Push(ctx, subject, atts...)
	return err
}

// Result is what a Push did.
type Result struct {
	// Subject is the image the attestations are attached to.
	Subject store.Subject `json:"-"`
	// Image is the image by digest (repository@sha256:…).
	Image string `json:"image"`
	// Attestations are the attestations asked for, each once.
	Attestations []Pushed `json:"attestations"`
	// Writes are the registry writes made (or, in a dry run, that would
	// be made), in order.
	Writes []Write `json:"writes"`
}

// Pushed is one attestation of a Push.
type Pushed struct {
	// Digest is store.Attestation.Digest.
	Digest string `json:"digest"`
	// PredicateType is the statement's predicate type.
	PredicateType string `json:"predicateType"`
	// Schemes are the schemes this Push wrote it to; empty when it was
	// already attached in every scheme asked for.
	Schemes []Scheme `json:"schemes,omitempty"`
}

// Push is Put, returning what it wrote.
func (r *Registry) Push(ctx context.Context, subject store.Subject, atts ...store.Attestation) (*Result, error) {
	items, err := prepare(atts)
	if err != nil {
		return nil, err
	}
	if r.o.scheme.cosign() {
		for i := range items {
			k, err := keylessLayer(items[i], r.o.trusted)
			if err != nil {
				return nil, fmt.Errorf("attestation %s: %w", items[i].digest, err)
			}
			if k != nil && k.warn != "" {
				r.o.logger.Warn("keyless attestation: "+k.warn, "attestation", items[i].digest)
			}
			items[i].keyless = k
		}
	}
	repo, d, err := r.ref(subject)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	ctx = withBudget(ctx, r.o.readLimit)
	res := &Result{Subject: subject, Image: d.String()}
	written := map[string][]Scheme{}
	rec := &recorder{}
	var errs []error
	if r.o.scheme.cosign() {
		done, err := r.putCosign(ctx, rec, repo, d, items)
		for _, dg := range done {
			written[dg] = append(written[dg], SchemeCosign)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("attaching to %s (cosign .att): %w", d, r.classify(err)))
		}
	}
	if r.o.scheme.referrers() {
		done, err := r.putReferrers(ctx, rec, repo, d, items)
		for _, dg := range done {
			written[dg] = append(written[dg], SchemeReferrers)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("attaching to %s (referrers): %w", d, r.classify(err)))
		}
	}
	for _, it := range items {
		res.Attestations = append(res.Attestations, Pushed{Digest: it.digest, PredicateType: it.att.PredicateType, Schemes: written[it.digest]})
	}
	res.Writes = rec.writes
	return res, errors.Join(errs...)
}

// Get returns every attestation attached to the image subject in either
// scheme, each once. Items that are malformed, larger than their bound,
// or beyond MaxLayers or MaxReferrers are skipped and logged. An image
// with no attestations returns none and no error.
func (r *Registry) Get(ctx context.Context, subject store.Subject) ([]store.Attestation, error) {
	found, err := r.read(ctx, subject)
	if err != nil {
		return nil, err
	}
	all := make([]store.Attestation, 0, len(found.att)+len(found.ref))
	for _, a := range found.att {
		all = append(all, a.att)
	}
	for _, ra := range found.ref {
		if i, ok := found.same(ra); ok {
			// A referrer's bundle goes with the .att copy, in place of
			// one made from the layer's keyless annotations.
			if all[i].Bundle == nil || found.att[i].derived {
				all[i].Bundle = ra.att.Bundle
				found.att[i].derived = false
			}
			continue
		}
		all = append(all, ra.att)
	}
	out, bad := store.Dedupe(all)
	for _, err := range bad {
		r.o.logger.Warn("skipping attestation", "image", found.image.String(), "err", err)
	}
	return out, nil
}

// Locate returns every copy of the attestations attached to the image
// subject, each with where it was found: a layer of the .att image
// (store.LocationCosign) or a referrer (store.LocationReferrer). A
// referrer that carries an attestation of the .att image (annotated with
// its envelope digest) is returned with that attestation, so that the
// copies of one attestation have one store.Attestation.Digest. Items are
// skipped and logged as by Get; copies are not deduplicated.
func (r *Registry) Locate(ctx context.Context, subject store.Subject) ([]store.Located, error) {
	found, err := r.read(ctx, subject)
	if err != nil {
		return nil, err
	}
	tag := AttestationTag(found.image).String()
	var out []store.Located
	for _, a := range found.att {
		out = append(out, store.Located{Attestation: a.att, Location: store.Location{Kind: store.LocationCosign, Ref: tag + "@" + a.layer.String()}})
	}
	for _, ra := range found.ref {
		a := ra.att
		if i, ok := found.same(ra); ok {
			a = found.att[i].att
			if a.Bundle == nil || found.att[i].derived {
				a.Bundle = ra.att.Bundle
			}
		}
		out = append(out, store.Located{Attestation: a, Location: store.Location{Kind: store.LocationReferrer, Ref: found.image.Context().Digest(ra.manifest.String()).String()}})
	}
	return out, nil
}

// found is what read found: the copies in each scheme.
type found struct {
	image name.Digest
	att   []attached
	ref   []referred
	// have maps the envelope digest of each .att copy to its index.
	have map[string]int
}

// same returns the index of the .att copy that a referrer annotated with
// its envelope digest carries.
func (f *found) same(ra referred) (int, bool) {
	if ra.want == "" {
		return 0, false
	}
	i, ok := f.have[ra.want]
	return i, ok
}

// read reads the attestations of subject in both schemes.
func (r *Registry) read(ctx context.Context, subject store.Subject) (*found, error) {
	repo, d, err := r.ref(subject)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	ctx = withBudget(ctx, r.o.readLimit)
	f := r.newFetcher(ctx)
	att, err := r.getCosign(f, repo, d)
	if err != nil {
		return nil, fmt.Errorf("reading attestations of %s (cosign .att): %w", d, r.classify(err))
	}
	ref, err := r.getReferrers(f, repo, d)
	if err != nil {
		return nil, fmt.Errorf("reading attestations of %s (referrers): %w", d, r.classify(err))
	}
	// A referrer annotated with the digest of an envelope the .att image
	// has carries the same attestation (its bundle may hold the envelope
	// re-encoded, without keyids).
	res := &found{image: d, att: att, ref: ref, have: map[string]int{}}
	for i, a := range att {
		if dg, err := a.att.Digest(); err == nil {
			res.have[dg] = i
		}
	}
	return res, nil
}

// classify marks a registry error for the CLI (exit 2 for credentials and
// insecure registries, 3 for the rest) and removes secrets from its text.
func (r *Registry) classify(err error) error {
	if err == nil || errors.Is(err, fault.ErrInvalidInput) || errors.Is(err, fault.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return r.redact(err)
	}
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return r.redact(fmt.Errorf("%w: %w", ErrUnauthorized, err))
	}
	return r.redact(fault.Unavailable(err))
}

// maxErrorText bounds the text of an error: a registry's error body,
// which go-containerregistry quotes, may be up to maxErrorBody bytes of
// anything.
const maxErrorText = 4 << 10

// redact removes secrets from err's text and bounds it to maxErrorText.
func (r *Registry) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range append(slices.Clone(r.o.secrets), r.o.handedOut.list()...) {
		if len(s) >= 4 && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "***")
			changed = true
		}
	}
	if len(msg) > maxErrorText {
		msg = strings.ToValidUTF8(msg[:maxErrorText], "") + "… (truncated)"
		changed = true
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// settle waits for other writers' requests in flight to land before
// checking a write: the settle time, or eight round trips of the last
// request (another writer's write may take as long), whichever is longer,
// jittered up to twice that.
func (r *Registry) settle(ctx context.Context) error {
	d := max(r.o.settle, 8*lastRTT(ctx))
	return retry.Sleep(ctx, retry.Backoff(2*d, 2*d, 0, nil))
}

// Resolve returns the subject of the image ref: a tag is resolved to the
// digest it names (see the package's Resolve), within r's credentials,
// transport and time limits.
func (r *Registry) Resolve(ctx context.Context, ref string) (store.Subject, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	d, err := Resolve(ctx, ref, r.RemoteOptions(ctx)...)
	if err != nil {
		return store.Subject{}, r.redact(err)
	}
	return store.ImageSubject(d)
}

// PushImage resolves the image ref (a tag is resolved to its digest, which
// is what the attestations are attached to) and pushes atts to it.
func (r *Registry) PushImage(ctx context.Context, ref string, atts ...store.Attestation) (*Result, error) {
	subject, err := r.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return r.Push(ctx, subject, atts...)
}

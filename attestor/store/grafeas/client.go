package grafeas

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/attestor/attestor/attestor/store"
)

// Client puts and gets attestations as occurrences on a Grafeas server.
// It is safe for concurrent use.
type Client struct {
	opts    options
	dialect dialect
	base    string // URL + "/" + API
	http    *retryablehttp.Client

	adcOnce sync.Once
	adcTS   oauth2.TokenSource
	adcErr  error

	notes sync.Map // note name → struct{}: known to exist

	mu    sync.Mutex
	locks map[string]*sync.Mutex // subject → lock held by its Put
}

var _ store.Store = (*Client)(nil)

// New returns a client of the Grafeas server that the options describe.
// WithProject is required, and WithURL for V1Beta1.
func New(opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.project == "" {
		return nil, fault.Invalid(errors.New("grafeas: a project is required"))
	}
	if o.noteProject == "" {
		o.noteProject = o.project
	}
	if o.url == "" {
		if o.api != V1 {
			return nil, fault.Invalid(errors.New("grafeas: a server URL is required for the v1beta1 API"))
		}
		o.url = ContainerAnalysisURL
	}
	if o.httpClient != nil && o.tlsConfig != nil {
		return nil, fault.Invalid(errors.New("grafeas: WithHTTPClient and WithTLSConfig conflict: set the TLS config on the client's transport"))
	}
	c := &Client{opts: o, base: o.url + "/" + string(o.api), locks: map[string]*sync.Mutex{}}
	if o.api == V1 {
		c.dialect = v1Dialect{}
	} else {
		c.dialect = v1beta1Dialect{}
	}
	c.http = newRetryClient(&c.opts)
	return c, nil
}

func (c *Client) tokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	if c.opts.tokenSource != nil || !c.opts.adc {
		return c.opts.tokenSource, nil
	}
	c.adcOnce.Do(func() {
		// The token source outlives this request: it refreshes tokens
		// with a background context.
		creds, err := google.FindDefaultCredentials(context.WithoutCancel(ctx), "https://www.googleapis.com/auth/cloud-platform")
		if err != nil {
			c.adcErr = fault.Invalid(fmt.Errorf("grafeas: no token: pass one or set up application default credentials: %w", err))
			return
		}
		c.adcTS = creds.TokenSource
	})
	return c.adcTS, c.adcErr
}

// resourceURIs are the URIs read as the subject's: the https form and the
// scheme-less one.
func resourceURIs(s store.Subject) []string {
	return []string{store.ResourceURI(s), s.Name + "@" + s.Digest.String()}
}

func checkSubject(s store.Subject) error {
	if s.Name == "" || s.Digest.Algorithm == "" || s.Digest.Hex == "" {
		return fault.Invalid(fmt.Errorf("grafeas: incomplete subject %q", s.String()))
	}
	if strings.ContainsAny(s.Name, " \t\r\n\"") {
		return fault.Invalid(fmt.Errorf("grafeas: invalid subject name %q", s.Name))
	}
	return nil
}

// Put stores atts as occurrences on the subject's resource, creating the
// notes they need; it is Push without the result.
func (c *Client) Put(ctx context.Context, subject store.Subject, atts ...store.Attestation) error {
	_, err := c.Push(ctx, subject, atts...)
	return err
}

// Result says what Push did.
type Result struct {
	// Resource is the URI the occurrences are on.
	Resource string `json:"resource"`
	// Created counts the occurrences created (with a dry run: that would
	// be created, as if none existed).
	Created int `json:"created"`
	// Existing counts the attestations already on the resource.
	Existing int `json:"existing"`
	// DryRun is set when nothing was sent.
	DryRun bool `json:"dryRun,omitempty"`
}

// Push stores atts as occurrences on the subject's resource, creating the
// notes they need. It first lists the subject's occurrences and skips an
// attestation already there (same store Digest); before retrying a
// create it looks again, so a create that the server committed before
// failing is not repeated. Nothing is sent when an attestation is
// malformed or too large (store.ErrTooLarge). The result is valid when
// err is nil.
func (c *Client) Push(ctx context.Context, subject store.Subject, atts ...store.Attestation) (*Result, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	res := &Result{Resource: store.ResourceURI(subject), DryRun: c.opts.dryRun != nil}
	items := make([]*item, 0, len(atts))
	seen := map[string]bool{}
	for i, a := range atts {
		it, err := newItem(a)
		if err != nil {
			return nil, fmt.Errorf("grafeas: attestation %d: %w", i, err)
		}
		if !seen[it.digest] {
			seen[it.digest] = true
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return res, nil
	}
	if c.opts.dryRun != nil {
		res.Created = len(items)
		return res, c.dryRunPut(subject, items)
	}
	unlock := c.lock(subject)
	defer unlock()

	have, err := c.digests(ctx, subject)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if have[it.digest] {
			res.Existing++
			continue
		}
		note, err := c.ensureNote(ctx, c.opts.noteProject, c.noteSpec(it))
		if err != nil {
			return nil, err
		}
		if err := c.createOccurrence(ctx, subject, it, note); err != nil {
			return nil, err
		}
		have[it.digest] = true
		res.Created++
	}
	return res, nil
}

// Get returns the attestations whose envelopes are on the subject's
// occurrences, once each. It reads only the occurrences' envelopes, never
// their structured fields; an envelope larger than store.MaxEnvelopeSize
// is ignored and logged.
func (c *Client) Get(ctx context.Context, subject store.Subject) ([]store.Attestation, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	occs, err := c.list(ctx, subject, withEnvelope)
	if err != nil {
		return nil, err
	}
	var atts []store.Attestation
	for _, o := range occs {
		a, err := store.NewAttestation(o.envelopeJSON(), nil)
		if err != nil {
			c.opts.logger.WarnContext(ctx, "grafeas: ignoring occurrence", "occurrence", o.name, "error", err)
			continue
		}
		atts = append(atts, a)
	}
	out, errs := store.Dedupe(atts)
	for _, err := range errs {
		c.opts.logger.WarnContext(ctx, "grafeas: ignoring occurrence", "error", err)
	}
	return out, nil
}

func (c *Client) lock(s store.Subject) func() {
	c.mu.Lock()
	l, ok := c.locks[s.String()]
	if !ok {
		l = &sync.Mutex{}
		c.locks[s.String()] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// digests returns the store digests of the envelopes on the subject's
// occurrences.
func (c *Client) digests(ctx context.Context, s store.Subject) (map[string]bool, error) {
	occs, err := c.list(ctx, s, withEnvelope)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, o := range occs {
		have[o.digest()] = true
	}
	return have, nil
}

// withEnvelope keeps the occurrences that carry a DSSE envelope.
func withEnvelope(o rawOcc) bool { return o.hasEnvelope }

// list pages through the project's occurrences and returns the ones on
// the subject's resource that keep accepts. The open-source server
// ignores filters, so the resource is checked here. A listing ends on an
// empty token, a token seen before, or (v1beta1) an empty page: the
// open-source server's PostgreSQL store follows its last page with an
// empty one whose token starts the listing again. (Container Analysis may
// return an empty page before the end of a filtered listing.)
func (c *Client) list(ctx context.Context, s store.Subject, keep func(rawOcc) bool) ([]rawOcc, error) {
	uris := resourceURIs(s)
	want := map[string]bool{}
	for _, u := range uris {
		want[u] = true
	}
	q := url.Values{}
	q.Set("pageSize", strconv.Itoa(c.opts.pageSize))
	q.Set("filter", c.dialect.filter(uris))
	endpoint := c.base + "/projects/" + url.PathEscape(c.opts.project) + "/occurrences"
	seenTokens := map[string]bool{}
	var out []rawOcc
	token := ""
	for page := 0; ; page++ {
		if page >= c.opts.maxPages {
			return nil, fault.Unavailable(fmt.Errorf("grafeas: listing %s: %d pages: %w", endpoint, page, ErrTooManyPages))
		}
		if token != "" {
			q.Set("pageToken", token)
		}
		resp := c.dialect.newListResponse()
		if err := c.call(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil, resp, nil); err != nil {
			return nil, err
		}
		occs, next := c.dialect.occurrences(resp)
		for _, o := range occs {
			if want[o.uri] && keep(o) {
				out = append(out, o)
			}
		}
		if next == "" || (len(occs) == 0 && c.dialect.emptyPageEnds()) {
			return out, nil
		}
		if seenTokens[next] {
			c.opts.logger.WarnContext(ctx, "grafeas: server repeated a page token; listing ends", "url", endpoint)
			return out, nil
		}
		seenTokens[next] = true
		token = next
	}
}

// ensureNote gets or creates a note in project and returns its name.
func (c *Client) ensureNote(ctx context.Context, project string, spec noteSpec) (string, error) {
	name := "projects/" + project + "/notes/" + spec.id
	if _, ok := c.notes.Load(name); ok {
		return name, nil
	}
	notes := c.base + "/projects/" + url.PathEscape(project) + "/notes"
	err := c.call(ctx, http.MethodGet, notes+"/"+url.PathEscape(spec.id), nil, nil, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
		err = c.call(ctx, http.MethodPost, notes+"?noteId="+url.QueryEscape(spec.id), c.dialect.note(spec, &c.opts), nil, nil)
		if errors.As(err, &ae) && ae.StatusCode == http.StatusConflict {
			err = nil // created meanwhile, or by an earlier attempt of this request
		}
	}
	if err != nil {
		return "", fmt.Errorf("getting or creating note %s: %w", name, err)
	}
	c.notes.Store(name, struct{}{})
	return name, nil
}

// createOccurrence creates one occurrence. Before each retry, and after a
// failure, it looks for the occurrence: the server may have committed it
// before the response was lost. When it cannot look, it does not send the
// create again: that could make a duplicate (see unknownCommit).
func (c *Client) createOccurrence(ctx context.Context, s store.Subject, it *item, note string) error {
	committed := func(ctx context.Context) error {
		have, err := c.digests(ctx, s)
		if err != nil {
			return unknownCommit(err)
		}
		if have[it.digest] {
			return errCommitted
		}
		return nil
	}
	body := c.dialect.occurrence(it, store.ResourceURI(s), note, c.opts.project)
	endpoint := c.base + "/projects/" + url.PathEscape(c.opts.project) + "/occurrences"
	err := c.call(ctx, http.MethodPost, endpoint, body, nil, committed)
	if err == nil || errors.Is(err, errCommitted) {
		return nil
	}
	if ctx.Err() == nil && errors.Is(err, fault.ErrUnavailable) && committed(ctx) == errCommitted {
		return nil
	}
	return fmt.Errorf("creating %s occurrence for %s: %w", it.kind, s, err)
}

// noteKind is what an attestation is recorded as.
type noteKind int

const (
	kindStep        noteKind = iota // an in-toto step record
	kindProvenance                  // SLSA provenance
	kindAttestation                 // anything else: promotions, VSAs, scans
	kindAuthority                   // a Binary Authorization / Kritis attestation (PutAttestation)
)

func (k noteKind) String() string {
	return [...]string{"step", "provenance", "attestation", "authority"}[k]
}

type noteSpec struct {
	id   string
	kind noteKind
	step string
}

func (c *Client) noteSpec(it *item) noteSpec {
	switch it.kind {
	case kindStep:
		return noteSpec{id: c.opts.notePrefix + "-step-" + it.step, kind: kindStep, step: it.step}
	case kindProvenance:
		return noteSpec{id: c.opts.notePrefix + "-provenance", kind: kindProvenance}
	}
	return noteSpec{id: c.opts.notePrefix + "-attestation", kind: kindAttestation}
}

// Predicate types that select the kind of occurrence.
const (
	predicateLink       = "https://in-toto.io/attestation/link/v0.3"
	predicateSLSAPrefix = "https://slsa.dev/provenance/"
)

// item is an attestation to put, decoded.
type item struct {
	att         store.Attestation
	payloadType string
	payload     []byte
	sigs        []rawSig
	digest      string
	kind        noteKind
	step        string
	statement   statement
}

type rawSig struct {
	keyID string
	sig   []byte
}

// statement is the part of an in-toto statement used for search fields.
// It is read, never trusted.
type statement struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate json.RawMessage `json:"predicate"`
}

func newItem(a store.Attestation) (*item, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	env, err := envelope.Parse(a.Envelope)
	if err != nil {
		return nil, err
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return nil, fault.Invalid(err)
	}
	it := &item{att: a, payloadType: env.PayloadType, payload: payload, kind: kindAttestation}
	for _, s := range env.Signatures {
		sig, err := decodeB64(s.Sig)
		if err != nil {
			return nil, fault.Invalid(fmt.Errorf("envelope signature %q is not base64", s.KeyID))
		}
		it.sigs = append(it.sigs, rawSig{keyID: s.KeyID, sig: sig})
	}
	it.digest = rawOcc{payloadType: it.payloadType, payload: it.payload, sigs: it.sigs}.digest()
	if json.Unmarshal(payload, &it.statement) == nil {
		switch pt := it.statement.PredicateType; {
		case pt == predicateLink:
			var link struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(it.statement.Predicate, &link) == nil && workspace.ValidateStepName(link.Name) == nil {
				it.kind, it.step = kindStep, link.Name
			}
		case strings.HasPrefix(pt, predicateSLSAPrefix):
			it.kind = kindProvenance
		}
	}
	return it, nil
}

func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// rawOcc is an occurrence as listed: its resource and DSSE envelope, and
// its note and attestation details (what Binary Authorization and Kritis
// read).
type rawOcc struct {
	name        string
	uri         string
	hasEnvelope bool
	payloadType string
	payload     []byte
	sigs        []rawSig

	note           string
	hasAttestation bool // details with a serialized payload and signatures
	attPayload     []byte
	attSigs        []rawSig
}

// envelope returns the DSSE envelope in its standard encoding.
func (o rawOcc) envelope() *dsse.Envelope {
	env := &dsse.Envelope{PayloadType: o.payloadType, Payload: base64.StdEncoding.EncodeToString(o.payload), Signatures: []dsse.Signature{}}
	for _, s := range o.sigs {
		env.Signatures = append(env.Signatures, dsse.Signature{KeyID: s.keyID, Sig: base64.StdEncoding.EncodeToString(s.sig)})
	}
	return env
}

// envelopeJSON encodes the envelope as attestor writes it (encoding/json,
// compact), so an envelope that attestor signed reads back byte for byte.
func (o rawOcc) envelopeJSON() []byte {
	data, _ := json.Marshal(o.envelope())
	return data
}

func (o rawOcc) digest() string { return store.EnvelopeDigest(o.envelope()) }

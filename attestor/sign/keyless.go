package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/go-openapi/runtime"
	openapiclient "github.com/go-openapi/runtime/client"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorgen "github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekortypes "github.com/sigstore/rekor/pkg/types"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	sgutil "github.com/sigstore/sigstore-go/pkg/util"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/attestor/attestor/attestor/internal/retry"
)

var (
	_ envelope.Signer       = (*Keyless)(nil)
	_ envelope.LegacySigner = (*Keyless)(nil)
	_ envelope.BundleSigner = (*Keyless)(nil)
)

// The sigstore public-good instance, the default of NewKeyless.
const (
	DefaultFulcioURL = "https://fulcio.sigstore.dev"
	DefaultRekorURL  = "https://rekor.sigstore.dev"
)

// certRenewBefore is how long before its expiry a certificate is replaced
// by a new one (Fulcio certificates live 10 minutes).
const certRenewBefore = 2 * time.Minute

// Keyless signs with an ephemeral ECDSA P-256 key certified by Fulcio for
// the CI's OIDC identity, and makes sigstore bundles whose signatures are
// recorded in Rekor (and, where configured, timestamped by an RFC 3161
// authority). It implements envelope.Signer, envelope.LegacySigner and
// envelope.BundleSigner.
//
// The key is made by NewKeyless and never leaves the process. The identity
// token and the certificate are fetched when first needed (by Sign or
// Bundle), so that a step that runs for longer than a token or a
// certificate lives still signs; a certificate about to expire is replaced.
// Sign signs as Signer does with an ECDSA P-256 key, which is what sigstore
// verifiers expect; KeyID is the in-toto key id of the ephemeral key.
//
// A Keyless is safe for concurrent use. It never prints its key or the
// token.
type Keyless struct {
	kp      *sgsign.EphemeralKeypair
	ver     *Verifier
	tokens  TokenSource
	fulcio  sgsign.CertificateProvider
	tlogs   []sgsign.Transparency
	tsas    []*sgsign.TimestampAuthority
	trusted root.TrustedMaterial
	logger  *slog.Logger
	now     func() time.Time

	mu   sync.Mutex
	cert *x509.Certificate
}

// KeylessOption configures NewKeyless.
type KeylessOption func(*keylessOptions) error

type keylessOptions struct {
	fulcioURL string
	rekorURL  string
	tsaURLs   []string
	tokens    TokenSource
	tokenOpts []TokenOption
	trusted   root.TrustedMaterial
	logger    *slog.Logger
	timeout   time.Duration
	retries   uint
	now       func() time.Time
}

func defaultKeylessOptions() keylessOptions {
	return keylessOptions{
		fulcioURL: DefaultFulcioURL,
		rekorURL:  DefaultRekorURL,
		logger:    slog.New(slog.DiscardHandler),
		timeout:   30 * time.Second,
		retries:   3,
		now:       time.Now,
	}
}

// checkURL accepts an http or https URL with a host.
func checkURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fault.Invalid(fmt.Errorf("%s URL %q: want http(s)://HOST[/PATH]", what, s))
	}
	return nil
}

// WithFulcioURL sets the Fulcio instance. The default is DefaultFulcioURL.
func WithFulcioURL(u string) KeylessOption {
	return func(o *keylessOptions) error {
		if err := checkURL("Fulcio", u); err != nil {
			return err
		}
		o.fulcioURL = strings.TrimSuffix(u, "/")
		return nil
	}
}

// WithRekorURL sets the Rekor (v1 API) instance; "" records no log entry,
// for deployments that timestamp with WithTSAURL instead. The default is
// DefaultRekorURL.
func WithRekorURL(u string) KeylessOption {
	return func(o *keylessOptions) error {
		if u != "" {
			if err := checkURL("Rekor", u); err != nil {
				return err
			}
		}
		o.rekorURL = strings.TrimSuffix(u, "/")
		return nil
	}
}

// WithTSAURL adds an RFC 3161 timestamp authority (the full URL of its
// timestamp endpoint, such as https://timestamp.sigstore.dev/api/v1/timestamp)
// that timestamps every signature. The default is none.
func WithTSAURL(u string) KeylessOption {
	return func(o *keylessOptions) error {
		if err := checkURL("timestamp authority", u); err != nil {
			return err
		}
		o.tsaURLs = append(o.tsaURLs, u)
		return nil
	}
}

// WithTokenSource sets where identity tokens come from. The default is
// DetectTokenSource with the options given to WithTokenOptions.
func WithTokenSource(ts TokenSource) KeylessOption {
	return func(o *keylessOptions) error {
		if ts == nil {
			return fault.Invalid(errors.New("sign.WithTokenSource: nil token source"))
		}
		o.tokens = ts
		return nil
	}
}

// WithTokenOptions sets the options of the default token source (see
// DetectTokenSource), such as WithMask. They are ignored with
// WithTokenSource.
func WithTokenOptions(opts ...TokenOption) KeylessOption {
	return func(o *keylessOptions) error {
		o.tokenOpts = append(o.tokenOpts, opts...)
		return nil
	}
}

// WithTrustedMaterial makes Bundle verify every bundle it makes against
// trusted (a sigstore trusted root, see LoadTrustedRoot) before returning
// it, so that a misconfigured Fulcio or Rekor fails the signing step
// rather than the release gate. The default verifies nothing.
func WithTrustedMaterial(trusted root.TrustedMaterial) KeylessOption {
	return func(o *keylessOptions) error {
		o.trusted = trusted
		return nil
	}
}

// WithKeylessLogger sets the logger (certificates issued, log entries
// made; never tokens). The default discards.
func WithKeylessLogger(l *slog.Logger) KeylessOption {
	return func(o *keylessOptions) error {
		if l == nil {
			return fault.Invalid(errors.New("sign.WithKeylessLogger: nil logger"))
		}
		o.logger = l
		return nil
	}
}

// NewKeyless makes the ephemeral key and returns a Keyless signer. Without
// WithTokenSource it detects where identity tokens come from (see
// DetectTokenSource) and fails with ErrNoIdentityToken when it finds
// nothing. It talks to no server: the first Sign or Bundle does. Requests
// to Fulcio, Rekor and timestamp authorities follow at most 10 redirects,
// none from https to plain http, never take the identity token to
// another origin, and read at most 4 MiB of an answer (4 KiB of an
// error). Each request has 30 s and is retried 3 times when it fails
// with 429 or 5xx; a certificate request or a Rekor entry creation that
// fails in transit is sent again as many times, with backoff (a new
// certificate for the same key is as good, and Rekor answers a repeated
// entry with the one already logged).
func NewKeyless(ctx context.Context, opts ...KeylessOption) (*Keyless, error) {
	o := defaultKeylessOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.rekorURL == "" && len(o.tsaURLs) == 0 {
		return nil, fault.Invalid(errors.New("keyless signing: no Rekor and no timestamp authority: a signature needs a trusted time"))
	}
	ts := o.tokens
	if ts == nil {
		var err error
		if ts, err = DetectTokenSource(ctx, o.tokenOpts...); err != nil {
			return nil, err
		}
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fmt.Errorf("making ephemeral key: %w", err)
	}
	ver, err := NewVerifier(kp.GetPublicKey())
	if err != nil {
		return nil, err
	}
	// One retry policy (attestor/internal/retry) for every request:
	// sigstore-go's clients get a transport or a client that retries,
	// and have their own retries turned off, so that no request is
	// retried by two layers. Each attempt is bounded by o.timeout (the
	// attempt's client), the whole call by callBudget.
	pol := retry.Policy{Retries: int(o.retries), WaitMin: retryWaitMin, WaitMax: retryWaitMax, Logger: o.logger}
	k := &Keyless{
		kp:     kp,
		ver:    ver,
		tokens: ts,
		fulcio: sgsign.NewFulcio(&sgsign.FulcioOptions{BaseURL: o.fulcioURL, Timeout: -1, Retries: 0,
			Transport: pol.Named("Fulcio").Transport(attemptClient(o.timeout, ""))}),
		trusted: o.trusted,
		logger:  o.logger,
		now:     o.now,
	}
	budget := callBudget(o.timeout, o.retries)
	if o.rekorURL != "" {
		rc, err := newRekorClient(o.rekorURL, pol.Named("Rekor").NewClient(attemptClient(o.timeout, sgutil.ConstructUserAgent())))
		if err != nil {
			return nil, fault.Invalid(fmt.Errorf("Rekor URL %q: %w", o.rekorURL, err))
		}
		k.tlogs = append(k.tlogs, sgsign.NewRekor(&sgsign.RekorOptions{
			BaseURL: o.rekorURL, Timeout: budget, Retries: 0,
			Client: &conflictRekor{entries: rc.Entries, timeout: budget, logger: o.logger},
		}))
	}
	for _, u := range o.tsaURLs {
		k.tsas = append(k.tsas, sgsign.NewTimestampAuthority(&sgsign.TimestampAuthorityOptions{URL: u, Timeout: -1, Retries: 0,
			Transport: pol.Named("timestamp authority").Transport(attemptClient(o.timeout, ""))}))
	}
	return k, nil
}

// newRekorClient is rekor's client.GetRekorClient over rc (this
// package's HTTP policy and the retry policy), which GetRekorClient has no
// option for.
func newRekorClient(rekorURL string, rc *retryablehttp.Client) (*rekorgen.Rekor, error) {
	u, err := url.Parse(rekorURL)
	if err != nil {
		return nil, err
	}
	if u.Path == "" {
		u.Path = rekorgen.DefaultBasePath
	}
	rt := openapiclient.NewWithClient(u.Host, u.Path, []string{u.Scheme}, rc.StandardClient())
	rt.Consumers["application/json"] = runtime.JSONConsumer()
	rt.Consumers["application/x-pem-file"] = runtime.TextConsumer()
	rt.Producers["application/json"] = runtime.JSONProducer()
	// The entries API needs no format beyond strfmt's defaults.
	return rekorgen.New(rt, nil), nil
}

// Certificate returns the Fulcio certificate of the key, fetching an
// identity token and asking Fulcio for a certificate when there is none
// yet or the current one expires within two minutes. Failures of the
// token source or of Fulcio match fault.ErrUnavailable (unless the
// token source says otherwise) and never contain the token.
func (k *Keyless) Certificate(ctx context.Context) (*x509.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && k.now().Add(certRenewBefore).Before(k.cert.NotAfter) {
		return k.cert, nil
	}
	tok, err := k.tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	der, err := k.fulcio.GetCertificate(ctx, k.kp, &sgsign.CertificateProviderOptions{IDToken: tok})
	if err != nil {
		return nil, fault.Unavailable(fmt.Errorf("keyless signing: getting a certificate from Fulcio: %w", scrub(err, tok)))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fault.Unavailable(fmt.Errorf("keyless signing: Fulcio returned a certificate that does not parse: %v", err))
	}
	if !sameKey(k.ver.Public(), cert.PublicKey) {
		return nil, fault.Unavailable(errors.New("keyless signing: Fulcio certified another key"))
	}
	attrs := []any{"notAfter", cert.NotAfter}
	if s, err := certificate.SummarizeCertificate(cert); err == nil {
		attrs = append(attrs, "subject", s.SubjectAlternativeName, "issuer", s.Issuer)
	}
	k.logger.Info("keyless certificate issued", attrs...)
	k.cert = cert
	return cert, nil
}

// Sign gets a certificate if needed (see Certificate), then signs msg, the
// whole message (for DSSE, the pre-authentication encoding), with the
// ephemeral key: ECDSA P-256, ASN.1 DER over SHA-256.
func (k *Keyless) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	if _, err := k.Certificate(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sig, _, err := k.kp.SignData(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	return sig, nil
}

// SignLegacy is Sign: ECDSA signs in-toto links the same way.
func (k *Keyless) SignLegacy(ctx context.Context, msg []byte) ([]byte, error) {
	return k.Sign(ctx, msg)
}

// KeyID returns the in-toto key id of the ephemeral public key. The error
// is always nil.
func (k *Keyless) KeyID() (string, error) { return k.ver.KeyID() }

// Public returns the ephemeral public key.
func (k *Keyless) Public() crypto.PublicKey { return k.ver.Public() }

// Verifier returns the Verifier of the ephemeral public key.
func (k *Keyless) Verifier() *Verifier { return k.ver }

// String returns "sign.Keyless(<key id>)".
func (k *Keyless) String() string { return fmt.Sprintf("sign.Keyless(%s)", k.ver.key.KeyID) }

// GoString is String.
func (k *Keyless) GoString() string { return k.String() }

// LogValue logs the key id.
func (k *Keyless) LogValue() slog.Value {
	return slog.GroupValue(slog.String("keyless", k.ver.key.KeyID))
}

// Bundle returns the sigstore bundle (v0.3, JSON) of env, an envelope
// signed by k: the envelope, the Fulcio certificate, a Rekor entry with
// its inclusion proof and any RFC 3161 timestamps. With
// WithTrustedMaterial, the bundle is verified before it is returned. An
// envelope that k did not sign returns an error matching
// fault.ErrInvalidInput; Rekor or timestamp authority failures match
// fault.ErrUnavailable.
func (k *Keyless) Bundle(ctx context.Context, env *dsse.Envelope) ([]byte, error) {
	cert, err := k.Certificate(ctx)
	if err != nil {
		return nil, err
	}
	b, err := newBundle(env, cert.Raw, "")
	if err != nil {
		return nil, err
	}
	de := b.GetDsseEnvelope()
	if len(de.Signatures) != 1 || k.ver.Verify(ctx, dsse.PAE(de.PayloadType, de.Payload), de.Signatures[0].Sig) != nil {
		return nil, fault.Invalid(errors.New("bundling envelope: it does not hold exactly one signature by this keyless signer"))
	}
	sig := de.Signatures[0].Sig
	for _, tsa := range k.tsas {
		ts, err := tsa.GetTimestamp(ctx, sig)
		if err != nil {
			return nil, fault.Unavailable(fmt.Errorf("bundling envelope: timestamping: %w", err))
		}
		vm := b.VerificationMaterial
		if vm.TimestampVerificationData == nil {
			vm.TimestampVerificationData = &protobundle.TimestampVerificationData{}
		}
		vm.TimestampVerificationData.Rfc3161Timestamps = append(vm.TimestampVerificationData.Rfc3161Timestamps,
			&protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: cert.Raw})
	for _, tl := range k.tlogs {
		if err := tl.GetTransparencyLogEntry(ctx, certPEM, b); err != nil {
			return nil, fault.Unavailable(fmt.Errorf("bundling envelope: recording in Rekor: %w", err))
		}
	}
	for _, e := range b.VerificationMaterial.GetTlogEntries() {
		k.logger.Info("rekor entry made", "logIndex", e.GetLogIndex(), "integratedTime", time.Unix(e.GetIntegratedTime(), 0).UTC())
	}
	if k.trusted != nil {
		if err := k.check(b); err != nil {
			return nil, err
		}
	}
	return marshalBundle(b)
}

// check verifies b against k.trusted, without checking the identity.
func (k *Keyless) check(b *protobundle.Bundle) error {
	sb, err := sgbundle.NewBundle(b)
	if err != nil {
		return fmt.Errorf("checking bundle: %w", err)
	}
	vopts := []verify.VerifierOption{verify.WithObserverTimestamps(1)}
	if len(k.tlogs) > 0 {
		vopts = append(vopts, verify.WithTransparencyLog(len(k.tlogs)))
	}
	if len(k.tsas) > 0 {
		vopts = append(vopts, verify.WithSignedTimestamps(len(k.tsas)))
	}
	v, err := verify.NewVerifier(k.trusted, vopts...)
	if err != nil {
		return fmt.Errorf("checking bundle: %w", err)
	}
	if _, err := v.Verify(sb, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithoutIdentitiesUnsafe())); err != nil {
		return fmt.Errorf("checking bundle against the trusted root: %w", err)
	}
	return nil
}

// scrub returns err, or an error with the same message minus secret when
// the message contains it (and then without the wrapped chain, which
// holds the secret too).
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

// sameKey reports whether a and b are the same public key.
func sameKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// Waits between two attempts of a request to Fulcio, Rekor or a
// timestamp authority (retry.Backoff).
const (
	retryWaitMin = 500 * time.Millisecond
	retryWaitMax = 8 * time.Second
)

// callBudget bounds one call to Rekor, its retries included: every
// attempt bounded by timeout, and the longest waits between them.
func callBudget(timeout time.Duration, retries uint) time.Duration {
	return time.Duration(retries+1)*timeout + time.Duration(retries)*retryWaitMax
}

// conflictRekor is a Rekor v1 entries client that takes Rekor's 409
// Conflict (the entry is already logged: an earlier attempt landed and its
// answer was lost) as the answer, by fetching the entry it points to, as
// cosign does. Its client retries as the retry policy says (see
// NewKeyless); each call is bounded by timeout.
type conflictRekor struct {
	entries entries.ClientService
	timeout time.Duration
	logger  *slog.Logger
}

var _ sgsign.RekorClient = (*conflictRekor)(nil)

func (r *conflictRekor) CreateLogEntry(params *entries.CreateLogEntryParams, opts ...entries.ClientOption) (*entries.CreateLogEntryCreated, error) {
	ctx := params.Context
	if ctx == nil {
		ctx = context.Background()
	}
	resp, err := r.entries.CreateLogEntry(params, opts...)
	var conflict *entries.CreateLogEntryConflict
	if errors.As(err, &conflict) {
		r.logger.Debug("Rekor entry already logged; fetching it", "location", conflict.Location.String())
		return r.existing(ctx, params.ProposedEntry, conflict)
	}
	return resp, err
}

// existing fetches the entry a 409 Conflict points to (location ends with
// its UUID), retrying a fetch that fails in transit, and checks that it is
// the entry proposed: its UUID is the hash of its body, and its body is the
// proposed entry as Rekor canonicalizes it.
func (r *conflictRekor) existing(ctx context.Context, proposed models.ProposedEntry, conflict *entries.CreateLogEntryConflict) (*entries.CreateLogEntryCreated, error) {
	location := conflict.Location.String()
	uuid := location[strings.LastIndex(location, "/")+1:]
	if uuid == "" {
		return nil, fmt.Errorf("Rekor answered 409 Conflict without the entry's location")
	}
	want, err := canonicalEntry(ctx, proposed)
	if err != nil {
		return nil, fmt.Errorf("Rekor answered 409 Conflict: %w", err)
	}
	params := entries.NewGetLogEntryByUUIDParamsWithContext(ctx).WithTimeout(r.timeout).WithEntryUUID(uuid)
	resp, err := r.entries.GetLogEntryByUUID(params)
	if err != nil {
		return nil, fmt.Errorf("fetching the Rekor entry already logged: %w", err)
	}
	created, err := sameEntry(uuid, resp.Payload, want)
	if err != nil {
		return nil, err
	}
	created.Location = conflict.Location
	return created, nil
}

// canonicalEntry returns the body Rekor logs for proposed.
func canonicalEntry(ctx context.Context, proposed models.ProposedEntry) ([]byte, error) {
	e, err := rekortypes.CreateVersionedEntry(proposed)
	if err != nil {
		return nil, fmt.Errorf("reading the proposed entry: %w", err)
	}
	body, err := rekortypes.CanonicalizeEntry(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("canonicalizing the proposed entry: %w", err)
	}
	return body, nil
}

// sameEntry returns the one entry of got as a creation's answer, when its
// UUID is uuid (or uuid without its tree ID), the hash of its body, and its
// body is want.
func sameEntry(uuid string, got models.LogEntry, want []byte) (*entries.CreateLogEntryCreated, error) {
	if len(got) != 1 {
		return nil, fmt.Errorf("Rekor returned %d entries for UUID %s", len(got), uuid)
	}
	for k, e := range got {
		if !strings.HasSuffix(uuid, k) && !strings.HasSuffix(k, uuid) {
			return nil, fmt.Errorf("Rekor returned entry %s for UUID %s", k, uuid)
		}
		body, ok := e.Body.(string)
		if !ok {
			return nil, fmt.Errorf("Rekor entry %s has no body", k)
		}
		raw, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, fmt.Errorf("Rekor entry %s: body is not base64", k)
		}
		leaf := sha256.Sum256(append([]byte{0}, raw...))
		if h := hex.EncodeToString(leaf[:]); !strings.HasSuffix(k, h) {
			return nil, fmt.Errorf("Rekor entry %s: body does not hash to its UUID", k)
		}
		if !bytes.Equal(raw, want) {
			return nil, fmt.Errorf("Rekor entry %s, logged already, is not the entry proposed", k)
		}
		return &entries.CreateLogEntryCreated{ETag: k, Payload: got}, nil
	}
	return nil, errors.New("no Rekor entry") // not reached: got has one entry
}

package oci

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/sigstore/sigstore-go/pkg/root"
)

// Scheme says where Put writes attestations.
type Scheme string

const (
	// SchemeCosign writes the cosign .att tag.
	SchemeCosign Scheme = "cosign"
	// SchemeReferrers writes OCI 1.1 referrers with sigstore bundles.
	SchemeReferrers Scheme = "referrers"
	// SchemeBoth writes both; the default.
	SchemeBoth Scheme = "both"
)

// ParseScheme parses "cosign", "referrers" or "both".
func ParseScheme(s string) (Scheme, error) {
	switch Scheme(s) {
	case SchemeCosign, SchemeReferrers, SchemeBoth:
		return Scheme(s), nil
	}
	return "", fault.Invalid(fmt.Errorf("unknown OCI scheme %q: use cosign, referrers or both", s))
}

func (s Scheme) cosign() bool    { return s == SchemeCosign || s == SchemeBoth }
func (s Scheme) referrers() bool { return s == SchemeReferrers || s == SchemeBoth }

// Bounds on what is read from a registry.
const (
	// MaxLayers is the most layers read from one manifest (cosign reads
	// at most 1000 too).
	MaxLayers = 1000
	// MaxReferrers is the most referrers read for one image.
	MaxReferrers = 1000
	// MaxManifestSize bounds a manifest or referrers index.
	MaxManifestSize = 4 << 20
	// DefaultReadLimit is the default total of bytes one Get or Put reads.
	DefaultReadLimit = 64 << 20
)

// Option configures a Registry.
type Option func(*options) error

type options struct {
	scheme         Scheme
	keychain       authn.Keychain
	auth           authn.Authenticator
	secrets        []string
	handedOut      *secretSet // credentials the keychain handed out
	insecure       bool
	transport      http.RoundTripper
	attempts       int
	backoff        time.Duration
	maxBackoff     time.Duration
	requestTimeout time.Duration
	timeout        time.Duration
	settle         time.Duration
	conflicts      int
	readLimit      int64
	logger         *slog.Logger
	dryRun         *DryRun
	userAgent      string
	getenv         func(string) string
	trusted        root.TrustedMaterial
}

func defaultOptions() options {
	return options{
		scheme:         SchemeBoth,
		attempts:       5,
		backoff:        500 * time.Millisecond,
		maxBackoff:     30 * time.Second,
		requestTimeout: 60 * time.Second,
		timeout:        5 * time.Minute,
		settle:         500 * time.Millisecond,
		conflicts:      8,
		readLimit:      DefaultReadLimit,
		logger:         slog.New(slog.DiscardHandler),
		userAgent:      "attestor",
		getenv:         os.Getenv,
	}
}

// WithScheme chooses what Put writes. The default is SchemeBoth. Get
// always reads both schemes.
func WithScheme(s Scheme) Option {
	return func(o *options) error {
		if _, err := ParseScheme(string(s)); err != nil {
			return err
		}
		o.scheme = s
		return nil
	}
}

// WithBasicAuth authenticates to every registry with username and
// password (or token). The password is never logged or put in an error.
// The default is the docker config and its credential helpers
// (authn.DefaultKeychain), then GITHUB_TOKEN for ghcr.io.
func WithBasicAuth(username, password string) Option {
	return func(o *options) error {
		if username == "" || password == "" {
			return fault.Invalid(errors.New("oci: basic auth needs a username and a password"))
		}
		o.auth = &authn.Basic{Username: username, Password: password}
		// The password, and the Authorization header that carries it.
		o.secrets = append(o.secrets, password, base64.StdEncoding.EncodeToString([]byte(username+":"+password)))
		return nil
	}
}

// WithInsecure allows plain HTTP (and unverified TLS) to registries that
// are not on loopback. Loopback registries (localhost, 127.0.0.0/8, ::1)
// are always reached over plain HTTP when they do not speak TLS. The
// default is off.
func WithInsecure() Option {
	return func(o *options) error {
		o.insecure = true
		return nil
	}
}

// WithTimeout bounds each Put and Get, retries included. The default is
// 5 minutes.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fault.Invalid(fmt.Errorf("oci: invalid timeout %s", d))
		}
		o.timeout = d
		return nil
	}
}

// WithLogger logs retries and skipped items to l. The default discards
// logs.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fault.Invalid(errors.New("oci: nil logger"))
		}
		o.logger = l
		return nil
	}
}

// WithDryRun sends every write (blob, manifest, tag) to d instead of the
// registry. Reads still go to the registry. The default writes.
func WithDryRun(d *DryRun) Option {
	return func(o *options) error {
		if d == nil {
			return fault.Invalid(errors.New("oci: nil dry run"))
		}
		o.dryRun = d
		return nil
	}
}

// WithUserAgent sets the User-Agent of requests. The default is
// "attestor".
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}

// WithTrustedMaterial completes the cosign scheme's chain annotation
// (AnnotationChain) of keyless attestations with the issuers of their
// certificate in trusted's Fulcio certificate authorities, as cosign
// attest writes the chain Fulcio returned; nothing is verified or refused
// with it. The default is none: the chain annotation is empty, as cosign
// writes it for a certificate without a chain, and verifiers take the
// intermediate certificates from their own trusted root (cosign: TUF,
// SIGSTORE_ROOT_FILE) instead.
func WithTrustedMaterial(trusted root.TrustedMaterial) Option {
	return func(o *options) error {
		if trusted == nil {
			return fault.Invalid(errors.New("oci: nil trusted material"))
		}
		o.trusted = trusted
		return nil
	}
}

func makeOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if o.auth != nil && o.keychain != nil {
		return o, fault.Invalid(errors.New("oci: give credentials with a keychain or basic auth, not both"))
	}
	if o.auth == nil && o.keychain == nil {
		o.keychain = authn.NewMultiKeychain(DockerKeychain, githubKeychain{o.getenv})
	}
	if tok := o.getenv("GITHUB_TOKEN"); tok != "" {
		o.secrets = append(o.secrets, tok)
	}
	if o.keychain != nil {
		o.handedOut = &secretSet{}
		o.keychain = redactingKeychain{kc: o.keychain, set: o.handedOut}
	}
	if o.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 30 * time.Second
		if o.insecure {
			t.TLSClientConfig = insecureTLS()
		}
		o.transport = t
	}
	return o, nil
}

// githubKeychain authenticates to ghcr.io with GITHUB_TOKEN, as GitHub
// Actions provides it.
type githubKeychain struct{ getenv func(string) string }

func (k githubKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	tok := k.getenv("GITHUB_TOKEN")
	if tok == "" || r.RegistryStr() != "ghcr.io" {
		return authn.Anonymous, nil
	}
	user := k.getenv("GITHUB_ACTOR")
	if user == "" {
		user = "x-access-token"
	}
	return &authn.Basic{Username: user, Password: tok}, nil
}

// secretSet holds the credentials a keychain handed out (docker config,
// credential helpers), so that errors never quote them: a registry may
// echo the credentials it got.
type secretSet struct {
	mu      sync.Mutex
	secrets []string
}

func (s *secretSet) add(c *authn.AuthConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range []string{c.Password, c.Auth, c.IdentityToken, c.RegistryToken} {
		if v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
	if c.Password != "" {
		s.secrets = append(s.secrets, base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)))
	}
}

func (s *secretSet) list() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets)
}

// redactingKeychain is kc, recording in set the credentials it hands out.
type redactingKeychain struct {
	kc  authn.Keychain
	set *secretSet
}

func (k redactingKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

func (k redactingKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	a, err := authn.Resolve(ctx, k.kc, r)
	if err != nil || a == nil || a == authn.Anonymous {
		return a, err
	}
	return recordingAuth{a: a, set: k.set}, nil
}

// recordingAuth is a, recording in set the credentials it gives.
type recordingAuth struct {
	a   authn.Authenticator
	set *secretSet
}

func (r recordingAuth) Authorization() (*authn.AuthConfig, error) {
	return r.AuthorizationContext(context.Background())
}

func (r recordingAuth) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	c, err := authn.Authorization(ctx, r.a)
	if err == nil && c != nil {
		r.set.add(c)
	}
	return c, err
}

package kms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/sign"
)

var (
	_ attestor.Signer       = (*Signer)(nil)
	_ attestor.LegacySigner = (*Signer)(nil)
)

// URI schemes of KMS keys, as cosign names them.
const (
	SchemeHashiVault = "hashivault://"
	SchemeGCP        = "gcpkms://"
	SchemeAWS        = "awskms://"
	SchemeAzure      = "azurekms://"
)

// supported lists the schemes Load supports.
var supported = []string{SchemeHashiVault}

// ErrUnsupportedProvider is returned by Load for a KMS URI whose provider
// this build does not include (gcpkms://, awskms://, azurekms://). It
// wraps attestor.ErrInvalidInput.
var ErrUnsupportedProvider = attestor.Invalid(errors.New("KMS provider not supported by this build of attestor"))

// IsURI reports whether ref names a KMS key (any of the four cosign
// schemes, supported or not) rather than a file.
func IsURI(ref string) bool {
	for _, s := range []string{SchemeHashiVault, SchemeGCP, SchemeAWS, SchemeAzure} {
		if strings.HasPrefix(ref, s) {
			return true
		}
	}
	return false
}

// Option configures Load.
type Option func(*loadOptions) error

type loadOptions struct {
	address, token, path string
}

// WithVault sets the Vault address, token and transit engine mount path
// for hashivault:// keys. Empty values keep the defaults: the environment
// variables VAULT_ADDR, VAULT_TOKEN (else the Vault token helper or
// ~/.vault-token) and TRANSIT_SECRET_ENGINE_PATH (else "transit"), as
// cosign reads them.
func WithVault(address, token, path string) Option {
	return func(o *loadOptions) error {
		o.address, o.token, o.path = address, token, path
		return nil
	}
}

// Signer signs with a KMS key. Sign signs as sign.Signer does with a key
// of the same type (ECDSA ASN.1 DER over the curve's hash, Ed25519, RSA
// PKCS #1 v1.5 over SHA-256), so that sign.Verifier and cosign verify its
// signatures; each signature is checked with the public key before it is
// returned. SignLegacy signs in-toto links with ECDSA and Ed25519 keys;
// RSA KMS keys cannot (in-toto needs RSASSA-PSS, which Vault's sigstore
// client does not ask for).
//
// A Signer is safe for concurrent use. It prints as its URI and key id,
// never a token.
type Signer struct {
	ref  string
	sv   signature.SignerVerifier
	ver  *sign.Verifier
	hash crypto.Hash // 0 for Ed25519
}

// Load returns the Signer of the KMS key ref, after fetching its public
// key. A ref that is not a KMS URI, or names an unsupported provider,
// returns an error matching attestor.ErrInvalidInput (ErrUnsupportedProvider
// for the latter); a KMS that cannot be reached or refuses, one matching
// attestor.ErrUnavailable.
func Load(ctx context.Context, ref string, opts ...Option) (*Signer, error) {
	var o loadOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	var (
		sv  signature.SignerVerifier
		err error
	)
	switch {
	case strings.HasPrefix(ref, SchemeHashiVault):
		if err := hashivault.ValidReference(ref); err != nil {
			return nil, attestor.Invalid(fmt.Errorf("KMS key %q: %w", ref, err))
		}
		if o.address == "" && os.Getenv("VAULT_ADDR") == "" {
			return nil, attestor.Invalid(fmt.Errorf("KMS key %q: VAULT_ADDR is not set", ref))
		}
		sv, err = hashivault.LoadSignerVerifier(ref, crypto.SHA256,
			options.WithContext(ctx),
			options.WithRPCAuthOpts(options.RPCAuth{Address: o.address, Token: o.token, Path: o.path}))
	case IsURI(ref):
		return nil, fmt.Errorf("KMS key %q: %w (supported: %s; sign with a key file or --keyless, or use cosign for this KMS)",
			ref, ErrUnsupportedProvider, strings.Join(supported, ", "))
	default:
		return nil, attestor.Invalid(fmt.Errorf("%q is not a KMS URI (want %s...)", ref, strings.Join(supported, ", ")))
	}
	if err != nil {
		return nil, attestor.Unavailable(fmt.Errorf("KMS key %q: %w", ref, err))
	}
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, attestor.Unavailable(fmt.Errorf("KMS key %q: fetching public key: %w", ref, err))
	}
	ver, err := sign.NewVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("KMS key %q: %w", ref, err)
	}
	s := &Signer{ref: ref, sv: sv, ver: ver}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			s.hash = crypto.SHA256
		case elliptic.P384():
			s.hash = crypto.SHA384
		default:
			s.hash = crypto.SHA512
		}
	case *rsa.PublicKey:
		s.hash = crypto.SHA256
	case ed25519.PublicKey:
		s.hash = crypto.Hash(0)
	}
	return s, nil
}

// Sign signs msg (for DSSE, the pre-authentication encoding) with the KMS
// key. Failures of the KMS match attestor.ErrUnavailable.
func (s *Signer) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts := []signature.SignOption{options.WithContext(ctx), options.WithCryptoSignerOpts(s.hash)}
	if s.hash != crypto.Hash(0) {
		h := s.hash.New()
		h.Write(msg)
		opts = append(opts, options.WithDigest(h.Sum(nil)))
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(msg), opts...)
	if err != nil {
		return nil, attestor.Unavailable(fmt.Errorf("signing with KMS key %q: %w", s.ref, err))
	}
	if err := s.ver.Verify(ctx, msg, sig); err != nil {
		return nil, attestor.Unavailable(fmt.Errorf("signing with KMS key %q: the KMS returned a signature that does not verify with its public key", s.ref))
	}
	return sig, nil
}

// SignLegacy signs an in-toto link (see Signer): as Sign for ECDSA and
// Ed25519 keys; RSA keys return an error matching sign.ErrUnsupportedKey.
func (s *Signer) SignLegacy(ctx context.Context, msg []byte) ([]byte, error) {
	if _, ok := s.ver.Public().(*rsa.PublicKey); ok {
		return nil, fmt.Errorf("KMS key %q: %w: in-toto links need RSASSA-PSS, which RSA KMS keys do not sign here (use --format dsse)", s.ref, sign.ErrUnsupportedKey)
	}
	return s.Sign(ctx, msg)
}

// KeyID returns the in-toto key id of the public key. The error is always
// nil.
func (s *Signer) KeyID() (string, error) { return s.ver.KeyID() }

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.ver.Public() }

// Verifier returns the Verifier of the public key.
func (s *Signer) Verifier() *sign.Verifier { return s.ver }

// String returns "kms.Signer(<URI> <key id>)".
func (s *Signer) String() string {
	id, _ := s.ver.KeyID()
	return fmt.Sprintf("kms.Signer(%s %s)", s.ref, id)
}

// GoString is String.
func (s *Signer) GoString() string { return s.String() }

// LogValue logs the URI and key id.
func (s *Signer) LogValue() slog.Value {
	id, _ := s.ver.KeyID()
	return slog.GroupValue(slog.String("kms", s.ref), slog.String("keyid", id))
}

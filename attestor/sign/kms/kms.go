package kms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/aws"
	"github.com/sigstore/sigstore/pkg/signature/kms/azure"
	"github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	"github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/api/option"

	"github.com/attestor/attestor/attestor/sign"
)

var (
	_ envelope.Signer       = (*Signer)(nil)
	_ envelope.LegacySigner = (*Signer)(nil)
)

// URI schemes of KMS keys, as cosign names them.
const (
	SchemeHashiVault = hashivault.ReferenceScheme
	SchemeGCP        = gcp.ReferenceScheme
	SchemeAWS        = aws.ReferenceScheme
	SchemeAzure      = azure.ReferenceScheme
)

// schemes lists the schemes Load supports, for error messages.
var schemes = []string{SchemeGCP, SchemeAWS, SchemeAzure, SchemeHashiVault}

// IsURI reports whether ref names a KMS key (one of the four cosign
// schemes) rather than a file.
func IsURI(ref string) bool {
	for _, s := range schemes {
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
	aws                  []func(*awsconfig.LoadOptions) error
	gcp                  []option.ClientOption
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

// WithGCP adds Google API client options for gcpkms:// keys, such as
// option.WithEndpoint, option.WithCredentialsFile or
// option.WithTokenSource. The default is Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login, or
// the metadata server's service account, as in Cloud Build, Cloud Run and
// GKE) and the endpoint cloudkms.googleapis.com:443.
func WithGCP(opts ...option.ClientOption) Option {
	return func(o *loadOptions) error {
		o.gcp = append(o.gcp, opts...)
		return nil
	}
}

// Signer signs with a KMS key. Sign signs as sign.Signer does with a key
// of the same type (ECDSA ASN.1 DER over the curve's hash, Ed25519, RSA
// PKCS #1 v1.5 over SHA-256), so that sign.Verifier and cosign verify its
// signatures; each signature is checked with the public key before it is
// returned. SignLegacy signs in-toto links with ECDSA and Ed25519 keys;
// RSA KMS keys cannot (in-toto needs RSASSA-PSS, which sigstore's KMS
// clients do not ask for).
//
// The keys each KMS can sign with: Vault transit ECDSA, Ed25519 and RSA
// keys; Cloud KMS EC_SIGN_P256_SHA256, EC_SIGN_P384_SHA384 and
// RSA_SIGN_PKCS1_*_SHA256 key versions; AWS KMS ECC_NIST_P256,
// ECC_NIST_P384, ECC_NIST_P521 and RSA SIGN_VERIFY keys; Azure Key Vault
// EC keys (P-256, P-384, P-521). Other keys fail Load or Sign with an
// error that says so.
//
// A Signer is safe for concurrent use. It prints as its URI and key id,
// never a token or a credential.
type Signer struct {
	ref  string
	sv   signature.SignerVerifier
	ver  *sign.Verifier
	hash crypto.Hash // 0 for Ed25519
}

// Load returns the Signer of the KMS key ref, after fetching its public
// key. The KMS is chosen by the scheme:
//
//   - gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]
//     (Google Cloud KMS; without a version, the newest enabled one; see
//     WithGCP for credentials);
//   - awskms://[ENDPOINT]/KEY, where KEY is a key id, key ARN, alias/NAME
//     or alias ARN (AWS KMS; configured as the AWS CLI is: the
//     environment (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//     AWS_SESSION_TOKEN, AWS_PROFILE, AWS_CA_BUNDLE, AWS_ENDPOINT_URL_KMS,
//     web identity tokens), the shared config and credentials files, then
//     the role of the ECS task or EC2 instance; an ENDPOINT in the URI
//     overrides the configured one and is reached over HTTPS);
//   - azurekms://VAULT.vault.azure.net/KEY[/VERSION] (Azure Key Vault;
//     credentials from DefaultAzureCredential: AZURE_TENANT_ID,
//     AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or a workload identity, a
//     managed identity, the az CLI; AZURE_TOKEN_CREDENTIALS picks one
//     of those; the Azure public cloud only);
//   - hashivault://KEY (Vault's transit engine; see WithVault).
//
// A ref that is not a well-formed KMS URI returns an error matching
// fault.ErrInvalidInput that names it; a key this package does not sign
// with, one matching sign.ErrUnsupportedKey; a KMS that cannot be reached,
// refuses the credentials or has no such key, one matching
// fault.ErrUnavailable. Errors never show a credential.
func Load(ctx context.Context, ref string, opts ...Option) (*Signer, error) {
	var o loadOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		sv  signature.SignerVerifier
		err error
	)
	switch {
	case strings.HasPrefix(ref, SchemeHashiVault):
		if err := hashivault.ValidReference(ref); err != nil {
			return nil, fault.Invalid(fmt.Errorf("KMS key %q: %w", ref, err))
		}
		if o.address == "" && os.Getenv("VAULT_ADDR") == "" {
			return nil, fault.Invalid(fmt.Errorf("KMS key %q: VAULT_ADDR is not set", ref))
		}
		sv, err = hashivault.LoadSignerVerifier(ref, crypto.SHA256,
			options.WithContext(ctx),
			options.WithRPCAuthOpts(options.RPCAuth{Address: o.address, Token: o.token, Path: o.path}))
	case strings.HasPrefix(ref, SchemeGCP):
		if err := gcp.ValidReference(ref); err != nil {
			return nil, fault.Invalid(fmt.Errorf("KMS key %q: %w", ref, err))
		}
		sv, err = gcp.LoadSignerVerifier(ctx, ref, o.gcp...)
	case strings.HasPrefix(ref, SchemeAWS):
		if err := aws.ValidReference(ref); err != nil {
			return nil, fault.Invalid(fmt.Errorf("KMS key %q: %w", ref, err))
		}
		sv, err = aws.LoadSignerVerifier(ctx, ref, o.aws...)
	case strings.HasPrefix(ref, SchemeAzure):
		if err := azure.ValidReference(ref); err != nil {
			return nil, fault.Invalid(fmt.Errorf("KMS key %q: %w", ref, err))
		}
		sv, err = azure.LoadSignerVerifier(ctx, ref)
	default:
		return nil, fault.Invalid(fmt.Errorf("%q is not a KMS URI (want %s...)", ref, strings.Join(schemes, ", ")))
	}
	if err != nil {
		return nil, fault.Unavailable(fmt.Errorf("KMS key %q: %w", ref, err))
	}
	pub, err := withContext(ctx, func() (crypto.PublicKey, error) { return sv.PublicKey(options.WithContext(ctx)) })
	if err != nil {
		return nil, fault.Unavailable(fmt.Errorf("KMS key %q: fetching public key: %w", ref, err))
	}
	ver, err := sign.NewVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("KMS key %q: %w", ref, err)
	}
	if _, ok := pub.(*rsa.PublicKey); ok && strings.HasPrefix(ref, SchemeAzure) {
		// sigstore's Azure client re-encodes every signature as an ECDSA
		// one, which breaks RSA signatures.
		return nil, fmt.Errorf("KMS key %q: %w: RSA keys in Azure Key Vault do not sign here; use an EC key", ref, sign.ErrUnsupportedKey)
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

// withContext returns f's result, or ctx's error as soon as ctx is done:
// sigstore's Cloud KMS client looks the key version up with a context of
// its own, retrying an unreachable KMS for a minute. f goes on in the
// background until it returns.
func withContext[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Sign signs msg (for DSSE, the pre-authentication encoding) with the KMS
// key. Failures of the KMS match fault.ErrUnavailable.
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
	sig, err := withContext(ctx, func() ([]byte, error) { return s.sv.SignMessage(bytes.NewReader(msg), opts...) })
	if err != nil {
		return nil, fault.Unavailable(fmt.Errorf("signing with KMS key %q: %w", s.ref, err))
	}
	if err := s.ver.Verify(ctx, msg, sig); err != nil {
		return nil, fault.Unavailable(fmt.Errorf("signing with KMS key %q: the KMS returned a signature that does not verify with its public key (RSA keys must sign PKCS #1 v1.5 with SHA-256)", s.ref))
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

var _ envelope.CredentialSigner = (*Signer)(nil)

// credentialEnv names, for each scheme, the environment variables its KMS
// client reads credentials from (the SDKs' own names). A command that has
// them could ask the KMS to sign.
var credentialEnv = map[string][]string{
	SchemeHashiVault: {"VAULT_TOKEN"},
	SchemeGCP:        {"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN"},
	SchemeAWS: {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	},
	SchemeAzure: {
		"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
		"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
		"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET",
	},
}

// CredentialEnv names the environment variables the KMS client of the
// Signer's scheme reads its credentials from (see attestor.CommandEnv,
// which keeps them from the commands a step wraps): VAULT_TOKEN for Vault;
// GOOGLE_APPLICATION_CREDENTIALS and access tokens for Cloud KMS; the
// AWS_* access keys, session and web identity tokens and container
// credentials for AWS KMS; the AZURE_* secrets, certificates, federated
// token file and managed identity endpoints for Key Vault.
func (s *Signer) CredentialEnv() []string {
	for scheme, names := range credentialEnv {
		if strings.HasPrefix(s.ref, scheme) {
			return names
		}
	}
	return nil
}

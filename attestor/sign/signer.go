package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

var (
	_ envelope.Signer       = (*Signer)(nil)
	_ envelope.LegacySigner = (*Signer)(nil)
)

// PasswordEnv is the environment variable the default password function
// reads, as cosign does.
const PasswordEnv = "COSIGN_PASSWORD"

// Signer signs with a private key held in memory: Ed25519, ECDSA (P-256,
// P-384, P-521) or RSA (2048 to 8192 bits). It implements envelope.Signer
// (DSSE envelopes) and envelope.LegacySigner (in-toto v0.9 links).
//
// The two schemes differ only for RSA:
//
//	key       Sign (DSSE, cosign-compatible)    SignLegacy (in-toto link)
//	Ed25519   pure Ed25519                      pure Ed25519
//	ECDSA     ASN.1 DER over SHA-256 (P-256),   the same
//	          SHA-384 (P-384), SHA-512 (P-521)
//	RSA       PKCS #1 v1.5 over SHA-256         RSASSA-PSS over SHA-256,
//	                                            salt length 32
//
// cosign verifies Ed25519 keys in the Ed25519ph (pre-hashed) variant and
// ECDSA keys over SHA-256 unless told otherwise (cosign verify-blob
// --signature-digest-algorithm sha384 or sha512 for P-384 and P-521 keys);
// this package documents those differences rather than emulating them.
//
// A Signer is immutable and safe for concurrent use. It never prints its
// key: String, GoString and LogValue show the key type and key id only.
// The zero Signer is not usable: make one with Load or New.
type Signer struct {
	key crypto.Signer
	ver *Verifier
}

// Option configures Load.
type Option func(*options) error

// options holds the settings of Load; defaultOptions sets every default.
type options struct {
	password func() ([]byte, error)
}

func defaultOptions() options {
	return options{password: passwordFromEnv}
}

// WithPassword sets the function that returns the password of an encrypted
// (cosign) key. Load calls it only for an encrypted key, once. It may return
// an error matching ErrPasswordRequired when it has no password. The
// default reads the environment variable COSIGN_PASSWORD (an empty value is
// an empty password; unset is an error matching ErrPasswordRequired). fn
// must not be nil.
func WithPassword(fn func() ([]byte, error)) Option {
	return func(o *options) error {
		if fn == nil {
			return fault.Invalid(errors.New("sign.WithPassword: nil password function"))
		}
		o.password = fn
		return nil
	}
}

// passwordFromEnv is the default password function.
func passwordFromEnv() ([]byte, error) {
	pw, ok := os.LookupEnv(PasswordEnv)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not set", ErrPasswordRequired, PasswordEnv)
	}
	return []byte(pw), nil
}

// Load reads the private key file at ref (a path) and returns its Signer.
// The file holds one PEM private key, in any of these forms:
//
//   - "PRIVATE KEY": PKCS #8 Ed25519, ECDSA or RSA (openssl genpkey);
//   - "EC PRIVATE KEY": SEC 1 ECDSA, optionally after an "EC PARAMETERS"
//     block (openssl ecparam -genkey);
//   - "RSA PRIVATE KEY": PKCS #1 RSA (openssl genrsa -traditional);
//   - "ENCRYPTED SIGSTORE PRIVATE KEY" or "ENCRYPTED COSIGN PRIVATE KEY":
//     a cosign key (cosign generate-key-pair, GenerateKeyPair): PKCS #8
//     encrypted with scrypt and NaCl secretbox; the password comes from the
//     WithPassword function, by default from COSIGN_PASSWORD.
//
// Other encrypted PEM (OpenSSL "Proc-Type: 4,ENCRYPTED", PKCS #8
// "ENCRYPTED PRIVATE KEY") is not supported. Every error names the file,
// never contains the password or key bytes, and, unless it comes from the
// password function, matches fault.ErrInvalidInput; the reasons callers
// branch on match ErrPasswordRequired, ErrWrongPassword, ErrNotPrivateKey,
// ErrUnsupportedKey or ErrMalformedKey.
func Load(ref string, opts ...Option) (*Signer, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	data, err := readKeyFile(ref)
	if err != nil {
		return nil, fmt.Errorf("loading key %q: %w", ref, err)
	}
	key, err := parsePrivateKey(data, o.password)
	if err != nil {
		return nil, fmt.Errorf("loading key %q: %w", ref, err)
	}
	s, err := New(key)
	if err != nil {
		return nil, fmt.Errorf("loading key %q: %w", ref, err)
	}
	return s, nil
}

// LoadPEM returns the Signer of the private key in data, which holds what
// a key file does (see Load): the form in which a CI secret holds a key,
// kept in memory so that no file of it exists for another process to
// read. Errors are Load's, naming the key "PEM key", never its bytes.
func LoadPEM(data []byte, opts ...Option) (*Signer, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("loading PEM key: %w: larger than %d bytes", ErrMalformedKey, maxKeyFileSize)
	}
	key, err := parsePrivateKey(data, o.password)
	if err != nil {
		return nil, fmt.Errorf("loading PEM key: %w", err)
	}
	s, err := New(key)
	if err != nil {
		return nil, fmt.Errorf("loading PEM key: %w", err)
	}
	return s, nil
}

// New returns a Signer for key, whose public key must be an
// ed25519.PublicKey, an *ecdsa.PublicKey or an *rsa.PublicKey (see
// NewVerifier for the supported sizes). key may be any crypto.Signer, such
// as a hardware-backed one, that signs digests as the standard library's
// keys do. An unsupported key returns an error matching ErrUnsupportedKey.
func New(key crypto.Signer) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrUnsupportedKey)
	}
	v, err := NewVerifier(key.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, ver: v}, nil
}

// parsePrivateKey parses the first private key PEM block of data. password
// is called only for an encrypted key.
func parsePrivateKey(data []byte, password func() ([]byte, error)) (crypto.Signer, error) {
	var seen []string
	sawPublic := false
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case pemPrivateKey, pemECPrivateKey, pemRSAPrivateKey:
			if _, ok := block.Headers["DEK-Info"]; ok {
				return nil, fmt.Errorf("%w: OpenSSL-encrypted PEM %q (decrypt it, or import it with cosign import-key-pair)", ErrUnsupportedKey, block.Type)
			}
			return parsePrivateDER(block.Type, block.Bytes)
		case pemSigstoreKey, pemCosignLegacyKey:
			return decryptCosignKey(block, password)
		case pemPKCS8Encrypted:
			return nil, fmt.Errorf("%w: PKCS #8-encrypted PEM %q (decrypt it, or import it with cosign import-key-pair)", ErrUnsupportedKey, block.Type)
		case pemPublicKey, pemRSAPublicKey, pemCertificate:
			sawPublic = true
		case pemECParameters:
		default:
			seen = append(seen, block.Type)
		}
	}
	switch {
	case sawPublic:
		return nil, fmt.Errorf("%w: the file holds a public key or certificate", ErrNotPrivateKey)
	case len(bytes.TrimSpace(data)) > 0 && bytes.TrimSpace(data)[0] == '{':
		return nil, fmt.Errorf("%w: in-toto (securesystemslib) JSON private keys are not supported; use a PEM key", ErrUnsupportedKey)
	case len(seen) > 0:
		return nil, fmt.Errorf("%w: no private key among PEM blocks %q", ErrMalformedKey, seen)
	}
	return nil, fmt.Errorf("%w: no PEM block", ErrMalformedKey)
}

// parsePrivateDER parses the DER of an unencrypted PEM block of type typ.
// x509 errors name the structure that failed, never key bytes.
func parsePrivateDER(typ string, der []byte) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch typ {
	case pemPrivateKey:
		key, err = x509.ParsePKCS8PrivateKey(der)
	case pemECPrivateKey:
		key, err = x509.ParseECPrivateKey(der)
	case pemRSAPrivateKey:
		key, err = x509.ParsePKCS1PrivateKey(der)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: PEM %q: %v", ErrMalformedKey, typ, err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%w: private key type %T (want Ed25519, ECDSA or RSA)", ErrUnsupportedKey, key)
}

// decryptCosignKey decrypts a cosign encrypted key as cosign's
// LoadPrivateKey does: securesystemslib "encrypted" (scrypt + secretbox),
// then PKCS #8.
func decryptCosignKey(block *pem.Block, password func() ([]byte, error)) (crypto.Signer, error) {
	pw, err := password()
	if errors.Is(err, ErrPasswordRequired) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	der, err := encrypted.Decrypt(block.Bytes, pw)
	if err != nil {
		// securesystemslib reports a failed secretbox Open, the only
		// outcome of a wrong password, with this message and no sentinel.
		if err.Error() == "encrypted: decryption failed" {
			return nil, ErrWrongPassword
		}
		// The other errors are about the JSON envelope and its KDF
		// parameters, which are not secret.
		return nil, fmt.Errorf("%w: PEM %q: %v", ErrMalformedKey, block.Type, err)
	}
	defer clear(der)
	key, err := parsePrivateDER(pemPrivateKey, der)
	if err != nil {
		return nil, fmt.Errorf("decrypted %s: %w", block.Type, err)
	}
	return key, nil
}

// Sign signs msg, the whole message (for DSSE, the pre-authentication
// encoding), in the DSSE scheme cosign uses (see Signer): pure Ed25519,
// ECDSA ASN.1 DER over the curve's hash, RSA PKCS #1 v1.5 over SHA-256. It
// returns the raw signature. ctx is checked for cancellation only.
func (s *Signer) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	return s.sign(ctx, msg, false)
}

// SignLegacy signs msg, the canonical JSON of an in-toto link's "signed"
// object, in the in-toto v0.9 scheme that in-toto-verify checks (see
// Signer): pure Ed25519, ECDSA ASN.1 DER over the curve's hash, RSASSA-PSS
// over SHA-256 with a 32-byte salt. It returns the raw signature (links
// carry it hex-encoded). ctx is checked for cancellation only.
func (s *Signer) SignLegacy(ctx context.Context, msg []byte) ([]byte, error) {
	return s.sign(ctx, msg, true)
}

func (s *Signer) sign(ctx context.Context, msg []byte, legacy bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		sig []byte
		err error
	)
	switch info := s.ver.info; info.alg {
	case algEd25519:
		sig, err = s.key.Sign(rand.Reader, msg, crypto.Hash(0))
	case algECDSA:
		sig, err = s.key.Sign(rand.Reader, digest(info.hash, msg), info.hash)
	case algRSA:
		var opts crypto.SignerOpts = crypto.SHA256
		if legacy {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		}
		sig, err = s.key.Sign(rand.Reader, digest(crypto.SHA256, msg), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("signing with key %s: %w", s.ver.key.KeyID, err)
	}
	return sig, nil
}

// KeyID returns the in-toto key id of the public key (see KeyID). The
// error is always nil; it is there for dsse.Signer.
func (s *Signer) KeyID() (string, error) { return s.ver.KeyID() }

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.ver.Public() }

// InTotoKey returns the public key as an in-toto key, as layouts embed it
// (see InTotoKey); it holds no private key. The result is a copy the caller
// may change.
func (s *Signer) InTotoKey() in_toto.Key { return s.ver.InTotoKey() }

// Verifier returns the Verifier of the public key.
func (s *Signer) Verifier() *Verifier { return s.ver }

// String returns "sign.Signer(<keytype> <key id>)"; it never shows the key.
func (s *Signer) String() string {
	return fmt.Sprintf("sign.Signer(%s %s)", s.ver.key.KeyType, s.ver.key.KeyID)
}

// GoString is String, so that %#v does not print the private key.
func (s *Signer) GoString() string { return s.String() }

// LogValue logs the key type and key id; never the key.
func (s *Signer) LogValue() slog.Value { return s.ver.LogValue() }

package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"log/slog"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

var _ dsse.Verifier = (*Verifier)(nil)

// Verifier verifies signatures with a public key: Ed25519, ECDSA (P-256,
// P-384, P-521) or RSA (2048 to 8192 bits). It implements dsse.Verifier.
//
// Verify checks the DSSE (cosign-compatible) scheme, VerifyLegacy the
// in-toto v0.9 link scheme; see Signer for both. A Verifier is immutable
// and safe for concurrent use. The zero Verifier verifies nothing: make one
// with NewVerifier, ParseVerifier or LoadVerifier.
type Verifier struct {
	pub  crypto.PublicKey
	info keyInfo
	key  in_toto.Key // public part only; KeyID set
}

// NewVerifier returns a Verifier for pub, an ed25519.PublicKey, an
// *ecdsa.PublicKey or an *rsa.PublicKey. Other keys, other curves and RSA
// keys outside 2048..8192 bits return an error matching ErrUnsupportedKey
// (and fault.ErrInvalidInput).
func NewVerifier(pub crypto.PublicKey) (*Verifier, error) {
	info, err := describe(pub)
	if err != nil {
		return nil, err
	}
	key, err := InTotoKey(pub)
	if err != nil {
		return nil, err
	}
	return &Verifier{pub: pub, info: info, key: key}, nil
}

// LoadVerifier reads a public key file at ref (a path) and returns its
// Verifier. See ParseVerifier for the formats. Every error names the file
// and matches fault.ErrInvalidInput.
func LoadVerifier(ref string) (*Verifier, error) {
	data, err := readKeyFile(ref)
	if err != nil {
		return nil, fmt.Errorf("loading public key %q: %w", ref, err)
	}
	v, err := ParseVerifier(data)
	if err != nil {
		return nil, fmt.Errorf("loading public key %q: %w", ref, err)
	}
	return v, nil
}

// ParseVerifier returns the Verifier for the first public key in data,
// which is one of:
//
//   - a PEM "PUBLIC KEY" block (PKIX), such as a cosign .pub file;
//   - a PEM "RSA PUBLIC KEY" block (PKCS #1);
//   - a PEM "CERTIFICATE" block (X.509): its public key is used and the
//     certificate itself is not checked (validity, chain, identity are the
//     caller's business);
//   - an in-toto (securesystemslib) JSON public key, as in-toto layouts
//     embed and in-toto-keygen writes to .pub files. Its keytype and scheme
//     must be the ones InTotoKey gives the key, and its keyid, when present,
//     must be the key id of the key, or the id of the key as written
//     (Python securesystemslib keeps a trailing newline in the PEM of its
//     ECDSA keys, which changes their id). Either way the Verifier's KeyID
//     is the canonical one (see KeyID).
//
// Other PEM blocks before the key (such as "EC PARAMETERS") are skipped. A
// private key returns an error matching ErrNotPublicKey; anything else that
// is not a supported public key, an error matching ErrMalformedKey or
// ErrUnsupportedKey. All errors match fault.ErrInvalidInput.
func ParseVerifier(data []byte) (*Verifier, error) {
	pub, k, err := parsePublicKey(data)
	if err != nil {
		return nil, err
	}
	v, err := NewVerifier(pub)
	if err != nil {
		return nil, err
	}
	if k != nil {
		if k.Scheme != v.key.Scheme {
			return nil, fmt.Errorf("%w: in-toto %s key with scheme %q (this key signs with %q)", ErrUnsupportedKey, k.KeyType, k.Scheme, v.key.Scheme)
		}
		if k.KeyID != "" && k.KeyID != v.key.KeyID {
			// Python securesystemslib hashes keyval.public as written, which
			// for its own ECDSA keys ends in a newline, and with
			// keyid_hash_algorithms ["sha256", "sha512"] even where the key
			// file it writes leaves them out: accept the id of the key as
			// written, with its algorithms or with those.
			withAlgs := *k
			if len(withAlgs.KeyIDHashAlgorithms) == 0 {
				withAlgs.KeyIDHashAlgorithms = []string{"sha256", "sha512"}
			}
			asWritten, err := computeKeyID(*k)
			asPython, err2 := computeKeyID(withAlgs)
			if (err != nil || k.KeyID != asWritten) && (err2 != nil || k.KeyID != asPython) {
				return nil, fmt.Errorf("%w: in-toto key: keyid %s is not the key id of its key (%s)", ErrMalformedKey, k.KeyID, v.key.KeyID)
			}
		}
	}
	return v, nil
}

// Verify checks sig, a DSSE (cosign-compatible) signature over msg, the
// whole message (for DSSE, the pre-authentication encoding):
//
//   - Ed25519: pure Ed25519 over msg. cosign signs with Ed25519 keys in
//     the Ed25519ph (pre-hashed) variant, which this does not accept.
//   - ECDSA: ASN.1 DER over SHA-256 of msg for P-256, SHA-384 for P-384,
//     SHA-512 for P-521.
//   - RSA: PKCS #1 v1.5 or RSASSA-PSS (any salt length) over SHA-256.
//
// A signature that does not verify returns an error matching
// ErrNoValidSignature. ctx is checked for cancellation only.
func (v *Verifier) Verify(ctx context.Context, msg, sig []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v.check(msg, sig, false) {
		return nil
	}
	return fmt.Errorf("key %s: %w", v.key.KeyID, ErrNoValidSignature)
}

// VerifyLegacy checks sig, an in-toto v0.9 link signature over msg (the
// canonical JSON of the link's "signed" object), as in-toto-verify does:
// pure Ed25519; ECDSA ASN.1 DER over SHA-256, SHA-384 or SHA-512 by curve;
// RSASSA-PSS over SHA-256 (any salt length; in-toto signs with a salt as
// long as the hash). A signature that does not verify returns an error
// matching ErrNoValidSignature. ctx is checked for cancellation only.
func (v *Verifier) VerifyLegacy(ctx context.Context, msg, sig []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v.check(msg, sig, true) {
		return nil
	}
	return fmt.Errorf("key %s: %w", v.key.KeyID, ErrNoValidSignature)
}

// check reports whether sig verifies msg in the legacy or the DSSE scheme.
func (v *Verifier) check(msg, sig []byte, legacy bool) bool {
	switch v.info.alg {
	case algEd25519:
		return ed25519.Verify(v.pub.(ed25519.PublicKey), msg, sig)
	case algECDSA:
		return ecdsa.VerifyASN1(v.pub.(*ecdsa.PublicKey), digest(v.info.hash, msg), sig)
	case algRSA:
		pub := v.pub.(*rsa.PublicKey)
		d := digest(crypto.SHA256, msg)
		pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}
		if legacy {
			return rsa.VerifyPSS(pub, crypto.SHA256, d, sig, pss) == nil
		}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d, sig) == nil ||
			rsa.VerifyPSS(pub, crypto.SHA256, d, sig, pss) == nil
	}
	return false // the zero Verifier
}

// KeyID returns the in-toto key id of the public key (see KeyID). The
// error is always nil; it is there for dsse.Verifier.
func (v *Verifier) KeyID() (string, error) { return v.key.KeyID, nil }

// Public returns the public key.
func (v *Verifier) Public() crypto.PublicKey { return v.pub }

// InTotoKey returns the public key as an in-toto key (see InTotoKey). The
// result is a copy the caller may change.
func (v *Verifier) InTotoKey() in_toto.Key { return cloneKey(v.key) }

// String returns "sign.Verifier(<keytype> <key id>)".
func (v *Verifier) String() string {
	return fmt.Sprintf("sign.Verifier(%s %s)", v.key.KeyType, v.key.KeyID)
}

// LogValue logs the key type and key id.
func (v *Verifier) LogValue() slog.Value {
	return slog.GroupValue(slog.String("keytype", v.key.KeyType), slog.String("keyid", v.key.KeyID))
}

package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"
)

// in-toto key types and signature schemes, as securesystemslib and
// in-toto-golang name them.
const (
	keyTypeRSA     = "rsa"
	keyTypeECDSA   = "ecdsa"
	keyTypeEd25519 = "ed25519"

	schemeRSAPSS  = "rsassa-pss-sha256"
	schemeEd25519 = "ed25519"
	schemeP256    = "ecdsa-sha2-nistp256"
	schemeP384    = "ecdsa-sha2-nistp384"
	schemeP521    = "ecdsa-sha2-nistp521"
)

// PEM block types.
const (
	pemPublicKey       = "PUBLIC KEY"
	pemRSAPublicKey    = "RSA PUBLIC KEY"
	pemCertificate     = "CERTIFICATE"
	pemPrivateKey      = "PRIVATE KEY"
	pemECPrivateKey    = "EC PRIVATE KEY"
	pemRSAPrivateKey   = "RSA PRIVATE KEY"
	pemECParameters    = "EC PARAMETERS"
	pemPKCS8Encrypted  = "ENCRYPTED PRIVATE KEY"
	pemSigstoreKey     = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemCosignLegacyKey = "ENCRYPTED COSIGN PRIVATE KEY"
)

// RSA modulus bounds. The lower bound is what in-toto and cosign require;
// the upper one bounds the cost of verifying with a key from an untrusted
// file.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// maxKeyFileSize bounds how much of a key file is read: key files are a few
// kilobytes at most.
const maxKeyFileSize = 1 << 20

// keyIDHashAlgorithms is what in-toto puts in every key it makes.
var keyIDHashAlgorithms = []string{"sha256", "sha512"}

// algorithm is the kind of a supported key.
type algorithm int

const (
	algEd25519 algorithm = iota + 1
	algECDSA
	algRSA
)

// keyInfo is what this package knows about a supported public key.
type keyInfo struct {
	alg     algorithm
	hash    crypto.Hash // the message digest for ECDSA and RSA; 0 for Ed25519
	keyType string      // in-toto keytype
	scheme  string      // in-toto scheme of legacy (link) signatures
}

// describe validates pub and returns how this package signs and verifies
// with it. Errors match ErrUnsupportedKey.
func describe(pub crypto.PublicKey) (keyInfo, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return keyInfo{}, fmt.Errorf("%w: ed25519 public key of %d bytes", ErrUnsupportedKey, len(k))
		}
		return keyInfo{alg: algEd25519, keyType: keyTypeEd25519, scheme: schemeEd25519}, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return keyInfo{}, fmt.Errorf("%w: empty ECDSA key", ErrUnsupportedKey)
		}
		info := keyInfo{alg: algECDSA, keyType: keyTypeECDSA}
		switch k.Curve {
		case elliptic.P256():
			info.hash, info.scheme = crypto.SHA256, schemeP256
		case elliptic.P384():
			info.hash, info.scheme = crypto.SHA384, schemeP384
		case elliptic.P521():
			info.hash, info.scheme = crypto.SHA512, schemeP521
		default:
			return keyInfo{}, fmt.Errorf("%w: ECDSA curve %s (want P-256, P-384 or P-521)", ErrUnsupportedKey, k.Params().Name)
		}
		return info, nil
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return keyInfo{}, fmt.Errorf("%w: empty RSA key", ErrUnsupportedKey)
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return keyInfo{}, fmt.Errorf("%w: RSA key of %d bits (want %d to %d)", ErrUnsupportedKey, bits, minRSABits, maxRSABits)
		}
		return keyInfo{alg: algRSA, hash: crypto.SHA256, keyType: keyTypeRSA, scheme: schemeRSAPSS}, nil
	case nil:
		return keyInfo{}, fmt.Errorf("%w: no key", ErrUnsupportedKey)
	default:
		return keyInfo{}, fmt.Errorf("%w: key type %T (want Ed25519, ECDSA or RSA)", ErrUnsupportedKey, pub)
	}
}

// digest hashes msg with h.
func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(msg)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	panic(fmt.Sprintf("sign: unexpected hash %v", h)) // describe returns only the hashes above
}

// KeyID returns the in-toto key id of pub: the hex SHA-256 of the canonical
// JSON of its in-toto key (keytype, scheme, keyid_hash_algorithms and
// keyval.public), exactly as in-toto-golang and Python securesystemslib
// compute it. See InTotoKey for the fields. Unsupported keys return an
// error matching ErrUnsupportedKey.
func KeyID(pub crypto.PublicKey) (string, error) {
	k, err := InTotoKey(pub)
	if err != nil {
		return "", err
	}
	return k.KeyID, nil
}

// InTotoKey returns pub as an in-toto key, the form in-toto layouts embed:
// keytype "ed25519", "ecdsa" or "rsa"; scheme "ed25519",
// "ecdsa-sha2-nistp256", "-nistp384" or "-nistp521" (by curve), or
// "rsassa-pss-sha256"; keyid_hash_algorithms ["sha256", "sha512"]; keyval
// holding only the public key: the hex of the 32 bytes for Ed25519, the
// PKIX "PUBLIC KEY" PEM without trailing newline for ECDSA and RSA; and the
// key id computed from those fields. Unsupported keys return an error
// matching ErrUnsupportedKey.
//
// Note that in-toto-golang's LoadKeyDefaults gives every ECDSA key the
// scheme ecdsa-sha2-nistp256, whatever its curve; for P-384 and P-521 keys
// the key ids differ from what it computes by default (they equal those of
// in_toto.Key.LoadKey with the scheme named here). Python securesystemslib
// does not support P-521.
func InTotoKey(pub crypto.PublicKey) (in_toto.Key, error) {
	info, err := describe(pub)
	if err != nil {
		return in_toto.Key{}, err
	}
	var public string
	if info.alg == algEd25519 {
		public = hex.EncodeToString(pub.(ed25519.PublicKey))
	} else {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return in_toto.Key{}, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
		}
		public = strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der})))
	}
	k := in_toto.Key{
		KeyIDHashAlgorithms: slices.Clone(keyIDHashAlgorithms),
		KeyType:             info.keyType,
		KeyVal:              in_toto.KeyVal{Public: public},
		Scheme:              info.scheme,
	}
	k.KeyID, err = computeKeyID(k)
	if err != nil {
		return in_toto.Key{}, err
	}
	return k, nil
}

// computeKeyID computes the key id of k from its fields, as
// securesystemslib does.
func computeKeyID(k in_toto.Key) (string, error) {
	canonical, err := cjson.EncodeCanonical(map[string]any{
		"keytype":               k.KeyType,
		"scheme":                k.Scheme,
		"keyid_hash_algorithms": k.KeyIDHashAlgorithms,
		"keyval":                map[string]string{"public": k.KeyVal.Public},
	})
	if err != nil {
		return "", fmt.Errorf("computing key id: %w", err)
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:]), nil
}

// cloneKey returns a deep copy of k, so callers cannot change ours.
func cloneKey(k in_toto.Key) in_toto.Key {
	k.KeyIDHashAlgorithms = slices.Clone(k.KeyIDHashAlgorithms)
	return k
}

// readKeyFile reads a key file of at most maxKeyFileSize bytes. Errors match
// fault.ErrInvalidInput and do not repeat the path (callers name it).
func readKeyFile(path string) ([]byte, error) {
	if path == "" {
		return nil, fault.Invalid(errors.New("no key file given"))
	}
	// Opened without blocking: a FIFO at the key's path is refused, not
	// waited on.
	data, err := safefile.Read(path, maxKeyFileSize)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
			if errors.Is(err, fs.ErrNotExist) && strings.Contains(path, "://") {
				return nil, fault.Invalid(fmt.Errorf("%w (only key files are read here; KMS and other URI references are handled elsewhere)", err))
			}
			return nil, fault.Invalid(err)
		}
		if errors.Is(err, fault.ErrTooLarge) {
			return nil, fmt.Errorf("%w: file larger than %d bytes", ErrMalformedKey, maxKeyFileSize)
		}
		return nil, err
	}
	return data, nil
}

// parsePublicKey parses the first key in data: a PEM "PUBLIC KEY" (PKIX),
// "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE" block, or an in-toto JSON
// public key. The in-toto key is returned too when data is one, so the
// caller can check its fields.
func parsePublicKey(data []byte) (crypto.PublicKey, *in_toto.Key, error) {
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		return parseInTotoKey(trimmed)
	}
	var seen []string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case pemPublicKey:
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: PEM %q: %v", ErrMalformedKey, block.Type, err)
			}
			return pub, nil, nil
		case pemRSAPublicKey:
			pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: PEM %q: %v", ErrMalformedKey, block.Type, err)
			}
			return pub, nil, nil
		case pemCertificate:
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: PEM %q: %v", ErrMalformedKey, block.Type, err)
			}
			return cert.PublicKey, nil, nil
		case pemPrivateKey, pemECPrivateKey, pemRSAPrivateKey, pemPKCS8Encrypted, pemSigstoreKey, pemCosignLegacyKey:
			return nil, nil, fmt.Errorf("%w: found a private key (PEM %q); give the public key (for a cosign key pair, the .pub file)", ErrNotPublicKey, block.Type)
		default:
			seen = append(seen, block.Type)
		}
	}
	if len(seen) > 0 {
		return nil, nil, fmt.Errorf("%w: no public key or certificate among PEM blocks %q", ErrMalformedKey, seen)
	}
	return nil, nil, fmt.Errorf("%w: neither PEM nor an in-toto JSON key", ErrMalformedKey)
}

// parseInTotoKey parses an in-toto (securesystemslib) JSON public key.
func parseInTotoKey(data []byte) (crypto.PublicKey, *in_toto.Key, error) {
	var k in_toto.Key
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, nil, fmt.Errorf("%w: in-toto JSON key: %v", ErrMalformedKey, err)
	}
	if k.KeyVal.Private != "" {
		return nil, nil, fmt.Errorf("%w: the in-toto key holds a private key; give the public key", ErrNotPublicKey)
	}
	var pub crypto.PublicKey
	switch k.KeyType {
	case keyTypeEd25519:
		b, err := hex.DecodeString(k.KeyVal.Public)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, nil, fmt.Errorf("%w: in-toto ed25519 key: keyval.public is not %d hex-encoded bytes", ErrMalformedKey, ed25519.PublicKeySize)
		}
		pub = ed25519.PublicKey(b)
	case keyTypeECDSA, keyTypeRSA:
		block, _ := pem.Decode([]byte(k.KeyVal.Public))
		if block == nil || block.Type != pemPublicKey {
			return nil, nil, fmt.Errorf("%w: in-toto %s key: keyval.public is not a PEM %q block", ErrMalformedKey, k.KeyType, pemPublicKey)
		}
		p, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: in-toto %s key: %v", ErrMalformedKey, k.KeyType, err)
		}
		_, isRSA := p.(*rsa.PublicKey)
		_, isECDSA := p.(*ecdsa.PublicKey)
		if (k.KeyType == keyTypeRSA && !isRSA) || (k.KeyType == keyTypeECDSA && !isECDSA) {
			return nil, nil, fmt.Errorf("%w: in-toto key: keytype %q does not match its %T key", ErrMalformedKey, k.KeyType, p)
		}
		pub = p
	default:
		return nil, nil, fmt.Errorf("%w: in-toto keytype %q (want %q, %q or %q)", ErrUnsupportedKey, k.KeyType, keyTypeEd25519, keyTypeECDSA, keyTypeRSA)
	}
	return pub, &k, nil
}

// MarshalPublicKey encodes pub as a PEM "PUBLIC KEY" block (PKIX), the form
// cosign and policies take.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("encoding public key: %w", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

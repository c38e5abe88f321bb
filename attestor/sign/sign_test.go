package sign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-cmp/cmp"
	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestor/attestor/attestor/sign"
)

func TestLoadSignVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg := []byte("the message")
	for _, f := range keyFixtures() {
		t.Run(f.file, func(t *testing.T) {
			t.Parallel()
			s := loadSigner(t, f)
			v := loadVerifier(t, f.pub)

			k := s.InTotoKey()
			if k.KeyType != f.keyType || k.Scheme != f.scheme {
				t.Errorf("keytype, scheme = %q, %q; want %q, %q", k.KeyType, k.Scheme, f.keyType, f.scheme)
			}
			if k.KeyVal.Private != "" {
				t.Error("InTotoKey holds a private key")
			}
			id, err := s.KeyID()
			if err != nil || id != k.KeyID || len(id) != 64 {
				t.Errorf("KeyID() = %q, %v; want %q", id, err, k.KeyID)
			}
			if vid, _ := v.KeyID(); vid != id {
				t.Errorf("the public key's id is %s, the private key's %s", vid, id)
			}
			if diff := cmp.Diff(k, v.InTotoKey()); diff != "" {
				t.Errorf("InTotoKey of the private and the public key differ (-private +public):\n%s", diff)
			}

			schemes := []struct {
				name   string
				sign   func(context.Context, []byte) ([]byte, error)
				verify func(context.Context, []byte, []byte) error
			}{
				{"dsse", s.Sign, v.Verify},
				{"legacy", s.SignLegacy, v.VerifyLegacy},
			}
			for _, sc := range schemes {
				sig, err := sc.sign(ctx, msg)
				if err != nil {
					t.Fatalf("%s: sign: %v", sc.name, err)
				}
				if err := sc.verify(ctx, msg, sig); err != nil {
					t.Errorf("%s: verify: %v", sc.name, err)
				}
				if err := s.Verifier().Verify(ctx, msg, sig); err != nil && sc.name == "dsse" {
					t.Errorf("%s: the signer's own verifier: %v", sc.name, err)
				}
				if err := sc.verify(ctx, []byte("another message"), sig); !errors.Is(err, sign.ErrNoValidSignature) {
					t.Errorf("%s: verify(other message) = %v; want ErrNoValidSignature", sc.name, err)
				}
				bad := bytes.Clone(sig)
				bad[len(bad)/2] ^= 1
				if err := sc.verify(ctx, msg, bad); !errors.Is(err, sign.ErrNoValidSignature) {
					t.Errorf("%s: verify(flipped bit) = %v; want ErrNoValidSignature", sc.name, err)
				}
				if err := sc.verify(ctx, msg, nil); !errors.Is(err, sign.ErrNoValidSignature) {
					t.Errorf("%s: verify(nil) = %v; want ErrNoValidSignature", sc.name, err)
				}
			}
		})
	}
}

// TestSchemes checks which signature each scheme produces and accepts,
// independently of this package's verifier.
func TestSchemes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg := []byte("the message")
	sum := func(h crypto.Hash) []byte { d := h.New(); d.Write(msg); return d.Sum(nil) }

	t.Run("rsa", func(t *testing.T) {
		t.Parallel()
		s := loadSigner(t, keyFixture{file: "rsa-2048.key"})
		pub := s.Public().(*rsa.PublicKey)
		dsse, _ := s.Sign(ctx, msg)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum(crypto.SHA256), dsse); err != nil {
			t.Errorf("Sign is not PKCS #1 v1.5 over SHA-256: %v", err)
		}
		legacy, _ := s.SignLegacy(ctx, msg)
		opts := &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, sum(crypto.SHA256), legacy, opts); err != nil {
			t.Errorf("SignLegacy is not PSS over SHA-256 with a 32-byte salt: %v", err)
		}
		// The DSSE verifier accepts both; the legacy one only PSS.
		v := s.Verifier()
		if err := v.Verify(ctx, msg, legacy); err != nil {
			t.Errorf("Verify(PSS) = %v", err)
		}
		if err := v.VerifyLegacy(ctx, msg, dsse); !errors.Is(err, sign.ErrNoValidSignature) {
			t.Errorf("VerifyLegacy(PKCS #1 v1.5) = %v; want ErrNoValidSignature", err)
		}
	})
	for _, c := range []struct {
		file string
		hash crypto.Hash
	}{
		{"ecdsa-p256.key", crypto.SHA256},
		{"ecdsa-p384.key", crypto.SHA384},
		{"ecdsa-p521.key", crypto.SHA512},
	} {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			s := loadSigner(t, keyFixture{file: c.file})
			for _, signFn := range []func(context.Context, []byte) ([]byte, error){s.Sign, s.SignLegacy} {
				sig, _ := signFn(ctx, msg)
				if !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), sum(c.hash), sig) {
					t.Errorf("not ASN.1 ECDSA over %v", c.hash)
				}
			}
		})
	}
	t.Run("ed25519", func(t *testing.T) {
		t.Parallel()
		s := loadSigner(t, keyFixture{file: "ed25519.key"})
		for _, signFn := range []func(context.Context, []byte) ([]byte, error){s.Sign, s.SignLegacy} {
			sig, _ := signFn(ctx, msg)
			if !ed25519.Verify(s.Public().(ed25519.PublicKey), msg, sig) {
				t.Error("not pure Ed25519")
			}
		}
	})
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg := []byte("the message")
	fixtures := keyFixtures()
	for _, f := range fixtures {
		s := loadSigner(t, f)
		sig, err := s.Sign(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := s.KeyID()
		for _, g := range fixtures {
			v := loadVerifier(t, g.pub)
			if vid, _ := v.KeyID(); vid == id {
				continue // the same key (cosign-imported fixtures share keys)
			}
			if err := v.Verify(ctx, msg, sig); !errors.Is(err, sign.ErrNoValidSignature) {
				t.Errorf("a signature by %s verified with %s: %v", f.file, g.pub, err)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := writeFile(t, dir, "garbage.key", []byte("not a key\n"))
	empty := writeFile(t, dir, "empty.key", nil)
	p256, err := os.ReadFile(testdata("ecdsa-p256.key"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := writeFile(t, dir, "truncated.key", bytes.Replace(p256, []byte("\n"), []byte("\n!"), 2))
	corruptDER := writeFile(t, dir, "corrupt.key", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	cosignKey, err := os.ReadFile(testdata("cosign.key"))
	if err != nil {
		t.Fatal(err)
	}
	corruptCosign := writeFile(t, dir, "corrupt-cosign.key", []byte(strings.Replace(string(cosignKey), "eyJrZGYiOnsibmFtZSI6InNjcnlwdCIs", "eyJrZGYiOnsibmFtZSI6InNjcnlwdSIs", 1)))
	big := writeFile(t, dir, "big.key", bytes.Repeat([]byte("A"), 2<<20))
	errPrompt := errors.New("no terminal")

	tests := []struct {
		name string
		path string
		opts []sign.Option
		want error // besides fault.ErrInvalidInput
		// invalid is false for errors that come from the password function.
		notInvalid bool
	}{
		{name: "missing file", path: filepath.Join(dir, "missing.key"), want: os.ErrNotExist},
		{name: "directory", path: dir},
		{name: "kms uri", path: "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", want: os.ErrNotExist},
		{name: "empty ref", path: ""},
		{name: "garbage", path: garbage, want: sign.ErrMalformedKey},
		{name: "empty file", path: empty, want: sign.ErrMalformedKey},
		{name: "too big", path: big, want: sign.ErrMalformedKey},
		{name: "bad PEM", path: truncated, want: sign.ErrMalformedKey},
		{name: "bad DER", path: corruptDER, want: sign.ErrMalformedKey},
		{name: "public key", path: testdata("ecdsa-p256.pub"), want: sign.ErrNotPrivateKey},
		{name: "rsa public key", path: testdata("rsa-3072-pkcs1.pub"), want: sign.ErrNotPrivateKey},
		{name: "certificate", path: testdata("ecdsa-p256.crt"), want: sign.ErrNotPrivateKey},
		{name: "in-toto json", path: testdata("in-toto-ed25519.pub"), want: sign.ErrUnsupportedKey},
		{name: "small rsa", path: testdata("rsa-1024.key"), want: sign.ErrUnsupportedKey},
		{name: "p224", path: testdata("ecdsa-p224.key"), want: sign.ErrUnsupportedKey},
		{name: "x25519", path: testdata("x25519.key"), want: sign.ErrUnsupportedKey},
		{name: "openssl encrypted", path: testdata("rsa-2048-openssl-encrypted.key"), want: sign.ErrUnsupportedKey},
		{name: "pkcs8 encrypted", path: testdata("rsa-2048-pkcs8-encrypted.key"), want: sign.ErrUnsupportedKey},
		{name: "wrong password", path: testdata("cosign.key"), opts: []sign.Option{password("wrong-" + testPassword)}, want: sign.ErrWrongPassword},
		{name: "empty password", path: testdata("cosign.key"), opts: []sign.Option{password("")}, want: sign.ErrWrongPassword},
		{name: "no password", path: testdata("cosign.key"), opts: []sign.Option{sign.WithPassword(func() ([]byte, error) {
			return nil, fmt.Errorf("prompting: %w", sign.ErrPasswordRequired)
		})}, want: sign.ErrPasswordRequired},
		{name: "password function fails", path: testdata("cosign.key"), opts: []sign.Option{sign.WithPassword(func() ([]byte, error) {
			return nil, errPrompt
		})}, want: errPrompt, notInvalid: true},
		{name: "corrupt cosign key", path: corruptCosign, opts: []sign.Option{password(testPassword)}, want: sign.ErrMalformedKey},
		{name: "nil password function", path: testdata("cosign.key"), opts: []sign.Option{sign.WithPassword(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := sign.Load(tt.path, tt.opts...)
			if err == nil {
				t.Fatalf("Load(%q) = %v, nil; want an error", tt.path, s)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Load(%q) = %v; want %v", tt.path, err, tt.want)
			}
			if got := errors.Is(err, fault.ErrInvalidInput); got == tt.notInvalid {
				t.Errorf("Load(%q) = %v; matches ErrInvalidInput: %v, want %v", tt.path, err, got, !tt.notInvalid)
			}
			if tt.path != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.path)) && tt.name != "nil password function" {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// TestLoadPasswordFromEnv tests the default password function. It sets
// the environment, so it does not run in parallel.
func TestLoadPasswordFromEnv(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  *string // nil: unset
		want error
	}{
		{name: "unset", file: "cosign.key", want: sign.ErrPasswordRequired},
		{name: "right", file: "cosign.key", env: ptr(testPassword)},
		{name: "wrong", file: "cosign.key", env: ptr("wrong"), want: sign.ErrWrongPassword},
		{name: "empty password", file: "cosign-empty.key", env: ptr("")},
		{name: "unset, unencrypted key", file: "ecdsa-p256.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(sign.PasswordEnv, "")
			if tt.env == nil {
				os.Unsetenv(sign.PasswordEnv)
			} else {
				os.Setenv(sign.PasswordEnv, *tt.env)
			}
			_, err := sign.Load(testdata(tt.file))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load = %v; want %v", err, tt.want)
			}
			if tt.want != nil && !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("Load = %v; want ErrInvalidInput", err)
			}
			if errors.Is(tt.want, sign.ErrPasswordRequired) && !strings.Contains(err.Error(), "COSIGN_PASSWORD is not set") {
				t.Errorf("Load = %v; want it to say COSIGN_PASSWORD is not set", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestVerifierFormats(t *testing.T) {
	t.Parallel()
	id := func(file string, opts ...sign.Option) string {
		s, err := sign.Load(testdata(file), opts...)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := s.KeyID()
		return id
	}
	p256 := id("ecdsa-p256.key")
	rsa3072 := id("rsa-3072-pkcs1.key")
	ed := id("ed25519.key")

	// in-toto JSON keys, as InTotoKey and in-toto-golang write them.
	dir := t.TempDir()
	jsonKey := func(name, keyFile string) string {
		v := loadVerifier(t, keyFile)
		b, err := json.Marshal(v.InTotoKey())
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, dir, name, b)
	}

	tests := []struct {
		name string
		path string
		want string // key id
	}{
		{"pkix ecdsa", testdata("ecdsa-p256.pub"), p256},
		{"cosign pub", testdata("cosign.pub"), id("cosign.key", password(testPassword))},
		{"pkcs1 rsa", testdata("rsa-3072-pkcs1.pub"), rsa3072},
		{"pkix ed25519", testdata("ed25519.pub"), ed},
		{"certificate", testdata("ecdsa-p256.crt"), p256},
		{"in-toto json ecdsa", jsonKey("p256.json", "ecdsa-p256.pub"), p256},
		{"in-toto json rsa", jsonKey("rsa.json", "rsa-3072-pkcs1.pub"), rsa3072},
		{"in-toto json ed25519", jsonKey("ed25519.json", "ed25519.pub"), ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := sign.LoadVerifier(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := v.KeyID(); got != tt.want {
				t.Errorf("KeyID() = %s; want %s", got, tt.want)
			}
		})
	}
}

func TestParseVerifierErrors(t *testing.T) {
	t.Parallel()
	read := func(file string) []byte {
		b, err := os.ReadFile(testdata(file))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	edKey := func(edit func(*in_toto.Key)) []byte {
		v := loadVerifier(t, "ed25519.pub")
		k := v.InTotoKey()
		edit(&k)
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, sign.ErrMalformedKey},
		{"garbage", []byte("garbage"), sign.ErrMalformedKey},
		{"private key", read("ecdsa-p256.key"), sign.ErrNotPublicKey},
		{"cosign private key", read("cosign.key"), sign.ErrNotPublicKey},
		{"unsupported curve", read("ecdsa-p224.pub"), sign.ErrUnsupportedKey},
		{"other PEM", []byte("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"), sign.ErrMalformedKey},
		{"bad PKIX", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), sign.ErrMalformedKey},
		{"bad json", []byte(`{"keytype":`), sign.ErrMalformedKey},
		{"json private", edKey(func(k *in_toto.Key) { k.KeyVal.Private = strings.Repeat("00", 32) }), sign.ErrNotPublicKey},
		{"json wrong keyid", edKey(func(k *in_toto.Key) { k.KeyID = strings.Repeat("0", 64) }), sign.ErrMalformedKey},
		{"json wrong scheme", edKey(func(k *in_toto.Key) { k.Scheme = "ed25519ph" }), sign.ErrUnsupportedKey},
		{"json wrong keytype", edKey(func(k *in_toto.Key) { k.KeyType = "ecdsa" }), sign.ErrMalformedKey},
		{"json unknown keytype", edKey(func(k *in_toto.Key) { k.KeyType = "sphincs" }), sign.ErrUnsupportedKey},
		{"json bad hex", edKey(func(k *in_toto.Key) { k.KeyVal.Public = "zz" }), sign.ErrMalformedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := sign.ParseVerifier(tt.data)
			if !errors.Is(err, tt.want) || !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("ParseVerifier = %v, %v; want %v and ErrInvalidInput", v, err, tt.want)
			}
		})
	}
}

func TestNewVerifierErrors(t *testing.T) {
	t.Parallel()
	s := loadSigner(t, keyFixture{file: "rsa-2048.key"})
	for _, pub := range []crypto.PublicKey{
		nil,
		"a string",
		ed25519.PublicKey{1, 2, 3},
		&rsa.PublicKey{},
		(*ecdsa.PublicKey)(nil),
		s.Public().(*rsa.PublicKey).N, // not a key
	} {
		if _, err := sign.NewVerifier(pub); !errors.Is(err, sign.ErrUnsupportedKey) || !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("NewVerifier(%T) = %v; want ErrUnsupportedKey", pub, err)
		}
		if _, err := sign.KeyID(pub); !errors.Is(err, sign.ErrUnsupportedKey) {
			t.Errorf("KeyID(%T) = %v; want ErrUnsupportedKey", pub, err)
		}
	}
	if _, err := sign.New(nil); !errors.Is(err, sign.ErrUnsupportedKey) {
		t.Errorf("New(nil) = %v; want ErrUnsupportedKey", err)
	}
}

// TestKeyIDMatchesInToto checks KeyID and InTotoKey against in-toto-golang
// loading the same key file.
func TestKeyIDMatchesInToto(t *testing.T) {
	t.Parallel()
	for _, f := range keyFixtures() {
		if strings.HasPrefix(f.file, "cosign") {
			continue // in-toto-golang does not read cosign keys
		}
		for _, file := range []string{f.file, f.pub} {
			if file == "ecdsa-p256-sec1.key" || file == "rsa-3072-pkcs1.pub" {
				continue // in-toto-golang reads neither an EC PARAMETERS block nor PKCS #1 public keys
			}
			t.Run(file, func(t *testing.T) {
				t.Parallel()
				var want in_toto.Key
				var err error
				if f.scheme == "ecdsa-sha2-nistp256" || f.keyType != "ecdsa" {
					err = want.LoadKeyDefaults(testdata(file))
				} else {
					// in-toto-golang's default ECDSA scheme is nistp256
					// whatever the curve.
					err = want.LoadKey(testdata(file), f.scheme, []string{"sha256", "sha512"})
				}
				if err != nil {
					t.Fatalf("in-toto-golang: %v", err)
				}
				want.KeyVal.Private = ""
				var got in_toto.Key
				if file == f.file {
					got = loadSigner(t, f).InTotoKey()
				} else {
					got = loadVerifier(t, file).InTotoKey()
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("InTotoKey differs from in-toto-golang's (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestKeyIDMatchesPython checks key ids against Python securesystemslib
// 0.26 (interface.import_publickeys_from_file), computed once when the
// fixtures were made.
func TestKeyIDMatchesPython(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"rsa-2048.pub":        "a4046bb1ccd6fbfc2a667a7ec12757adee7f776f5bfedf00668b2926e2abdca0",
		"in-toto-ed25519.pub": "ba8bd390d1394e2e499d9170dc25cf0d9d9c227fe3285d222db802b3c856dfba",
	} {
		if got, _ := loadVerifier(t, file).KeyID(); got != want {
			t.Errorf("%s: KeyID() = %s; Python securesystemslib says %s", file, got, want)
		}
	}
	// Python keeps a trailing newline in the PEM of its own ECDSA keys, so
	// its id for them differs; the key still loads, under the canonical id.
	v := loadVerifier(t, "in-toto-ecdsa.pub")
	if got, _ := v.KeyID(); got == "6456214de57cd10ed91bc6adfa29de88998e4716ad1756dd16938971798b06a8" {
		t.Errorf("KeyID() of a Python ECDSA key is the id of its untrimmed PEM")
	}
	k := v.InTotoKey()
	k.KeyID = "6456214de57cd10ed91bc6adfa29de88998e4716ad1756dd16938971798b06a8"
	k.KeyVal.Public += "\n"
	b, _ := json.Marshal(k)
	if _, err := sign.ParseVerifier(b); err != nil {
		t.Errorf("ParseVerifier(Python ECDSA key with its keyid) = %v", err)
	}
}

// TestNoSecretInOutput checks that printing or logging a Signer never shows
// the private key.
func TestNoSecretInOutput(t *testing.T) {
	t.Parallel()
	s := loadSigner(t, keyFixture{file: "rsa-2048.key"})
	priv, err := os.ReadFile(testdata("rsa-2048.key"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v %s ", s, s, s, s)
	fmt.Fprintf(&buf, "%v %+v ", *s, *s)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("signer", "signer", s, "verifier", s.Verifier())
	slog.New(slog.NewTextHandler(&buf, nil)).Info("signer", "signer", s)
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(string(priv)), "\n")
	for _, line := range lines[1 : len(lines)-1] {
		if strings.Contains(out, line) {
			t.Fatalf("output contains the private key:\n%s", out)
		}
	}
	id, _ := s.KeyID()
	if !strings.Contains(out, id) {
		t.Errorf("output does not name the key id:\n%s", out)
	}
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := loadSigner(t, keyFixture{file: "ed25519.key"})
	if _, err := s.Sign(ctx, []byte("m")); !errors.Is(err, context.Canceled) {
		t.Errorf("Sign = %v; want context.Canceled", err)
	}
	if _, err := s.SignLegacy(ctx, []byte("m")); !errors.Is(err, context.Canceled) {
		t.Errorf("SignLegacy = %v; want context.Canceled", err)
	}
}

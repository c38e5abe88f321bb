package kms_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/kms"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

// vaultToken is the Vault token the fake Vault accepts.
const vaultToken = "hvs.testVaultTokenSecret0123"

// fakeVault speaks the Vault transit engine API for one key:
// GET /v1/transit/keys/NAME, PUT /v1/transit/sign/NAME[/sha2-*] and
// /v1/transit/verify/NAME[/sha2-*].
type fakeVault struct {
	name  string
	key   crypto.Signer
	signs atomic.Int32
	fail  atomic.Bool // answer 500 to everything
}

func (v *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v.fail.Load() {
		http.Error(w, `{"errors":["internal error"]}`, http.StatusInternalServerError)
		return
	}
	if r.Header.Get("X-Vault-Token") != vaultToken {
		http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
		return
	}
	reply := func(data map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/transit/")
	op, rest, _ := strings.Cut(path, "/")
	name, hashName, _ := strings.Cut(rest, "/")
	if name != v.name {
		http.Error(w, `{"errors":["no such key"]}`, http.StatusNotFound)
		return
	}
	var req struct {
		Input     string `json:"input"`
		Prehashed bool   `json:"prehashed"`
		Signature string `json:"signature"`
		Algorithm string `json:"signature_algorithm"`
	}
	if r.Method != http.MethodGet {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"errors":["bad json"]}`, http.StatusBadRequest)
			return
		}
	}
	hash := map[string]crypto.Hash{"": 0, "sha2-256": crypto.SHA256, "sha2-384": crypto.SHA384, "sha2-512": crypto.SHA512}[hashName]
	input, _ := base64.StdEncoding.DecodeString(req.Input)
	switch {
	case op == "keys" && r.Method == http.MethodGet:
		pub := v.key.Public()
		var pubStr, typ string
		if k, ok := pub.(ed25519.PublicKey); ok {
			pubStr, typ = base64.StdEncoding.EncodeToString(k), "ed25519"
		} else {
			pem, err := sign.MarshalPublicKey(pub)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			pubStr, typ = string(pem), "ecdsa-p256"
		}
		reply(map[string]any{"name": v.name, "type": typ, "latest_version": 1,
			"keys": map[string]any{"1": map[string]any{"public_key": pubStr, "name": typ}}})
	case op == "sign" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		v.signs.Add(1)
		var opts crypto.SignerOpts = hash
		msg := input
		if _, ok := v.key.(ed25519.PrivateKey); !ok && !req.Prehashed {
			h := hash.New()
			h.Write(input)
			msg = h.Sum(nil)
		}
		if _, ok := v.key.(*rsa.PrivateKey); ok && req.Algorithm == "pss" {
			opts = &rsa.PSSOptions{Hash: hash}
		}
		sig, err := v.key.Sign(rand.Reader, msg, opts)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		reply(map[string]any{"signature": "vault:v1:" + base64.StdEncoding.EncodeToString(sig), "key_version": 1})
	case op == "verify":
		sig, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(req.Signature, "vault:v1:"))
		valid := false
		switch k := v.key.Public().(type) {
		case *ecdsa.PublicKey:
			valid = ecdsa.VerifyASN1(k, input, sig)
		case ed25519.PublicKey:
			valid = ed25519.Verify(k, input, sig)
		case *rsa.PublicKey:
			valid = rsa.VerifyPKCS1v15(k, hash, input, sig) == nil
		}
		reply(map[string]any{"valid": valid})
	default:
		http.Error(w, `{"errors":["unsupported path"]}`, http.StatusMethodNotAllowed)
	}
}

func newVault(t *testing.T, key crypto.Signer) (*fakeVault, string) {
	t.Helper()
	v := &fakeVault{name: "ci", key: key}
	s := httptest.NewServer(v)
	t.Cleanup(s.Close)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("server on %s", s.URL)
	}
	return v, s.URL
}

func TestHashiVaultConformance(t *testing.T) {
	t.Parallel()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, key := range map[string]crypto.Signer{"ecdsa-p256": ecKey, "ecdsa-p384": ec384, "ed25519": edKey, "rsa-2048": rsaKey} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, addr := newVault(t, key)
			s, err := kms.Load(context.Background(), "hashivault://ci", kms.WithVault(addr, vaultToken, ""))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if _, ok := key.(*rsa.PrivateKey); ok {
				// RSA KMS keys sign DSSE only: run the suite on the
				// plain attestor.Signer.
				signtest.Run(t, dsseOnly{s}, signtest.Secrets{vaultToken})
				if _, err := s.SignLegacy(context.Background(), []byte("m")); !errors.Is(err, sign.ErrUnsupportedKey) {
					t.Errorf("SignLegacy(RSA) = %v; want ErrUnsupportedKey", err)
				}
			} else {
				signtest.Run(t, s, signtest.Secrets{vaultToken})
			}
			if v.signs.Load() == 0 {
				t.Error("the signer never asked Vault to sign")
			}
			// The key id is the one of the key: a policy lists it.
			want, _ := sign.KeyID(key.Public())
			if got, _ := s.KeyID(); got != want {
				t.Errorf("KeyID = %s, want %s", got, want)
			}
		})
	}
}

// dsseOnly hides SignLegacy.
type dsseOnly struct{ s *kms.Signer }

func (d dsseOnly) Sign(ctx context.Context, m []byte) ([]byte, error) { return d.s.Sign(ctx, m) }
func (d dsseOnly) KeyID() (string, error)                             { return d.s.KeyID() }
func (d dsseOnly) Public() crypto.PublicKey                           { return d.s.Public() }

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, addr := newVault(t, ecKey)
	for _, c := range []struct {
		ref  string
		opts []kms.Option
		want error
	}{
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", nil, kms.ErrUnsupportedProvider},
		{"awskms:///arn:aws:kms:us-east-1:1:key/k", nil, kms.ErrUnsupportedProvider},
		{"azurekms://vault.vault.azure.net/k", nil, kms.ErrUnsupportedProvider},
		{"cosign.key", nil, attestor.ErrInvalidInput},
		{"hashivault://", nil, attestor.ErrInvalidInput},
		{"hashivault://nosuchkey", []kms.Option{kms.WithVault(addr, vaultToken, "")}, attestor.ErrUnavailable},
		{"hashivault://ci", []kms.Option{kms.WithVault(addr, "wrong-token", "")}, attestor.ErrUnavailable},
	} {
		_, err := kms.Load(ctx, c.ref, c.opts...)
		if !errors.Is(err, c.want) {
			t.Errorf("Load(%q) = %v; want %v", c.ref, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), vaultToken) {
			t.Errorf("Load(%q): the error shows the token", c.ref)
		}
	}
}

func TestVaultUnavailableWhileSigning(t *testing.T) {
	t.Parallel()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v, addr := newVault(t, ecKey)
	s, err := kms.Load(context.Background(), "hashivault://ci", kms.WithVault(addr, vaultToken, ""))
	if err != nil {
		t.Fatal(err)
	}
	v.fail.Store(true)
	_, err = s.Sign(context.Background(), []byte("m"))
	if !errors.Is(err, attestor.ErrUnavailable) {
		t.Errorf("Sign = %v; want ErrUnavailable", err)
	}
	if strings.Contains(fmt.Sprint(err), vaultToken) {
		t.Error("the token shows in the error")
	}
}

func TestIsURI(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]bool{
		"hashivault://k": true, "gcpkms://x": true, "awskms:///x": true, "azurekms://x": true,
		"cosign.key": false, "./hashivault://k": false, "": false,
	} {
		if got := kms.IsURI(ref); got != want {
			t.Errorf("IsURI(%q) = %v", ref, got)
		}
	}
}

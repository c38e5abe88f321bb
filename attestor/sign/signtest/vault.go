package signtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/attestor/attestor/attestor/sign"
)

// VaultToken is the Vault token the fake Vault accepts.
const VaultToken = "hvs.testVaultTokenSecret0123"

// Vault speaks the HashiCorp Vault transit engine API for one key, named
// VaultKeyName (hashivault://ci): GET /v1/transit/keys/NAME, PUT
// /v1/transit/sign/NAME[/sha2-*] and /v1/transit/verify/NAME[/sha2-*],
// with the X-Vault-Token VaultToken.
type Vault struct {
	// URL is the server's address (VAULT_ADDR).
	URL string

	name  string
	key   crypto.Signer
	signs atomic.Int32
	fail  atomic.Bool // answer 500 to everything
}

// ServeHTTP serves the transit API.
func (v *Vault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v.fail.Load() {
		http.Error(w, `{"errors":["internal error"]}`, http.StatusInternalServerError)
		return
	}
	if r.Header.Get("X-Vault-Token") != VaultToken {
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

// VaultKeyName is the name of the fake Vault's key.
const VaultKeyName = "ci"

// NewVault starts a fake Vault holding key (ECDSA, Ed25519 or RSA) until
// the test ends.
func NewVault(t testing.TB, key crypto.Signer) *Vault {
	t.Helper()
	v := &Vault{name: VaultKeyName, key: key}
	s := httptest.NewServer(v)
	t.Cleanup(s.Close)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("server on %s", s.URL)
	}
	v.URL = s.URL
	return v
}

// Signs counts the sign requests served.
func (v *Vault) Signs() int { return int(v.signs.Load()) }

// Fail makes every request fail with 500.
func (v *Vault) Fail(on bool) { v.fail.Store(on) }

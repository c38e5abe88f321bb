package signtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// AzureIdentityHeader is the secret the fake's managed identity
	// endpoint accepts (App Service's IDENTITY_HEADER).
	AzureIdentityHeader = "azureTestIdentityHeaderSecret0123456789"
	// AzureKeyName is the name of the fake vault's key.
	AzureKeyName = "ci"
)

// azureToken is the access token the fake issues and the vault checks.
const azureToken = "eyJ0eXAiOiJKV1QifQ.azureTestAccessToken.sig"

// AzureKMS is a fake Azure Key Vault holding one key, AzureKeyName,
// with its identity provider, over HTTPS on 127.0.0.1: an App Service
// managed identity endpoint (GET /msi/token, IDENTITY_ENDPOINT and
// IDENTITY_HEADER) that issues tokens for the header
// AzureIdentityHeader, and the Key Vault REST API (GET
// /keys/NAME[/VERSION], POST /keys/NAME[/VERSION]/sign) behind the
// bearer-token challenge the SDK expects.
//
// The identity is a managed identity because sigstore's Azure client
// fixes the cloud (Azure public, US Government or China, from
// AZURE_ENVIRONMENT), so client secret, certificate and workload identity
// credentials always ask login.microsoftonline.com (or its sovereign
// twins) for tokens, whatever AZURE_AUTHORITY_HOST says.
type AzureKMS struct {
	// Host is the server's HOST:PORT, for azurekms://HOST:PORT/KEY refs.
	Host string
	// CAFile is a PEM file holding the server's certificate (the SDK
	// trusts it through SSL_CERT_FILE).
	CAFile string

	key    crypto.Signer
	signs  atomic.Int32
	tokens atomic.Int32
	fail   atomic.Bool
}

// NewAzureKMS starts a fake Azure Key Vault holding key (ECDSA; an RSA
// key is served, but signs nothing) until the test ends.
func NewAzureKMS(t testing.TB, key crypto.Signer) *AzureKMS {
	t.Helper()
	a := &AzureKMS{key: key}
	s := httptest.NewTLSServer(a)
	t.Cleanup(s.Close)
	a.Host = strings.TrimPrefix(s.URL, "https://")
	if !strings.HasPrefix(a.Host, "127.0.0.1:") {
		t.Fatalf("server on %s", s.URL)
	}
	a.CAFile = filepath.Join(t.TempDir(), "azure-ca.pem")
	if err := os.WriteFile(a.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// Ref returns the azurekms:// URI of the key.
func (a *AzureKMS) Ref() string { return "azurekms://" + a.Host + "/" + AzureKeyName }

// Env returns the environment of a process that uses the fake: the App
// Service managed identity on the fake, no other credential of the
// default chain (AZURE_TOKEN_CREDENTIALS), and the fake's certificate as
// the only trusted root. The process must not have AZURE_CLIENT_ID set
// (it would name a user-assigned identity).
func (a *AzureKMS) Env() []string {
	return []string{
		"IDENTITY_ENDPOINT=https://" + a.Host + "/msi/token",
		"IDENTITY_HEADER=" + AzureIdentityHeader,
		"AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential",
		"SSL_CERT_FILE=" + a.CAFile,
		"SSL_CERT_DIR=" + os.DevNull,
	}
}

// Signs counts the sign requests served; Tokens the tokens issued.
func (a *AzureKMS) Signs() int  { return int(a.signs.Load()) }
func (a *AzureKMS) Tokens() int { return int(a.tokens.Load()) }

// Fail makes every vault request fail with 403.
func (a *AzureKMS) Fail(on bool) { a.fail.Store(on) }

// ServeHTTP serves the identity provider and the vault.
func (a *AzureKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	base := "https://" + a.Host
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	vaultError := func(code int, c, msg string) {
		reply(code, map[string]any{"error": map[string]string{"code": c, "message": msg}})
	}
	if r.URL.Path == "/msi/token" {
		if r.Method != http.MethodGet || r.Header.Get("X-IDENTITY-HEADER") != AzureIdentityHeader || r.URL.Query().Get("resource") == "" {
			reply(http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "Unauthorized request. Invalid identity header."})
			return
		}
		a.tokens.Add(1)
		reply(http.StatusOK, map[string]any{"access_token": azureToken, "token_type": "Bearer",
			"expires_on": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), "resource": r.URL.Query().Get("resource")})
		return
	}
	// The vault. Without a token, challenge as Key Vault does; the
	// resource's host must be a suffix of the vault's ("0.0.1:PORT" of
	// "127.0.0.1:PORT").
	if r.Header.Get("Authorization") != "Bearer "+azureToken {
		_, port, _ := strings.Cut(a.Host, ":")
		w.Header().Set("WWW-Authenticate", `Bearer authorization="`+base+`/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://0.0.1:`+port+`"`)
		vaultError(http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	if a.fail.Load() {
		vaultError(http.StatusForbidden, "Forbidden", "The user, group or application does not have keys sign permission.")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "keys" || parts[1] != AzureKeyName {
		vaultError(http.StatusNotFound, "KeyNotFound", "A key with (name/id) was not found in this key vault.")
		return
	}
	op := ""
	if len(parts) > 2 && (parts[len(parts)-1] == "sign" || parts[len(parts)-1] == "verify") {
		op = parts[len(parts)-1]
	}
	kid := base + "/keys/" + AzureKeyName + "/0123456789abcdef0123456789abcdef"
	b64 := base64.RawURLEncoding.EncodeToString
	ec, isEC := a.key.(*ecdsa.PrivateKey)
	switch {
	case op == "" && r.Method == http.MethodGet:
		jwk := map[string]any{"kid": kid, "key_ops": []string{"sign", "verify"}}
		switch pub := a.key.Public().(type) {
		case *ecdsa.PublicKey:
			size := (pub.Curve.Params().BitSize + 7) / 8
			jwk["kty"], jwk["crv"] = "EC", map[elliptic.Curve]string{elliptic.P256(): "P-256", elliptic.P384(): "P-384", elliptic.P521(): "P-521"}[pub.Curve]
			jwk["x"], jwk["y"] = b64(pub.X.FillBytes(make([]byte, size))), b64(pub.Y.FillBytes(make([]byte, size)))
		case *rsa.PublicKey:
			jwk["kty"], jwk["n"], jwk["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
		}
		reply(http.StatusOK, map[string]any{"key": jwk,
			"attributes": map[string]any{"enabled": true, "recoveryLevel": "Recoverable+Purgeable"}})
	case op == "sign" && r.Method == http.MethodPost && isEC:
		a.signs.Add(1)
		var req struct {
			Alg   string `json:"alg"`
			Value string `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			vaultError(http.StatusBadRequest, "BadParameter", "bad JSON")
			return
		}
		digest, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.Value, "="))
		hash := map[string]crypto.Hash{"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512}[req.Alg]
		if err != nil || hash == 0 || len(digest) != hash.Size() {
			vaultError(http.StatusBadRequest, "BadParameter", "Invalid algorithm or digest.")
			return
		}
		r, s, err := ecdsa.Sign(rand.Reader, ec, digest)
		if err != nil {
			vaultError(http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		size := (ec.Curve.Params().BitSize + 7) / 8
		sig := append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
		reply(http.StatusOK, map[string]string{"kid": kid, "value": b64(sig)})
	default:
		vaultError(http.StatusBadRequest, "BadParameter", "unsupported operation")
	}
}

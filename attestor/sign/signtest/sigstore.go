package signtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/go-openapi/runtime"
	"github.com/sigstore/fulcio/pkg/certificate"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"

	"github.com/attestor/attestor/attestor/sign"
)

// The GitHub Actions identity the fake OIDC endpoint issues tokens for.
const (
	GitHubIssuer     = "https://token.actions.githubusercontent.com"
	GitHubRepository = "acme/app"
	GitHubRef        = "refs/heads/main"
	GitHubWorkflow   = "release"
	GitHubTrigger    = "push"
	GitHubSHA        = "0123456789abcdef0123456789abcdef01234567"
	GitHubSubject    = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	// GitHubRequestToken is ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	GitHubRequestToken = "ghs_requestTokenSecret0123456789"
)

// GitHubIdentity is the identity of the certificates the fake Fulcio issues.
func GitHubIdentity() sign.Identity {
	return sign.Identity{Issuer: GitHubIssuer, Subject: GitHubSubject, Repository: GitHubRepository, Ref: GitHubRef, Workflow: GitHubWorkflow, Trigger: GitHubTrigger, SHA: GitHubSHA}
}

// ca is a Fulcio certificate authority.
type fulcioCA struct {
	root, intermediate *x509.Certificate
	key                *ecdsa.PrivateKey // the intermediate's
}

func newCA(t testing.TB) *fulcioCA {
	t.Helper()
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return &fulcioCA{root: rootCert, intermediate: inter, key: interKey}
}

// Sigstore is an offline sigstore for keyless tests: a GitHub-Actions-shaped
// OIDC token endpoint (the ACTIONS_ID_TOKEN_REQUEST_URL contract), Fulcio
// (the v2 signingCert API) and Rekor (the v1 log entries API) as httptest
// servers on 127.0.0.1. Rekor's signed entry timestamps and inclusion
// proofs come from sigstore-go's VirtualSigstore; the Fulcio CA is made
// with the same package's helpers, since Fulcio must certify the signer's
// key and write the GitHub workflow claims (GitHubIdentity), which
// VirtualSigstore's own certificates do not carry. Servers stop when the
// test ends.
type Sigstore struct {
	// TokenURL is ACTIONS_ID_TOKEN_REQUEST_URL; FulcioURL and RekorURL
	// are the base URLs of the two services.
	TokenURL, FulcioURL, RekorURL string
	// TSAURL is the RFC 3161 timestamp endpoint.
	TSAURL string

	vs     *ca.VirtualSigstore
	ca     *fulcioCA
	oidc   *httptest.Server
	fulcio *httptest.Server
	rekor  *httptest.Server
	tsa    *httptest.Server
	tsaCA  *root.SigstoreTimestampingAuthority
	tsaKey *ecdsa.PrivateKey

	jwtKey *ecdsa.PrivateKey

	mu     sync.Mutex
	tokens []string // every identity token issued

	oidcRequests   atomic.Int32
	oidcFailFirst  atomic.Int32 // answer 503 to this many token requests
	fulcioRequests atomic.Int32
	rekorRequests  atomic.Int32
	fulcioEcho     atomic.Bool // Fulcio rejects requests, echoing the Authorization header
}

// NewSigstore starts an offline sigstore.
func NewSigstore(t testing.TB) *Sigstore {
	t.Helper()
	return newSigstore(t, nil, nil)
}

// WithAnotherCA starts a sigstore that shares f's Rekor log but has a
// Fulcio CA of its own, which f's trusted root does not trust.
func (f *Sigstore) WithAnotherCA(t testing.TB) *Sigstore {
	t.Helper()
	return newSigstore(t, f.vs, nil)
}

func newSigstore(t testing.TB, vs *ca.VirtualSigstore, fca *fulcioCA) *Sigstore {
	t.Helper()
	if vs == nil {
		var err error
		if vs, err = ca.NewVirtualSigstore(); err != nil {
			t.Fatal(err)
		}
	}
	if fca == nil {
		fca = newCA(t)
	}
	jwtKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &Sigstore{vs: vs, ca: fca, jwtKey: jwtKey}
	f.oidc = httptest.NewServer(http.HandlerFunc(f.serveToken))
	f.fulcio = httptest.NewServer(http.HandlerFunc(f.serveFulcio))
	f.rekor = httptest.NewServer(http.HandlerFunc(f.serveRekor))
	f.tsa = httptest.NewServer(http.HandlerFunc(f.serveTSA))
	f.newTSA(t)
	for _, s := range []*httptest.Server{f.oidc, f.fulcio, f.rekor, f.tsa} {
		if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
			t.Fatalf("test server on %s, want 127.0.0.1", s.URL)
		}
		t.Cleanup(s.Close)
	}
	f.TokenURL = f.oidc.URL + "/token?api-version=2.0"
	f.FulcioURL, f.RekorURL = f.fulcio.URL, f.rekor.URL
	f.TSAURL = f.tsa.URL + "/api/v1/timestamp"
	return f
}

// Env is the environment of a GitHub Actions job with id-token: write
// that gets its tokens from f.
func (f *Sigstore) Env() map[string]string {
	return map[string]string{
		sign.EnvGitHubTokenURL:     f.TokenURL,
		sign.EnvGitHubRequestToken: GitHubRequestToken,
	}
}

// Lookup is the sign.WithLookupEnv option that reads env.
func Lookup(env map[string]string) sign.TokenOption {
	return sign.WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// Keyless returns a keyless signer that uses f's servers and gets its
// tokens as in GitHub Actions (see Env). opts come after f's.
func (f *Sigstore) Keyless(t testing.TB, opts ...sign.KeylessOption) *sign.Keyless {
	t.Helper()
	all := append([]sign.KeylessOption{
		sign.WithFulcioURL(f.fulcio.URL),
		sign.WithRekorURL(f.rekor.URL),
		sign.WithTokenOptions(Lookup(f.Env())),
	}, opts...)
	k, err := sign.NewKeyless(context.Background(), all...)
	if err != nil {
		t.Fatalf("NewKeyless: %v", err)
	}
	return k
}

// IdentityToken returns a new identity token for the GitHub identity, as
// the token endpoint issues them (for --identity-token).
func (f *Sigstore) IdentityToken() string {
	return f.issue("sigstore")
}

// FailTokenRequests makes the token endpoint answer 503 to the next n
// requests.
func (f *Sigstore) FailTokenRequests(n int) { f.oidcFailFirst.Store(int32(n)) }

// EchoCredentials makes Fulcio reject every request with an error that
// quotes its Authorization header, the token, as a careless server might.
func (f *Sigstore) EchoCredentials(on bool) { f.fulcioEcho.Store(on) }

// TokenRequests, FulcioRequests and RekorRequests count the requests
// each server received.
func (f *Sigstore) TokenRequests() int  { return int(f.oidcRequests.Load()) }
func (f *Sigstore) FulcioRequests() int { return int(f.fulcioRequests.Load()) }
func (f *Sigstore) RekorRequests() int  { return int(f.rekorRequests.Load()) }

// Issued returns the identity tokens issued so far.
func (f *Sigstore) Issued() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

// TrustedRoot returns the trusted root of f (its Fulcio CA and its Rekor
// log), written to a file in t.TempDir() and read back with
// sign.LoadTrustedRoot as `--trusted-root FILE` does, and the file.
func (f *Sigstore) TrustedRoot(t testing.TB) (*root.TrustedRoot, string) {
	t.Helper()
	now := time.Now()
	fulcio := &root.FulcioCertificateAuthority{
		Root:                f.ca.root,
		Intermediates:       []*x509.Certificate{f.ca.intermediate},
		ValidityPeriodStart: now.Add(-time.Hour),
		ValidityPeriodEnd:   now.Add(time.Hour),
		URI:                 f.fulcio.URL,
	}
	logs := map[string]*root.TransparencyLog{}
	for id, l := range f.vs.RekorLogs() {
		raw, err := hex.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		logs[id] = &root.TransparencyLog{
			BaseURL: f.rekor.URL, ID: raw, ValidityPeriodStart: l.ValidityPeriodStart,
			HashFunc: crypto.SHA256, PublicKey: l.PublicKey, SignatureHashFunc: crypto.SHA256,
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fulcio}, nil, []root.TimestampingAuthority{f.tsaCA}, logs)
	if err != nil {
		t.Fatal(err)
	}
	data, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := sign.LoadTrustedRoot(path)
	if err != nil {
		t.Fatalf("LoadTrustedRoot: %v", err)
	}
	return loaded, path
}

// serveToken is the ACTIONS_ID_TOKEN_REQUEST_URL endpoint: GET with
// "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" and
// &audience=..., answering {"value": JWT}.
func (f *Sigstore) serveToken(w http.ResponseWriter, r *http.Request) {
	f.oidcRequests.Add(1)
	if f.oidcFailFirst.Add(-1) >= 0 {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/token" || r.URL.Query().Get("api-version") != "2.0" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Authorization") != "bearer "+GitHubRequestToken {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		http.Error(w, "no audience", http.StatusBadRequest)
		return
	}
	tok := f.issue(aud)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"value": tok})
}

// issue makes and records a token for the GitHub identity.
func (f *Sigstore) issue(aud string) string {
	now := time.Now()
	claims := map[string]any{
		"iss": GitHubIssuer, "aud": aud, "sub": "repo:acme/app:ref:refs/heads/main",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti":        hex.EncodeToString(randBytes(8)),
		"repository": GitHubRepository, "ref": GitHubRef, "sha": GitHubSHA, "workflow": GitHubWorkflow,
		"event_name": GitHubTrigger, "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/heads/main",
		"runner_environment": "github-hosted",
	}
	tok := f.JWT(claims)
	f.mu.Lock()
	f.tokens = append(f.tokens, tok)
	f.mu.Unlock()
	return tok
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// JWT signs claims as an ES256 JWT with the key Fulcio trusts.
func (f *Sigstore) JWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "ES256", "typ": "JWT", "kid": "test"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, f.jwtKey, sum[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// VerifyJWT checks tok as Fulcio does (signature, audience sigstore,
// expiry) and returns its claims.
func (f *Sigstore) VerifyJWT(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, fmt.Errorf("bad signature")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(&f.jwtKey.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, fmt.Errorf("signature does not verify")
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil {
		return nil, err
	}
	if claims["aud"] != "sigstore" {
		return nil, fmt.Errorf("audience %v", claims["aud"])
	}
	if exp, _ := claims["exp"].(float64); time.Unix(int64(exp), 0).Before(time.Now()) {
		return nil, fmt.Errorf("expired")
	}
	return claims, nil
}

// serveFulcio is Fulcio's POST /api/v2/signingCert for GitHub tokens.
func (f *Sigstore) serveFulcio(w http.ResponseWriter, r *http.Request) {
	f.fulcioRequests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/signingCert" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	auth := r.Header.Get("Authorization")
	if f.fulcioEcho.Load() {
		http.Error(w, "rejected credentials: "+auth, http.StatusUnauthorized)
		return
	}
	claims, err := f.VerifyJWT(strings.TrimPrefix(auth, "Bearer "))
	if err != nil {
		http.Error(w, "invalid identity token: "+err.Error(), http.StatusUnauthorized)
		return
	}
	var req struct {
		PublicKeyRequest struct {
			PublicKey struct {
				Algorithm string `json:"algorithm"`
				Content   string `json:"content"`
			} `json:"publicKey"`
			ProofOfPossession string `json:"proofOfPossession"`
		} `json:"publicKeyRequest"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	block, _ := pem.Decode([]byte(req.PublicKeyRequest.PublicKey.Content))
	if block == nil {
		http.Error(w, "bad public key", http.StatusBadRequest)
		return
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if err != nil || !ok {
		http.Error(w, "bad public key", http.StatusBadRequest)
		return
	}
	pop, _ := base64.StdEncoding.DecodeString(req.PublicKeyRequest.ProofOfPossession)
	sub, _ := claims["sub"].(string)
	sum := sha256.Sum256([]byte(sub))
	if !ecdsa.VerifyASN1(ecPub, sum[:], pop) {
		http.Error(w, "proof of possession does not verify", http.StatusBadRequest)
		return
	}
	ext, err := certificate.Extensions{
		Issuer:                   claims["iss"].(string),
		GithubWorkflowTrigger:    claims["event_name"].(string),
		GithubWorkflowSHA:        claims["sha"].(string),
		GithubWorkflowName:       claims["workflow"].(string),
		GithubWorkflowRepository: claims["repository"].(string),
		GithubWorkflowRef:        claims["ref"].(string),
		RunnerEnvironment:        claims["runner_environment"].(string),
		SourceRepositoryURI:      "https://github.com/" + claims["repository"].(string),
		SourceRepositoryRef:      claims["ref"].(string),
	}.Render()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	san := "https://github.com/" + claims["job_workflow_ref"].(string)
	tmpl := &x509.Certificate{
		SerialNumber:    new(big.Int).SetBytes(randBytes(16)),
		NotBefore:       time.Now().Add(-time.Minute),
		NotAfter:        time.Now().Add(10 * time.Minute),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: ext,
	}
	if err := setURISAN(tmpl, san); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca.intermediate, ecPub, f.ca.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pemOf := func(der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"signedCertificateEmbeddedSct": map[string]any{
			"chain": map[string]any{"certificates": []string{pemOf(der), pemOf(f.ca.intermediate.Raw), pemOf(f.ca.root.Raw)}},
		},
	})
}

// serveRekor is Rekor's POST /api/v1/log/entries: it canonicalizes the
// proposed entry as Rekor does and answers with a signed entry timestamp
// and an inclusion proof from the VirtualSigstore.
func (f *Sigstore) serveRekor(w http.ResponseWriter, r *http.Request) {
	f.rekorRequests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/log/entries" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	pe, err := models.UnmarshalProposedEntry(r.Body, runtime.JSONConsumer())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	entry, err := types.CreateVersionedEntry(pe)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := types.CanonicalizeEntry(r.Context(), entry)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	logID, err := f.vs.RekorLogID()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	integrated := time.Now().Unix()
	index := int64(0) // the VirtualSigstore's inclusion proofs are for a one-leaf tree
	b64 := base64.StdEncoding.EncodeToString(body)
	set, err := f.vs.RekorSignPayload(tlog.RekorPayload{Body: b64, IntegratedTime: integrated, LogIndex: index, LogID: logID})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	proof, err := f.vs.GetInclusionProof(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	uuid := hex.EncodeToString(leaf[:])
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", uuid)
	w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{uuid: map[string]any{
		"body": b64, "integratedTime": integrated, "logID": logID, "logIndex": index,
		"verification": map[string]any{"signedEntryTimestamp": set, "inclusionProof": proof},
	}})
}

// newTSA makes the timestamp authority's certificates.
func (f *Sigstore) newTSA(t testing.TB) {
	t.Helper()
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateTSAIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.GenerateTSALeafCert(time.Now().Add(-5*time.Minute), leafKey, inter, interKey)
	if err != nil {
		t.Fatal(err)
	}
	f.tsaKey = leafKey
	f.tsaCA = &root.SigstoreTimestampingAuthority{
		Root: rootCert, Intermediates: []*x509.Certificate{inter}, Leaf: leaf,
		URI: f.tsa.URL, ValidityPeriodStart: time.Now().Add(-time.Hour), ValidityPeriodEnd: time.Now().Add(time.Hour),
	}
}

// serveTSA answers RFC 3161 timestamp requests (POST
// application/timestamp-query) as sigstore's timestamp authority does.
func (f *Sigstore) serveTSA(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts := timestamp.Timestamp{
		HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Nonce: req.Nonce,
		Time: time.Now(), Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}, AddTSACertificate: req.Certificates,
		ExtraExtensions: req.Extensions,
	}
	resp, err := ts.CreateResponseWithOpts(f.tsaCA.Leaf, f.tsaKey, crypto.SHA256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}

// setURISAN sets the certificate's URI SAN.
func setURISAN(c *x509.Certificate, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	c.URIs = append(c.URIs, u)
	return nil
}

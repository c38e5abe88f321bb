package signtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// AWS credentials the fake AWS KMS accepts (the access key id is checked
// in each request's SigV4 Authorization header; the secret never travels).
const (
	AWSAccessKeyID     = "AKIATESTACCESSKEY0001"
	AWSSecretAccessKey = "awsTestSecretAccessKey0123456789abcdefXYZ"
	AWSRegion          = "us-east-1"
	// AWSKeyAlias is the alias of the fake's key (awskms://HOST/alias/ci).
	AWSKeyAlias = "alias/ci"
)

// AWSKMS speaks the AWS KMS JSON 1.1 API (TrentService.GetPublicKey,
// DescribeKey and Sign) over HTTPS on 127.0.0.1 for one asymmetric key,
// known by its key id, its ARN and AWSKeyAlias.
type AWSKMS struct {
	// Host is the server's HOST:PORT, for awskms://HOST:PORT/KEY refs.
	Host string
	// KeyID is the key's id; ARN its ARN.
	KeyID, ARN string
	// CAFile is a PEM file holding the server's certificate, for
	// AWS_CA_BUNDLE.
	CAFile string
	// Server is the HTTPS server; Server.Client() trusts it.
	Server *httptest.Server

	key   crypto.Signer
	signs atomic.Int32
	fail  atomic.Bool
}

// NewAWSKMS starts a fake AWS KMS holding key (ECDSA P-256, P-384, P-521
// or RSA) until the test ends.
func NewAWSKMS(t testing.TB, key crypto.Signer) *AWSKMS {
	t.Helper()
	a := &AWSKMS{key: key, KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}
	a.ARN = "arn:aws:kms:" + AWSRegion + ":111122223333:key/" + a.KeyID
	a.Server = httptest.NewTLSServer(a)
	t.Cleanup(a.Server.Close)
	a.Host = strings.TrimPrefix(a.Server.URL, "https://")
	if !strings.HasPrefix(a.Host, "127.0.0.1:") {
		t.Fatalf("server on %s", a.Server.URL)
	}
	a.CAFile = filepath.Join(t.TempDir(), "aws-ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Server.Certificate().Raw})
	if err := os.WriteFile(a.CAFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// Ref returns the awskms:// URI of the key, by alias, with the fake's
// endpoint.
func (a *AWSKMS) Ref() string { return "awskms://" + a.Host + "/" + AWSKeyAlias }

// Env returns the environment of a process that uses the fake: static
// credentials, the region, the fake's certificate, and no EC2 instance
// metadata.
func (a *AWSKMS) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AWSAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + AWSSecretAccessKey,
		"AWS_REGION=" + AWSRegion,
		"AWS_CA_BUNDLE=" + a.CAFile,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
}

// Signs counts the Sign requests served.
func (a *AWSKMS) Signs() int { return int(a.signs.Load()) }

// Fail makes every request fail with 500.
func (a *AWSKMS) Fail(on bool) { a.fail.Store(on) }

func (a *AWSKMS) spec() (keySpec string, algs []string) {
	switch k := a.key.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ECC_NIST_P256", []string{"ECDSA_SHA_256"}
		case elliptic.P384():
			return "ECC_NIST_P384", []string{"ECDSA_SHA_384"}
		default:
			return "ECC_NIST_P521", []string{"ECDSA_SHA_512"}
		}
	case *rsa.PublicKey:
		return "RSA_" + strconv.Itoa(k.Size()*8), []string{
			"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
			"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}
	}
	return "", nil
}

// ServeHTTP serves the KMS API.
func (a *AWSKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if a.fail.Load() {
		fail(http.StatusInternalServerError, "KMSInternalException", "internal error")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		fail(http.StatusBadRequest, "UnknownOperationException", "not a JSON 1.1 request")
		return
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+AWSAccessKeyID+"/") ||
		!strings.Contains(auth, "/"+AWSRegion+"/kms/aws4_request") {
		fail(http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	}
	var req struct {
		KeyID            string `json:"KeyId"`
		Message          []byte `json:"Message"`
		MessageType      string `json:"MessageType"`
		SigningAlgorithm string `json:"SigningAlgorithm"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(http.StatusBadRequest, "SerializationException", "bad JSON")
		return
	}
	if req.KeyID != a.KeyID && req.KeyID != a.ARN && req.KeyID != AWSKeyAlias {
		fail(http.StatusBadRequest, "NotFoundException", "Alias or key "+req.KeyID+" is not found.")
		return
	}
	keySpec, algs := a.spec()
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(v)
	}
	switch r.Header.Get("X-Amz-Target") {
	case "TrentService.GetPublicKey":
		der, err := x509.MarshalPKIXPublicKey(a.key.Public())
		if err != nil {
			fail(http.StatusInternalServerError, "KMSInternalException", err.Error())
			return
		}
		reply(map[string]any{"KeyId": a.ARN, "PublicKey": der, "KeySpec": keySpec,
			"KeyUsage": "SIGN_VERIFY", "SigningAlgorithms": algs})
	case "TrentService.DescribeKey":
		reply(map[string]any{"KeyMetadata": map[string]any{
			"KeyId": a.KeyID, "Arn": a.ARN, "AWSAccountId": "111122223333", "Enabled": true,
			"KeyState": "Enabled", "KeySpec": keySpec, "KeyUsage": "SIGN_VERIFY",
			"SigningAlgorithms": algs, "KeyManager": "CUSTOMER", "Origin": "AWS_KMS"}})
	case "TrentService.Sign":
		a.signs.Add(1)
		hash, pss := awsAlgorithm(req.SigningAlgorithm)
		ok := false
		for _, alg := range algs {
			ok = ok || alg == req.SigningAlgorithm
		}
		if !ok || req.MessageType != "DIGEST" || len(req.Message) != hash.Size() {
			fail(http.StatusBadRequest, "ValidationException", "bad signing algorithm or digest")
			return
		}
		var opts crypto.SignerOpts = hash
		if pss {
			opts = &rsa.PSSOptions{Hash: hash, SaltLength: rsa.PSSSaltLengthEqualsHash}
		}
		sig, err := a.key.Sign(rand.Reader, req.Message, opts)
		if err != nil {
			fail(http.StatusInternalServerError, "KMSInternalException", err.Error())
			return
		}
		reply(map[string]any{"KeyId": a.ARN, "Signature": sig, "SigningAlgorithm": req.SigningAlgorithm})
	default:
		fail(http.StatusBadRequest, "UnknownOperationException", "unknown operation")
	}
}

func awsAlgorithm(alg string) (h crypto.Hash, pss bool) {
	switch {
	case strings.HasSuffix(alg, "_256"):
		h = crypto.SHA256
	case strings.HasSuffix(alg, "_384"):
		h = crypto.SHA384
	case strings.HasSuffix(alg, "_512"):
		h = crypto.SHA512
	}
	return h, strings.HasPrefix(alg, "RSASSA_PSS")
}

package signtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"hash/crc32"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/attestor/attestor/attestor/sign"
)

// GCPToken is the OAuth access token the fake Cloud KMS accepts.
const GCPToken = "ya29.testGCPAccessTokenSecret0123"

// GCPKeyName is the resource name of the fake Cloud KMS key, without
// the gcpkms:// scheme and version.
const GCPKeyName = "projects/p/locations/global/keyRings/ci/cryptoKeys/signer"

// GCPKMS serves the Cloud KMS gRPC API (GetCryptoKey,
// ListCryptoKeyVersions, GetCryptoKeyVersion, GetPublicKey,
// AsymmetricSign) over TLS on 127.0.0.1 for one asymmetric signing key
// with one enabled version, 1. Requests must carry the bearer token
// GCPToken.
type GCPKMS struct {
	kmspb.UnimplementedKeyManagementServiceServer

	// Addr is the server's HOST:PORT.
	Addr string
	// Roots trusts the server's certificate.
	Roots *x509.CertPool

	key   crypto.Signer
	alg   kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm
	signs atomic.Int32
	fail  atomic.Bool
}

// NewGCPKMS starts a fake Cloud KMS holding key (ECDSA P-256 or P-384, or
// RSA, which signs PKCS #1 v1.5 with SHA-256) until the test ends.
func NewGCPKMS(t testing.TB, key crypto.Signer) *GCPKMS {
	t.Helper()
	g := &GCPKMS{key: key}
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		g.alg = kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256
		if k.Curve == elliptic.P384() {
			g.alg = kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384
		}
	case *rsa.PublicKey:
		g.alg = map[int]kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm{
			2048: kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256,
			3072: kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_3072_SHA256,
			4096: kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA256,
		}[k.Size()*8]
	default:
		t.Fatalf("NewGCPKMS: unsupported key %T", key)
	}
	cert, roots := loopbackCert(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	kmspb.RegisterKeyManagementServiceServer(s, g)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	g.Addr, g.Roots = lis.Addr().String(), roots
	return g
}

// Ref returns the gcpkms:// URI of the key; with version, of its
// version 1.
func (g *GCPKMS) Ref(version bool) string {
	if version {
		return "gcpkms://" + GCPKeyName + "/cryptoKeyVersions/1"
	}
	return "gcpkms://" + GCPKeyName
}

// ClientOptions returns the Google API client options that reach the fake
// with token: its endpoint, its certificate, a static token source.
func (g *GCPKMS) ClientOptions(token string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(g.Addr),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: g.Roots, MinVersion: tls.VersionTLS12}))),
	}
}

// Signs counts the AsymmetricSign requests served.
func (g *GCPKMS) Signs() int { return int(g.signs.Load()) }

// Fail makes every request fail with codes.PermissionDenied.
func (g *GCPKMS) Fail(on bool) { g.fail.Store(on) }

func (g *GCPKMS) check(ctx context.Context, name string, version bool) error {
	if g.fail.Load() {
		return status.Error(codes.PermissionDenied, "Permission 'cloudkms.cryptoKeyVersions.useToSign' denied")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if auth := md.Get("authorization"); len(auth) != 1 || auth[0] != "Bearer "+GCPToken {
		return status.Error(codes.Unauthenticated, "Request had invalid authentication credentials.")
	}
	want := GCPKeyName
	if version {
		want += "/cryptoKeyVersions/1"
	}
	if name != want {
		return status.Errorf(codes.NotFound, "%s not found.", name)
	}
	return nil
}

func (g *GCPKMS) version() *kmspb.CryptoKeyVersion {
	return &kmspb.CryptoKeyVersion{Name: GCPKeyName + "/cryptoKeyVersions/1", State: kmspb.CryptoKeyVersion_ENABLED,
		Algorithm: g.alg, ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE}
}

// GetCryptoKey serves the key.
func (g *GCPKMS) GetCryptoKey(ctx context.Context, req *kmspb.GetCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	if err := g.check(ctx, req.GetName(), false); err != nil {
		return nil, err
	}
	return &kmspb.CryptoKey{Name: GCPKeyName, Purpose: kmspb.CryptoKey_ASYMMETRIC_SIGN, Primary: nil}, nil
}

// ListCryptoKeyVersions lists version 1.
func (g *GCPKMS) ListCryptoKeyVersions(ctx context.Context, req *kmspb.ListCryptoKeyVersionsRequest) (*kmspb.ListCryptoKeyVersionsResponse, error) {
	if err := g.check(ctx, req.GetParent(), false); err != nil {
		return nil, err
	}
	return &kmspb.ListCryptoKeyVersionsResponse{CryptoKeyVersions: []*kmspb.CryptoKeyVersion{g.version()}, TotalSize: 1}, nil
}

// GetCryptoKeyVersion serves version 1.
func (g *GCPKMS) GetCryptoKeyVersion(ctx context.Context, req *kmspb.GetCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	if err := g.check(ctx, req.GetName(), true); err != nil {
		return nil, err
	}
	return g.version(), nil
}

// GetPublicKey serves the public key of version 1.
func (g *GCPKMS) GetPublicKey(ctx context.Context, req *kmspb.GetPublicKeyRequest) (*kmspb.PublicKey, error) {
	if err := g.check(ctx, req.GetName(), true); err != nil {
		return nil, err
	}
	pem, err := sign.MarshalPublicKey(g.key.Public())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &kmspb.PublicKey{Pem: string(pem), Algorithm: g.alg, Name: req.GetName(),
		PemCrc32C: wrapperspb.Int64(int64(crc32c(pem))), ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE}, nil
}

// AsymmetricSign signs a digest with version 1, checking its CRC32C.
func (g *GCPKMS) AsymmetricSign(ctx context.Context, req *kmspb.AsymmetricSignRequest) (*kmspb.AsymmetricSignResponse, error) {
	if err := g.check(ctx, req.GetName(), true); err != nil {
		return nil, err
	}
	g.signs.Add(1)
	var (
		digest []byte
		hash   crypto.Hash
	)
	switch d := req.GetDigest().GetDigest().(type) {
	case *kmspb.Digest_Sha256:
		digest, hash = d.Sha256, crypto.SHA256
	case *kmspb.Digest_Sha384:
		digest, hash = d.Sha384, crypto.SHA384
	default:
		return nil, status.Error(codes.InvalidArgument, "unsupported digest")
	}
	want := crypto.SHA256
	if g.alg == kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384 {
		want = crypto.SHA384
	}
	if hash != want || len(digest) != hash.Size() {
		return nil, status.Errorf(codes.InvalidArgument, "The request digest type does not match the key's algorithm %s.", g.alg)
	}
	if c := req.GetDigestCrc32C(); c != nil && c.GetValue() != int64(crc32c(digest)) {
		return nil, status.Error(codes.InvalidArgument, "The checksum in field digest_crc32c did not match the data in field digest.")
	}
	sig, err := g.key.Sign(rand.Reader, digest, hash)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &kmspb.AsymmetricSignResponse{Signature: sig, SignatureCrc32C: wrapperspb.Int64(int64(crc32c(sig))),
		VerifiedDigestCrc32C: req.GetDigestCrc32C() != nil, Name: req.GetName(), ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE}, nil
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// loopbackCert makes a self-signed TLS certificate for 127.0.0.1 and a
// pool that trusts it.
func loopbackCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots
}

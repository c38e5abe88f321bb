package kms_test

import (
	"github.com/attestor/attestor/attestor/fault"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/kms"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

func TestHashiVaultConformance(t *testing.T) {
	t.Parallel()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, key := range map[string]crypto.Signer{"ecdsa-p256": ecKey, "ecdsa-p384": ec384, "ed25519": edKey, "rsa-2048": rsaKey} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := signtest.NewVault(t, key)
			addr := v.URL
			s, err := kms.Load(context.Background(), "hashivault://"+signtest.VaultKeyName, kms.WithVault(addr, signtest.VaultToken, ""))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if _, ok := key.(*rsa.PrivateKey); ok {
				// RSA KMS keys sign DSSE only: run the suite on the
				// plain envelope.Signer.
				signtest.Run(t, dsseOnly{s}, signtest.Secrets{signtest.VaultToken})
				if _, err := s.SignLegacy(context.Background(), []byte("m")); !errors.Is(err, sign.ErrUnsupportedKey) {
					t.Errorf("SignLegacy(RSA) = %v; want ErrUnsupportedKey", err)
				}
			} else {
				signtest.Run(t, s, signtest.Secrets{signtest.VaultToken})
			}
			if v.Signs() == 0 {
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
	addr := signtest.NewVault(t, ecKey).URL
	aws := signtest.NewAWSKMS(t, ecKey)
	gcp := signtest.NewGCPKMS(t, ecKey)
	awsOpts := func(keyID string, more ...func(*awsconfig.LoadOptions) error) []kms.Option {
		return []kms.Option{kms.WithAWS(append([]func(*awsconfig.LoadOptions) error{
			awsconfig.WithHTTPClient(aws.Server.Client()),
			awsconfig.WithRetryMaxAttempts(1),
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keyID, signtest.AWSSecretAccessKey, "")),
		}, more...)...)}
	}
	for _, c := range []struct {
		ref  string
		opts []kms.Option
		want error
	}{
		{"cosign.key", nil, fault.ErrInvalidInput},
		{"hashivault://", nil, fault.ErrInvalidInput},
		{"hashivault://nosuchkey", []kms.Option{kms.WithVault(addr, signtest.VaultToken, "")}, fault.ErrUnavailable},
		{"hashivault://" + signtest.VaultKeyName, []kms.Option{kms.WithVault(addr, "wrong-token", "")}, fault.ErrUnavailable},

		// Malformed URIs are usage errors, found before any request.
		{"gcpkms://projects/p/locations/l/keyRings/r", nil, fault.ErrInvalidInput},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/extra", nil, fault.ErrInvalidInput},
		{"awskms:///not-a-key-id", nil, fault.ErrInvalidInput},
		{"awskms://", nil, fault.ErrInvalidInput},
		{"azurekms://vault.vault.azure.net", nil, fault.ErrInvalidInput},
		{"azurekms://vault.vault.azure.net/k/v/extra", nil, fault.ErrInvalidInput},

		// A KMS that refuses or cannot be reached.
		{aws.Ref(), awsOpts("AKIAUNKNOWNKEY000000"), fault.ErrUnavailable},
		{"awskms://" + aws.Host + "/alias/nosuchkey", awsOpts(signtest.AWSAccessKeyID), fault.ErrUnavailable},
		{aws.Ref(), awsOpts(signtest.AWSAccessKeyID, awsconfig.WithRegion("eu-west-1")), fault.ErrUnavailable},
		{"awskms://127.0.0.1:1/" + signtest.AWSKeyAlias, awsOpts(signtest.AWSAccessKeyID), fault.ErrUnavailable},
		{gcp.Ref(false), []kms.Option{kms.WithGCP(gcp.ClientOptions("wrong-token")...)}, fault.ErrUnavailable},
		{"gcpkms://projects/p/locations/global/keyRings/ci/cryptoKeys/nosuchkey", []kms.Option{kms.WithGCP(gcp.ClientOptions(signtest.GCPToken)...)}, fault.ErrUnavailable},
		{gcp.Ref(false) + "/cryptoKeyVersions/2", []kms.Option{kms.WithGCP(gcp.ClientOptions(signtest.GCPToken)...)}, fault.ErrUnavailable},
	} {
		_, err := kms.Load(ctx, c.ref, c.opts...)
		if !errors.Is(err, c.want) {
			t.Errorf("Load(%q) = %v; want %v", c.ref, err, c.want)
		}
		if errors.Is(err, fault.ErrInvalidInput) && !strings.Contains(err.Error(), c.ref) {
			t.Errorf("Load(%q) = %v; the error does not name the ref", c.ref, err)
		}
		for _, secret := range []string{signtest.VaultToken, signtest.AWSSecretAccessKey, signtest.GCPToken} {
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("Load(%q): the error shows a secret: %v", c.ref, err)
			}
		}
	}
}

func TestVaultUnavailableWhileSigning(t *testing.T) {
	t.Parallel()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v := signtest.NewVault(t, ecKey)
	addr := v.URL
	s, err := kms.Load(context.Background(), "hashivault://"+signtest.VaultKeyName, kms.WithVault(addr, signtest.VaultToken, ""))
	if err != nil {
		t.Fatal(err)
	}
	v.Fail(true)
	_, err = s.Sign(context.Background(), []byte("m"))
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("Sign = %v; want ErrUnavailable", err)
	}
	if strings.Contains(fmt.Sprint(err), signtest.VaultToken) {
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

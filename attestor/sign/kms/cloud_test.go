package kms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"google.golang.org/api/option"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/kms"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

// TestMain points every cloud SDK's ambient configuration at nothing, so
// that a test that forgets an option fails fast instead of reaching a
// metadata server (169.254.169.254, metadata.google.internal) or a
// developer's credentials: tests only ever talk to fakes on 127.0.0.1.
func TestMain(m *testing.M) {
	if os.Getenv(azureChildEnv) == "" {
		for k, v := range map[string]string{
			"GCE_METADATA_HOST":              "127.0.0.1:1",
			"GCE_METADATA_IP":                "127.0.0.1:1",
			"GOOGLE_APPLICATION_CREDENTIALS": os.DevNull + "/none.json",
			"CLOUDSDK_CONFIG":                os.DevNull + "/none",
			"AWS_EC2_METADATA_DISABLED":      "true",
			"AWS_CONFIG_FILE":                os.DevNull,
			"AWS_SHARED_CREDENTIALS_FILE":    os.DevNull,
			"AWS_REGION":                     signtest.AWSRegion,
			"AZURE_TOKEN_CREDENTIALS":        "EnvironmentCredential",
		} {
			os.Setenv(k, v)
		}
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
			"AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_WEB_IDENTITY_TOKEN_FILE",
			"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
			"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "IMDS_ENDPOINT", "AZURE_ENVIRONMENT"} {
			os.Unsetenv(k)
		}
	}
	os.Exit(m.Run())
}

// secrets are the credentials of the fakes: no error, print or log may
// show them.
var secrets = signtest.Secrets{signtest.AWSSecretAccessKey, signtest.GCPToken, signtest.AzureIdentityHeader}

func awsOptions(a *signtest.AWSKMS) kms.Option {
	return kms.WithAWS(
		awsconfig.WithHTTPClient(a.Server.Client()),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(signtest.AWSAccessKeyID, signtest.AWSSecretAccessKey, "")),
	)
}

// conform runs the conformance suite on s, a Signer of key, and checks
// that the KMS signed.
func conform(t *testing.T, s *kms.Signer, key crypto.Signer, signs func() int) {
	t.Helper()
	if _, ok := key.(*rsa.PrivateKey); ok {
		signtest.Run(t, dsseOnly{s}, secrets)
		if _, err := s.SignLegacy(context.Background(), []byte("m")); !errors.Is(err, sign.ErrUnsupportedKey) {
			t.Errorf("SignLegacy(RSA) = %v; want ErrUnsupportedKey", err)
		}
	} else {
		signtest.Run(t, s, secrets)
	}
	if signs() == 0 {
		t.Error("the signer never asked the KMS to sign")
	}
	want, _ := sign.KeyID(key.Public())
	if got, _ := s.KeyID(); got != want {
		t.Errorf("KeyID = %s, want %s", got, want)
	}
}

func testKeys(t *testing.T, rsaToo bool) map[string]crypto.Signer {
	t.Helper()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	keys := map[string]crypto.Signer{"ecdsa-p256": p256, "ecdsa-p384": p384}
	if rsaToo {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		keys["rsa-2048"] = k
	}
	return keys
}

func TestAWSConformance(t *testing.T) {
	t.Parallel()
	for name, key := range testKeys(t, true) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := signtest.NewAWSKMS(t, key)
			for _, ref := range []string{a.Ref(), "awskms://" + a.Host + "/" + a.KeyID, "awskms://" + a.Host + "/" + a.ARN} {
				s, err := kms.Load(context.Background(), ref, awsOptions(a))
				if err != nil {
					t.Fatalf("Load(%s): %v", ref, err)
				}
				conform(t, s, key, a.Signs)
				if !strings.Contains(fmt.Sprint(s), ref) {
					t.Errorf("%v does not name %s", s, ref)
				}
			}
		})
	}
}

func TestGCPConformance(t *testing.T) {
	t.Parallel()
	for name, key := range testKeys(t, true) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := signtest.NewGCPKMS(t, key)
			for _, ref := range []string{g.Ref(false), g.Ref(true)} {
				s, err := kms.Load(context.Background(), ref, kms.WithGCP(g.ClientOptions(signtest.GCPToken)...))
				if err != nil {
					t.Fatalf("Load(%s): %v", ref, err)
				}
				conform(t, s, key, g.Signs)
			}
		})
	}
}

func TestCloudUnavailableWhileSigning(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := signtest.NewAWSKMS(t, key)
	g := signtest.NewGCPKMS(t, key)
	for _, c := range []struct {
		ref  string
		opt  kms.Option
		fail func(bool)
	}{
		{a.Ref(), awsOptions(a), a.Fail},
		{g.Ref(true), kms.WithGCP(g.ClientOptions(signtest.GCPToken)...), g.Fail},
	} {
		s, err := kms.Load(context.Background(), c.ref, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		c.fail(true)
		ctx, cancel := context.WithTimeout(context.Background(), 30e9)
		_, err = s.Sign(ctx, []byte("m"))
		cancel()
		if !errors.Is(err, fault.ErrUnavailable) {
			t.Errorf("%s: Sign = %v; want ErrUnavailable", c.ref, err)
		}
		for _, secret := range secrets {
			if strings.Contains(fmt.Sprint(err), secret) {
				t.Errorf("%s: a secret shows in the error", c.ref)
			}
		}
	}
}

// Azure's signer takes no options: its SDK reads the environment, and
// trusts the fake's certificate only through SSL_CERT_FILE, which Go reads
// once per process. So the Azure tests run in a child process of the test
// binary, with the environment of the fake.
const (
	azureChildEnv = "ATTESTOR_TEST_AZURE_CHILD" // the ref to load
	azureWantEnv  = "ATTESTOR_TEST_AZURE_WANT"  // "ok", "unavailable" or "unsupported"
	azureKeyIDEnv = "ATTESTOR_TEST_AZURE_KEYID" // the key id Load must find
)

func TestAzureConformance(t *testing.T) {
	t.Parallel()
	for name, key := range testKeys(t, false) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := signtest.NewAzureKMS(t, key)
			id, _ := sign.KeyID(key.Public())
			azureChild(t, a, "ok", id)
			if a.Tokens() == 0 || a.Signs() == 0 {
				t.Errorf("the fake issued %d tokens and signed %d times", a.Tokens(), a.Signs())
			}
		})
	}
	t.Run("rsa", func(t *testing.T) {
		t.Parallel()
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		a := signtest.NewAzureKMS(t, key)
		azureChild(t, a, "unsupported", "")
	})
	t.Run("wrong secret", func(t *testing.T) {
		t.Parallel()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		a := signtest.NewAzureKMS(t, key)
		azureChild(t, a, "unavailable", "", "IDENTITY_HEADER=wrong-"+signtest.AzureIdentityHeader)
		if a.Tokens() != 0 {
			t.Error("a token was issued for a wrong secret")
		}
	})
}

func azureChild(t *testing.T, a *signtest.AzureKMS, want, keyID string, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAzureChild$", "-test.count=1", "-test.v")
	cmd.Env = append(append(append(os.Environ(), a.Env()...), env...),
		azureChildEnv+"="+a.Ref(), azureWantEnv+"="+want, azureKeyIDEnv+"="+keyID)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "--- PASS: TestAzureChild") {
		t.Fatalf("Azure child: %v\n%s", err, &out)
	}
	if strings.Contains(out.String(), signtest.AzureIdentityHeader) {
		t.Error("the identity header shows in the child's output")
	}
}

// TestAzureChild is the child process of TestAzureConformance.
func TestAzureChild(t *testing.T) {
	ref := os.Getenv(azureChildEnv)
	if ref == "" {
		t.Skip("run by TestAzureConformance")
	}
	s, err := kms.Load(context.Background(), ref)
	switch os.Getenv(azureWantEnv) {
	case "unavailable":
		if !errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("Load(%s) = %v; want ErrUnavailable", ref, err)
		}
		t.Logf("Load: %v", err)
		return
	case "unsupported":
		// sigstore's Azure client re-encodes signatures as ECDSA ones.
		if !errors.Is(err, sign.ErrUnsupportedKey) || !strings.Contains(err.Error(), ref) {
			t.Fatalf("Load(%s) = %v; want ErrUnsupportedKey naming the ref", ref, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Load(%s): %v", ref, err)
	}
	signtest.Run(t, s, secrets)
	if id, _ := s.KeyID(); id != os.Getenv(azureKeyIDEnv) {
		t.Errorf("KeyID = %s, want %s", id, os.Getenv(azureKeyIDEnv))
	}
}

// TestLoadHonorsContext: an unreachable Cloud KMS, which sigstore's client
// retries for a minute with a context of its own (then fails with
// DeadlineExceeded), fails Load as soon as the caller cancels.
func TestLoadHonorsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := kms.Load(ctx, "gcpkms://"+signtest.GCPKeyName,
		kms.WithGCP(option.WithEndpoint("127.0.0.1:1"), option.WithoutAuthentication()))
	if !errors.Is(err, fault.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Load = %v; want ErrUnavailable and Canceled", err)
	}
}

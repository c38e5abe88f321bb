package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/workspace"
)

// TestKMSCloud signs a build → package chain with an AWS KMS key (a fake
// AWS KMS on 127.0.0.1, named in the URI), prints its public key with key
// public, and verifies the chain with a policy that lists that key. The
// environment holds static credentials and turns EC2 instance metadata
// off, so nothing but the fake is ever asked.
func TestKMSCloud(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := signtest.NewAWSKMS(t, key)
	env := append(a.Env(), "GCE_METADATA_HOST=127.0.0.1:1", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)
	ref := a.Ref()
	p := newProject(t)

	r := attestorProcess(t, p.base, env, "key", "public", "--key", ref)
	if r.code != 0 {
		t.Fatalf("attestor key public --key %s:\n%s", ref, r)
	}
	keys := t.TempDir()
	pubPEM := r.stdout
	pubFile := filepath.Join(keys, "keys", "ci.pub")
	writeFile(t, pubFile, pubPEM)
	ver, err := sign.LoadVerifier(pubFile)
	if err != nil {
		t.Fatalf("key public printed %q: %v", r.stdout, err)
	}
	keyID, _ := ver.KeyID()
	if want, _ := sign.KeyID(key.Public()); keyID != want {
		t.Fatalf("key public printed the key %s, want %s", keyID, want)
	}
	shown := r.stdout + r.stderr

	steps := [][]string{
		{"--step", "build", "-m", "src", "-p", "bin", "--", "sh", "-c", `mkdir -p "$0/bin" && cat "$0"/src/*.c > "$0/bin/app"`, p.base},
		{"--step", "package", "-m", "bin", "-p", "app.tar", "--", "sh", "-c", `cp "$0/bin/app" "$0/app.tar"`, p.base},
	}
	for _, step := range steps {
		args := append([]string{"run", "--dir", p.ws, "--base-dir", p.base, "--key", ref}, step...)
		r = attestorProcess(t, p.base, env, args...)
		if r.code != 0 {
			t.Fatalf("attestor %s:\n%s", strings.Join(args, " "), r)
		}
		shown += r.stdout + r.stderr
	}
	verifyStepEnvelope(t, p.ws, "build", keyID, ver)
	if a.Signs() < 2 {
		t.Errorf("AWS KMS signed %d times, want 2", a.Signs())
	}

	policy := buildPackagePolicy(t, keys, pubPEM)
	r = attestorProcess(t, p.base, nil, "verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy)
	if r.code != 0 || !strings.Contains(r.stderr, ": PASSED") {
		t.Fatalf("verify of the KMS-signed chain:\n%s", r)
	}

	// A malformed URI is a usage error naming the ref; a KMS that refuses
	// the credentials is unavailable (exit 3).
	bad := "awskms://" + a.Host + "/not-a-key"
	r = attestorProcess(t, p.base, env, "key", "public", "--key", bad)
	if r.code != 2 || !strings.Contains(r.stderr, `"`+bad+`"`) {
		t.Errorf("key public --key %s: want exit 2 naming the ref:\n%s", bad, r)
	}
	r = attestorProcess(t, p.base, append(env, "AWS_ACCESS_KEY_ID=AKIAUNKNOWNKEY000000", "AWS_MAX_ATTEMPTS=1"), "key", "public", "--key", ref)
	if r.code != 3 {
		t.Errorf("key public with unknown credentials: want exit 3:\n%s", r)
	}
	shown += r.stdout + r.stderr
	if strings.Contains(shown, signtest.AWSSecretAccessKey) {
		t.Error("the AWS secret access key shows")
	}
}

// verifyStepEnvelope checks that the workspace ws holds the envelope of
// step signed by the key keyID, and that it verifies with ver.
func verifyStepEnvelope(t *testing.T, ws, step, keyID string, ver *sign.Verifier) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ws, workspace.EnvelopeName(step, keyID)))
	if err != nil {
		t.Fatalf("no envelope of step %s for the key %s: %v", step, keyID, err)
	}
	envelope, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sign.VerifyEnvelope(context.Background(), envelope, ver); err != nil {
		t.Errorf("the envelope of step %s does not verify with the public key: %v", step, err)
	}
}

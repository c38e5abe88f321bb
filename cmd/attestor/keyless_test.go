package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/workspace"
)

// TestRunKeyless records a step keyless, as in GitHub Actions, against
// the offline sigstore: the envelope and its bundle are written, the
// bundle verifies with the workflow's identity, and no token shows
// anywhere.
func TestRunKeyless(t *testing.T) {
	t.Parallel()
	s := signtest.NewSigstore(t)
	_, rootFile := s.TrustedRoot(t)
	p := newProject(t)
	env := []string{
		sign.EnvGitHubTokenURL + "=" + s.TokenURL,
		sign.EnvGitHubRequestToken + "=" + signtest.GitHubRequestToken,
	}
	r := attestorProcess(t, p.base, env, "run", "--json", "-v", "--dir", p.ws, "--base-dir", p.base,
		"--step", "build", "-m", "src", "-p", "bin",
		"--keyless", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL, "--trusted-root", rootFile,
		"--", "sh", "-c", `mkdir -p bin && echo app > bin/app`)
	if r.code != 0 {
		t.Fatalf("attestor run --keyless:\n%s", r)
	}
	step := decodeStep(t, r)
	if len(step.Files) != 2 || !strings.HasSuffix(step.Files[0], workspace.SuffixEnvelope) || !strings.HasSuffix(step.Files[1], workspace.SuffixBundle) {
		t.Fatalf("files = %q; want an envelope and a bundle", step.Files)
	}
	bundle, err := os.ReadFile(step.Files[1])
	if err != nil {
		t.Fatal(err)
	}
	trusted, _ := s.TrustedRoot(t)
	payload, err := sign.VerifyBundle(context.Background(), bundle, trusted, signtest.GitHubIdentity())
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	var st struct {
		Subject []struct{ Name string }
	}
	if err := json.Unmarshal(payload, &st); err != nil || len(st.Subject) != 1 || st.Subject[0].Name != "bin/app" {
		t.Errorf("statement subjects %+v, %v", st.Subject, err)
	}

	// No token in the output, the logs (-v) or the workspace.
	shown := r.stdout + r.stderr
	entries, _ := os.ReadDir(p.ws)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(p.ws, e.Name()))
		shown += string(data)
	}
	tokens := s.Issued()
	if len(tokens) == 0 {
		t.Fatal("no token was issued")
	}
	for _, tok := range append(tokens, signtest.GitHubRequestToken) {
		if strings.Contains(shown, tok) || strings.Contains(shown, tok[len(tok)/2:]) {
			t.Errorf("a token shows in the output, logs or workspace")
		}
	}

	// In GitHub Actions, the token is masked: the only place it shows is
	// the ::add-mask:: command the runner consumes.
	tok := s.IdentityToken()
	maskEnv := []string{"GITHUB_ACTIONS=true", sign.EnvSigstoreIDToken + "=" + tok}
	r = attestorProcess(t, p.base, maskEnv, "run", "--dir", p.ws, "--base-dir", p.base, "--step", "test", "-m", "src",
		"--keyless", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL, "--", "true")
	if !strings.Contains(r.stderr, "::add-mask::"+tok+"\n") {
		t.Errorf("the token was not masked:\n%s", r)
	}
	rest := strings.ReplaceAll(r.stdout+r.stderr, "::add-mask::"+tok+"\n", "")
	if strings.Contains(rest, tok) {
		t.Errorf("the token shows outside ::add-mask::")
	}
}

func TestKeylessBadUsage(t *testing.T) {
	t.Parallel()
	s := signtest.NewSigstore(t)
	p := newProject(t)
	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"key and keyless", nil, []string{"--key", p.key, "--keyless"}, 2, "choose one"},
		{"no token", nil, []string{"--keyless", "--fulcio-url", s.FulcioURL}, 2, "identity token"},
		{"bad identity token", nil, []string{"--keyless", "--identity-token", "not-a-jwt"}, 2, "--identity-token"},
		{"fulcio down", nil, []string{"--keyless", "--identity-token", s.IdentityToken(), "--fulcio-url", "http://127.0.0.1:1"}, 3, "Fulcio"},
		{"malformed KMS URI", nil, []string{"--key", "awskms:///arn:aws:kms:us-east-1:1:key/k"}, 2, `"awskms:///arn:aws:kms:us-east-1:1:key/k"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--dir", p.ws, "--base-dir", p.base, "--step", "build", "-m", "src"}, c.args...)
			r := attestorProcess(t, p.base, append(c.env, "GCE_METADATA_HOST="), append(args, "--", "true")...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("want exit %d and %q:\n%s", c.code, c.want, r)
			}
		})
	}
}

// TestKMS signs a step with a Vault transit key and prints its public key
// with key public, as a policy needs it.
func TestKMS(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := signtest.NewVault(t, key)
	env := []string{"VAULT_ADDR=" + v.URL, "VAULT_TOKEN=" + signtest.VaultToken}
	ref := "hashivault://" + signtest.VaultKeyName
	p := newProject(t)

	r := attestorProcess(t, p.base, env, "key", "public", "--key", ref)
	if r.code != 0 {
		t.Fatalf("attestor key public --key %s:\n%s", ref, r)
	}
	pubFile := filepath.Join(t.TempDir(), "ci.pub")
	writeFile(t, pubFile, r.stdout)
	ver, err := sign.LoadVerifier(pubFile)
	if err != nil {
		t.Fatalf("key public printed %q: %v", r.stdout, err)
	}
	keyID, _ := ver.KeyID()

	r = attestorProcess(t, p.base, env, "run", "--dir", p.ws, "--base-dir", p.base, "--step", "build", "-m", "src", "--key", ref, "--", "true")
	if r.code != 0 {
		t.Fatalf("attestor run --key %s:\n%s", ref, r)
	}
	verifyStepEnvelope(t, p.ws, "build", keyID, ver)
	if v.Signs() == 0 {
		t.Error("Vault never signed")
	}
	if strings.Contains(r.stdout+r.stderr, signtest.VaultToken) {
		t.Error("the Vault token shows")
	}

	// A malformed URI is a usage error that names it, found before any
	// request (so no cloud SDK looks for credentials here).
	bad := "gcpkms://projects/p/locations/l/keyRings/r"
	r = attestorProcess(t, p.base, env, "key", "public", "--key", bad)
	if r.code != 2 || !strings.Contains(r.stderr, `"`+bad+`"`) || !strings.Contains(r.stderr, "cryptoKeys") {
		t.Errorf("key public --key %s: want exit 2 naming the ref and the format:\n%s", bad, r)
	}
}

package sign_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ita1 "github.com/in-toto/attestation/go/v1"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign/signtest"
)

// TestKeylessCosignInterop: cosign verify-blob-attestation --bundle
// accepts the bundles Keyless makes, with the workflow's identity, and
// rejects another repository. (The offline Fulcio embeds no SCT, hence
// --insecure-ignore-sct; the public Fulcio does.)
func TestKeylessCosignInterop(t *testing.T) {
	t.Parallel()
	cosign := filepath.Join(build.Default.GOPATH, "bin", "cosign")
	if _, err := os.Stat(cosign); err != nil {
		cosign = requireTool(t, "cosign")
	}
	s := signtest.NewSigstore(t)
	_, rootFile := s.TrustedRoot(t)
	k := s.Keyless(t)
	dir := t.TempDir()
	blob := []byte("the app\n")
	app := writeFile(t, dir, "app", blob)
	sum := sha256.Sum256(blob)
	st := testStatement(t)
	st.Subject = []*ita1.ResourceDescriptor{{Name: "app", Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}}
	env, _, err := envelope.SignStatement(context.Background(), k, st)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Bundle(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	bundle := writeFile(t, dir, "app.sigstore.json", b)

	verify := func(repo string) (string, error) {
		cmd := exec.Command(cosign, "verify-blob-attestation", "--bundle", bundle, "--new-bundle-format",
			"--trusted-root", rootFile, "--insecure-ignore-sct",
			"--certificate-identity", signtest.GitHubSubject, "--certificate-oidc-issuer", signtest.GitHubIssuer,
			"--certificate-github-workflow-repository", repo,
			"--type", st.PredicateType, app)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "TUF_ROOT="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(signtest.GitHubRepository); err != nil || !strings.Contains(out, "Verified OK") {
		t.Errorf("cosign verify-blob-attestation: %v\n%s", err, out)
	}
	if out, err := verify("evil/app"); err == nil {
		t.Errorf("cosign verified the bundle for another repository:\n%s", out)
	}
}

package oci_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// requireTool returns the path of an external tool, looked up on PATH and
// in extra directories. A missing tool skips the test, or fails it when
// ATTESTOR_REQUIRE_TOOLS=1 (CI).
func requireTool(t *testing.T, tool string, extra ...string) string {
	t.Helper()
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	for _, dir := range extra {
		p := filepath.Join(dir, tool)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("ATTESTOR_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s not found (ATTESTOR_REQUIRE_TOOLS=1); run .ci/setup", tool)
	}
	t.Skipf("%s not found; run .ci/setup (or set ATTESTOR_REQUIRE_TOOLS=1 to fail)", tool)
	return ""
}

func goBin(t *testing.T) []string {
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return nil
	}
	var dirs []string
	for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	return dirs
}

// startDistribution starts Debian's docker-registry (distribution 2.8) on a
// free 127.0.0.1 port with a temporary config and storage, and returns its
// host. It is stopped when the test ends.
func startDistribution(t *testing.T) string {
	t.Helper()
	bin := requireTool(t, "docker-registry", "/usr/bin")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "storage"), host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting docker-registry: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return host
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", host, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keyPair writes a cosign key pair as attestor key generate does and
// returns the loaded signer and the public key's path.
func keyPair(t *testing.T, dir, prefix string) (*sign.Signer, string) {
	t.Helper()
	password := []byte("e2e-password")
	priv, pub, err := sign.GenerateKeyPair(password)
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath := filepath.Join(dir, prefix+".key"), filepath.Join(dir, prefix+".pub")
	if err := os.WriteFile(privPath, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := sign.Load(privPath, sign.WithPassword(func() ([]byte, error) { return password, nil }))
	if err != nil {
		t.Fatal(err)
	}
	return s, pubPath
}

// provenance signs a minimal SLSA v1 provenance statement about subject.
func provenance(t *testing.T, s envelope.Signer, subject store.Subject) store.Attestation {
	t.Helper()
	st := map[string]any{
		"_type": "https://in-toto.io/Statement/v1",
		"subject": []any{map[string]any{
			"name":   subject.Name,
			"digest": map[string]string{subject.Digest.Algorithm: subject.Digest.Hex},
		}},
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate": map[string]any{
			"buildDefinition": map[string]any{
				"buildType":          "https://attestor.dev/buildtypes/e2e/v1",
				"externalParameters": map[string]any{"test": t.Name()},
			},
			"runDetails": map[string]any{
				"builder": map[string]any{"id": "https://attestor.dev/e2e"},
			},
		},
	}
	payload, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(t.Context(), s, envelope.PayloadTypeInToto, payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.NewAttestation(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func pushRandom(t *testing.T, ref string) {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// TestEndToEndDistribution pushes a step record and SLSA provenance to a
// real registry (distribution 2.8, which has no referrers API) and checks
// that cosign verify-attestation accepts them with the right key, and
// only with it, and only on the right image.
func TestEndToEndDistribution(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	cosign := requireTool(t, "cosign", goBin(t)...)
	host := startDistribution(t)
	dir := t.TempDir()
	signer, pub := keyPair(t, dir, "cosign")
	_, otherPub := keyPair(t, dir, "other")

	image, other := host+"/e2e/app:v1", host+"/e2e/other:v1"
	pushRandom(t, image)
	pushRandom(t, other)

	reg, err := oci.New(oci.WithConflictRetries(4, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	d, err := oci.Resolve(ctx, image, reg.RemoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := store.ImageSubject(d)
	if err != nil {
		t.Fatal(err)
	}
	step := storetest.SignedAttestation(t, signer, subject, envelope.PredicateTypeLink, "build")
	prov := provenance(t, signer, subject)
	res, err := reg.PushImage(ctx, image, step, prov)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if res.Image != d.String() {
		t.Errorf("pushed to %s, want %s", res.Image, d)
	}
	// Twice: idempotent.
	if _, err := reg.PushImage(ctx, image, prov, step); err != nil {
		t.Fatalf("second push: %v", err)
	}
	got, err := reg.Get(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, step, prov)
	for _, a := range got {
		if a.Bundle == nil {
			t.Errorf("attestation %s has no bundle from the referrers tag fallback", a.PredicateType)
		}
	}

	// cosign v2 reads the referrers first: finding a sigstore bundle
	// there, it verifies in its bundle mode, which needs a trusted root
	// (fetched from the sigstore TUF repository, or --trusted-root). A
	// key-signed bundle needs no CA, log or TSA, so an empty trusted root
	// lets this test run offline; online, cosign fetches the public one
	// and the same command passes without it.
	trustedRoot := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(trustedRoot, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(key, img string, extra ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		args := append([]string{"verify-attestation",
			"--key", key, "--type", "slsaprovenance1",
			"--insecure-ignore-tlog=true", "--allow-insecure-registry"}, extra...)
		cmd := exec.CommandContext(ctx, cosign, append(args, img)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	withRoot := []string{"--trusted-root", trustedRoot}
	if out, err := verify(pub, image, withRoot...); err != nil {
		t.Fatalf("cosign verify-attestation (bundle from the referrers) with the signing key failed: %v\n%s", err, out)
	}
	if out, err := verify(pub, d.String(), withRoot...); err != nil {
		t.Fatalf("cosign verify-attestation by digest failed: %v\n%s", err, out)
	}
	if out, err := verify(otherPub, image, withRoot...); err == nil {
		t.Fatalf("cosign verify-attestation with another key passed:\n%s", out)
	}
	if out, err := verify(pub, other, withRoot...); err == nil {
		t.Fatalf("cosign verify-attestation of another image passed:\n%s", out)
	}

	// The cosign .att scheme alone: cosign's classic mode, which needs no
	// trusted root, with exactly the command users run.
	cosignOnly, err := oci.New(oci.WithScheme(oci.SchemeCosign))
	if err != nil {
		t.Fatal(err)
	}
	attImage := host + "/e2e/att-only:v1"
	pushRandom(t, attImage)
	attD, err := oci.Resolve(ctx, attImage, reg.RemoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	attSubject, _ := store.ImageSubject(attD)
	if _, err := cosignOnly.PushImage(ctx, attImage,
		storetest.SignedAttestation(t, signer, attSubject, envelope.PredicateTypeLink, "build"),
		provenance(t, signer, attSubject)); err != nil {
		t.Fatalf("push (cosign scheme): %v", err)
	}
	if out, err := verify(pub, attImage); err != nil {
		t.Fatalf("cosign verify-attestation (.att) with the signing key failed: %v\n%s", err, out)
	}
	if out, err := verify(otherPub, attImage); err == nil {
		t.Fatalf("cosign verify-attestation (.att) with another key passed:\n%s", out)
	}
	if out, err := verify(pub, other); err == nil {
		t.Fatalf("cosign verify-attestation (.att) of another image passed:\n%s", out)
	}
}

// TestEndToEndConcurrentPush: pipelines pushing to one image of a real
// registry at once keep each other's attestations, in both schemes (the
// .att tag and the referrers tag fallback are both read-modify-write).
func TestEndToEndConcurrentPush(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	host := startDistribution(t)
	image := host + "/e2e/busy:v1"
	pushRandom(t, image)
	ctx := t.Context()
	reg, err := oci.New(oci.WithConflictRetries(10, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := reg.Resolve(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 6
	var want []store.Attestation
	errs := make(chan error, writers)
	for i := range writers {
		a := storetest.Attestation(t, subject, envelope.PredicateTypeLink, fmt.Sprintf("pipeline-%d", i))
		want = append(want, a)
		go func() { errs <- reg.Put(ctx, subject, a) }()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Errorf("concurrent push: %v", err)
		}
	}
	got, err := reg.Get(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, want...)
	for _, a := range got {
		if a.Bundle == nil {
			t.Errorf("attestation lost from the referrers tag fallback")
		}
	}
	d, _ := name.NewDigest(subject.String())
	img, err := remote.Image(oci.AttestationTag(d))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != writers {
		t.Errorf(".att image has %d layers, want %d", len(m.Layers), writers)
	}
}

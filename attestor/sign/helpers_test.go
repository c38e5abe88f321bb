package sign_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/sign"
)

// testPassword is the password of the cosign keys in testdata (see
// testdata/gen.sh and testdata/cosign.password).
const testPassword = "attestor-test"

// password returns a password function for WithPassword.
func password(pw string) sign.Option {
	return sign.WithPassword(func() ([]byte, error) { return []byte(pw), nil })
}

// keyFixture is a private key in testdata and what it should load as.
type keyFixture struct {
	file    string // private key, in testdata
	pub     string // its public key, in testdata
	keyType string
	scheme  string
	opts    []sign.Option
}

// keyFixtures lists every private key format Load supports, with one key of
// each type and curve.
func keyFixtures() []keyFixture {
	return []keyFixture{
		{file: "ed25519.key", pub: "ed25519.pub", keyType: "ed25519", scheme: "ed25519"},
		{file: "ecdsa-p256.key", pub: "ecdsa-p256.pub", keyType: "ecdsa", scheme: "ecdsa-sha2-nistp256"},
		{file: "ecdsa-p384.key", pub: "ecdsa-p384.pub", keyType: "ecdsa", scheme: "ecdsa-sha2-nistp384"},
		{file: "ecdsa-p521.key", pub: "ecdsa-p521.pub", keyType: "ecdsa", scheme: "ecdsa-sha2-nistp521"},
		{file: "ecdsa-p256-sec1.key", pub: "ecdsa-p256-sec1.pub", keyType: "ecdsa", scheme: "ecdsa-sha2-nistp256"},
		{file: "rsa-2048.key", pub: "rsa-2048.pub", keyType: "rsa", scheme: "rsassa-pss-sha256"},
		{file: "rsa-3072-pkcs1.key", pub: "rsa-3072-pkcs1.pub", keyType: "rsa", scheme: "rsassa-pss-sha256"},
		{file: "cosign.key", pub: "cosign.pub", keyType: "ecdsa", scheme: "ecdsa-sha2-nistp256", opts: []sign.Option{password(testPassword)}},
		{file: "cosign-legacy.key", pub: "cosign.pub", keyType: "ecdsa", scheme: "ecdsa-sha2-nistp256", opts: []sign.Option{password(testPassword)}},
		{file: "cosign-empty.key", pub: "cosign-empty.pub", keyType: "ecdsa", scheme: "ecdsa-sha2-nistp256", opts: []sign.Option{password("")}},
		{file: "cosign-ed25519.key", pub: "cosign-ed25519.pub", keyType: "ed25519", scheme: "ed25519", opts: []sign.Option{password(testPassword)}},
		{file: "cosign-rsa.key", pub: "cosign-rsa.pub", keyType: "rsa", scheme: "rsassa-pss-sha256", opts: []sign.Option{password(testPassword)}},
	}
}

func testdata(name string) string { return filepath.Join("testdata", name) }

// loadSigner loads a fixture or fails the test.
func loadSigner(t testing.TB, f keyFixture) *sign.Signer {
	t.Helper()
	s, err := sign.Load(testdata(f.file), f.opts...)
	if err != nil {
		t.Fatalf("Load(%s): %v", f.file, err)
	}
	return s
}

// loadVerifier loads a public key fixture or fails the test.
func loadVerifier(t testing.TB, file string) *sign.Verifier {
	t.Helper()
	v, err := sign.LoadVerifier(testdata(file))
	if err != nil {
		t.Fatalf("LoadVerifier(%s): %v", file, err)
	}
	return v
}

// requireTool returns the path of an external tool, or skips the test when
// it is not installed, unless ATTESTOR_REQUIRE_TOOLS=1, in which case the
// test fails.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("ATTESTOR_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (ATTESTOR_REQUIRE_TOOLS=1): %v", name, err)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

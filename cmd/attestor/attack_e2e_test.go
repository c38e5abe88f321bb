//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"hash/crc32"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/workspace"
)

// The end-to-end attacks of the threat model (.github/SECURITY.md): what
// runs in the same job as the same user, between two steps or as the
// command a step wraps, tries to get an artifact that no honest step
// produced past the gate. Each must end in a refusal (exit 1).

// attackPolicy writes a policy for build -> package: build creates
// dist/app, package takes it and creates app.tar, every step signed by the
// key whose public key is pub.
func attackPolicy(t *testing.T, pub string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ci.pub"), pub)
	policy := filepath.Join(dir, "policy.yaml")
	writeFile(t, policy, `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: build
    functionaries: [ci]
    materials: [[ALLOW, "src/*"], [DISALLOW, "*"]]
    products: [[CREATE, dist/app], [DISALLOW, "*"]]
  - name: package
    functionaries: [ci]
    materials: [[MATCH, dist/app, WITH, PRODUCTS, FROM, build], [DISALLOW, "*"]]
    products: [[CREATE, app.tar], [DISALLOW, "*"]]
`)
	return policy
}

// forgeCacheEntry writes the workspace's hash cache as an attacker who can
// write the workspace would: one entry that gives the file at path, as it
// is now, the digest sum. The format is the one the file already there
// has, if any (the magic's last byte is its version), else the current
// one: version 1 ends with a CRC-32C, which anyone can compute; version 2
// with an HMAC-SHA256 under key (nil: the attacker's guess).
func forgeCacheEntry(t *testing.T, cacheFile, path, sum string, key []byte) {
	t.Helper()
	magic := []byte("attestor hash cache\x00\x02")
	if old, err := os.ReadFile(cacheFile); err == nil && len(old) >= len(magic) {
		magic = old[:len(magic)]
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(real, &st); err != nil {
		t.Fatal(err)
	}
	digest, err := hex.DecodeString(sum)
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte(nil), magic...)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, uint64(len(real)))
	b = append(b, real...)
	b = binary.AppendUvarint(b, uint64(st.Dev))
	b = binary.AppendUvarint(b, st.Ino)
	b = binary.AppendVarint(b, st.Size)
	b = binary.AppendVarint(b, st.Mtim.Nano())
	b = binary.AppendVarint(b, st.Ctim.Nano())
	b = binary.AppendVarint(b, time.Now().UnixNano())
	b = append(b, 2) // flags: the sha256 digest follows
	b = append(b, digest...)
	switch version := magic[len(magic)-1]; version {
	case 1:
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	default:
		if key == nil {
			key = make([]byte, 32)
			rand.Read(key)
		}
		m := hmac.New(sha256.New, key)
		m.Write(b)
		b = m.Sum(b)
	}
	if err := os.MkdirAll(filepath.Dir(cacheFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cacheFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// cacheKeyOf is the key the workspace hash cache of the steps signed with
// the PEM key file keyFile is sealed with (sign.Signer.DeriveKey).
func cacheKeyOf(t *testing.T, keyFile string) []byte {
	t.Helper()
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", keyFile)
	}
	key, err := hkdf.Key(sha256.New, block.Bytes, nil, "attestor workspace hash cache v2", 32)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestAttackCachePoisoning is a hostile phase between two steps: after an
// honest build, it replaces the built binary and writes a hash-cache
// entry that maps the new file to the honest digest, hoping that the next
// honest step records the honest digest for the new content and that the
// gate passes the tarball built from it. With --workspace-cache the cache
// it writes without the key is ignored; by default no cache is read from
// the workspace at all, not even one sealed with the right key.
func TestAttackCachePoisoning(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		flags    []string
		rightKey bool // the forger seals the cache with the steps' key
	}{
		{"workspace cache, forged without the key", []string{"--workspace-cache"}, false},
		{"default, a cache sealed with the right key", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			policy := attackPolicy(t, cli(t, "key", "public", "--key", p.key).stdout)
			const good, evil = "GOOD-BINARY", "EVIL-BINARY"
			// Sources older than the racy window, so that the build
			// leaves a cache (whose format the attacker then reads).
			time.Sleep(2100 * time.Millisecond)
			args := append(p.runArgs(append([]string{"-m", "src", "-p", "dist/app"}, tc.flags...)...), "--", "sh", "-c", "mkdir -p dist && printf "+good+" > dist/app")
			if r := attestorProcess(t, p.base, nil, args...); r.code != 0 {
				t.Fatalf("build:\n%s", r)
			}

			// The hostile phase.
			writeFile(t, p.path("dist/app"), evil)
			sum := sha256.Sum256([]byte(good))
			var key []byte
			if tc.rightKey {
				key = cacheKeyOf(t, p.key)
			}
			forgeCacheEntry(t, filepath.Join(p.ws, "_cache", "hash.v1"), p.path("dist/app"), hex.EncodeToString(sum[:]), key)
			// Older than the racy window when the next step begins: a
			// cache entry for a file changed within it would be ignored
			// anyway.
			time.Sleep(2100 * time.Millisecond)

			args = append(p.runArgs(append([]string{"--step", "package", "-m", "dist/app", "-p", "app.tar"}, tc.flags...)...), "--", "cp", "dist/app", "app.tar")
			if r := attestorProcess(t, p.base, nil, args...); r.code != 0 {
				t.Fatalf("package:\n%s", r)
			}
			r := cli(t, "verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", policy)
			if r.code != 1 {
				t.Fatalf("verify of a tarball built from a replaced binary: want exit 1 (refused)\n%s", r)
			}
			if !strings.Contains(r.stderr+r.stdout, "dist/app") {
				t.Errorf("the refusal does not name dist/app:\n%s", r)
			}
		})
	}
}

// hostileScript is the command of a `test` step run by a compromised test
// dependency. It builds an evil dist/app and app.tar and signs records of
// the build and package steps for them, with whatever signing secret it
// can reach: from its environment ($from = env), from the environment of
// the attestor process that runs it (/proc/$PPID/environ, $from = proc),
// or from the action's temporary key file ($from = tmpfile). Where the
// secret is the PEM key, it is written to a file of its own first. It
// never fails: the gate's verdict tells whether it succeeded.
const hostileScript = `
set +e
secret() { # the value of variable $1 in the attestor process's environment
  sed -z -n "s/^$1=//p" "/proc/$PPID/environ" 2>/dev/null | tr -d '\0'
}
case "$from" in
  env)     pw="${COSIGN_PASSWORD-}"; pem="${INPUT_KEY-}" ;;
  proc)    pw="$(secret COSIGN_PASSWORD)"; pem="$(secret INPUT_KEY)" ;;
  tmpfile) pw=""; pem="$(cat "$TMPDIR"/attestor-key-*.pem 2>/dev/null)" ;;
esac
key="$KEYFILE"
if [ -n "$pem" ]; then key="$PWD/stolen.pem"; printf '%s\n' "$pem" > "$key"; fi
mkdir -p dist && printf EVIL-BINARY > dist/app && cp dist/app app.tar
export COSIGN_PASSWORD="$pw"
"$ATTESTOR" run --dir "$WS" --step build -p dist/app --key "$key" -- true
"$ATTESTOR" run --dir "$WS" --step package -m dist/app -p app.tar --key "$key" -- true
exit 0
`

// TestAttackHostileCommand is a step whose command is hostile: it tries
// to sign a whole fake chain with the secret attestor signs its own record
// with, taken from its environment, from attestor's /proc/PID/environ or
// from the key file the action wrote. The gate must refuse what it built.
// The step runs as an unprivileged user (when the test runs as root, as
// uid 65534): a command running as root can read any process's memory,
// which no program can keep it from (see .github/SECURITY.md).
func TestAttackHostileCommand(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("no /proc here")
	}
	const password = "cosign-password-of-ci"
	for _, tc := range []struct {
		name   string
		action bool // run through `attestor action` with the PEM key in INPUT_KEY
		from   string
	}{
		{"cosign key, password from env", false, "env"},
		{"cosign key, password from the parent's environ", false, "proc"},
		{"action, PEM key from env", true, "env"},
		{"action, PEM key from the parent's environ", true, "proc"},
		{"action, PEM key from its temporary file", true, "tmpfile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			cred := unprivileged(t)
			tmp := t.TempDir()
			env := []string{"TMPDIR=" + tmp, "ATTESTOR=" + attestorBin, "WS=" + p.ws, "from=" + tc.from}
			writeFile(t, p.path("hostile.sh"), hostileScript)
			var r result
			if tc.action {
				pem, err := os.ReadFile(p.key)
				if err != nil {
					t.Fatal(err)
				}
				env = append(env, "KEYFILE=/nonexistent", "INPUT_COMMAND=run", "INPUT_STEP=test", "INPUT_MATERIALS=src",
					"INPUT_KEY="+string(pem), "INPUT_ARGS=sh hostile.sh", "INPUT_DIR="+p.ws)
				giveTo(t, cred, p.base, filepath.Dir(p.key), tmp)
				r = attestorProcessAs(t, cred, p.base, env, "action")
			} else {
				p.cosignKey(t, password)
				env = append(env, "KEYFILE="+p.key, "COSIGN_PASSWORD="+password)
				giveTo(t, cred, p.base, filepath.Dir(p.key), tmp)
				r = attestorProcessAs(t, cred, p.base, env, append(p.runArgs("--step", "test", "-m", "src"), "--", "sh", "hostile.sh")...)
			}
			if r.code != 0 {
				t.Fatalf("the test step:\n%s", r)
			}
			pub := attestorProcess(t, p.base, []string{"COSIGN_PASSWORD=" + password}, "key", "public", "--key", p.key)
			if pub.code != 0 {
				t.Fatalf("key public:\n%s", pub)
			}
			if _, err := os.Stat(p.path("app.tar")); err != nil {
				t.Fatalf("the hostile command did not run: %v\n%s", err, r)
			}
			v := cli(t, "verify", "--dir", p.ws, "--artifact", p.path("app.tar"), "--policy", attackPolicy(t, pub.stdout))
			if v.code != 1 {
				t.Fatalf("verify of the hostile command's tarball: want exit 1 (refused)\n%s\n--- the test step:\n%s", v, r)
			}
		})
	}
}

// unprivileged returns the user the hostile steps run as: nil (this
// process's user) unless it is root, else uid and gid 65534.
func unprivileged(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	// The binary, and the directories above the tests' temporary ones,
	// must be reachable by that user.
	for _, dir := range []string{filepath.Dir(attestorBin), filepath.Dir(t.TempDir())} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &syscall.Credential{Uid: 65534, Gid: 65534}
}

// giveTo makes the trees at paths cred's (nothing when cred is nil).
func giveTo(t *testing.T, cred *syscall.Credential, paths ...string) {
	t.Helper()
	if cred == nil {
		return
	}
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(cred.Uid), int(cred.Gid))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommandNameRedacted: a secret given as the command itself (a token
// pasted where the command should be) is redacted from the error that
// says the command cannot start, as it is from the record.
func TestCommandNameRedacted(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	const token = "ghs_notarealtokenbutsecretlooking0123"
	r := attestorProcess(t, p.base, []string{"GITHUB_TOKEN=" + token}, append(p.runArgs("-m", "src"), "--", token, "arg")...)
	if r.code != 2 {
		t.Fatalf("run of a command that does not exist: want exit 2\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, token) {
		t.Errorf("the secret reached the output:\n%s", r)
	}
	if !strings.Contains(r.stderr, "command cannot start") || !strings.Contains(r.stderr, "***") {
		t.Errorf("the error does not say the (redacted) command cannot start:\n%s", r)
	}
}

// TestCommandEnvHasNoSigningSecret runs a step with each kind of signer
// and every signing secret in the environment: the wrapped command gets
// none of those its step signs with, nor attestor's own, and keeps the
// rest of the environment (including other kinds' credentials, which the
// build may need).
func TestCommandEnvHasNoSigningSecret(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vault := signtest.NewVault(t, key)
	aws := signtest.NewAWSKMS(t, key)
	s := signtest.NewSigstore(t)
	const password = "cosign-password-of-ci"
	common := []string{
		"BUILD_FLAVOR=release", "GITHUB_TOKEN=ghs_buildtoken", "GCE_METADATA_HOST=127.0.0.1:1",
		"ATTESTOR_GRAFEAS_TOKEN=grafeas-token",
		"INPUT_KEY=-----BEGIN PRIVATE KEY-----", "input_identity-token=a.b.c",
		"COSIGN_PASSWORD=" + password, "VAULT_ADDR=" + vault.URL, "VAULT_TOKEN=" + signtest.VaultToken,
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		sign.EnvGitHubTokenURL + "=" + s.TokenURL, sign.EnvGitHubRequestToken + "=" + signtest.GitHubRequestToken,
	}
	common = append(common, aws.Env()...)
	always := []string{"COSIGN_PASSWORD", "ATTESTOR_KEY", "ATTESTOR_GRAFEAS_TOKEN", "INPUT_KEY", "input_identity-token"}
	for _, tc := range []struct {
		name     string
		key      func(p *project) []string // the signing flags
		withheld []string                  // besides always
		kept     []string
	}{
		{"cosign key", func(p *project) []string { p.cosignKey(t, password); return []string{"--key", p.key} },
			nil, []string{"VAULT_TOKEN", "AWS_SECRET_ACCESS_KEY", sign.EnvGitHubRequestToken}},
		{"hashivault", func(*project) []string { return []string{"--key", "hashivault://" + signtest.VaultKeyName} },
			[]string{"VAULT_TOKEN"}, []string{"AWS_SECRET_ACCESS_KEY", sign.EnvGitHubRequestToken}},
		{"awskms", func(*project) []string { return []string{"--key", aws.Ref()} },
			[]string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, []string{"VAULT_TOKEN", sign.EnvGitHubRequestToken}},
		{"keyless", func(*project) []string {
			return []string{"--keyless", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL}
		}, []string{sign.EnvGitHubTokenURL, sign.EnvGitHubRequestToken}, []string{"VAULT_TOKEN", "AWS_SECRET_ACCESS_KEY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			args := append([]string{"run", "--dir", p.ws, "--base-dir", p.base, "--step", "build", "-m", "src", "-p", "env.txt"}, tc.key(p)...)
			r := attestorProcess(t, p.base, common, append(args, "--", "sh", "-c", "env > env.txt")...)
			if r.code != 0 {
				t.Fatalf("run:\n%s", r)
			}
			data, err := os.ReadFile(p.path("env.txt"))
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, line := range strings.Split(string(data), "\n") {
				if name, _, ok := strings.Cut(line, "="); ok {
					names[name] = true
				}
			}
			for _, n := range append(append([]string{}, always...), tc.withheld...) {
				if names[n] {
					t.Errorf("the command got %s", n)
				}
			}
			for _, n := range append([]string{"BUILD_FLAVOR", "GITHUB_TOKEN"}, tc.kept...) {
				if !names[n] {
					t.Errorf("the command lost %s", n)
				}
			}
		})
	}
}

// TestAttackDockerConfig plants a docker config in the job's HOME, as
// anything that ran earlier in the job can: attestor runs no credential
// helper it names by a path, never hands a helper its signing secrets,
// never blocks on a FIFO there, and gives up on a helper that does not
// answer within the call's time limit.
func TestAttackDockerConfig(t *testing.T) {
	t.Parallel()
	const password = "cosign-password-of-ci"
	setup := func(t *testing.T, config string) (p *project, env []string, spyOut string) {
		t.Helper()
		p = newProject(t)
		p.cosignKey(t, password)
		home, bin := t.TempDir(), t.TempDir()
		spyOut = filepath.Join(t.TempDir(), "helper.env")
		writeFile(t, filepath.Join(home, ".docker", "config.json"), config)
		for _, h := range []string{filepath.Join(bin, "docker-credential-spy"), p.path("docker-credential-x/evil")} {
			writeFile(t, h, "#!/bin/sh\nenv > \"$SPY_OUT\"\n[ -n \"$SPY_SLEEP\" ] && sleep \"$SPY_SLEEP\"\necho '{\"ServerURL\":\"\",\"Username\":\"u\",\"Secret\":\"p\"}'\n")
			if err := os.Chmod(h, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		env = []string{"HOME=" + home, "PATH=" + bin + ":" + os.Getenv("PATH"), "SPY_OUT=" + spyOut, "COSIGN_PASSWORD=" + password}
		if r := attestorProcess(t, p.base, env, append(p.runArgs("-m", "src"), "--", "true")...); r.code != 0 {
			t.Fatalf("run:\n%s", r)
		}
		return p, env, spyOut
	}
	provenance := func(p *project) []string {
		return []string{"provenance", "--dir", p.ws, "--key", p.key, "--source", "https://example.com/a@refs/heads/main", "--subject", "oci://127.0.0.1:1/acme/app:v1"}
	}

	t.Run("helper gets no signing secret", func(t *testing.T) {
		t.Parallel()
		p, env, spyOut := setup(t, `{"credsStore": "spy"}`)
		r := attestorProcess(t, p.base, env, provenance(p)...)
		data, err := os.ReadFile(spyOut)
		if err != nil {
			t.Fatalf("the credential helper did not run: %v\n%s", err, r)
		}
		if strings.Contains(string(data), password) {
			t.Errorf("the credential helper got COSIGN_PASSWORD")
		}
		// The action's key, verifying with the VSA signed by it.
		pem, err := os.ReadFile(p.key)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(spyOut)
		pub, err := os.ReadFile(strings.TrimSuffix(p.key, ".key") + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		policy := attackPolicy(t, string(pub))
		r = attestorProcess(t, p.base, append(env, "INPUT_COMMAND=verify", "INPUT_IMAGE=127.0.0.1:1/acme/app:v1",
			"INPUT_POLICY="+policy, "INPUT_KEY="+string(pem), "INPUT_DIR="+p.ws), "action")
		data, err = os.ReadFile(spyOut)
		if err != nil {
			t.Fatalf("the credential helper did not run for the action: %v\n%s", err, r)
		}
		if strings.Contains(string(data), "INPUT_KEY") || strings.Contains(string(data), "PRIVATE KEY") {
			t.Errorf("the credential helper got the action's key input")
		}
	})
	t.Run("helper named by a path", func(t *testing.T) {
		t.Parallel()
		p, env, spyOut := setup(t, `{"credsStore": "x/evil"}`)
		r := attestorProcess(t, p.base, env, provenance(p)...)
		if r.code != 2 || !strings.Contains(r.stderr, "not a plain helper name") {
			t.Errorf("a docker config naming a helper by a path: want exit 2 saying so\n%s", r)
		}
		if _, err := os.Stat(spyOut); err == nil {
			t.Error("the helper named by a path ran")
		}
	})
	t.Run("FIFO", func(t *testing.T) {
		t.Parallel()
		p, env, _ := setup(t, `{}`)
		home := strings.TrimPrefix(env[0], "HOME=")
		cfg := filepath.Join(home, ".docker", "config.json")
		os.Remove(cfg)
		if err := syscall.Mkfifo(cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd, stderr := startAttestor(t, p.base, env, provenance(p)...)
		if code := waitExit(t, cmd, 20*time.Second, stderr); code != 2 || !strings.Contains(stderr.String(), "FIFO") {
			t.Errorf("a FIFO for a docker config: exit %d, want 2 naming it\n%s", code, stderr)
		}
	})
	t.Run("helper that does not answer", func(t *testing.T) {
		t.Parallel()
		p, env, _ := setup(t, `{"credsStore": "spy"}`)
		cmd, stderr := startAttestor(t, p.base, append(env, "SPY_SLEEP=300"), "push", "--dir", p.ws, "--image", "127.0.0.1:1/acme/app:v1", "--timeout", "3s")
		if code := waitExit(t, cmd, 20*time.Second, stderr); code != 3 {
			t.Errorf("a credential helper that hangs: exit %d, want 3\n%s", code, stderr)
		}
	})
}

// TestAttackProvenanceOverTamperedRecord: a hostile phase before
// provenance rewrites the final step's record to name another product
// (its signature no longer verifies). provenance must not sign for it:
// not bind it, not take its products as subjects. A final record that is
// not signed by the provenance's key gives no default subjects.
func TestAttackProvenanceOverTamperedRecord(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	if r := cli(t, append(p.runArgs("-m", "src", "-p", "src"), "--", "true")...); r.code != 0 {
		t.Fatalf("run:\n%s", r)
	}
	prov := func(key string, extra ...string) result {
		return cli(t, append([]string{"provenance", "--dir", p.ws, "--key", key, "--source", "https://example.com/a@refs/heads/main"}, extra...)...)
	}
	// Another key signs provenance: the record is not its own to vouch for.
	other := filepath.Join(t.TempDir(), "other.key")
	writeKey(t, other, "ed25519")
	if r := prov(other); r.code != 2 || !strings.Contains(r.stderr, "not signed by the provenance's key") {
		t.Errorf("provenance by another key without --subject: want exit 2 saying why\n%s", r)
	}
	if r := prov(other, "--subject", p.path("src/main.c")); r.code != 0 {
		t.Errorf("provenance by another key with --subject:\n%s", r)
	}

	// The hostile phase: the record's subject renamed, the signature kept.
	envPath := filepath.Join(p.ws, workspace.EnvelopeName("build", p.keyID(t)))
	data, err := os.ReadFile(envPath)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := env.DecodeB64Payload()
	env.Payload = encodeB64([]byte(strings.ReplaceAll(string(payload), `"src/main.c"`, `"evil.tar"`)))
	tampered, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(envPath, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, p.ws)
	r := prov(p.key)
	if r.code != 2 || !strings.Contains(r.stderr, "does not verify") {
		t.Fatalf("provenance over a tampered record: want exit 2 saying it does not verify\n%s", r)
	}
	before.unchanged(t, "provenance over a tampered record", p.ws)
}

// attestorProcessAs is attestorProcess as the user cred (nil: this
// process's user).
func attestorProcessAs(t *testing.T, cred *syscall.Credential, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(attestorBin, args...)
	if cred == nil {
		return runAttestorProcess(t, cmd, dir, env)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return runAttestorProcess(t, cmd, dir, env, func(home string) { giveTo(t, cred, home) })
}

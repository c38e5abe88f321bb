package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.yaml.in/yaml/v3"

	"github.com/attestor/attestor/actions/github"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/workspace"
)

// actionYAML is the part of action.yml the tests read.
type actionYAML struct {
	Name     string            `yaml:"name"`
	Branding map[string]string `yaml:"branding"`
	Inputs   map[string]struct {
		Description string
		Default     *string
	} `yaml:"inputs"`
	Outputs map[string]struct{ Description string } `yaml:"outputs"`
}

// actionYAMLInputOrder returns the names of action.yml's inputs but the
// install step's, in the order it declares them.
func actionYAMLInputOrder(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Inputs yaml.Node }
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	var names []string
	for i := 0; i+1 < len(doc.Inputs.Content); i += 2 {
		if name := doc.Inputs.Content[i].Value; !slices.Contains(installOnlyInputs, name) {
			names = append(names, name)
		}
	}
	return names
}

func readActionYAML(t *testing.T) *actionYAML {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a actionYAML
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return &a
}

// TestActionYAML: action.yml declares exactly the inputs the entry point
// maps (and the install step's), and the outputs it writes; it is a
// composite action whose install step sees only its own inputs, and whose
// run step passes every input of the entry point as INPUT_<NAME>, as the
// runner passes them to a Docker action, runs `attestor action` with the
// installed binary and maps each output to that step's.
func TestActionYAML(t *testing.T) {
	t.Parallel()
	a := readActionYAML(t)
	var declared []string
	for name, in := range a.Inputs {
		if !slices.Contains(installOnlyInputs, name) {
			declared = append(declared, name)
		}
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
		if in.Default != nil {
			// A default is always passed, and an input the command does
			// not use is refused.
			t.Errorf("input %s has a default", name)
		}
	}
	// The table's inputs are action.yml's, in its order.
	var table []string
	for _, in := range actionInputs {
		table = append(table, in.name)
	}
	if diff := cmp.Diff(table, actionYAMLInputOrder(t)); diff != "" {
		t.Errorf("action.yml inputs (-actionInputs +action.yml):\n%s", diff)
	}
	slices.Sort(declared)
	if diff := cmp.Diff(slices.Sorted(slices.Values(table)), declared); diff != "" {
		t.Errorf("action.yml inputs (-entry point +action.yml):\n%s", diff)
	}
	// Each row names known commands, and a flag each of them has.
	for _, in := range actionInputs {
		for _, cmd := range slices.Concat(in.commands, in.needs, in.args) {
			if _, ok := actionCommands[cmd]; !ok {
				t.Errorf("input %s: unknown command %q", in.name, cmd)
			}
		}
		for _, cmd := range append(slices.Clone(in.needs), in.args...) {
			if !in.readBy(cmd) {
				t.Errorf("input %s: command %s needs it but does not read it", in.name, cmd)
			}
		}
		if in.flag == "" {
			continue
		}
		for _, cmd := range slices.Sorted(maps.Keys(actionCommands)) {
			if !in.readBy(cmd) || slices.Contains(in.args, cmd) {
				continue
			}
			c, _, err := newRootCmd(&globals{}).Find(actionCommands[cmd])
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimPrefix(in.flag, "--")
			if c.Flags().Lookup(name) == nil && c.InheritedFlags().Lookup(name) == nil {
				t.Errorf("input %s: attestor %s has no flag %s", in.name, strings.Join(actionCommands[cmd], " "), in.flag)
			}
		}
	}
	var outputs []string
	for name := range a.Outputs {
		outputs = append(outputs, name)
	}
	slices.Sort(outputs)
	want := []string{outAttestations, outExitCode, outImage, outImageDigest, outPromotedImage, outProvenanceDigest, outVerdict, outVerified}
	slices.Sort(want)
	if diff := cmp.Diff(want, outputs); diff != "" {
		t.Errorf("action.yml outputs (-entry point +action.yml):\n%s", diff)
	}
	for _, name := range installOnlyInputs {
		if _, ok := a.Inputs[name]; !ok {
			t.Errorf("action.yml has no input %s", name)
		}
	}

	c := readCompositeYAML(t)
	if c.Runs.Using != "composite" || len(c.Runs.Steps) != 2 {
		t.Fatalf("runs = %+v, want composite with two steps, install and run", c.Runs)
	}
	install, run := c.Runs.Steps[0], c.Runs.Steps[1]
	if install.ID != "install" || run.ID != "run" {
		t.Fatalf("steps %q, %q, want install, run", install.ID, run.ID)
	}
	// The install step: no input but its own, so no secret.
	for _, m := range exprRE.FindAllStringSubmatch(install.Run+fmt.Sprint(install.Env), -1) {
		if in, ok := strings.CutPrefix(m[1], "inputs."); ok && !slices.Contains(installOnlyInputs, in) {
			t.Errorf("the install step reads the input %s", in)
		}
	}
	// The job's env reaches a composite action's steps: the secrets
	// attestor reads are blanked for the install step.
	for _, name := range secretEnv {
		if v, ok := install.Env[name]; !ok || v != "" {
			t.Errorf("the install step's env does not blank %s", name)
		}
	}
	if !strings.Contains(install.Run, "actions/github/install.sh") {
		t.Errorf("install runs %q, want actions/github/install.sh", install.Run)
	}
	// The run step: every input of the entry point, as the runner names
	// them for a Docker action, and nothing else.
	wantEnv := map[string]string{"ATTESTOR_BIN": "${{ steps.install.outputs.bin }}"}
	for _, in := range actionInputs {
		name := in.name
		wantEnv["INPUT_"+strings.ToUpper(strings.ReplaceAll(name, " ", "_"))] = "${{ inputs." + name + " }}"
	}
	if diff := cmp.Diff(wantEnv, run.Env); diff != "" {
		t.Errorf("run step env (-want +action.yml):\n%s", diff)
	}
	if strings.TrimSpace(run.Run) != `"$ATTESTOR_BIN" action` {
		t.Errorf("run step runs %q, want \"$ATTESTOR_BIN\" action", run.Run)
	}
	for name, o := range c.Outputs {
		if o.Value != "${{ steps.run.outputs."+name+" }}" {
			t.Errorf("output %s = %q, want the run step's", name, o.Value)
		}
	}
	if a.Branding["icon"] == "" || a.Branding["color"] == "" {
		t.Errorf("branding = %v", a.Branding)
	}
}

// ghRunner runs the action's entry point as the GitHub runner runs a
// container action: the workspace as working directory, every declared
// input as INPUT_<NAME> (upper-cased, hyphens kept, "" when not given), a
// fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY file per step, the event
// payload at GITHUB_EVENT_PATH and the job's GITHUB_* and RUNNER_*
// variables.
type ghRunner struct {
	t         *testing.T
	workspace string
	files     string
	inputs    []string
	env       []string
	steps     int
}

// ghStep is what one step of the action did.
type ghStep struct {
	result
	outputs map[string]string
	summary string
}

func newGHRunner(t *testing.T, workspace string, env ...string) *ghRunner {
	t.Helper()
	r := &ghRunner{t: t, workspace: workspace, files: t.TempDir()}
	for name := range readActionYAML(t).Inputs {
		if slices.Contains(installOnlyInputs, name) {
			continue // the install step's, not attestor action's
		}
		r.inputs = append(r.inputs, name)
	}
	event := filepath.Join(r.files, "event.json")
	writeFile(t, event, `{"inputs": {"release": "rc1", "attempt": 2},
 "repository": {"id": 123456, "html_url": "https://github.com/acme/app", "owner": {"id": 42}}}`)
	r.env = append([]string{
		"CI=true",
		"GITHUB_ACTIONS=true",
		"GITHUB_WORKSPACE=" + workspace,
		"GITHUB_EVENT_PATH=" + event,
		"GITHUB_EVENT_NAME=workflow_dispatch",
		"GITHUB_SERVER_URL=https://github.com",
		"GITHUB_REPOSITORY=acme/app",
		"GITHUB_REPOSITORY_ID=123456",
		"GITHUB_REPOSITORY_OWNER_ID=42",
		"GITHUB_REF=refs/heads/main",
		"GITHUB_SHA=0123456789abcdef0123456789abcdef01234567",
		"GITHUB_WORKFLOW_REF=acme/app/.github/workflows/release.yml@refs/heads/main",
		"GITHUB_RUN_ID=987",
		"GITHUB_RUN_ATTEMPT=1",
		"RUNNER_ENVIRONMENT=github-hosted",
		"RUNNER_OS=Linux",
		"RUNNER_ARCH=X64",
	}, env...)
	return r
}

func (r *ghRunner) step(inputs map[string]string, env ...string) ghStep {
	r.t.Helper()
	r.steps++
	output := filepath.Join(r.files, "set_output_"+strconv.Itoa(r.steps))
	summary := filepath.Join(r.files, "step_summary_"+strconv.Itoa(r.steps))
	for _, f := range []string{output, summary} {
		writeFile(r.t, f, "") // the runner creates them empty
	}
	stepEnv := append(slices.Clone(r.env), "GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+summary)
	for name := range inputs {
		if !slices.Contains(r.inputs, name) {
			r.t.Fatalf("input %s is not declared in action.yml", name)
		}
	}
	for _, name := range r.inputs {
		stepEnv = append(stepEnv, "INPUT_"+strings.ToUpper(strings.ReplaceAll(name, " ", "_"))+"="+inputs[name])
	}
	stepEnv = append(stepEnv, env...)
	res := ghStep{result: attestorProcess(r.t, r.workspace, stepEnv, "action")}
	data, err := os.ReadFile(output)
	if err != nil {
		r.t.Fatal(err)
	}
	if res.outputs, err = github.ParseFileCommands(string(data)); err != nil {
		r.t.Fatalf("GITHUB_OUTPUT: %v\n%s", err, data)
	}
	sum, err := os.ReadFile(summary)
	if err != nil {
		r.t.Fatal(err)
	}
	res.summary = string(sum)
	return res
}

// testImage pushes a random image to repo:tag and returns its digest and
// raw manifest.
func testImage(t *testing.T, ref string) (v1.Hash, []byte) {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return d, raw
}

// pipelinePolicy is the policy of the test pipeline: build, then an image
// step whose product is the image's manifest, then provenance.
func pipelinePolicy(t *testing.T, dir, pubPEM string, provenance string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "keys", "ci.pub"), pubPEM)
	path := filepath.Join(dir, "policy.yaml")
	writeFile(t, path, `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: keys/ci.pub}
steps:
  - name: build
    functionaries: [ci]
    materials: [[ALLOW, "src/*"], [DISALLOW, "*"]]
    products: [[CREATE, bin/app], [DISALLOW, "*"]]
  - name: image
    functionaries: [ci]
    materials: [[MATCH, bin/app, WITH, PRODUCTS, FROM, build], [DISALLOW, "*"]]
    products: [[CREATE, "dist/*"], [DISALLOW, "*"]]
`+provenance)
	return path
}

// TestActionPipeline runs a whole pipeline through the action's entry
// point as GitHub would: record-start and record-stop around a build, run
// around the image step, provenance with the key from a secret, push
// --dry-run (INPUT_DRY-RUN, INPUT_GRAFEAS-URL), verify; then a verify
// that fails. It checks the outputs, the step summaries and the masks.
func TestActionPipeline(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	imageRef := host + "/acme/app:v1"
	digest, manifest := testImage(t, imageRef)
	evilDigest, _ := testImage(t, host+"/acme/app:evil")

	const password = "pipeline-password-7f3a"
	priv, pub, keyID := encryptedKey(t, password)
	short := keyID[:8]

	work := t.TempDir()
	writeFile(t, filepath.Join(work, "src", "main.c"), "int main(void) { return 0; }\n")
	writeFile(t, filepath.Join(work, "ci.key"), string(priv))
	writeFile(t, filepath.Join(work, "staging", "manifest.json"), string(manifest))
	policy := pipelinePolicy(t, t.TempDir(), string(pub), `provenance:
  functionaries: [ci]
  builderIds: [https://github.com/actions/runner/github-hosted]
  sourceRepos: [https://github.com/acme/app]
`)
	gh := newGHRunner(t, work, "COSIGN_PASSWORD="+password)
	masked := "::add-mask::" + password + "\n"

	// build: record-start, the build (outside the action), record-stop.
	st := gh.step(map[string]string{"command": "record-start", "step": "build", "materials": "src\n", "key": "ci.key"})
	if st.code != 0 {
		t.Fatalf("record-start:\n%s", st.result)
	}
	assertContains(t, "stdout", st.stdout, masked, "::group::attestor --json record start --step build --materials src --key ci.key\n", "::endgroup::")
	writeFile(t, filepath.Join(work, "bin", "app"), "app binary\n")
	st = gh.step(map[string]string{"command": "record-stop", "step": "build", "products": "bin/app", "key": "ci.key"})
	if st.code != 0 {
		t.Fatalf("record-stop:\n%s", st.result)
	}
	buildFile := filepath.Join(".attestor", "build."+short+".dsse.json")
	if st.outputs[outAttestations] != buildFile {
		t.Errorf("record-stop outputs = %q, want attestations %s", st.outputs, buildFile)
	}
	assertContains(t, "summary", st.summary, "### attestor record-stop", "| build | `"+short+"` | `1 materials`<br>`1 products` | recorded |")

	// image: run wraps the command that writes the image's manifest.
	st = gh.step(map[string]string{
		"command": "run", "step": "image", "materials": "bin/app", "products": "dist", "key": "ci.key",
		"args": `sh -c 'mkdir -p dist && cp staging/manifest.json "$0"' "dist/app image.json"`,
	})
	if st.code != 0 {
		t.Fatalf("run:\n%s", st.result)
	}
	if st.outputs[outExitCode] != "0" || !strings.Contains(st.outputs[outAttestations], "image."+short+".dsse.json") {
		t.Errorf("run outputs = %q", st.outputs)
	}
	if got, _ := os.ReadFile(filepath.Join(work, "dist", "app image.json")); string(got) != string(manifest) {
		t.Fatalf("the wrapped command did not run as split: dist has %q", got)
	}

	// provenance, signed with the key as a secret holds it: masked line by
	// line, never on the command line shown.
	st = gh.step(map[string]string{"command": "provenance", "subjects": "oci://" + imageRef, "key": string(priv)})
	if st.code != 0 {
		t.Fatalf("provenance:\n%s", st.result)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(priv)), "\n") {
		if strings.HasPrefix(line, "-----") {
			continue // the PEM armor is no secret
		}
		assertContains(t, "stdout", st.stdout, "::add-mask::"+line+"\n")
	}
	if strings.Contains(st.stderr, "PRIVATE KEY") {
		t.Errorf("the key reached the log:\n%s", st.stderr)
	}
	assertContains(t, "stdout", st.stdout, "--key ***\n")
	provDigest := st.outputs[outProvenanceDigest]
	provFile := filepath.Join(work, ".attestor", workspace.AttestationName("provenance", keyID))
	data, err := os.ReadFile(provFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256Digest(data); provDigest != want {
		t.Errorf("provenance-digest = %q, want %s", provDigest, want)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	// The event payload's workflow inputs and the job's facts are in it.
	assertContains(t, "provenance", string(payload), `"release":"rc1"`, "https://github.com/acme/app", "github-hosted", digest.Hex)
	assertContains(t, "summary", st.summary, "| (provenance) | `"+short+"` | `"+host+"/acme/app@"+digest.String()+"` | signed "+provDigest+" |")

	// push --dry-run, to the registry and Grafeas: hyphenated inputs.
	st = gh.step(map[string]string{
		"command": "push", "image": imageRef, "dry-run": "true", "to": "oci, grafeas",
		"grafeas-url": "http://127.0.0.1:9", "grafeas-project": "acme",
	})
	if st.code != 0 {
		t.Fatalf("push --dry-run:\n%s", st.result)
	}
	if st.outputs[outImageDigest] != digest.String() || st.outputs[outImage] != host+"/acme/app@"+digest.String() || st.outputs[outProvenanceDigest] != provDigest {
		t.Errorf("push outputs = %q", st.outputs)
	}
	assertContains(t, "stdout", st.stdout, "--dry-run", "--to oci,grafeas", "--grafeas http://127.0.0.1:9 --grafeas-project acme")
	assertContains(t, "summary", st.summary, "**Subject:** `"+host+"/acme/app@"+digest.String()+"`", "would push (", "Dry run: nothing was written to the registry.")
	if tags, err := remote.List(mustRepo(t, host+"/acme/app")); err != nil || len(tags) != 2 {
		t.Errorf("the dry run wrote to the registry: tags %v, %v", tags, err)
	}

	// verify, from the workspace.
	st = gh.step(map[string]string{"command": "verify", "image": imageRef, "policy": policy, "from": "dir"})
	if st.code != 0 {
		t.Fatalf("verify:\n%s", st.result)
	}
	want := map[string]string{
		outVerified: "true", outVerdict: "PASSED", outImageDigest: digest.String(),
		outImage: host + "/acme/app@" + digest.String(), outProvenanceDigest: provDigest,
	}
	for k, v := range want {
		if st.outputs[k] != v {
			t.Errorf("verify output %s = %q, want %q", k, st.outputs[k], v)
		}
	}
	assertContains(t, "summary", st.summary, "**Verdict:** ✅ PASSED", "| Step | Signers | Subjects | Verdict |",
		"| build | `ci", "| image | `ci", "| (provenance) | `ci")
	// The chain as a Mermaid graph, under the table.
	assertContains(t, "summary", st.summary, "|\n\n```mermaid\nflowchart LR\n", `s0["build<br/>passed"]`, `s0 -->|"bin/app"| s1`, "class s0,s1,subject,provenance passed\n```\n")
	if strings.Contains(st.stdout, "SPINNAKER_PROPERTY_") {
		t.Errorf("Spinnaker properties outside Spinnaker:\n%s", st.stdout)
	}

	// promote --dry-run: verifies the same way and signs, copies nothing.
	st = gh.step(map[string]string{
		"command": "promote", "image": imageRef, "destination": host + "/prod/app:v1", "policy": policy,
		"from": "dir", "key": "ci.key", "dry-run": "true",
	})
	if st.code != 0 {
		t.Fatalf("promote --dry-run:\n%s", st.result)
	}
	if st.outputs[outVerified] != "true" || st.outputs[outImageDigest] != digest.String() || st.outputs[outPromotedImage] != host+"/prod/app@"+digest.String() {
		t.Errorf("promote outputs = %q", st.outputs)
	}
	assertContains(t, "summary", st.summary, "### attestor promote", "**Verdict:** ✅ PASSED", "Dry run: would promote to "+host+"/prod/app@"+digest.String(),
		"```mermaid\nflowchart LR\n")
	if _, err := remote.Head(mustRef(t, host+"/prod/app:v1")); err == nil {
		t.Error("the dry run copied the image")
	}

	// verify another image: FAILED, exit 1, outputs still written.
	st = gh.step(map[string]string{"command": "verify", "image": host + "/acme/app:evil", "policy": policy, "from": "dir"})
	if st.code != 1 {
		t.Fatalf("verify of another image: exit %d, want 1:\n%s", st.code, st.result)
	}
	if st.outputs[outVerified] != "false" || st.outputs[outVerdict] != "FAILED" || st.outputs[outImageDigest] != evilDigest.String() {
		t.Errorf("failed verify outputs = %q", st.outputs)
	}
	assertContains(t, "summary", st.summary, "**Verdict:** ❌ FAILED", "subject-mismatch", "exited with status 1",
		"```mermaid\n", `failed: the products of the final step do not include`, "class s1,subject,provenance failed")
	assertContains(t, "stdout", st.stdout, "::error::attestor verify failed (exit 1)")

	// verify against a policy that rejects the provenance (another
	// builder): no provenance-digest, which names the one the gate
	// accepted.
	strict := pipelinePolicy(t, t.TempDir(), string(pub), `provenance:
  functionaries: [ci]
  builderIds: [https://builder.example/not-this-one]
`)
	st = gh.step(map[string]string{"command": "verify", "image": imageRef, "policy": strict, "from": "dir"})
	if st.code != 1 || st.outputs[outVerdict] != "FAILED" {
		t.Fatalf("verify with a policy that rejects the provenance: exit %d, outputs %q, want exit 1, FAILED:\n%s", st.code, st.outputs, st.result)
	}
	if d, ok := st.outputs[outProvenanceDigest]; ok {
		t.Errorf("provenance-digest = %q after the gate rejected the provenance", d)
	}
	for _, out := range []string{st.stdout, st.stderr} {
		if strings.Contains(strings.ReplaceAll(out, masked, ""), password) {
			t.Errorf("the password reached the log:\n%s", out)
		}
	}
}

// TestActionOutsideActions: the entry point outside GitHub Actions (no
// GITHUB_OUTPUT, no GITHUB_STEP_SUMMARY, no GITHUB_ACTIONS) runs the
// command and writes no workflow command: nothing panics.
func TestActionOutsideActions(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	r := attestorProcess(t, p.base, []string{
		"INPUT_COMMAND=run", "INPUT_STEP=build", "INPUT_MATERIALS=src", "INPUT_PRODUCTS=out.txt",
		"INPUT_KEY=" + p.key, "INPUT_ARGS=sh -c 'echo built > out.txt'", "INPUT_DRY-RUN=",
	}, "action")
	if r.code != 0 {
		t.Fatalf("action outside Actions:\n%s", r)
	}
	if r.stdout != "" {
		t.Errorf("stdout outside Actions: %q", r.stdout)
	}
	if !fileExists(filepath.Join(p.ws, "build."+p.keyID(t)[:8]+".dsse.json")) {
		t.Errorf("no record written: %v", p.wsFiles(t))
	}

	// The command line form.
	r = attestorProcess(t, p.base, nil, "action", "--", "record", "start", "--step", "pkg", "-m", "out.txt", "--key", p.key)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("action -- record start:\n%s", r)
	}
}

// TestActionBadInput: inputs that do not fit the command are bad usage
// (exit 2), annotated in Actions.
func TestActionBadInput(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	for _, tt := range []struct {
		name   string
		inputs []string
		want   string
	}{
		{"no command", nil, "input command is required"},
		{"unknown command", []string{"INPUT_COMMAND=deploy"}, `input command: "deploy"`},
		{"unused input", []string{"INPUT_COMMAND=push", "INPUT_IMAGE=127.0.0.1:1/a:b", "INPUT_POLICY=p.yaml", "INPUT_STEP=x"}, "command push does not use the input(s) step, policy"},
		{"bad boolean", []string{"INPUT_COMMAND=push", "INPUT_IMAGE=127.0.0.1:1/a:b", "INPUT_DRY-RUN=yes"}, `input dry-run: "yes": want true or false`},
		{"no step", []string{"INPUT_COMMAND=record-start"}, "command record-start needs the input step"},
		{"run without args", []string{"INPUT_COMMAND=run", "INPUT_STEP=x", "INPUT_KEY=" + p.key}, "command run needs the input args"},
		{"bad quoting", []string{"INPUT_COMMAND=run", "INPUT_STEP=x", "INPUT_ARGS=sh -c 'echo"}, "unterminated single quote"},
		{"no policy", []string{"INPUT_COMMAND=verify", "INPUT_IMAGE=127.0.0.1:1/a:b"}, "command verify needs the input policy"},
		{"promote without destination", []string{"INPUT_COMMAND=promote", "INPUT_IMAGE=127.0.0.1:1/a:b", "INPUT_POLICY=p.yaml"}, "needs the inputs image and destination"},
		{"bad passthrough", []string{"ARGS=key generate"}, "attestor action -- key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"action"}
			if len(tt.inputs) == 1 && strings.HasPrefix(tt.inputs[0], "ARGS=") {
				args = append(args, append([]string{"--"}, strings.Fields(strings.TrimPrefix(tt.inputs[0], "ARGS="))...)...)
				tt.inputs = nil
			}
			r := attestorProcess(t, p.base, append([]string{"GITHUB_ACTIONS=true"}, tt.inputs...), args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, want 2 with %q:\n%s", r.code, tt.want, r)
			}
			if !strings.Contains(r.stdout, "::error::") {
				t.Errorf("no error annotation:\n%s", r)
			}
		})
	}
}

// TestActionKeylessProvenance: keyless: true on provenance maps to
// --keyless where the CLI's provenance has it, and is refused (exit 2)
// where it does not.
func TestActionKeylessProvenance(t *testing.T) {
	t.Parallel()
	env := []string{"INPUT_COMMAND=provenance", "INPUT_KEYLESS=true", "INPUT_IDENTITY-TOKEN=a.b.c"}
	gh := github.New(github.WithEnviron(env))
	call, err := actionArgs(gh)
	if !cliHasFlag("provenance", "keyless") {
		if err == nil || !strings.Contains(err.Error(), "input identity-token") && !strings.Contains(err.Error(), "input keyless") {
			t.Errorf("keyless provenance without the CLI flag: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--json", "provenance", "--keyless", "--identity-token", "a.b.c"}; !slices.Equal(call.args, want) {
		t.Errorf("args %q, want %q", call.args, want)
	}
	if slices.Contains(call.shown, "a.b.c") {
		t.Errorf("the token is shown: %q", call.shown)
	}
}

func TestSplitWords(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"":                           nil,
		"go build ./...":             {"go", "build", "./..."},
		`sh -c 'a && b' "x y" z\ w`:  {"sh", "-c", "a && b", "x y", "z w"},
		`echo "say \"hi\" \\ $HOME"`: {"echo", `say "hi" \ $HOME`},
		"a\\\nb\n c":                 {"ab", "c"},
		`'' ""`:                      {"", ""},
	} {
		got, err := splitWords(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`'a`, `"a`, `a\`} {
		if _, err := splitWords(in); err == nil {
			t.Errorf("splitWords(%q): no error", in)
		}
	}
}

// encryptedKey generates a cosign key pair encrypted with password and
// returns it, with its key id.
func encryptedKey(t *testing.T, password string) (priv, pub []byte, keyID string) {
	t.Helper()
	priv, pub, err := sign.GenerateKeyPair([]byte(password))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.Load(writeTemp(t, "ci.key", priv), sign.WithPassword(func() ([]byte, error) { return []byte(password), nil }))
	if err != nil {
		t.Fatal(err)
	}
	if keyID, err = s.KeyID(); err != nil {
		t.Fatal(err)
	}
	return priv, pub, keyID
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sha256Digest(data []byte) string {
	h, _, _ := v1.SHA256(strings.NewReader(string(data)))
	return h.String()
}

// FuzzSplitWords: splitting never panics, and words quoted back (single
// quotes, ' as '\”) split to the same words.
func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{"go build ./...", `sh -c 'a && b' "x y" z\ w`, `"a\"b"`, "a\\\nb", `''`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords(s)
		if err != nil {
			return
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		again, err := splitWords(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("%q: words %q, quoted back %q, split again %q, %v", s, words, quoted, again, err)
		}
	})
}

// TestActionKeyless records a step and signs the provenance keyless
// through the action, as in a job with permissions id-token: write: the
// runner's ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN, the offline sigstore. Each
// envelope gets its bundle, and neither the request token nor an identity
// token shows in the log but in ::add-mask::.
func TestActionKeyless(t *testing.T) {
	t.Parallel()
	s := signtest.NewSigstore(t)
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "src", "main.c"), "int main(void) { return 0; }\n")
	gh := newGHRunner(t, work,
		sign.EnvGitHubTokenURL+"="+s.TokenURL,
		sign.EnvGitHubRequestToken+"="+signtest.GitHubRequestToken,
	)
	keyless := map[string]string{"keyless": "true", "fulcio-url": s.FulcioURL, "rekor-url": s.RekorURL}
	with := func(m map[string]string) map[string]string {
		out := maps.Clone(keyless)
		maps.Copy(out, m)
		return out
	}
	var logs string
	st := gh.step(with(map[string]string{"command": "record-start", "step": "build", "materials": "src"}))
	logs += st.stdout + st.stderr
	if st.code != 0 {
		t.Fatalf("record-start keyless:\n%s", st.result)
	}
	writeFile(t, filepath.Join(work, "bin", "app"), "app\n")
	st = gh.step(with(map[string]string{"command": "record-stop", "step": "build", "products": "bin/app"}))
	logs += st.stdout + st.stderr
	if st.code != 0 {
		t.Fatalf("record-stop keyless:\n%s", st.result)
	}
	if !strings.Contains(st.summary, "| build |") {
		t.Errorf("summary:\n%s", st.summary)
	}
	if !cliHasFlag("provenance", "keyless") {
		t.Log("this build's provenance does not sign keyless: not tried")
	} else {
		st = gh.step(with(map[string]string{"command": "provenance", "subjects": "bin/app"}))
		logs += st.stdout + st.stderr
		if st.code != 0 {
			t.Fatalf("provenance keyless:\n%s", st.result)
		}
		if !strings.HasPrefix(st.outputs[outProvenanceDigest], "sha256:") || !strings.Contains(st.outputs[outAttestations], "_provenance.") {
			t.Errorf("provenance outputs = %q", st.outputs)
		}
	}
	bundles, _ := filepath.Glob(filepath.Join(work, ".attestor", "*"+workspace.SuffixBundle))
	if len(bundles) == 0 {
		t.Errorf("no sigstore bundle in the workspace")
	}
	rest := logs
	for _, tok := range s.Issued() {
		rest = strings.ReplaceAll(rest, "::add-mask::"+tok+"\n", "")
	}
	for _, tok := range append(s.Issued(), signtest.GitHubRequestToken) {
		if strings.Contains(rest, tok) {
			t.Errorf("a token shows in the log outside ::add-mask::")
		}
	}
	if len(s.Issued()) == 0 {
		t.Error("no identity token was issued")
	}
}

// In a Spinnaker Run Job the action prints the properties itself: the
// wrapped command's copies are not echoed to the log again.
func TestWithoutProperties(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":           "",
		"verified\n": "verified\n",
		"a\nSPINNAKER_PROPERTY_VERDICT=PASSED\nb\nSPINNAKER_PROPERTY_VERIFIED=true": "a\nb\n",
		"x SPINNAKER_PROPERTY_NOT_AT_START=1\n":                                     "x SPINNAKER_PROPERTY_NOT_AT_START=1\n",
	} {
		if got := string(withoutProperties([]byte(in))); got != want {
			t.Errorf("withoutProperties(%q) = %q, want %q", in, got, want)
		}
	}
}

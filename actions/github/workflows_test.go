package github_test

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lookTool returns the path of an external tool (PATH, then GOPATH/bin),
// or skips the test when it is missing, unless ATTESTOR_REQUIRE_TOOLS=1
// (CI), where it fails. With -short it skips.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not running %s", name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join(build.Default.GOPATH, "bin", name); fileExists(p) {
		return p
	}
	if os.Getenv("ATTESTOR_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is not installed (ATTESTOR_REQUIRE_TOOLS=1); run .ci/setup", name)
	}
	t.Skipf("%s is not installed; run .ci/setup (set ATTESTOR_REQUIRE_TOOLS=1 to fail instead)", name)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestActionlint: actionlint accepts the repository's workflows and the
// example workflow. The workflow .github/workflows/action.yml uses the
// action as ./, so actionlint also reads action.yml (its runs, inputs and
// outputs) and checks every with: against it: a copy of action.yml
// without an input that workflow passes is refused.
func TestActionlint(t *testing.T) {
	t.Parallel()
	actionlint := lookTool(t, "actionlint")
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"action.yml", "ci.yml", "release.yml"} {
		if !fileExists(filepath.Join(root, ".github", "workflows", want)) {
			t.Errorf(".github/workflows/%s is missing", want)
		}
	}
	args := []string{"-no-color"}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		args = append(args, filepath.ToSlash(rel))
	}
	args = append(args, "actions/github/example-workflow.yml")
	cmd := exec.Command(actionlint, args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("actionlint %s: %v\n%s", strings.Join(args[1:], " "), err, out)
	}

	// The control: the smoke workflow with an action.yml that lost the
	// input version.
	action, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	smoke, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(smoke), "uses: ./\n") {
		t.Fatal(".github/workflows/action.yml does not use the action as ./")
	}
	broken := regexp.MustCompile(`(?m)^  version:\n(    .*\n)+`).ReplaceAll(action, nil)
	if string(broken) == string(action) {
		t.Fatal("action.yml has no input version to remove")
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"action.yml": broken, ".github/workflows/action.yml": smoke} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// actionlint finds the project (and ./) by its .git.
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(actionlint, "-no-color", ".github/workflows/action.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `input "version" is not defined in action "attestor"`) {
		t.Errorf("actionlint of the workflow with an action.yml without the input version: %v\n%s", err, out)
	}
}

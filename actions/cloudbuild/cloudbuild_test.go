package cloudbuild_test

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/actions/cloudbuild"
)

// TestExamplePassesSubstitutions: the example passes every substitution
// that actions.Detect reads into the attestor steps.
func TestExamplePassesSubstitutions(t *testing.T) {
	t.Parallel()
	for _, k := range append(actions.CloudBuildSubstitutions, actions.CloudBuildRepoURL) {
		if !strings.Contains(cloudbuild.Example, "- "+k+"=$") {
			t.Errorf("cloudbuild.yaml does not pass %s", k)
		}
	}
}

// TestExampleSteps: every attestor step of the example gets the whole
// environment (the anchor), and the workspace is shared under /workspace.
func TestExampleSteps(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Steps []struct {
			ID   string   `yaml:"id"`
			Name string   `yaml:"name"`
			Env  []string `yaml:"env"`
			Args []string `yaml:"args"`
		} `yaml:"steps"`
	}
	if err := yaml.Unmarshal([]byte(cloudbuild.Example), &cfg); err != nil {
		t.Fatal(err)
	}
	commands := map[string]bool{}
	for _, s := range cfg.Steps {
		if !strings.HasPrefix(s.Name, "ghcr.io/attestor/attestor:") {
			continue
		}
		commands[s.Args[0]] = true
		if !slices.Contains(s.Env, "ATTESTOR_DIR=/workspace/.attestor") {
			t.Errorf("step %s: no ATTESTOR_DIR=/workspace/.attestor", s.ID)
		}
		for _, k := range append(actions.CloudBuildSubstitutions, actions.CloudBuildRepoURL) {
			if !slices.ContainsFunc(s.Env, func(e string) bool { return strings.HasPrefix(e, k+"=$") }) {
				t.Errorf("step %s does not pass %s", s.ID, k)
			}
		}
	}
	for _, c := range []string{"record", "provenance", "push", "verify"} {
		if !commands[c] {
			t.Errorf("the example has no attestor %s step", c)
		}
	}
}

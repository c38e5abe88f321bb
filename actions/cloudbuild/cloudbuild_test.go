package cloudbuild_test

import (
	"strings"
	"testing"

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

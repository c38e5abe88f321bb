package spinnaker_test

import (
	"strings"
	"testing"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/actions/spinnaker"
)

// TestExampleSetsVariables: the example manifest sets every variable that
// actions.Detect reads.
func TestExampleSetsVariables(t *testing.T) {
	t.Parallel()
	for _, k := range []string{
		actions.SpinnakerExecutionID, actions.SpinnakerApplication, actions.SpinnakerPipeline,
		actions.SpinnakerPipelineID, actions.SpinnakerURL, actions.SpinnakerStartTime,
		actions.SpinnakerTriggerType, actions.SpinnakerTriggerUser, actions.SpinnakerParameters,
		actions.SpinnakerSourceRepo, actions.SpinnakerSourceRef, actions.SpinnakerSourceCommit,
	} {
		if !strings.Contains(spinnaker.Example, "- name: "+k+"\n") {
			t.Errorf("runjob.yaml does not set %s", k)
		}
		if !strings.Contains(spinnaker.PromoteExample, "- name: "+k+"\n") {
			t.Errorf("promote.yaml does not set %s", k)
		}
	}
}

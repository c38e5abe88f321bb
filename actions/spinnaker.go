package actions

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Variables of a Spinnaker Run Job stage. Spinnaker sets none of them by
// itself: the Run Job manifest templates them in with SpEL (see
// actions/spinnaker for an example manifest).
const (
	// SpinnakerExecutionID is ${execution.id}; its presence means Spinnaker.
	SpinnakerExecutionID = "SPINNAKER_EXECUTION_ID"
	// SpinnakerApplication is ${execution.application}.
	SpinnakerApplication = "SPINNAKER_APPLICATION"
	// SpinnakerPipeline is ${execution.name}, the pipeline's name.
	SpinnakerPipeline = "SPINNAKER_PIPELINE"
	// SpinnakerPipelineID is ${execution.pipelineConfigId}.
	SpinnakerPipelineID = "SPINNAKER_PIPELINE_ID"
	// SpinnakerURL is the base URL of the Spinnaker UI (Deck), such as
	// https://spinnaker.example.com: the builder id, and the base of the
	// execution's URL.
	SpinnakerURL = "SPINNAKER_URL"
	// SpinnakerStartTime is ${execution.startTime}, in milliseconds since
	// the Unix epoch.
	SpinnakerStartTime = "SPINNAKER_START_TIME"
	// SpinnakerTriggerType and SpinnakerTriggerUser are ${trigger.type}
	// and ${trigger.user}.
	SpinnakerTriggerType = "SPINNAKER_TRIGGER_TYPE"
	SpinnakerTriggerUser = "SPINNAKER_TRIGGER_USER"
	// SpinnakerParameters is ${#toJson(trigger.parameters)}: the pipeline
	// parameters, a JSON object.
	SpinnakerParameters = "SPINNAKER_PARAMETERS"
	// SpinnakerSourceRepo, SpinnakerSourceRef and SpinnakerSourceCommit
	// name the source: for a git trigger, the repository URL,
	// refs/heads/${trigger.branch} and ${trigger.hash}.
	SpinnakerSourceRepo   = "SPINNAKER_SOURCE_REPO"
	SpinnakerSourceRef    = "SPINNAKER_SOURCE_REF"
	SpinnakerSourceCommit = "SPINNAKER_SOURCE_COMMIT"
)

// spinnakerFacts reads the facts of a Spinnaker Run Job stage from the
// SPINNAKER_* variables its manifest passes in.
func spinnakerFacts(env environment) (*Facts, error) {
	f := &Facts{Platform: Spinnaker, BuildType: BuildTypeSpinnaker}
	execID := env.value(SpinnakerExecutionID)
	app := env.value(SpinnakerApplication)
	base := ""
	if u, err := url.Parse(env.value(SpinnakerURL)); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		base = strings.TrimSuffix(u.String(), "/")
	}
	f.BuilderID = base
	f.InvocationID = execID
	if base != "" && app != "" && execID != "" {
		f.InvocationURL = base + "/#/applications/" + url.PathEscape(app) + "/executions/details/" + url.PathEscape(execID)
	}
	f.Source = Source{
		Repo:   RepoURL(env.value(SpinnakerSourceRepo)),
		Commit: commit(env.value(SpinnakerSourceCommit)),
	}
	if ref := env.value(SpinnakerSourceRef); strings.HasPrefix(ref, "refs/") {
		f.Source.Ref = ref
	}
	f.Config.EntryPoint = env.value(SpinnakerPipeline)
	f.Trigger = env.value(SpinnakerTriggerType)
	if s := env.value(SpinnakerParameters); s != "" {
		var params map[string]any
		if err := json.Unmarshal([]byte(s), &params); err != nil {
			return nil, fmt.Errorf("decoding %s (want a JSON object, e.g. ${#toJson(trigger.parameters)}): %w", SpinnakerParameters, err)
		}
		if len(params) > 0 {
			f.Inputs = params
		}
	}
	if s := env.value(SpinnakerStartTime); s != "" {
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
			f.StartedOn = time.UnixMilli(ms).UTC()
		}
	}
	sp := map[string]any{}
	setIf(sp, "application", app)
	setIf(sp, "pipeline", f.Config.EntryPoint)
	setIf(sp, "pipelineConfigId", env.value(SpinnakerPipelineID))
	setIf(sp, "executionId", execID)
	setIf(sp, "triggerType", f.Trigger)
	setIf(sp, "triggerUser", env.value(SpinnakerTriggerUser))
	if len(sp) > 0 {
		f.Internal = map[string]any{"spinnaker": sp}
	}
	return f, nil
}

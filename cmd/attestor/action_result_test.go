package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/attestor/attestor/actions/github"
	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/promote"
	"github.com/attestor/attestor/attestor/store/oci"
)

// TestActionResultTyped: the action's outputs and step summary come from
// the command's typed result, one case per result type (the end-to-end
// tests run the commands; this one covers each row and output, the
// command's failure included).
func TestActionResultTyped(t *testing.T) {
	t.Parallel()
	three := 3
	failed := &gate.Result{Verdict: "FAILED", Reasons: []gate.Reason{{Code: "missing-step", Message: "step test:\nnone"}}}
	passed := &gate.Result{Verified: true, Verdict: "PASSED", Subject: gate.SubjectRef{Name: "reg/app", Digest: "sha256:ab"}}
	for _, tc := range []struct {
		name    string
		command string
		result  any
		code    int
		outputs map[string]string
		rows    []github.Row
		notes   []string
	}{
		{name: "record start", command: "record-start", result: pendingSummary{Step: "build", Pending: true},
			outputs: map[string]string{}, rows: []github.Row{{Step: "build", Verdict: "started"}}},
		{name: "run, failed command", command: "run", code: 3,
			result:  stepSummary{Step: "test", ExitCode: &three, Materials: 2, Products: 1, Files: []string{".attestor/test.0123abcd.dsse.json"}},
			outputs: map[string]string{"exit-code": "3"},
			rows:    []github.Row{{Step: "test", Signers: []string{"0123abcd"}, Subjects: []string{"2 materials", "1 products"}, Verdict: "recorded, exit 3"}},
			notes:   []string{"Wrote .attestor/test.0123abcd.dsse.json.", "attestor run exited with status 3; see the step's log."}},
		{name: "provenance", command: "provenance", result: provenanceSummary{File: ".attestor/_provenance.0123abcd.dsse.json", Digest: "sha256:cd", Subjects: []string{"app"}},
			outputs: map[string]string{"provenance-digest": "sha256:cd"},
			rows:    []github.Row{{Step: "(provenance)", Signers: []string{"0123abcd"}, Subjects: []string{"app"}, Verdict: "signed sha256:cd"}}},
		{name: "push, dry run", command: "push",
			result: pushSummary{Result: &oci.Result{Image: "reg/app@sha256:ab", Attestations: []oci.Pushed{
				{Digest: "ef", PredicateType: "https://slsa.dev/provenance/v1", Schemes: []oci.Scheme{oci.SchemeCosign}}, {Digest: "01", PredicateType: "p"}}}, DryRun: true},
			outputs: map[string]string{"image": "reg/app@sha256:ab", "image-digest": "sha256:ab"},
			rows: []github.Row{{Step: "https://slsa.dev/provenance/v1", Subjects: []string{"sha256:ef"}, Verdict: "would push (cosign)"},
				{Step: "p", Subjects: []string{"sha256:01"}, Verdict: "already attached"}},
			notes: []string{"Dry run: nothing was written to the registry."}},
		{name: "verify, failed", command: "verify", code: 1, result: &verifyOutput{Result: failed},
			outputs: map[string]string{"verified": "false", "verdict": "FAILED"},
			notes:   []string{"- missing-step: step test: none", "attestor verify exited with status 1; see the step's log."}},
		{name: "verify, no result", command: "verify", code: 2, outputs: map[string]string{"verified": "false"},
			notes: []string{"attestor verify exited with status 2; see the step's log."}},
		{name: "promote", command: "promote", result: &promoteOutput{Result: &promote.Result{Result: passed, Destination: "prod/app@sha256:ab", Copied: true}},
			outputs: map[string]string{"verified": "true", "verdict": "PASSED", "image": "reg/app@sha256:ab", "image-digest": "sha256:ab", "promoted-image": "prod/app@sha256:ab"},
			notes:   []string{"Promoted to prod/app@sha256:ab."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := github.New(github.WithEnviron(nil))
			outputs, sum := actionResult(gh, &actionCall{command: tc.command, dir: t.TempDir()}, tc.result, tc.code)
			delete(outputs, outAttestations)
			if diff := cmp.Diff(tc.outputs, outputs); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.rows, sum.Rows); diff != "" {
				t.Errorf("summary rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.notes, sum.Notes); diff != "" {
				t.Errorf("summary notes (-want +got):\n%s", diff)
			}
		})
	}
}

package github_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/attestor/attestor/actions/github"
)

func ExampleSummary_Markdown() {
	s := &github.Summary{
		Title:   "attestor verify",
		Subject: "ghcr.io/acme/app@sha256:9f86d081",
		Verdict: "PASSED",
		Rows: []github.Row{
			{Step: "build", Signers: []string{"ci (3b1c…)"}, Subjects: []string{"1 record(s)"}, Verdict: "PASSED"},
			{Step: "(provenance)", Signers: []string{"ci (3b1c…)"}, Verdict: "PASSED"},
		},
	}
	fmt.Print(s.Markdown())
	// Output:
	// ### attestor verify
	//
	// **Subject:** `ghcr.io/acme/app@sha256:9f86d081`
	//
	// **Verdict:** ✅ PASSED
	//
	// | Step | Signers | Subjects | Verdict |
	// | --- | --- | --- | --- |
	// | build | `ci (3b1c…)` | `1 record(s)` | PASSED |
	// | (provenance) | `ci (3b1c…)` | - | PASSED |
}

// A step's outputs, as a later step (or a test) reads them back.
func ExampleAction_SetOutput() {
	dir, _ := os.MkdirTemp("", "gha")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "output")
	a := github.New(github.WithEnviron([]string{"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + out}))
	_ = a.SetOutput("verified", "true")
	_ = a.SetOutput("attestations", ".attestor/build.3b1c9a2e.dsse.json\n.attestor/_provenance.3b1c9a2e.dsse.json")
	data, _ := os.ReadFile(out)
	outputs, _ := github.ParseFileCommands(string(data))
	fmt.Println(outputs["verified"])
	fmt.Println(outputs["attestations"])
	// Output:
	// true
	// .attestor/build.3b1c9a2e.dsse.json
	// .attestor/_provenance.3b1c9a2e.dsse.json
}

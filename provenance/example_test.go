package provenance_test

import (
	"context"
	"fmt"
	"time"

	ita1 "github.com/in-toto/attestation/go/v1"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/provenance"
)

func ExampleBuild() {
	// A step record, signed as attestor run signs it.
	zero := 0
	rec := &attestor.Record{
		Step:       "build",
		Command:    []string{"go", "build", "-o", "bin/app", "."},
		Materials:  []*ita1.ResourceDescriptor{{Name: "main.go", Digest: digest("main.go")}},
		Products:   []*ita1.ResourceDescriptor{{Name: "bin/app", Digest: digest("bin/app")}},
		ExitCode:   &zero,
		StartedOn:  time.Date(2026, 11, 24, 9, 13, 0, 0, time.UTC),
		FinishedOn: time.Date(2026, 11, 24, 9, 14, 0, 0, time.UTC),
	}
	st, _ := rec.Statement()
	_, envelope, _ := envelope.SignStatement(context.Background(), newTestSigner(), st)

	// What the CLI reads from the workspace and the platform.
	step, _ := provenance.ReadStep("build.fe812c12.dsse.json", envelope)
	step.Verified = true // the CLI verifies records signed by its own key (sign.VerifyEnvelope)
	facts := &actions.Facts{
		Platform:  actions.Local,
		BuilderID: actions.BuilderLocal,
		BuildType: actions.BuildTypeLocal,
		Source:    actions.Source{Repo: "https://github.com/acme/app", Ref: "refs/heads/main", Commit: "5f0e4c1a7b2d3e9f8a6b5c4d3e2f1a0b9c8d7e6f"},
	}

	prov, err := provenance.Build(provenance.Input{Facts: facts, Steps: []*provenance.Step{step}})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := provenance.V1Predicate(prov)
	fmt.Println(prov.GetPredicateType())
	fmt.Println(prov.GetSubject()[0].GetName())
	fmt.Println(p.GetBuildDefinition().GetResolvedDependencies()[0].GetUri())
	fmt.Println(p.GetRunDetails().GetByproducts()[0].GetName())
	// Output:
	// https://slsa.dev/provenance/v1
	// bin/app
	// git+https://github.com/acme/app@refs/heads/main
	// build.fe812c12.dsse.json
}

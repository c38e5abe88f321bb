package gate_test

import (
	"errors"
	"fmt"

	"github.com/attestor/attestor/attestor/gate"
)

// A policy error names the line and the field; every error is reported.
func ExampleParsePolicy() {
	_, err := gate.ParsePolicy([]byte(`version: 1
expires: 2027-12-31T00:00:00Z
functionaries:
  ci: {keyless: {issuer: "https://token.actions.githubusercontent.com", subject: "https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main"}}
steps:
  - name: build
    functionaries: [ci]
    threshold: 0
    treshold: 1
`), ".")
	fmt.Println(err)
	fmt.Println(errors.Is(err, gate.ErrPolicy))
	// Output:
	// policy, line 9, steps[0].treshold: unknown field (known: name, functionaries, threshold, expectedCommand, materials, products)
	// true
}

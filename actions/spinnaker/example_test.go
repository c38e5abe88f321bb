package spinnaker_test

import (
	"os"

	"github.com/attestor/attestor/actions/spinnaker"
)

func ExampleEmit() {
	environ := []string{"SPINNAKER_EXECUTION_ID=01JDQ3Z8"} // os.Environ() in a Run Job
	_, _ = spinnaker.Emit(os.Stdout, environ, map[string]string{
		spinnaker.PropertyVerdict:     "PASSED",
		spinnaker.PropertyVerified:    "true",
		spinnaker.PropertyImageDigest: "sha256:9f86d081",
	})
	// Output:
	// SPINNAKER_PROPERTY_IMAGE_DIGEST=sha256:9f86d081
	// SPINNAKER_PROPERTY_VERDICT=PASSED
	// SPINNAKER_PROPERTY_VERIFIED=true
}

package promote_test

import (
	"fmt"

	"github.com/attestor/attestor/attestor/promote"
)

// The id Binary Authorization knows a Cloud KMS key version by, for
// WithPublicKeyID.
func ExampleCloudKMSKeyID() {
	id, err := promote.CloudKMSKeyID("gcpkms://projects/acme/locations/global/keyRings/ci/cryptoKeys/release/cryptoKeyVersions/1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id)
	// Output: //cloudkms.googleapis.com/v1/projects/acme/locations/global/keyRings/ci/cryptoKeys/release/cryptoKeyVersions/1
}

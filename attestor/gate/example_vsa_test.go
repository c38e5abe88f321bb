package gate_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/gate"
)

// A failed verification of a file, given by an absolute path, against a
// policy read from /home/dev/policies: the summary names both without
// their directories, and says FAILED in verifiedLevels too.
func ExampleResult_Summary() {
	res := &gate.Result{
		Verdict:    gate.Failed,
		Subject:    gate.SubjectRef{Name: "/home/dev/app/dist/app.tar", Digest: "sha256:" + strings.Repeat("0", 64)},
		Policy:     gate.PolicyRef{Source: "/home/dev/policies/release.yaml", Digest: strings.Repeat("1", 64)},
		VerifiedAt: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
	}
	st, err := res.Summary("", gate.WithSubjectKind(gate.SubjectFile))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := st.GetPredicate().GetFields()
	fmt.Println(st.GetSubject()[0].GetName())
	fmt.Println(p["resourceUri"].GetStringValue())
	fmt.Println(p["policy"].GetStructValue().GetFields()["uri"].GetStringValue())
	fmt.Println(p["verificationResult"].GetStringValue(), p["verifiedLevels"].GetListValue().AsSlice())
	// Output:
	// app.tar
	// pkg:generic/app.tar?checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000
	// pkg:generic/release.yaml?checksum=sha256:1111111111111111111111111111111111111111111111111111111111111111
	// FAILED [FAILED]
}

package testkit

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	vsa1 "github.com/in-toto/attestation/go/predicates/vsa/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestor/attestor/attestor/envelope"
)

// predicateTypeVSA is the predicate type of SLSA verification summaries,
// as the specification names it (not taken from the gate, whose use of it
// this checks).
const predicateTypeVSA = "https://slsa.dev/verification_summary/v1"

// vsaRequired are the predicate fields that the VSA v1 specification
// (https://slsa.dev/spec/v1.0/verification_summary) marks required.
var vsaRequired = []string{"verifier", "timeVerified", "resourceUri", "policy", "verificationResult", "verifiedLevels"}

// slsaLevels are the SlsaResult values of the specification, by track.
var slsaLevels = map[string]string{
	"SLSA_BUILD_LEVEL_0": "BUILD", "SLSA_BUILD_LEVEL_1": "BUILD", "SLSA_BUILD_LEVEL_2": "BUILD", "SLSA_BUILD_LEVEL_3": "BUILD",
}

// absoluteURIScheme is RFC 3986's scheme, in lower case (in-toto's ResourceURI is
// case-normalized).
var absoluteURIScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)

// isURI reports whether s is an absolute URI (RFC 3986: a scheme, then
// the rest) whose scheme and authority are lower case.
func isURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && absoluteURIScheme.MatchString(u.Scheme) && strings.HasPrefix(s, u.Scheme+":") && u.Host == strings.ToLower(u.Host)
}

// wantNI is the RFC 6920 name of the content whose sha256 is hexDigest.
func wantNI(t testing.TB, hexDigest string) string {
	t.Helper()
	b, err := hex.DecodeString(hexDigest)
	if err != nil || len(b) != 32 {
		t.Fatalf("digest %q", hexDigest)
	}
	return "ni:///sha-256;" + base64.RawURLEncoding.EncodeToString(b)
}

// CheckVSA checks a signed verification summary: the statement validates,
// its predicate decodes strictly (unknown fields are errors) into the
// in-toto vsa/v1 Go type, every field the specification requires is there
// and well formed, and verifiedLevels says FAILED exactly when the
// verification failed. It returns the statement and the predicate.
func CheckVSA(t testing.TB, data []byte) (*ita1.Statement, *vsa1.VerificationSummary) {
	t.Helper()
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	st, err := envelope.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Validate(); err != nil {
		t.Fatalf("statement: %v", err)
	}
	if st.GetPredicateType() != predicateTypeVSA {
		t.Fatalf("predicate type %q", st.GetPredicateType())
	}
	raw, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		t.Fatal(err)
	}
	v := &vsa1.VerificationSummary{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(raw, v); err != nil {
		t.Fatalf("predicate is not an in-toto vsa/v1 VerificationSummary: %v\n%s", err, raw)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range vsaRequired {
		if _, ok := fields[f]; !ok {
			t.Errorf("required field %q missing: %s", f, raw)
		}
	}
	if v.GetVerifier().GetId() == "" || !isURI(v.GetVerifier().GetId()) {
		t.Errorf("verifier.id %q is not a URI", v.GetVerifier().GetId())
	}
	if ts, err := time.Parse(time.RFC3339Nano, fields["timeVerified"].(string)); err != nil || ts.IsZero() {
		t.Errorf("timeVerified %v: %v", fields["timeVerified"], err)
	}
	if !isURI(v.GetResourceUri()) {
		t.Errorf("resourceUri %q is not a URI", v.GetResourceUri())
	}
	if !isURI(v.GetPolicy().GetUri()) { // "The entry MUST contain a uri."
		t.Errorf("policy.uri %q is not a URI", v.GetPolicy().GetUri())
	}
	for _, in := range v.GetInputAttestations() {
		// "Each entry MUST contain a digest of the attestation and SHOULD
		// contain a uri."
		d := in.GetDigest()["sha256"]
		if len(d) != 64 {
			t.Errorf("input attestation %v: no sha256 digest", in)
			continue
		}
		if in.GetUri() != wantNI(t, d) {
			t.Errorf("input attestation uri %q, want %q (the name of its digest)", in.GetUri(), wantNI(t, d))
		}
	}
	levels := v.GetVerifiedLevels()
	switch v.GetVerificationResult() {
	case "FAILED":
		if !slices.Equal(levels, []string{"FAILED"}) {
			t.Errorf("FAILED verification: verifiedLevels %q, want [FAILED]", levels)
		}
	case "PASSED":
		tracks := map[string]bool{}
		for _, l := range levels {
			track, ok := slsaLevels[l]
			if !ok {
				t.Errorf("PASSED verification: verifiedLevels has %q", l)
			}
			if tracks[track] {
				t.Errorf("verifiedLevels %q: more than one level of track %s", levels, track)
			}
			tracks[track] = true
		}
		if len(levels) == 0 {
			t.Errorf("PASSED verification: no verifiedLevels")
		}
	default:
		t.Errorf("verificationResult %q", v.GetVerificationResult())
	}
	return st, v
}

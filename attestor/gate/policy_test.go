package gate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/fault"
)

const minimalPolicy = `version: 1
expires: 2027-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: build
    functionaries: [ci]
`

// TestParsePolicy: every malformed policy is an error that matches
// ErrPolicy and fault.ErrInvalidInput and names the line and field.
func TestParsePolicy(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	c.key("ci")
	c.key("ci2")
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error; empty: valid
	}{
		{"minimal", minimalPolicy, nil},
		{"json", `{"version": 1, "expires": "2027-12-31T00:00:00Z", "functionaries": {"ci": {"key": "ci.pub"}},
 "steps": [{"name": "build", "functionaries": ["ci"], "threshold": 1, "products": [["CREATE", "app"], ["DISALLOW", "*"]]}]}`, nil},
		{"empty", ``, []string{"a policy is a mapping"}},
		{"not yaml", "version: [1\n", []string{"yaml"}},
		{"no steps", strings.Replace(minimalPolicy, "steps:\n  - name: build\n    functionaries: [ci]\n", "steps: []\n", 1), []string{"steps", "at least one step"}},
		{"no version", strings.Replace(minimalPolicy, "version: 1\n", "", 1), []string{"version", "required"}},
		{"bad version", strings.Replace(minimalPolicy, "version: 1", "version: 2", 1), []string{"line 1, version", "unsupported version 2"}},
		{"no expiry", strings.Replace(minimalPolicy, "expires: 2027-12-31T00:00:00Z\n", "", 1), []string{"expires", "required"}},
		{"bad expiry", strings.Replace(minimalPolicy, "2027-12-31T00:00:00Z", "next year", 1), []string{"line 2, expires", "RFC 3339"}},
		{"unknown field", minimalPolicy + "    treshold: 2\n", []string{"line 8, steps[0].treshold", "unknown field"}},
		{"unknown top-level field", minimalPolicy + "layout: x\n", []string{"line 8, layout", "unknown field"}},
		{"duplicate key", minimalPolicy + "    name: again\n", []string{"line 8, steps[0].name", "duplicate key (first at line 6)"}},
		{"duplicate functionary", strings.Replace(minimalPolicy, "  ci: {key: ci.pub}\n", "  ci: {key: ci.pub}\n  ci: {key: ci2.pub}\n", 1), []string{"line 5, functionaries.ci", "duplicate key"}},
		{"threshold 0", minimalPolicy + "    threshold: 0\n", []string{"line 8, steps[0].threshold", "at least 1"}},
		{"negative threshold", minimalPolicy + "    threshold: -1\n", []string{"steps[0].threshold", "at least 1"}},
		{"threshold above functionaries", minimalPolicy + "    threshold: 2\n", []string{"steps[0].threshold", "can never be met"}},
		{"threshold above distinct keys", strings.Replace(strings.Replace(minimalPolicy, "  ci: {key: ci.pub}\n", "  ci: {key: ci.pub}\n  again: {key: ci.pub}\n", 1), "[ci]", "[ci, again]", 1) + "    threshold: 2\n",
			[]string{"steps[0].threshold", "threshold 2 with 1 distinct key can never be met", "again, ci have the same key"}},
		{"threshold not a number", minimalPolicy + "    threshold: two\n", []string{"line 8", "two"}},
		{"unknown functionary", strings.Replace(minimalPolicy, "functionaries: [ci]", "functionaries: [ci, bob]", 1), []string{"line 7, steps[0].functionaries[1]", `unknown functionary "bob"`}},
		{"no functionaries for a step", strings.Replace(minimalPolicy, "    functionaries: [ci]\n", "", 1), []string{"steps[0].functionaries", "at least one functionary"}},
		{"missing key file", strings.Replace(minimalPolicy, "ci.pub", "nope.pub", 1), []string{"line 4, functionaries.ci.key", "nope.pub"}},
		{"key and keyless", strings.Replace(minimalPolicy, "{key: ci.pub}", "{key: ci.pub, keyless: {issuer: x, subject: y}}", 1), []string{"functionaries.ci", "both"}},
		{"keyless without subject", strings.Replace(minimalPolicy, "{key: ci.pub}", "{keyless: {issuer: x}}", 1), []string{"functionaries.ci.keyless", "exactly one of subject and subjectRegexp"}},
		{"keyless bad regexp", strings.Replace(minimalPolicy, "{key: ci.pub}", "{keyless: {issuer: x, subjectRegexp: '('}}", 1), []string{"functionaries.ci.keyless.subjectRegexp"}},
		{"keyless unknown field", strings.Replace(minimalPolicy, "{key: ci.pub}", "{keyless: {issuer: x, subject: y, san: z}}", 1), []string{"line 4, functionaries.ci.keyless.san", "unknown field"}},
		{"bad step name", strings.Replace(minimalPolicy, "name: build", "name: ../etc", 1), []string{"steps[0].name", "invalid step name"}},
		{"duplicate step", minimalPolicy + "  - name: build\n    functionaries: [ci]\n", []string{"steps[1].name", "defined twice"}},
		{"bad rule type", minimalPolicy + "    products: [[PERMIT, '*']]\n", []string{"line 8, steps[0].products[0]", "unknown rule type"}},
		{"rule without pattern", minimalPolicy + "    products: [[ALLOW]]\n", []string{"steps[0].products[0]"}},
		{"rule with extra words", minimalPolicy + "    products: [[ALLOW, a, b]]\n", []string{"steps[0].products[0]", "exactly one pattern"}},
		{"match from unknown step", minimalPolicy + "    materials: [[MATCH, '*', WITH, PRODUCTS, FROM, checkout]]\n", []string{"steps[0].materials[0]", "no such step"}},
		{"match malformed", minimalPolicy + "    materials: [[MATCH, '*', WITH, ARTIFACTS, FROM, build]]\n", []string{"steps[0].materials[0]", "MATERIALS or PRODUCTS"}},
		{"rule not a list", minimalPolicy + "    materials: [DISALLOW]\n", []string{"line 8, steps[0].materials[0]", "want a list"}},
		{"provenance without functionaries", minimalPolicy + "provenance: {builderIds: [x]}\n", []string{"provenance.functionaries", "at least one"}},
		{"provenance bad maxAge", minimalPolicy + "provenance: {functionaries: [ci], maxAge: forever}\n", []string{"line 8", "forever"}},
		{"provenance maxAge in days", minimalPolicy + "provenance: {functionaries: [ci], maxAge: 7d}\n", nil},
		{"attestation without type", minimalPolicy + "attestations: [{functionaries: [ci]}]\n", []string{"attestations[0].predicateType", "required"}},
		{"alias", minimalPolicy + "attestations: [&a {predicateType: x, functionaries: [ci]}, *a]\n", []string{"aliases"}},
		{"several errors", strings.Replace(minimalPolicy, "version: 1", "version: 3", 1) + "    threshold: 0\n", []string{"unsupported version 3", "at least 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePolicy([]byte(tt.doc), c.keys)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ParsePolicy: %v", err)
				}
				if p.digest == "" || len(p.Steps) == 0 || p.Steps[0].Threshold != 1 {
					t.Errorf("policy %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePolicy accepted:\n%s", tt.doc)
			}
			if !errors.Is(err, ErrPolicy) || !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("error does not match ErrPolicy and ErrInvalidInput: %v", err)
			}
			if errors.Is(err, ErrVerification) {
				t.Errorf("a policy error matches ErrVerification: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestLoadPolicyRelativeKeys: key paths are relative to the policy file's
// directory, not the working directory.
func TestLoadPolicyRelativeKeys(t *testing.T) {
	t.Parallel()
	c := newChain(t)
	c.key("ci")
	if err := os.MkdirAll(filepath.Join(c.keys, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(c.keys, "ci.pub"), filepath.Join(c.keys, "keys", "ci.pub")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.keys, "p.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(minimalPolicy, "ci.pub", "keys/ci.pub", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.source != path || !p.Expires.Equal(time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("policy: source %q expires %v", p.source, p.Expires)
	}
	if _, err := LoadPolicy(filepath.Join(c.keys, "missing.yaml")); !errors.Is(err, ErrPolicy) {
		t.Errorf("LoadPolicy of a missing file: %v", err)
	}
}

// TestExamplePolicies: the example policies in testdata/policy parse.
func TestExamplePolicies(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "policy", "*.*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no example policies")
	}
	for _, f := range files {
		if _, err := LoadPolicy(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

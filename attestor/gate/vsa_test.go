package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/internal/testkit"

	"github.com/google/go-cmp/cmp"
	vsa1 "github.com/in-toto/attestation/go/predicates/vsa/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
)

// checkVSA checks a signed verification summary as its consumers would
// (testkit.CheckVSA).
func checkVSA(t *testing.T, data []byte) (*ita1.Statement, *vsa1.VerificationSummary) {
	t.Helper()
	return testkit.CheckVSA(t, data)
}

// TestVSA: the verification summary of a passing and of a failing
// verification, of a file and of an image, is a VSA v1 that the in-toto
// Go type reads strictly and that has every field the specification
// requires, as URIs where it says so; no local path leaks into it.
func TestVSA(t *testing.T) {
	t.Parallel()
	type summary struct {
		res     *Result
		subject store.Subject
		// policyDir is where the policy file was (must not leak).
		policyDir string
	}
	fileChain := func(t *testing.T, pass, withProvenance bool, name string) summary {
		c := newChain(t)
		if pass {
			c.pipeline(nil)
		} else {
			c.pipeline(map[string]func(){"build": func() { c.write(map[string]string{"dist/app": "evil\n"}) }})
		}
		doc := pipelinePolicy
		if withProvenance {
			c.provenance("ci", c.subject("app.tar"))
			doc += provenancePolicy
		}
		subject := c.subject("app.tar")
		subject.Name = name
		res, _ := c.verify(c.policy(doc), subject)
		if res == nil || res.Verified != pass {
			t.Fatalf("verification: %s", dump(res))
		}
		return summary{res, subject, c.keys}
	}
	imageChain := func(t *testing.T, signer string) summary {
		host := testkit.Registry(t)
		reg, err := oci.New()
		if err != nil {
			t.Fatal(err)
		}
		c := newChain(t)
		c.key("ci")
		c.key("release")
		img := testkit.PushImage(t, host, "team/app", false)
		testkit.AttestPush(c.t, reg, img, c.key(signer), now.Add(-time.Hour))
		subject, err := store.ImageSubject(img)
		if err != nil {
			t.Fatal(err)
		}
		atts, _, err := Fetch(context.Background(), subject, Source{Name: "oci", Store: reg})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(c.policy(testkit.ImagePolicy), WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		res, _ := v.Verify(context.Background(), subject, atts)
		if res == nil || res.Verified != (signer == "ci") {
			t.Fatalf("verification: %s", dump(res))
		}
		return summary{res, subject, c.keys}
	}
	pkgFile := func(name string, s store.Subject) string {
		return "pkg:generic/" + name + "?checksum=sha256:" + s.Digest.Hex
	}
	for _, tt := range []struct {
		name    string
		build   func(t *testing.T) summary
		verdict string
		levels  []string
		// resourceURI is the resourceUri wanted, from the subject.
		resourceURI func(s store.Subject) string
		inputs      int
		// subjectName is the statement's subject name ("": the
		// subject's).
		subjectName string
	}{
		{"file passed", func(t *testing.T) summary { return fileChain(t, true, true, "app.tar") },
			Passed, []string{"SLSA_BUILD_LEVEL_1"}, func(s store.Subject) string { return pkgFile("app.tar", s) }, 4, ""},
		{"file passed without provenance", func(t *testing.T) summary { return fileChain(t, true, false, "app.tar") },
			Passed, []string{"SLSA_BUILD_LEVEL_0"}, func(s store.Subject) string { return pkgFile("app.tar", s) }, 3, ""},
		{"file failed", func(t *testing.T) summary { return fileChain(t, false, true, "app.tar") },
			Failed, []string{"FAILED"}, func(s store.Subject) string { return pkgFile("app.tar", s) }, 4, ""},
		{"file in a directory", func(t *testing.T) summary { return fileChain(t, true, true, "dist/app.tar") },
			Passed, []string{"SLSA_BUILD_LEVEL_1"}, func(s store.Subject) string { return pkgFile("app.tar", s) }, 4, ""},
		{"file by absolute path", func(t *testing.T) summary { return fileChain(t, false, false, "/home/dev/src/app/dist/app.tar") },
			Failed, []string{"FAILED"}, func(s store.Subject) string { return pkgFile("app.tar", s) }, 3, "app.tar"},
		{"file outside the working directory", func(t *testing.T) summary { return fileChain(t, true, false, "../out/app.tar") },
			Passed, []string{"SLSA_BUILD_LEVEL_0"}, func(s store.Subject) string { return pkgFile("app.tar", s) }, 3, "app.tar"},
		{"file named with URI characters", func(t *testing.T) summary { return fileChain(t, true, false, "app v1@2#3?.tar") },
			Passed, []string{"SLSA_BUILD_LEVEL_0"}, func(s store.Subject) string { return pkgFile("app%20v1%402%233%3F.tar", s) }, 3, ""},
		{"image passed", func(t *testing.T) summary { return imageChain(t, "ci") },
			Passed, []string{"SLSA_BUILD_LEVEL_0"}, store.ResourceURI, 1, ""},
		{"image failed", func(t *testing.T) summary { return imageChain(t, "mallory") },
			Failed, []string{"FAILED"}, store.ResourceURI, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.build(t)
			gate := newChain(t).key("gate")
			data, _, err := SignSummary(context.Background(), s.res, gate, "")
			if err != nil {
				t.Fatal(err)
			}
			env, err := envelope.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := sign.VerifyEnvelope(context.Background(), env, gate.Verifier()); err != nil {
				t.Fatalf("the summary's signature: %v", err)
			}
			st, v := checkVSA(t, data)
			if v.GetVerificationResult() != tt.verdict {
				t.Errorf("verificationResult %q, want %q", v.GetVerificationResult(), tt.verdict)
			}
			if !slices.Equal(v.GetVerifiedLevels(), tt.levels) {
				t.Errorf("verifiedLevels %q, want %q", v.GetVerifiedLevels(), tt.levels)
			}
			if want := tt.resourceURI(s.subject); v.GetResourceUri() != want {
				t.Errorf("resourceUri %q, want %q", v.GetResourceUri(), want)
			}
			// The policy: its file's name and digest, not where it was.
			wantPolicy := &vsa1.VerificationSummary_Policy{
				Uri:    "pkg:generic/policy.yaml?checksum=sha256:" + s.res.Policy.Digest,
				Digest: map[string]string{"sha256": s.res.Policy.Digest},
			}
			if v.GetPolicy().GetUri() != wantPolicy.GetUri() || !cmp.Equal(v.GetPolicy().GetDigest(), wantPolicy.GetDigest()) {
				t.Errorf("policy %v, want %v", v.GetPolicy(), wantPolicy)
			}
			raw, _ := protojson.Marshal(st)
			for _, leak := range []string{s.policyDir, filepath.Dir(s.policyDir), "/home/dev"} {
				if strings.Contains(string(raw), leak) && leak != "/" {
					t.Errorf("the summary holds the local path %q: %s", leak, raw)
				}
			}
			if got := len(v.GetInputAttestations()); got != tt.inputs {
				t.Errorf("%d input attestations, want %d", got, tt.inputs)
			}
			// The statement is about the subject, named without a local
			// path.
			wantName := tt.subjectName
			if wantName == "" {
				wantName = s.subject.Name
			}
			if sub := st.GetSubject(); len(sub) != 1 || sub[0].GetName() != wantName || sub[0].GetDigest()[s.subject.Digest.Algorithm] != s.subject.Digest.Hex {
				t.Errorf("statement subject %v, want %s@%s", sub, wantName, s.subject.Digest)
			}
		})
	}
}

// TestVSAOptions: the subject kind, resourceUri and policy.uri can be
// given; what is given must be an absolute URI; kinds do not conflict.
func TestVSAOptions(t *testing.T) {
	t.Parallel()
	hexDigest := strings.Repeat("ab", 32)
	res := func(name string) *Result {
		return &Result{Verified: true, Verdict: Passed, VerifiedAt: now,
			Subject: SubjectRef{Name: name, Digest: "sha256:" + hexDigest},
			Policy:  PolicyRef{Source: "/home/dev/policies/release.yaml", Digest: strings.Repeat("cd", 32)}}
	}
	predicate := func(t *testing.T, r *Result, opts ...SummaryOption) *vsa1.VerificationSummary {
		t.Helper()
		st, err := r.Summary("", opts...)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := protojson.Marshal(st.GetPredicate())
		if err != nil {
			t.Fatal(err)
		}
		v := &vsa1.VerificationSummary{}
		if err := protojson.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		name, subject            string
		opts                     []SummaryOption
		wantResource, wantPolicy string
	}{
		{"image by default", "ghcr.io/acme/app", nil,
			"https://ghcr.io/acme/app@sha256:" + hexDigest, "pkg:generic/release.yaml?checksum=sha256:" + strings.Repeat("cd", 32)},
		{"a file whose path reads as a repository", "build.out/app", []SummaryOption{WithSubjectKind(SubjectFile)},
			"pkg:generic/app?checksum=sha256:" + hexDigest, "pkg:generic/release.yaml?checksum=sha256:" + strings.Repeat("cd", 32)},
		{"an image said to be one", "localhost/app", []SummaryOption{WithSubjectKind(SubjectImage), WithSubjectKind(SubjectImage)},
			"https://localhost/app@sha256:" + hexDigest, "pkg:generic/release.yaml?checksum=sha256:" + strings.Repeat("cd", 32)},
		{"URIs given", "dist/app.tar", []SummaryOption{
			WithResourceURI("https://github.com/acme/app/releases/download/v1.2.3/app.tar"),
			WithPolicyURI("https://github.com/acme/policies/blob/v3/release.yaml")},
			"https://github.com/acme/app/releases/download/v1.2.3/app.tar", "https://github.com/acme/policies/blob/v3/release.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := predicate(t, res(tt.subject), tt.opts...)
			if v.GetResourceUri() != tt.wantResource || v.GetPolicy().GetUri() != tt.wantPolicy {
				t.Errorf("resourceUri %q, policy.uri %q; want %q, %q", v.GetResourceUri(), v.GetPolicy().GetUri(), tt.wantResource, tt.wantPolicy)
			}
			if v.GetPolicy().GetDigest()["sha256"] != strings.Repeat("cd", 32) {
				t.Errorf("policy.digest %v", v.GetPolicy().GetDigest())
			}
		})
	}

	// A policy not read from a file, a Go-built one.
	r := res("app.tar")
	r.Policy = PolicyRef{Digest: strings.Repeat("cd", 32)}
	if got := predicate(t, r).GetPolicy().GetUri(); got != "pkg:generic/policy?checksum=sha256:"+strings.Repeat("cd", 32) {
		t.Errorf("policy parsed from bytes: uri %q", got)
	}
	r.Policy = PolicyRef{}
	if got := predicate(t, r).GetPolicy(); got.GetUri() != "pkg:generic/policy" || len(got.GetDigest()) != 0 {
		t.Errorf("policy built in Go: %v", got)
	}

	for _, tt := range []struct {
		name string
		opt  SummaryOption
	}{
		{"a path as the resource", WithResourceURI("dist/app.tar")},
		{"a reference as the resource", WithResourceURI("127.0.0.1:5000/app@sha256:" + hexDigest)},
		{"an empty resource", WithResourceURI("")},
		{"an upper-case scheme", WithResourceURI("HTTPS://example.com/app.tar")},
		{"a space", WithPolicyURI("https://example.com/my policy.yaml")},
		{"a path as the policy", WithPolicyURI("/home/dev/policy.yaml")},
		{"a file name as the policy", WithPolicyURI("policy.yaml")},
		{"an unknown kind", WithSubjectKind("blob")},
	} {
		if _, err := res("app.tar").Summary("", tt.opt); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("%s: %v, want invalid input", tt.name, err)
		}
	}
	if _, err := res("app.tar").Summary("", WithSubjectKind(SubjectFile), WithSubjectKind(SubjectImage)); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("conflicting kinds: %v, want invalid input", err)
	}
	for _, bad := range []SubjectRef{{}, {Name: "app.tar"}, {Name: "app.tar", Digest: "sha256"}, {Digest: "sha256:" + hexDigest}} {
		r := res("")
		r.Subject = bad
		if _, err := r.Summary(""); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("subject %+v: %v, want invalid input", bad, err)
		}
	}
	// A result whose verdict and flag disagree is not a pass.
	r = res("app.tar")
	r.Verified = false
	if v := predicate(t, r); v.GetVerificationResult() != Failed || !slices.Equal(v.GetVerifiedLevels(), []string{"FAILED"}) {
		t.Errorf("verified=false, verdict PASSED: %v %v", v.GetVerificationResult(), v.GetVerifiedLevels())
	}
}

// TestSubjectKindOf: which names are images by default.
func TestSubjectKindOf(t *testing.T) {
	t.Parallel()
	for n, want := range map[string]SubjectKind{
		"ghcr.io/acme/app":            SubjectImage,
		"index.docker.io/library/app": SubjectImage,
		"127.0.0.1:5000/app":          SubjectImage,
		"localhost:5000/team/app":     SubjectImage,
		"localhost/app":               SubjectImage,
		"app.tar":                     SubjectFile,
		"dist/app.tar":                SubjectFile,
		"bin/app":                     SubjectFile,
		"/home/dev/dist/app.tar":      SubjectFile,
		"../out/app.tar":              SubjectFile,
		"./dist/app.tar":              SubjectFile,
		".build/app":                  SubjectFile,
		"Registry.example/App":        SubjectFile,
		"library/app":                 SubjectFile,  // Docker Hub implied: never how ImageSubject names one
		"build.out/app":               SubjectImage, // ambiguous: WithSubjectKind(SubjectFile)
	} {
		if got := subjectKindOf(n); got != want {
			t.Errorf("subjectKindOf(%q) = %q, want %q", n, got, want)
		}
	}
}

// TestVSAGolden: the summaries of a passing and of a failing verification
// of a file, with the policy read from a file (keys, clocks and files are
// deterministic).
func TestVSAGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		build func(c *chain)
	}{
		{"pass", func(c *chain) {
			c.pipeline(nil)
			c.provenance("ci", c.subject("app.tar"))
		}},
		{"fail", func(c *chain) {
			c.pipeline(map[string]func(){"build": func() { c.write(map[string]string{"dist/app": "evil\n"}) }})
			c.provenance("ci", c.subject("app.tar"))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t)
			tt.build(c)
			res, _ := c.verify(c.policy(pipelinePolicy+provenancePolicy), c.subject("app.tar"))
			st, err := res.Summary("")
			if err != nil {
				t.Fatal(err)
			}
			raw, err := envelope.MarshalStatement(st)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", "vsa-"+tt.name+".json"), out.String()+"\n")
		})
	}
}

package gate

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	vsa1 "github.com/in-toto/attestation/go/predicates/vsa/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/attestor/attestor/attestor/store"
)

// PredicateTypeVSA is the predicate type of a verification summary.
const PredicateTypeVSA = "https://slsa.dev/verification_summary/v1"

// DefaultVerifierID is the verifier.id of the summaries the gate writes.
const DefaultVerifierID = "https://github.com/attestor/attestor/gate"

// The verifiedLevels of a summary (SlsaResult values of the VSA
// specification, https://slsa.dev/spec/v1.0/verification_summary).
const (
	// levelBuild1: a pass whose policy required a provenance and accepted
	// it (signed provenance from an allowed builder).
	levelBuild1 = "SLSA_BUILD_LEVEL_1"
	// levelBuild0: a pass whose policy required no provenance: no SLSA
	// Build guarantee was verified.
	levelBuild0 = "SLSA_BUILD_LEVEL_0"
	// levelFailed: the verification failed ("FAILED if policy
	// verification failed"), alone.
	levelFailed = "FAILED"
)

// slsaVersion is the SLSA specification the levels are of.
const slsaVersion = "1.0"

// SubjectKind says what a verified subject is, which decides how a
// verification summary names it.
type SubjectKind string

// Subject kinds.
const (
	// SubjectImage is an image: its repository (REGISTRY/REPO) and
	// manifest digest, as store.ImageSubject names it.
	SubjectImage SubjectKind = "image"
	// SubjectFile is a file: its path and content digest.
	SubjectFile SubjectKind = "file"
)

// SummaryOption configures a verification summary (Result.Summary,
// SignSummary).
type SummaryOption func(*summaryOptions) error

type summaryOptions struct {
	kind        SubjectKind
	resourceURI string
	policyURI   string
}

// WithSubjectKind says whether the subject is an image or a file. The
// default is an image when the subject's name is a repository with its
// registry, as store.ImageSubject names one (ghcr.io/acme/app,
// localhost:5000/app), and a file otherwise; a file whose path reads as a
// repository (build.out/app) needs WithSubjectKind(SubjectFile).
func WithSubjectKind(k SubjectKind) SummaryOption {
	return func(o *summaryOptions) error {
		if k != SubjectImage && k != SubjectFile {
			return fault.Invalid(fmt.Errorf("gate: verification summary: subject kind %q: use %q or %q", k, SubjectImage, SubjectFile))
		}
		if o.kind != "" && o.kind != k {
			return fault.Invalid(fmt.Errorf("gate: verification summary: subject kind %q and %q given", o.kind, k))
		}
		o.kind = k
		return nil
	}
}

// WithResourceURI sets the summary's resourceUri: the URI the artifact
// is expected to come from, such as the download URL of a released file.
// It must be an absolute URI (RFC 3986) with a lower-case scheme. The
// default names the subject: an image as https://REGISTRY/REPO@DIGEST
// (the resource URI of its Grafeas occurrences, store.ResourceURI), a
// file as pkg:generic/NAME?checksum=ALG:HEX, a package URL of the file's
// base name and digest (its directory is left out).
func WithResourceURI(uri string) SummaryOption {
	return func(o *summaryOptions) error {
		if err := checkURI(uri); err != nil {
			return fault.Invalid(fmt.Errorf("gate: verification summary: resource URI: %w", err))
		}
		o.resourceURI = uri
		return nil
	}
}

// WithPolicyURI sets the summary's policy.uri: where the policy is
// published (https://github.com/acme/policies/blob/v3/app.yaml). It must
// be an absolute URI (RFC 3986) with a lower-case scheme. The default
// names the policy file by its base name and digest,
// pkg:generic/NAME?checksum=sha256:HEX (pkg:generic/policy for a policy
// that was not read from a file), so that the machine's directories stay
// out of the summary. policy.digest is the policy's sha256 either way.
func WithPolicyURI(uri string) SummaryOption {
	return func(o *summaryOptions) error {
		if err := checkURI(uri); err != nil {
			return fault.Invalid(fmt.Errorf("gate: verification summary: policy URI: %w", err))
		}
		o.policyURI = uri
		return nil
	}
}

// uriScheme is RFC 3986's scheme, in lower case (in-toto's ResourceURI
// is case-normalized).
var uriScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`)

func checkURI(s string) error {
	if !uriScheme.MatchString(s) {
		return fmt.Errorf("%q is not an absolute URI (a lower-case scheme, then the rest)", s)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%q: spaces and control characters are not allowed", s)
	}
	if _, err := url.Parse(s); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	return nil
}

// Summary returns the result as an SLSA verification summary (VSA v1,
// https://slsa.dev/spec/v1.0/verification_summary) statement about the
// subject. Every field the specification requires is set:
//
//   - verifier.id: verifierID, DefaultVerifierID if empty;
//   - timeVerified: the result's time;
//   - resourceUri: the subject as a URI (see WithResourceURI);
//   - policy: its uri (see WithPolicyURI) and sha256;
//   - verificationResult: PASSED or FAILED;
//   - verifiedLevels: ["FAILED"] on a failure; on a pass
//     SLSA_BUILD_LEVEL_1 when the policy required a provenance and
//     accepted it, SLSA_BUILD_LEVEL_0 when it required none.
//
// inputAttestations lists every envelope that verified and was used, by
// the sha256 of its bytes as fetched, named by the RFC 6920 URI of that
// digest (ni:///sha-256;BASE64URL): the same envelope can be found in
// several places (workspace, registry, Grafeas), so it is named by what
// it is. slsaVersion is "1.0". A file subject is named in the statement
// by its path when the path is relative and inside the working
// directory, by its base name otherwise.
func (r *Result) Summary(verifierID string, opts ...SummaryOption) (*ita1.Statement, error) {
	if r == nil {
		return nil, fault.Invalid(errors.New("gate: no result"))
	}
	var o summaryOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if verifierID == "" {
		verifierID = DefaultVerifierID
	}
	digest, err := v1.NewHash(r.Subject.Digest)
	if err != nil || r.Subject.Name == "" {
		return nil, fault.Invalid(fmt.Errorf("gate: verification summary: subject %q@%q", r.Subject.Name, r.Subject.Digest))
	}
	kind := o.kind
	if kind == "" {
		kind = subjectKindOf(r.Subject.Name)
	}
	subjectName, resourceURI := r.Subject.Name, o.resourceURI
	if kind == SubjectImage {
		if resourceURI == "" {
			resourceURI = store.ResourceURI(store.Subject{Name: r.Subject.Name, Digest: digest})
		}
	} else {
		subjectName = fileSubjectName(r.Subject.Name)
		if resourceURI == "" {
			resourceURI = genericPURL(path.Base(subjectName), digest.Algorithm+":"+digest.Hex)
		}
	}

	passed := r.Verified && r.Verdict == Passed
	v := &vsa1.VerificationSummary{
		Verifier:           &vsa1.VerificationSummary_Verifier{Id: verifierID},
		TimeVerified:       timestamppb.New(r.VerifiedAt),
		ResourceUri:        resourceURI,
		Policy:             &vsa1.VerificationSummary_Policy{Uri: o.policyURI},
		VerificationResult: Failed,
		VerifiedLevels:     []string{levelFailed},
		SlsaVersion:        slsaVersion,
	}
	if passed {
		v.VerificationResult = Passed
		v.VerifiedLevels = []string{levelBuild0}
		if r.Provenance != nil && r.Provenance.Verdict == Passed {
			v.VerifiedLevels = []string{levelBuild1}
		}
	}
	if r.Policy.Digest != "" {
		v.Policy.Digest = map[string]string{"sha256": r.Policy.Digest}
	}
	if v.Policy.Uri == "" {
		v.Policy.Uri = r.Policy.defaultURI()
	}
	for _, e := range r.Envelopes {
		if e.Status == StatusVerified && e.PredicateType != PredicateTypeVSA {
			uri, err := niURI(e.Digest)
			if err != nil {
				return nil, fmt.Errorf("verification summary: input attestation: %w", err)
			}
			v.InputAttestations = append(v.InputAttestations, &vsa1.VerificationSummary_InputAttestation{
				Uri:    uri,
				Digest: map[string]string{"sha256": e.Digest},
			})
		}
	}
	data, err := protojson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding verification summary: %w", err)
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(data, pred); err != nil {
		return nil, fmt.Errorf("encoding verification summary: %w", err)
	}
	st := &ita1.Statement{
		Type:          ita1.StatementTypeUri,
		Subject:       []*ita1.ResourceDescriptor{{Name: subjectName, Digest: map[string]string{digest.Algorithm: digest.Hex}}},
		PredicateType: PredicateTypeVSA,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("verification summary: %w", err)
	}
	return st, nil
}

// SignSummary signs the result's summary (see Result.Summary, which opts
// configure) with signer and returns the envelope's JSON and the
// workspace file name it goes under: workspace.AttestationName("vsa",
// keyID).
func SignSummary(ctx context.Context, r *Result, signer envelope.Signer, verifierID string, opts ...SummaryOption) (data []byte, name string, err error) {
	if signer == nil {
		return nil, "", fault.Invalid(errors.New("gate: signing the verification summary: no key"))
	}
	st, err := r.Summary(verifierID, opts...)
	if err != nil {
		return nil, "", err
	}
	_, data, err = envelope.SignStatement(ctx, signer, st)
	if err != nil {
		return nil, "", err
	}
	keyID, err := signer.KeyID()
	if err != nil {
		return nil, "", fmt.Errorf("signing the verification summary: %w", err)
	}
	return data, workspace.AttestationName("vsa", keyID), nil
}

// subjectKindOf guesses the kind of a subject by its name: an image when
// the name is a repository with its registry, exactly as
// go-containerregistry names one (a registry's host never starts with a
// dot: ../out/app.tar is a file).
func subjectKindOf(n string) SubjectKind {
	if strings.HasPrefix(n, ".") || strings.HasPrefix(n, "/") {
		return SubjectFile
	}
	repo, err := name.NewRepository(n, name.StrictValidation)
	if err == nil && repo.Name() == n {
		return SubjectImage
	}
	return SubjectFile
}

// fileSubjectName is the name of a file subject in a summary: its path
// (with slashes) when relative and inside the working directory, its base
// name otherwise, so that no directory of the machine is in the summary.
func fileSubjectName(p string) string {
	if filepath.IsLocal(p) {
		return filepath.ToSlash(filepath.Clean(p))
	}
	return path.Base(filepath.ToSlash(p))
}

// defaultURI names the policy by its file's base name and digest.
func (p PolicyRef) defaultURI() string {
	n := "policy"
	if p.Source != "" {
		if b := path.Base(filepath.ToSlash(p.Source)); b != "." && b != "/" {
			n = b
		}
	}
	checksum := ""
	if p.Digest != "" {
		checksum = "sha256:" + p.Digest
	}
	return genericPURL(n, checksum)
}

// genericPURL is the package URL of a generic package (a file):
// pkg:generic/NAME, with ?checksum=ALG:HEX when checksum is set
// (https://github.com/package-url/purl-spec, type "generic").
func genericPURL(n, checksum string) string {
	if n == "" || n == "." || n == ".." || n == "/" {
		n = "_"
	}
	u := "pkg:generic/" + purlEscape(n)
	if checksum != "" {
		u += "?checksum=" + checksum
	}
	return u
}

// purlEscape percent-encodes every byte of s but the unreserved
// characters of RFC 3986 (what a purl name may hold as is).
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// niURI is the RFC 6920 named-information URI of the content whose hex
// sha256 is hexDigest: ni:///sha-256;BASE64URL (no padding).
func niURI(hexDigest string) (string, error) {
	sum, err := hex.DecodeString(hexDigest)
	if err != nil || len(sum) != 32 {
		return "", fmt.Errorf("sha256 %q", hexDigest)
	}
	return "ni:///sha-256;" + base64.RawURLEncoding.EncodeToString(sum), nil
}

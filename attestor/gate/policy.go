package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/attestor/attestor/attestor/safefile"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
)

// PolicyVersion is the only policy schema version this package reads.
const PolicyVersion = 1

// MaxPolicySize bounds a policy file.
const MaxPolicySize = 1 << 20

// Policy is a release policy: who may perform which step, how the steps'
// artifacts flow, what the provenance must say, which other attestations
// are required, and until when the policy holds. It is written as YAML or
// JSON (see README, "Gate: verify and promote"):
//
//	version: 1
//	expires: 2027-12-31T00:00:00Z
//	functionaries:
//	  ci: {key: keys/ci.pub}
//	steps:
//	  - name: build
//	    functionaries: [ci]
//	    threshold: 1
//	    materials: [[DISALLOW, "*"]]
//	    products:  [[CREATE, bin/app], [DISALLOW, "*"]]
//	provenance: {functionaries: [ci], builderIds: [...], maxAge: 168h}
//
// Read policies with ParsePolicy or LoadPolicy: they validate every field
// and load the functionaries' keys. A Policy built in Go is not compiled:
// NewVerifier refuses it.
type Policy struct {
	// Version is the schema version: PolicyVersion. Required.
	Version int `json:"version" yaml:"version"`
	// Expires is when the policy stops holding. Required: a verification
	// at or after it fails with ErrPolicyExpired.
	Expires time.Time `json:"expires" yaml:"-"`
	// Functionaries are the signers the policy trusts, by name.
	Functionaries map[string]Functionary `json:"functionaries" yaml:"functionaries"`
	// Steps are the build's steps, in order; at least one. The last
	// step's products must include the subject.
	Steps []Step `json:"steps" yaml:"steps"`
	// Provenance, if set, requires an SLSA v1 provenance of the subject.
	Provenance *ProvenancePolicy `json:"provenance,omitempty" yaml:"provenance"`
	// Attestations are other attestations of the subject that are
	// required, by predicate type and signer.
	Attestations []AttestationPolicy `json:"attestations,omitempty" yaml:"attestations"`

	// Set by compile.
	dir       string
	digest    string
	source    string
	keys      map[string]*sign.Verifier // functionary → key
	keyless   map[string]sign.Identity
	rules     map[string]stepRules // step → compiled rules
	refGlobs  []matcher
	repoGlobs []matcher
	compiled  bool
}

// Functionary is a trusted signer: a public key, or a keyless (sigstore)
// identity. Exactly one of Key and Keyless is set.
type Functionary struct {
	// Key is the path of a public key file: PEM (PKIX "PUBLIC KEY", such
	// as a cosign .pub, PKCS #1, or a certificate) or an in-toto JSON
	// key. A relative path is relative to the policy file's directory.
	Key string `json:"key,omitempty" yaml:"key"`
	// Keyless is a certificate identity (Fulcio): the OIDC issuer
	// (issuer or issuerRegexp) and the subject of the signing certificate
	// (subject or subjectRegexp), and optionally the GitHub workflow
	// claims (repository, ref, workflow, trigger, sha). Keyless
	// signatures are checked against a trusted root (WithTrustedMaterial);
	// without one, a policy that uses a keyless functionary fails with
	// ErrKeyless.
	Keyless *sign.Identity `json:"keyless,omitempty" yaml:"keyless"`
}

// Step is a step of the build and what its records must show.
type Step struct {
	// Name is the step's name, as recorded (attestor run --step NAME).
	Name string `json:"name" yaml:"name"`
	// Functionaries may sign the step's records; at least one.
	Functionaries []string `json:"functionaries" yaml:"functionaries"`
	// Threshold is how many distinct signing keys, each for a distinct
	// functionary, must sign records that agree on the step's materials
	// and products. Keys are compared as public keys: a keyless
	// signature's key is its certificate's, so one certificate that the
	// identities of two keyless functionaries match counts once, and so
	// does a key functionary's key in a certificate; a functionary that
	// signed with several keys (several certificates) counts once too.
	// The default is 1; it may not be below 1, above the number of
	// functionaries, or above the number of distinct keys of key
	// functionaries (plus the keyless ones).
	Threshold int `json:"threshold" yaml:"threshold"`
	// ExpectedCommand, if set, is the command the step must have run
	// (exactly). Unlike in-toto, which only warns, a mismatch fails.
	ExpectedCommand []string `json:"expectedCommand,omitempty" yaml:"expectedCommand"`
	// Materials and Products are in-toto artifact rules (MATCH, ALLOW,
	// DISALLOW, CREATE, DELETE, MODIFY, REQUIRE), applied in order.
	Materials [][]string `json:"materials,omitempty" yaml:"materials"`
	Products  [][]string `json:"products,omitempty" yaml:"products"`
}

// ProvenancePolicy is what the subject's SLSA v1 provenance must say. Each
// list that is empty allows anything; Functionaries may not be empty.
type ProvenancePolicy struct {
	// Functionaries may sign the provenance; at least one.
	Functionaries []string `json:"functionaries" yaml:"functionaries"`
	// BuilderIDs are the allowed runDetails.builder.id values (exact).
	BuilderIDs []string `json:"builderIds,omitempty" yaml:"builderIds"`
	// BuildTypes are the allowed buildDefinition.buildType values (exact).
	BuildTypes []string `json:"buildTypes,omitempty" yaml:"buildTypes"`
	// SourceRepos are the allowed source repositories (globs, as in
	// artifact rules, without the "git+" prefix), as the provenance's
	// resolved dependencies name them (git+REPO@REF).
	SourceRepos []string `json:"sourceRepos,omitempty" yaml:"sourceRepos"`
	// Refs are the allowed source refs (globs: "refs/tags/v*").
	Refs []string `json:"refs,omitempty" yaml:"refs"`
	// MaxAge bounds the age of the build (from runDetails.metadata
	// finishedOn, else startedOn); 0 means any age. A provenance without
	// a time fails when MaxAge is set.
	MaxAge Duration `json:"maxAge,omitempty" yaml:"maxAge"`
}

// AttestationPolicy requires an attestation of the subject with the
// predicate type, signed by one of the functionaries.
type AttestationPolicy struct {
	PredicateType string   `json:"predicateType" yaml:"predicateType"`
	Functionaries []string `json:"functionaries" yaml:"functionaries"`
}

// Duration is a time.Duration written as a Go duration ("168h", "90m")
// or a number of days ("7d").
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := parseDuration(s)
	*d = Duration(v)
	return err
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("invalid duration %q: want a Go duration (168h) or days (7d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q: want a Go duration (168h) or days (7d)", s)
	}
	return v, nil
}

type stepRules struct{ materials, products []*rule }

// LoadPolicy reads and parses the policy file at path (see ParsePolicy);
// key paths are relative to its directory. Every error matches ErrPolicy
// and fault.ErrInvalidInput.
func LoadPolicy(path string) (*Policy, error) {
	// Opened without blocking: a FIFO or device is refused.
	data, err := safefile.Read(path, MaxPolicySize)
	if err != nil {
		return nil, policyErr(path, 0, "", "%v", err)
	}
	p, err := parsePolicy(data, filepath.Dir(path), path)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ParsePolicy parses a policy in YAML or JSON (JSON is YAML) and compiles
// it: unknown fields and duplicate keys are errors, every field is
// validated, and the functionaries' keys are loaded from paths relative to
// dir. Errors name the line and the field; they match ErrPolicy and
// fault.ErrInvalidInput, several joined when several fields are wrong.
func ParsePolicy(data []byte, dir string) (*Policy, error) {
	return parsePolicy(data, dir, "")
}

// policyDoc is the document as written; Policy is what it means.
type policyDoc struct {
	Version       *int                   `yaml:"version"`
	Expires       string                 `yaml:"expires"`
	Functionaries map[string]Functionary `yaml:"functionaries"`
	Steps         []Step                 `yaml:"steps"`
	Provenance    *ProvenancePolicy      `yaml:"provenance"`
	Attestations  []AttestationPolicy    `yaml:"attestations"`
}

func parsePolicy(data []byte, dir, source string) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, policyErr(source, 0, "", "larger than %d bytes", MaxPolicySize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, policyErr(source, 0, "", "%v", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, policyErr(source, root.Line, "", "a policy is a mapping (version, expires, functionaries, steps, ...)")
	}
	doc := root.Content[0]
	if errs := checkNode(doc, reflect.TypeOf(policyDoc{}), "", source); len(errs) > 0 {
		return nil, joinCapped(errs, source)
	}
	var pd policyDoc
	if err := doc.Decode(&pd); err != nil {
		return nil, policyErr(source, 0, "", "%v", strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "))
	}
	pos := func(path ...any) int { return lineOf(doc, path...) }
	var errs []error
	fail := func(line int, field, format string, args ...any) {
		errs = append(errs, policyErr(source, line, field, format, args...))
	}
	p := &Policy{
		Functionaries: pd.Functionaries,
		Steps:         pd.Steps,
		Provenance:    pd.Provenance,
		Attestations:  pd.Attestations,
	}
	switch {
	case pd.Version == nil:
		fail(doc.Line, "version", "required (version: %d)", PolicyVersion)
	case *pd.Version != PolicyVersion:
		fail(pos("version"), "version", "unsupported version %d (this build reads version %d)", *pd.Version, PolicyVersion)
	default:
		p.Version = *pd.Version
	}
	if pd.Expires == "" {
		fail(doc.Line, "expires", "required: an RFC 3339 time (2027-12-31T00:00:00Z)")
	} else if t, err := time.Parse(time.RFC3339, pd.Expires); err != nil {
		fail(pos("expires"), "expires", "%q is not an RFC 3339 time (2027-12-31T00:00:00Z)", pd.Expires)
	} else {
		p.Expires = t
	}
	// An omitted threshold is 1; a written one is checked as written.
	for i := range p.Steps {
		if lineOfKey(doc, "steps", i, "threshold") == 0 {
			p.Steps[i].Threshold = 1
		}
	}
	errs = append(errs, p.compile(dir, source, pos)...)
	if len(errs) > 0 {
		return nil, joinCapped(errs, source)
	}
	sum := sha256.Sum256(data)
	p.digest, p.source = hex.EncodeToString(sum[:]), source
	return p, nil
}

func (p *Policy) compile(dir, source string, pos func(path ...any) int) []error {
	var errs []error
	fail := func(line int, field, format string, args ...any) {
		errs = append(errs, policyErr(source, line, field, format, args...))
	}
	p.dir = dir
	p.keys = map[string]*sign.Verifier{}
	p.keyless = map[string]sign.Identity{}
	p.rules = map[string]stepRules{}

	if len(p.Functionaries) == 0 {
		fail(pos(), "functionaries", "at least one functionary is required")
	}
	for name, f := range p.Functionaries {
		field := "functionaries." + name
		line := pos("functionaries", name)
		switch {
		case name == "":
			fail(line, field, "empty functionary name")
		case f.Key != "" && f.Keyless != nil:
			fail(line, field, "has both key and keyless: give one")
		case f.Key != "":
			path := f.Key
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			v, err := sign.LoadVerifier(path)
			if err != nil {
				fail(pos("functionaries", name, "key"), field+".key", "%v", err)
				continue
			}
			p.keys[name] = v
		case f.Keyless != nil:
			k := *f.Keyless
			kf := field + ".keyless"
			ok := true
			if (k.Issuer == "") == (k.IssuerRegexp == "") {
				fail(pos("functionaries", name, "keyless"), kf, "give exactly one of issuer and issuerRegexp")
				ok = false
			}
			if (k.Subject == "") == (k.SubjectRegexp == "") {
				fail(pos("functionaries", name, "keyless"), kf, "give exactly one of subject and subjectRegexp")
				ok = false
			}
			for _, re := range []struct{ field, expr string }{{"issuerRegexp", k.IssuerRegexp}, {"subjectRegexp", k.SubjectRegexp}} {
				if re.expr == "" {
					continue
				}
				if _, err := regexp.Compile(re.expr); err != nil {
					fail(pos("functionaries", name, "keyless", re.field), kf+"."+re.field, "%v", err)
					ok = false
				}
			}
			if ok {
				p.keyless[name] = k
			}
		default:
			fail(line, field, "give a key or a keyless identity")
		}
	}
	checkFunctionaries := func(path []any, field string, names []string) {
		if len(names) == 0 {
			fail(pos(path...), field, "at least one functionary is required")
		}
		seen := map[string]bool{}
		for i, n := range names {
			if _, ok := p.Functionaries[n]; !ok {
				fail(pos(append(path, i)...), fmt.Sprintf("%s[%d]", field, i), "unknown functionary %q (declare it under functionaries)", n)
			}
			if seen[n] {
				fail(pos(append(path, i)...), fmt.Sprintf("%s[%d]", field, i), "functionary %q listed twice", n)
			}
			seen[n] = true
		}
	}

	if len(p.Steps) == 0 {
		fail(pos(), "steps", "at least one step is required: a policy without steps verifies nothing")
	}
	names := map[string]bool{}
	for i, s := range p.Steps {
		field := fmt.Sprintf("steps[%d]", i)
		if err := workspace.ValidateStepName(s.Name); err != nil {
			fail(pos("steps", i), field+".name", "%v", err)
		} else if names[s.Name] {
			fail(pos("steps", i, "name"), field+".name", "step %q defined twice", s.Name)
		}
		names[s.Name] = true
		checkFunctionaries([]any{"steps", i, "functionaries"}, field+".functionaries", s.Functionaries)
		switch distinct, same := p.distinctKeys(s.Functionaries); {
		case s.Threshold < 1:
			fail(pos("steps", i, "threshold"), field+".threshold", "threshold %d: must be at least 1", s.Threshold)
		case s.Threshold > len(s.Functionaries):
			fail(pos("steps", i, "threshold"), field+".threshold", "threshold %d with %d functionaries can never be met", s.Threshold, len(s.Functionaries))
		case s.Threshold > distinct:
			fail(pos("steps", i, "threshold"), field+".threshold", "threshold %d with %d distinct %s can never be met (%s have the same key: a key counts once)", s.Threshold, distinct, plural(distinct, "key", "keys"), strings.Join(same, ", "))
		}
	}
	for i, s := range p.Steps {
		field := fmt.Sprintf("steps[%d]", i)
		var sr stepRules
		for _, kind := range []string{materialsKind, productsKind} {
			raws := s.Materials
			if kind == productsKind {
				raws = s.Products
			}
			for j, raw := range raws {
				r, err := parseRule(raw)
				if err != nil {
					fail(pos("steps", i, kind, j), fmt.Sprintf("%s.%s[%d]", field, kind, j), "%v", err)
					continue
				}
				if r.typ == RuleMatch && !names[r.dstStep] {
					fail(pos("steps", i, kind, j), fmt.Sprintf("%s.%s[%d]", field, kind, j), "rule %q: FROM %q: no such step", r.String(), r.dstStep)
					continue
				}
				if kind == materialsKind {
					sr.materials = append(sr.materials, r)
				} else {
					sr.products = append(sr.products, r)
				}
			}
		}
		p.rules[s.Name] = sr
	}

	if pp := p.Provenance; pp != nil {
		checkFunctionaries([]any{"provenance", "functionaries"}, "provenance.functionaries", pp.Functionaries)
		p.repoGlobs, p.refGlobs = nil, nil
		for i, g := range pp.SourceRepos {
			m, err := compileGlob(strings.TrimPrefix(g, "git+"))
			if err != nil || g == "" {
				fail(pos("provenance", "sourceRepos", i), fmt.Sprintf("provenance.sourceRepos[%d]", i), "invalid pattern %q", g)
				continue
			}
			p.repoGlobs = append(p.repoGlobs, m)
		}
		for i, g := range pp.Refs {
			m, err := compileGlob(g)
			if err != nil || g == "" {
				fail(pos("provenance", "refs", i), fmt.Sprintf("provenance.refs[%d]", i), "invalid pattern %q", g)
				continue
			}
			p.refGlobs = append(p.refGlobs, m)
		}
		if pp.MaxAge < 0 {
			fail(pos("provenance", "maxAge"), "provenance.maxAge", "must not be negative")
		}
	}
	for i, a := range p.Attestations {
		field := fmt.Sprintf("attestations[%d]", i)
		if a.PredicateType == "" {
			fail(pos("attestations", i), field+".predicateType", "required")
		}
		checkFunctionaries([]any{"attestations", i, "functionaries"}, field+".functionaries", a.Functionaries)
	}
	p.compiled = len(errs) == 0
	return errs
}

// distinctKeys returns how many distinct signing keys the functionaries
// can sign with at most (a keyless functionary may sign with any number of
// keys; see signingKey) and the key functionaries that share a key with
// another. Unknown functionaries and keys that did not load count as
// distinct (they are errors of their own).
func (p *Policy) distinctKeys(functionaries []string) (int, []string) {
	byKey := map[string][]string{}
	n := 0
	for _, f := range functionaries {
		v, ok := p.keys[f]
		if !ok {
			n++
			continue
		}
		key, err := signingKey(v.Public())
		if err != nil {
			n++
			continue
		}
		if len(byKey[key]) == 0 {
			n++
		}
		byKey[key] = append(byKey[key], f)
	}
	var same []string
	for _, fs := range byKey {
		if len(fs) > 1 {
			same = append(same, fs...)
		}
	}
	sort.Strings(same)
	return n, same
}

// maxPolicyErrors bounds the errors reported for one policy.
const maxPolicyErrors = 50

// joinCapped joins at most maxPolicyErrors errors, saying how many more.
func joinCapped(errs []error, source string) error {
	if len(errs) > maxPolicyErrors {
		more := len(errs) - maxPolicyErrors
		errs = append(errs[:maxPolicyErrors:maxPolicyErrors], policyErr(source, 0, "", "and %d more errors", more))
	}
	return errors.Join(errs...)
}

// PolicyError is a policy error: the file, line and field it is about.
// It matches ErrPolicy and fault.ErrInvalidInput.
type PolicyError struct {
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
	Field string `json:"field,omitempty"`
	Msg   string `json:"message"`
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString("policy")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ", line %d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(", " + e.Field)
	}
	return b.String() + ": " + e.Msg
}

// Unwrap returns ErrPolicy.
func (e *PolicyError) Unwrap() error { return ErrPolicy }

func policyErr(file string, line int, field, format string, args ...any) error {
	return &PolicyError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// checkNode checks n against the type it decodes into: duplicate keys and
// unknown fields of every mapping, recursively.
func checkNode(n *yaml.Node, t reflect.Type, field, source string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		return []error{policyErr(source, n.Line, field, "aliases are not allowed in a policy")}
	}
	var errs []error
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return []error{policyErr(source, n.Line, field, "want a mapping, got %s", kindName(n))}
		}
		fields := map[string]reflect.Type{}
		var known []string
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fields[tag] = f.Type
			known = append(known, tag)
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := joinField(field, k.Value)
			if l, dup := seen[k.Value]; dup {
				errs = append(errs, policyErr(source, k.Line, sub, "duplicate key (first at line %d)", l))
				continue
			}
			seen[k.Value] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				errs = append(errs, policyErr(source, k.Line, sub, "unknown field (known: %s)", strings.Join(known, ", ")))
				continue
			}
			errs = append(errs, checkNode(v, ft, sub, source)...)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return []error{policyErr(source, n.Line, field, "want a mapping, got %s", kindName(n))}
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := joinField(field, k.Value)
			if l, dup := seen[k.Value]; dup {
				errs = append(errs, policyErr(source, k.Line, sub, "duplicate key (first at line %d)", l))
				continue
			}
			seen[k.Value] = k.Line
			errs = append(errs, checkNode(v, t.Elem(), sub, source)...)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return []error{policyErr(source, n.Line, field, "want a list, got %s", kindName(n))}
		}
		for i, c := range n.Content {
			errs = append(errs, checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", field, i), source)...)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			return []error{policyErr(source, n.Line, field, "want a single value, got %s", kindName(n))}
		}
	}
	return errs
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// lineOf returns the line of the node at path (keys are strings, list
// indexes ints) below doc, or of the deepest node found on the way.
func lineOf(doc *yaml.Node, path ...any) int {
	n, line := doc, doc.Line
	for _, p := range path {
		next := child(n, p)
		if next == nil {
			break
		}
		n, line = next, next.Line
	}
	return line
}

// lineOfKey returns the line of the node at path, 0 if it is absent.
func lineOfKey(doc *yaml.Node, path ...any) int {
	n := doc
	for _, p := range path {
		if n = child(n, p); n == nil {
			return 0
		}
	}
	return n.Line
}

func child(n *yaml.Node, p any) *yaml.Node {
	switch k := p.(type) {
	case string:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				return n.Content[i+1]
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && k < len(n.Content) {
			return n.Content[k]
		}
	}
	return nil
}

package attestor

import (
	"fmt"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/workspace"

	linkv0 "github.com/in-toto/attestation/go/predicates/link/v0"
	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/in-toto/in-toto-golang/in_toto"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Keys of a step record's byproducts and environment. They follow the
// in-toto reference implementation ("return-value", "stdout", "stderr") so a
// legacy link and a statement carry the same facts under the same names.
const (
	byproductReturnValue     = "return-value"
	byproductStdout          = "stdout"
	byproductStderr          = "stderr"
	byproductStdoutTruncated = "stdout-truncated"
	byproductStderrTruncated = "stderr-truncated"
	// byproductSubjects says what the statement's subjects are: a step
	// that made no products has its materials as subjects (a statement
	// needs at least one), marked "materials" here.
	byproductSubjects = "subjects"

	envStartedOn  = "startedOn"
	envFinishedOn = "finishedOn"
	envCI         = "ci"
)

// Record is what one step did: the unsigned content of a step record.
type Record struct {
	// Step is the step's name, unique in a pipeline (see ValidateStepName).
	Step string
	// Command is the command the step ran (may be empty for a phase
	// recorded with record start / record stop).
	Command []string
	// Materials and Products are the artifacts before and after the
	// command, sorted by name.
	Materials []*ita1.ResourceDescriptor
	Products  []*ita1.ResourceDescriptor
	// ExitCode is the command's exit code; nil when no command ran.
	ExitCode *int
	// Stdout and Stderr are the captured (bounded, redacted) output.
	Stdout, Stderr                   string
	StdoutTruncated, StderrTruncated bool
	// CI holds the facts of the CI platform the step ran on, as a JSON
	// object (strings, numbers, booleans, nested objects).
	CI map[string]any
	// StartedOn and FinishedOn bound the step (UTC, second precision in
	// the record).
	StartedOn, FinishedOn time.Time
}

func (r *Record) byproducts() map[string]any {
	b := map[string]any{}
	if r.ExitCode != nil {
		b[byproductReturnValue] = *r.ExitCode
		b[byproductStdout] = strings.ToValidUTF8(r.Stdout, "\uFFFD")
		b[byproductStderr] = strings.ToValidUTF8(r.Stderr, "\uFFFD")
		if r.StdoutTruncated {
			b[byproductStdoutTruncated] = true
		}
		if r.StderrTruncated {
			b[byproductStderrTruncated] = true
		}
	}
	return b
}

func (r *Record) environment() map[string]any {
	env := map[string]any{}
	if !r.StartedOn.IsZero() {
		env[envStartedOn] = r.StartedOn.UTC().Format(time.RFC3339)
	}
	if !r.FinishedOn.IsZero() {
		env[envFinishedOn] = r.FinishedOn.UTC().Format(time.RFC3339)
	}
	if len(r.CI) > 0 {
		env[envCI] = r.CI
	}
	return env
}

// statementParts checks the record and returns what both encodings of its
// statement start from: the subjects (the products; the materials, marked so
// in the byproducts, when there are none) and the byproducts.
func (r *Record) statementParts() ([]*ita1.ResourceDescriptor, map[string]any, error) {
	if err := r.checkFields(); err != nil {
		return nil, nil, err
	}
	if err := checkArtifactsUTF8(r.Step, r.Materials, r.Products); err != nil {
		return nil, nil, err
	}
	by := r.byproducts()
	subjects := r.Products
	if len(subjects) == 0 {
		subjects = r.Materials
		by[byproductSubjects] = "materials"
	}
	if len(subjects) == 0 {
		return nil, nil, fault.Invalidf("step %q recorded no materials and no products: a statement needs at least one subject", r.Step)
	}
	return subjects, by, nil
}

// Statement returns the record as an in-toto Statement v1 with the link
// predicate: the products are the subjects (the materials, marked so in the
// byproducts, when there are none), the rest is the predicate.
func (r *Record) Statement() (*ita1.Statement, error) {
	subjects, by, err := r.statementParts()
	if err != nil {
		return nil, err
	}
	byStruct, err := structpb.NewStruct(by)
	if err != nil {
		return nil, fmt.Errorf("encoding byproducts of step %q: %w", r.Step, err)
	}
	envStruct, err := structpb.NewStruct(r.environment())
	if err != nil {
		return nil, fmt.Errorf("encoding environment of step %q: %w", r.Step, err)
	}
	link := &linkv0.Link{
		Name:        r.Step,
		Command:     r.Command,
		Materials:   r.Materials,
		Byproducts:  byStruct,
		Environment: envStruct,
	}
	linkJSON, err := protojson.Marshal(link)
	if err != nil {
		return nil, fmt.Errorf("encoding link of step %q: %w", r.Step, err)
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(linkJSON, pred); err != nil {
		return nil, fmt.Errorf("encoding link of step %q: %w", r.Step, err)
	}
	st := &ita1.Statement{
		Type:          ita1.StatementTypeUri,
		Subject:       subjects,
		PredicateType: envelope.PredicateTypeLink,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fault.Invalidf("step %q: invalid statement: %v", r.Step, err)
	}
	return st, nil
}

// RecordFromStatement reads a step record back from its statement. It is
// the inverse of Record.Statement for every field the statement carries.
func RecordFromStatement(st *ita1.Statement) (*Record, error) {
	if st.GetPredicateType() != envelope.PredicateTypeLink {
		return nil, fault.Invalidf("statement has predicate type %q, not a step record (%s)", st.GetPredicateType(), envelope.PredicateTypeLink)
	}
	predJSON, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, fault.Invalidf("decoding link predicate: %v", err)
	}
	link := &linkv0.Link{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(predJSON, link); err != nil {
		return nil, fault.Invalidf("decoding link predicate: %v", err)
	}
	if err := workspace.ValidateStepName(link.GetName()); err != nil {
		return nil, err
	}
	r := &Record{
		Step:      link.GetName(),
		Command:   link.GetCommand(),
		Materials: link.GetMaterials(),
		Products:  st.GetSubject(),
	}
	by := link.GetByproducts().AsMap()
	if s, _ := by[byproductSubjects].(string); s == "materials" {
		r.Products = nil
	}
	if rv, ok := by[byproductReturnValue].(float64); ok {
		code := int(rv)
		r.ExitCode = &code
		r.Stdout, _ = by[byproductStdout].(string)
		r.Stderr, _ = by[byproductStderr].(string)
		r.StdoutTruncated, _ = by[byproductStdoutTruncated].(bool)
		r.StderrTruncated, _ = by[byproductStderrTruncated].(bool)
	}
	env := link.GetEnvironment().AsMap()
	if s, ok := env[envStartedOn].(string); ok {
		if r.StartedOn, err = time.Parse(time.RFC3339, s); err != nil {
			return nil, fault.Invalidf("step %q: bad %s %q", r.Step, envStartedOn, s)
		}
	}
	if s, ok := env[envFinishedOn].(string); ok {
		if r.FinishedOn, err = time.Parse(time.RFC3339, s); err != nil {
			return nil, fault.Invalidf("step %q: bad %s %q", r.Step, envFinishedOn, s)
		}
	}
	if ci, ok := env[envCI].(map[string]any); ok {
		r.CI = ci
	}
	return r, nil
}

// Link returns the record as a classic in-toto v0.9 link, the signed part of
// a legacy .link file.
func (r *Record) Link() in_toto.Link {
	return in_toto.Link{
		Type:        "link",
		Name:        r.Step,
		Materials:   hashObjs(r.Materials),
		Products:    hashObjs(r.Products),
		ByProducts:  r.byproducts(),
		Command:     nonNil(r.Command),
		Environment: r.environment(),
	}
}

// link is Link for a record whose artifacts are in the compact form.
func (r *Record) link(materials, products []hashing.FileSum) in_toto.Link {
	return in_toto.Link{
		Type:        "link",
		Name:        r.Step,
		Materials:   hashObjsOf(materials),
		Products:    hashObjsOf(products),
		ByProducts:  r.byproducts(),
		Command:     nonNil(r.Command),
		Environment: r.environment(),
	}
}

func hashObjsOf(hs []hashing.FileSum) map[string]in_toto.HashObj {
	m := make(map[string]in_toto.HashObj, len(hs))
	for i := range hs {
		m[hs[i].Name] = in_toto.HashObj(hs[i].Digest())
	}
	return m
}

func hashObjs(rds []*ita1.ResourceDescriptor) map[string]in_toto.HashObj {
	m := make(map[string]in_toto.HashObj, len(rds))
	for _, rd := range rds {
		h := in_toto.HashObj{}
		for alg, hex := range rd.GetDigest() {
			h[alg] = hex
		}
		m[rd.GetName()] = h
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

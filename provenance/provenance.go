package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	slsa02 "github.com/in-toto/attestation/go/predicates/provenance/v02"
	slsa1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/attestor"
)

// Predicate types.
const (
	PredicateTypeV1  = "https://slsa.dev/provenance/v1"
	PredicateTypeV02 = "https://slsa.dev/provenance/v0.2"
)

// Version is an SLSA provenance version.
type Version string

// Versions.
const (
	// V1 is SLSA Provenance v1.0, the default.
	V1 Version = "1"
	// V02 is SLSA Provenance v0.2.
	V02 Version = "0.2"
)

// ParseVersion parses a --slsa-version value: "1" (or "1.0", "v1") or
// "0.2" (or "v0.2").
func ParseVersion(s string) (Version, error) {
	switch strings.TrimPrefix(strings.TrimSpace(s), "v") {
	case "1", "1.0":
		return V1, nil
	case "0.2":
		return V02, nil
	}
	return "", fault.Invalid(fmt.Errorf("unknown SLSA version %q: use 1 or 0.2", s))
}

// Build types of SLSA v0.2 where the platform's own v0.2 provenance used
// another than its v1 one.
const (
	buildTypeGitHubV02     = "https://github.com/Attestations/GitHubActionsWorkflow@v1"
	buildTypeCloudBuildV02 = "https://cloudbuild.googleapis.com/CloudBuildYaml@v0.1"
	builderCloudBuildV02   = "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.3"
)

// Annotation keys of the resource descriptors the provenance lists.
const (
	// AnnotationStep names the step of a step record listed in byproducts.
	AnnotationStep = "step"
	// AnnotationPredicateType is the predicate type of a listed step
	// record's statement.
	AnnotationPredicateType = "predicateType"
	// AnnotationDirty marks a source whose working tree had changes that
	// the commit does not hold.
	AnnotationDirty = "dirty"
)

// Step is one step record as read from the workspace.
type Step struct {
	// File is the envelope's file name in the workspace.
	File string
	// Digest is the hex sha256 of the envelope exactly as stored.
	Digest string
	// PredicateType is the predicate type of the envelope's statement.
	PredicateType string
	// Record is the step record the envelope holds.
	Record *attestor.Record
	// Verified says the caller checked the envelope's signature (ReadStep
	// does not): Build takes default subjects only from a verified final
	// step.
	Verified bool
}

// ReadStep decodes a step record from the bytes of its signed envelope, as
// stored in the workspace under the name file. It does not verify the
// signature (the gate does). An envelope that holds another statement (a
// provenance, a verification summary) returns ErrNotStepRecord.
func ReadStep(file string, raw []byte) (*Step, error) {
	env, err := envelope.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if env.PayloadType != envelope.PayloadTypeInToto {
		return nil, fmt.Errorf("%s: payload type %q: %w", file, env.PayloadType, ErrNotStepRecord)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("%s: decoding payload: %w", file, err))
	}
	st, err := envelope.ParseStatement(payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if st.GetPredicateType() != envelope.PredicateTypeLink {
		return nil, fmt.Errorf("%s: predicate type %q: %w", file, st.GetPredicateType(), ErrNotStepRecord)
	}
	rec, err := attestor.RecordFromStatement(st)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	sum := sha256.Sum256(raw)
	return &Step{File: file, Digest: hex.EncodeToString(sum[:]), PredicateType: st.GetPredicateType(), Record: rec}, nil
}

// Input is what a provenance is built from.
type Input struct {
	// Facts are the CI platform's facts (actions.Detect). Nil means none:
	// then the builder id, build type and source must be given as options.
	Facts *actions.Facts
	// Steps are the build's step records (ReadStep); at least one.
	Steps []*Step
	// Subjects are the artifacts the provenance is about: files by sha256,
	// images by manifest digest. Empty means the products of the final
	// step (the one that finished last).
	Subjects []*ita1.ResourceDescriptor
}

// Option configures Build.
type Option func(*options) error

type options struct {
	version   Version
	builderID string
	buildType string
	source    actions.Source
	clock     func() time.Time
}

// WithVersion selects the SLSA version. The default is V1.
func WithVersion(v Version) Option {
	return func(o *options) error {
		if _, err := ParseVersion(string(v)); err != nil {
			return err
		}
		o.version = v
		return nil
	}
}

// WithBuilderID sets the builder id, overriding the platform's. The
// default is the platform's (Facts.BuilderID).
func WithBuilderID(id string) Option {
	return func(o *options) error {
		o.builderID = id
		return nil
	}
}

// WithBuildType sets the build type, overriding the platform's. The
// default is the platform's (Facts.BuildType).
func WithBuildType(t string) Option {
	return func(o *options) error {
		o.buildType = t
		return nil
	}
}

// WithSource overrides the fields of the platform's source that src sets
// (see actions.ParseSource and actions.Source.Override).
func WithSource(src actions.Source) Option {
	return func(o *options) error {
		o.source = src
		return nil
	}
}

// Build returns the SLSA provenance statement of a build. It validates the
// statement (and, for v1, the predicate) with the in-toto attestation
// library's validators. Facts the platform did not state are left out; a
// fact SLSA requires (builder id, build type, external parameters) that
// nothing states is an error (ErrNoBuilderID, ErrNoBuildType,
// ErrNoExternalParameters), as is a build without step records
// (ErrNoSteps) or subjects (ErrNoSubjects).
func Build(in Input, opts ...Option) (*ita1.Statement, error) {
	o := options{version: V1, clock: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	b, err := newBuild(in, &o)
	if err != nil {
		return nil, err
	}
	var (
		pred          proto.Message
		predicateType string
	)
	switch o.version {
	case V02:
		pred, predicateType = b.v02(), PredicateTypeV02
	default:
		p := b.v1()
		if err := p.Validate(); err != nil {
			return nil, fault.Invalid(fmt.Errorf("invalid SLSA v1 provenance: %w", err))
		}
		pred, predicateType = p, PredicateTypeV1
	}
	predStruct, err := toStruct(pred)
	if err != nil {
		return nil, err
	}
	st := &ita1.Statement{
		Type:          ita1.StatementTypeUri,
		Subject:       b.subjects,
		PredicateType: predicateType,
		Predicate:     predStruct,
	}
	if err := st.Validate(); err != nil {
		return nil, fault.Invalid(fmt.Errorf("invalid provenance statement: %w", err))
	}
	return st, nil
}

// build is what both versions are made of.
type build struct {
	facts      actions.Facts
	builderID  string
	buildType  string
	source     actions.Source
	subjects   []*ita1.ResourceDescriptor
	steps      []*Step // by start
	first      *Step
	startedOn  time.Time
	finishedOn time.Time
	version    Version
}

func newBuild(in Input, o *options) (*build, error) {
	b := &build{version: o.version}
	if in.Facts != nil {
		b.facts = *in.Facts
	}
	b.builderID, b.buildType = b.facts.BuilderID, b.facts.BuildType
	if o.version == V02 {
		// The platform's own v0.2 names, where they differ from v1.
		// attestor's own build types (a GitHub run of another event
		// than GitHub's build type covers among them) keep their name.
		switch b.buildType {
		case actions.BuildTypeGitHub:
			b.buildType = buildTypeGitHubV02
		case actions.BuildTypeCloudBuild:
			b.buildType = buildTypeCloudBuildV02
		}
		if b.builderID == actions.BuilderCloudBuild {
			b.builderID = builderCloudBuildV02
		}
	}
	if o.builderID != "" {
		b.builderID = o.builderID
	}
	if o.buildType != "" {
		b.buildType = o.buildType
	}
	b.source = b.facts.Source.Override(o.source)

	var errs []error
	if len(b.externalParameters()) == 0 {
		errs = append(errs, ErrNoExternalParameters)
	}
	if b.builderID == "" {
		errs = append(errs, ErrNoBuilderID)
	}
	if b.buildType == "" {
		errs = append(errs, ErrNoBuildType)
	}
	if len(in.Steps) == 0 {
		errs = append(errs, ErrNoSteps)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	b.steps = append([]*Step(nil), in.Steps...)
	for _, s := range b.steps {
		if s == nil || s.Record == nil {
			return nil, fault.Invalid(errors.New("a step without a record"))
		}
	}
	sort.SliceStable(b.steps, func(i, j int) bool {
		si, sj := b.steps[i].Record.StartedOn, b.steps[j].Record.StartedOn
		if !si.Equal(sj) {
			return si.Before(sj)
		}
		return b.steps[i].File < b.steps[j].File
	})
	b.first = b.steps[0]
	final := b.steps[0]
	for _, s := range b.steps {
		r := s.Record
		if !r.StartedOn.IsZero() && (b.startedOn.IsZero() || r.StartedOn.Before(b.startedOn)) {
			b.startedOn = r.StartedOn
		}
		if !r.FinishedOn.Before(b.finishedOn) {
			b.finishedOn = r.FinishedOn
		}
		if !r.FinishedOn.Before(final.Record.FinishedOn) {
			final = s
		}
	}
	if b.startedOn.IsZero() {
		b.startedOn = b.facts.StartedOn
	}
	if b.finishedOn.IsZero() {
		b.finishedOn = o.clock()
	}

	b.subjects = in.Subjects
	if len(b.subjects) == 0 {
		if !final.Verified {
			return nil, fmt.Errorf("final step %q (%s): %w", final.Record.Step, final.File, ErrUnverifiedFinalStep)
		}
		b.subjects = final.Record.Products
	}
	if len(b.subjects) == 0 {
		return nil, fmt.Errorf("final step %q (%s) recorded no products: %w", final.Record.Step, final.File, ErrNoSubjects)
	}
	return b, nil
}

// externalParameters are shaped as the platform's build type records
// them.
func (b *build) externalParameters() map[string]any {
	f := &b.facts
	ext := map[string]any{}
	switch f.Platform {
	case actions.GitHubActions:
		wf := map[string]any{}
		setIf(wf, "ref", f.Config.Ref)
		setIf(wf, "repository", f.Config.Repo)
		setIf(wf, "path", f.Config.Path)
		if len(wf) > 0 {
			ext["workflow"] = wf
		}
		if len(f.Inputs) > 0 {
			ext["inputs"] = f.Inputs
		}
	case actions.CloudBuild:
		cs := map[string]any{}
		setIf(cs, "path", f.Config.Path)
		setIf(cs, "ref", f.Config.Ref)
		if f.Config.Repo != "" {
			cs["repository"] = "git+" + f.Config.Repo
		}
		if len(cs) > 0 {
			ext["buildConfigSource"] = cs
		}
		if len(f.Inputs) > 0 {
			ext["substitutions"] = f.Inputs
		}
	case actions.GitLabCI:
		setIf(ext, "source", b.source.Repo)
		setIf(ext, "entryPoint", f.Config.EntryPoint)
	default:
		setIf(ext, "pipeline", f.Config.EntryPoint)
		if len(f.Inputs) > 0 {
			ext["parameters"] = f.Inputs
		}
		if src := b.sourceParameter(); src != nil {
			ext["source"] = src
		}
	}
	if len(ext) == 0 {
		// A source given by hand on a platform that stated nothing else.
		if src := b.sourceParameter(); src != nil {
			ext["source"] = src
		}
	}
	return ext
}

// sourceParameter is the source as an external parameter: the
// repository (git+URL) and ref asked for.
func (b *build) sourceParameter() map[string]any {
	if b.source.Repo == "" {
		return nil
	}
	src := map[string]any{"repository": "git+" + b.source.Repo}
	setIf(src, "ref", b.source.Ref)
	return src
}

// sourceDescriptor is the source commit as a resolved dependency:
// git+REPO@REF with the commit as its sha1 (and gitCommit) digest.
func (b *build) sourceDescriptor() *ita1.ResourceDescriptor {
	s := b.source
	if s.Repo == "" {
		return nil
	}
	rd := &ita1.ResourceDescriptor{Uri: "git+" + s.Repo}
	if s.Ref != "" {
		rd.Uri += "@" + s.Ref
	}
	switch len(s.Commit) {
	case 40:
		rd.Digest = map[string]string{"sha1": s.Commit, "gitCommit": s.Commit}
	case 64:
		rd.Digest = map[string]string{"sha256": s.Commit}
	}
	if s.Dirty {
		rd.Annotations = &structpb.Struct{Fields: map[string]*structpb.Value{AnnotationDirty: structpb.NewBoolValue(true)}}
	}
	return rd
}

// stepDescriptors lists every step record by the digest of its envelope.
func (b *build) stepDescriptors() []*ita1.ResourceDescriptor {
	steps := append([]*Step(nil), b.steps...)
	sort.Slice(steps, func(i, j int) bool { return steps[i].File < steps[j].File })
	rds := make([]*ita1.ResourceDescriptor, 0, len(steps))
	for _, s := range steps {
		rds = append(rds, &ita1.ResourceDescriptor{
			Name:   s.File,
			Digest: map[string]string{"sha256": s.Digest},
			Annotations: &structpb.Struct{Fields: map[string]*structpb.Value{
				AnnotationStep:          structpb.NewStringValue(s.Record.Step),
				AnnotationPredicateType: structpb.NewStringValue(s.PredicateType),
			}},
		})
	}
	return rds
}

func (b *build) v1() *slsa1.Provenance {
	deps := []*ita1.ResourceDescriptor{}
	if rd := b.sourceDescriptor(); rd != nil {
		deps = append(deps, rd)
	}
	deps = append(deps, b.first.Record.Materials...)
	ext, _ := structpb.NewStruct(b.externalParameters())
	p := &slsa1.Provenance{
		BuildDefinition: &slsa1.BuildDefinition{
			BuildType:            b.buildType,
			ExternalParameters:   ext,
			ResolvedDependencies: nilIfEmpty(deps),
		},
		RunDetails: &slsa1.RunDetails{
			Builder:    &slsa1.Builder{Id: b.builderID},
			Metadata:   &slsa1.BuildMetadata{InvocationId: b.facts.InvocationID},
			Byproducts: b.stepDescriptors(),
		},
	}
	if len(ext.GetFields()) == 0 {
		p.BuildDefinition.ExternalParameters = nil
	}
	if len(b.facts.Internal) > 0 {
		p.BuildDefinition.InternalParameters, _ = structpb.NewStruct(b.facts.Internal)
	}
	if !b.startedOn.IsZero() {
		p.RunDetails.Metadata.StartedOn = timestamppb.New(b.startedOn.UTC().Truncate(time.Second))
	}
	if !b.finishedOn.IsZero() {
		p.RunDetails.Metadata.FinishedOn = timestamppb.New(b.finishedOn.UTC().Truncate(time.Second))
	}
	return p
}

func (b *build) v02() *slsa02.Provenance {
	f := &b.facts
	p := &slsa02.Provenance{
		Builder:   &slsa02.Builder{Id: b.builderID},
		BuildType: b.buildType,
		Invocation: &slsa02.Invocation{
			ConfigSource: &slsa02.ConfigSource{},
		},
		Metadata: &slsa02.Metadata{
			BuildInvocationId: f.InvocationID,
		},
	}
	cs := p.Invocation.ConfigSource
	cs.EntryPoint = f.Config.EntryPoint
	if cs.EntryPoint == "" {
		cs.EntryPoint = f.Config.Path
	}
	if f.Config.Repo != "" {
		cs.Uri = "git+" + f.Config.Repo
		if f.Config.Ref != "" {
			cs.Uri += "@" + f.Config.Ref
		}
		// The configuration was read at the commit built when it lives in
		// the source repository at the same ref.
		if f.Config.Repo == b.source.Repo && f.Config.Ref == b.source.Ref && len(b.source.Commit) == 40 {
			cs.Digest = map[string]string{"sha1": b.source.Commit}
		}
	}
	if proto.Equal(cs, &slsa02.ConfigSource{}) {
		p.Invocation.ConfigSource = nil
	}
	if ext := b.externalParameters(); len(ext) > 0 {
		p.Invocation.Parameters, _ = structpb.NewStruct(ext)
	}
	if len(f.Internal) > 0 {
		p.Invocation.Environment, _ = structpb.NewStruct(f.Internal)
	}
	if !b.startedOn.IsZero() {
		p.Metadata.BuildStartedOn = timestamppb.New(b.startedOn.UTC().Truncate(time.Second))
	}
	if !b.finishedOn.IsZero() {
		p.Metadata.BuildFinishedOn = timestamppb.New(b.finishedOn.UTC().Truncate(time.Second))
	}
	var mats []*slsa02.Material
	add := func(rd *ita1.ResourceDescriptor) {
		uri := rd.GetUri()
		if uri == "" {
			uri = rd.GetName()
		}
		mats = append(mats, &slsa02.Material{Uri: uri, Digest: rd.GetDigest()})
	}
	if rd := b.sourceDescriptor(); rd != nil {
		add(rd)
	}
	for _, rd := range b.first.Record.Materials {
		add(rd)
	}
	for _, rd := range b.stepDescriptors() {
		add(rd)
	}
	p.Materials = mats
	return p
}

// V1Predicate returns the SLSA v1 predicate of a provenance statement.
func V1Predicate(st *ita1.Statement) (*slsa1.Provenance, error) {
	if st.GetPredicateType() != PredicateTypeV1 {
		return nil, fault.Invalid(fmt.Errorf("predicate type %q is not %s", st.GetPredicateType(), PredicateTypeV1))
	}
	p := &slsa1.Provenance{}
	if err := fromStruct(st.GetPredicate(), p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fault.Invalid(fmt.Errorf("invalid SLSA v1 provenance: %w", err))
	}
	return p, nil
}

// V02Predicate returns the SLSA v0.2 predicate of a provenance statement.
func V02Predicate(st *ita1.Statement) (*slsa02.Provenance, error) {
	if st.GetPredicateType() != PredicateTypeV02 {
		return nil, fault.Invalid(fmt.Errorf("predicate type %q is not %s", st.GetPredicateType(), PredicateTypeV02))
	}
	p := &slsa02.Provenance{}
	if err := fromStruct(st.GetPredicate(), p); err != nil {
		return nil, err
	}
	return p, nil
}

func toStruct(m proto.Message) (*structpb.Struct, error) {
	data, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding provenance: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("encoding provenance: %w", err)
	}
	return s, nil
}

func fromStruct(s *structpb.Struct, m proto.Message) error {
	data, err := protojson.Marshal(s)
	if err != nil {
		return fault.Invalid(fmt.Errorf("decoding provenance: %w", err))
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, m); err != nil {
		return fault.Invalid(fmt.Errorf("decoding provenance: %w", err))
	}
	return nil
}

func setIf(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

func nilIfEmpty(rds []*ita1.ResourceDescriptor) []*ita1.ResourceDescriptor {
	if len(rds) == 0 {
		return nil
	}
	return rds
}

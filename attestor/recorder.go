package attestor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/safefile"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Format selects what a Recorder writes for a step.
type Format string

// Formats.
const (
	// FormatDSSE writes a DSSE envelope of an in-toto Statement v1 with the
	// link predicate. It is the default.
	FormatDSSE Format = "dsse"
	// FormatLegacy writes the classic in-toto v0.9 signed link.
	FormatLegacy Format = "legacy"
	// FormatBoth writes both.
	FormatBoth Format = "both"
)

// ParseFormat parses a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatDSSE, FormatLegacy, FormatBoth:
		return f, nil
	}
	return "", fault.Invalidf("unknown format %q: use dsse, legacy or both", s)
}

func (f Format) dsse() bool   { return f == FormatDSSE || f == FormatBoth }
func (f Format) legacy() bool { return f == FormatLegacy || f == FormatBoth }

// Option configures a Recorder.
type Option func(*recorderOptions) error

type recorderOptions struct {
	hashOpts       []hashing.Option
	format         Format
	stdout, stderr io.Writer
	timeout        time.Duration
	maxCapture     int
	ci             map[string]any
	detectCI       func(context.Context) (map[string]any, error)
	redact         []string
	commandEnv     []string
	workspaceCache bool
	clock          func() time.Time
	logger         *slog.Logger
	dirHash        []string      // WithDirHash
	resolveImage   ImageResolver // WithImageResolver
}

// WithHashOptions sets the options of the Recorder's Hasher (base
// directory, excludes, lstrip, symlinks, line endings). The workspace is
// always excluded as well.
func WithHashOptions(opts ...hashing.Option) Option {
	return func(o *recorderOptions) error {
		o.hashOpts = append(o.hashOpts, opts...)
		return nil
	}
}

// WithFormat selects what is written. The default is FormatDSSE.
func WithFormat(f Format) Option {
	return func(o *recorderOptions) error {
		if _, err := ParseFormat(string(f)); err != nil {
			return err
		}
		o.format = f
		return nil
	}
}

// WithOutput sets where the wrapped command's output streams live while it
// runs. The default discards it (it is still captured for the record).
func WithOutput(stdout, stderr io.Writer) Option {
	return func(o *recorderOptions) error {
		o.stdout, o.stderr = stdout, stderr
		return nil
	}
}

// WithTimeout bounds the wrapped command: when it expires the command's
// process group is killed and the step is recorded with the exit code the
// kill gave. The default is no timeout.
func WithTimeout(d time.Duration) Option {
	return func(o *recorderOptions) error {
		if d < 0 {
			return fault.Invalidf("invalid timeout %s: must not be negative", d)
		}
		o.timeout = d
		return nil
	}
}

// DefaultMaxCapture is how much of each output stream a record keeps unless
// WithMaxCapture says otherwise.
const DefaultMaxCapture = 64 << 10

// WithMaxCapture bounds how many bytes of stdout and of stderr the record
// keeps as byproducts (the first n; the record says when it was
// truncated). 0 keeps none. The default is DefaultMaxCapture.
func WithMaxCapture(n int) Option {
	return func(o *recorderOptions) error {
		if n < 0 {
			return fault.Invalidf("invalid capture size %d: must not be negative", n)
		}
		o.maxCapture = n
		return nil
	}
}

// WithCIDetect makes the Recorder find the CI facts with detect, while it
// hashes a step's materials (for Stop: its products): detection that runs
// git, say, costs the step nothing. Its facts replace any set before; its error
// fails the step before its command runs.
func WithCIDetect(detect func(context.Context) (map[string]any, error)) Option {
	return func(o *recorderOptions) error {
		o.detectCI = detect
		return nil
	}
}

// ci starts finding the CI facts (WithCIDetect) and returns the function
// that waits for them.
func (r *Recorder) ci(ctx context.Context) func() (map[string]any, error) {
	if r.o.detectCI == nil {
		return func() (map[string]any, error) { return r.o.ci, nil }
	}
	var (
		facts map[string]any
		err   error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		facts, err = r.o.detectCI(ctx)
	}()
	return func() (map[string]any, error) {
		<-done
		return facts, err
	}
}

// WithRedact sets the secret values that never reach a record: they are
// replaced by "***" in the captured output. The default is the values of
// the secret variables in the environment (SecretsFromEnv).
func WithRedact(secrets []string) Option {
	return func(o *recorderOptions) error {
		o.redact = secrets
		return nil
	}
}

// WithCommandEnv sets the environment of the command Run wraps, from which
// the Recorder still removes what CommandEnv removes: the command never
// gets a secret the Recorder could sign with. The default is this
// process's environment.
func WithCommandEnv(environ []string) Option {
	return func(o *recorderOptions) error {
		o.commandEnv = environ
		return nil
	}
}

// WithWorkspaceCache keeps the hash cache in the workspace as well, for
// the later steps of the build that sign with the same key: a file they
// did not change since this step hashed it is not read again. The cache
// file is sealed with a key derived from the signing key (see OpenCache),
// so only holders of that key can write what a later step trusts. What it
// cannot see is a file rewritten through a shared memory mapping: writes to
// a page that is already dirty change neither the file's modification nor
// its change time (on tmpfs never; elsewhere not until the page is written
// back), so a process left running between the steps could change a file
// and keep its cached digest. Opt in only where nothing untrusted runs
// between the steps; the cache is never kept for a tree on tmpfs or ramfs.
// The signer must hold its private key (a KeyDeriver: a key file); with a
// KMS or keyless signer it is an error matching fault.ErrInvalidInput. The
// default is a cache that lives in the process: the materials and products
// passes of one Run share it, and nothing outside the process changes
// what it trusts.
func WithWorkspaceCache() Option {
	return func(o *recorderOptions) error {
		o.workspaceCache = true
		return nil
	}
}

// cachePurpose is the purpose of the key a KeyDeriver derives for the hash
// cache.
const cachePurpose = "workspace hash cache v2"

// WithClock sets the clock that dates records. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *recorderOptions) error {
		if now == nil {
			return fault.Invalidf("nil clock")
		}
		o.clock = now
		return nil
	}
}

// WithLogger sets the logger. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *recorderOptions) error {
		if l == nil {
			return fault.Invalidf("nil logger")
		}
		o.logger = l
		return nil
	}
}

// Recorder records steps into a workspace and signs them.
type Recorder struct {
	ws     *workspace.Workspace
	signer envelope.Signer
	hasher *hashing.Hasher
	dirs   *hashing.DirHasher // nil: no WithDirHash
	o      recorderOptions
}

// NewRecorder returns a Recorder that writes into ws and signs with signer.
// A signer that is not a LegacySigner cannot write FormatLegacy or
// FormatBoth.
func NewRecorder(ws *workspace.Workspace, signer envelope.Signer, opts ...Option) (*Recorder, error) {
	if ws == nil {
		return nil, fault.Invalidf("no workspace")
	}
	if signer == nil {
		return nil, fault.Invalidf("no signer: pass a signing key")
	}
	o := recorderOptions{
		format:     FormatDSSE,
		stdout:     io.Discard,
		stderr:     io.Discard,
		maxCapture: DefaultMaxCapture,
		clock:      time.Now,
		logger:     slog.New(slog.DiscardHandler),
	}
	o.redact = SecretsFromEnv(os.Environ())
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if _, ok := signer.(envelope.LegacySigner); o.format.legacy() && !ok {
		return nil, fault.Invalidf("format %q needs a key that can sign classic in-toto links (a key file); this signer cannot", o.format)
	}
	exclude, err := workspaceExclude(ws, o.hashOpts)
	if err != nil {
		return nil, err
	}
	cache, err := o.cache(ws, signer)
	if err != nil {
		return nil, err
	}
	// The cache first: WithoutCache among the caller's options turns it
	// off whatever the order.
	h, err := hashing.NewHasher(append(append([]hashing.Option{cache}, o.hashOpts...), exclude...)...)
	if err != nil {
		return nil, err
	}
	dirs, err := hashing.NewDirHasher(o.dirHash, o.hashOpts)
	if err != nil {
		return nil, err
	}
	h.UseDirHasher(dirs)
	return &Recorder{ws: ws, signer: signer, hasher: h, dirs: dirs, o: o}, nil
}

// cache returns the hash cache option of a Recorder that signs with
// signer: a cache in memory, or with WithWorkspaceCache the workspace's
// cache file, sealed with a key derived from the signing key.
func (o *recorderOptions) cache(ws *workspace.Workspace, signer envelope.Signer) (hashing.Option, error) {
	if !o.workspaceCache {
		return hashing.WithCache(hashing.NewCache()), nil
	}
	kd, ok := signer.(envelope.KeyDeriver)
	if !ok {
		return nil, fault.Invalidf("a workspace hash cache needs a signing key file: a KMS or keyless signer has no key to seal it with")
	}
	key, err := kd.DeriveKey(cachePurpose)
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("a workspace hash cache needs a key to seal it with: %w", err))
	}
	return hashing.WithCacheFile(ws.Path(hashing.CacheFile), key), nil
}

// workspaceExclude returns the option that keeps the workspace out of the
// record when it lies below the hasher's base directory.
func workspaceExclude(ws *workspace.Workspace, hashOpts []hashing.Option) ([]hashing.Option, error) {
	base, err := hashing.BaseDir(hashOpts...)
	if err != nil {
		return nil, err
	}
	if base == "" {
		base = "."
	}
	absBase, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("resolving base directory %q: %w", base, err)
	}
	absWS, err := filepath.Abs(ws.Dir())
	if err != nil {
		return nil, fmt.Errorf("resolving workspace %q: %w", ws.Dir(), err)
	}
	rel, err := filepath.Rel(absBase, absWS)
	if err != nil || !filepath.IsLocal(rel) {
		// The two may be named through different symbolic links (a
		// symlinked checkout, /tmp on macOS): compare where they lead.
		realBase, errBase := filepath.EvalSymlinks(absBase)
		realWS, errWS := filepath.EvalSymlinks(absWS)
		if errBase != nil || errWS != nil {
			return nil, nil
		}
		rel, err = filepath.Rel(realBase, realWS)
	}
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return nil, nil
	}
	return []hashing.Option{hashing.WithExcludes("/" + escapePattern(filepath.ToSlash(rel)) + "/")}, nil
}

// escapePattern escapes the characters that an exclude pattern reads as
// a wildcard or an escape (*, ?, [ and \), so that it matches name
// literally: a workspace named "w[s]" must not exclude "ws".
func escapePattern(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch r {
		case '*', '?', '[', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Step names a step and what to record of it.
type Step struct {
	// Name names the step (see ValidateStepName).
	Name string
	// Materials and Products are the paths hashed before and after the
	// command: files, or directories recorded with everything below them
	// (or as one artifact, see WithDirHash). An entry oci://REF is an
	// image (see WithImageResolver), resolved before the command for a
	// material, after it for a product, and recorded under ImageName(REF)
	// with the sha256 digest of its manifest or index.
	Materials, Products []string
	// Command is the command to run (Run), or the command to record for a
	// phase recorded with Start and Stop (optional there).
	Command []string
}

// Result is what recording a step produced.
type Result struct {
	// Step names the step.
	Step string
	// ExitCode is the command's exit code; nil when no command ran (a
	// phase recorded with Start and Stop).
	ExitCode *int
	// Materials and Products count the artifacts recorded.
	Materials, Products int
	// Files are the workspace files written, in order.
	Files []string
	// TimedOut says the command was killed by the timeout.
	TimedOut bool

	rec                 *Record // without its artifacts
	materials, products []hashing.FileSum
	envelope            *dsse.Envelope // when it was built in memory
	envelopeFile        string
}

// Record returns the step record that was signed. A Result keeps the
// artifacts in a compact form (a descriptor of each of 40,000 artifacts
// would cost more than all the rest of a run): each call builds the record
// and its descriptors anew.
func (r *Result) Record() *Record {
	rec := *r.rec
	rec.Materials = hashing.Descriptors(r.materials)
	rec.Products = hashing.Descriptors(r.products)
	return &rec
}

// Envelope returns the signed DSSE envelope: nil for FormatLegacy, else
// the envelope as written to the workspace (the Recorder streams it to
// its file rather than keep it).
func (r *Result) Envelope() (*dsse.Envelope, error) {
	if r.envelope != nil || r.envelopeFile == "" {
		return r.envelope, nil
	}
	data, err := safefile.Read(r.envelopeFile, workspace.MaxFileSize)
	if err != nil {
		return nil, err
	}
	return envelope.Parse(data)
}

// Run records a step that is one command: it hashes the materials, runs the
// command (its output streams live and is captured, bounded, as
// byproducts), hashes the products, signs the record and writes it into the
// workspace. A command that fails is recorded all the same: its exit code
// is in the result, and the error is nil. A command that cannot start
// returns an error wrapping ErrCommandStart and records nothing. A command
// killed by the timeout is recorded, and ErrTimeout is returned with the
// result.
func (r *Recorder) Run(ctx context.Context, s Step) (*Result, error) {
	// The hash cache file is written in the background: done before
	// the step is.
	defer r.hasher.Flush()
	if err := workspace.ValidateStepName(s.Name); err != nil {
		return nil, err
	}
	if len(s.Command) == 0 {
		return nil, fault.Invalidf("step %q: no command to run", s.Name)
	}
	if len(s.Materials) == 0 && len(s.Products) == 0 && r.o.format.dsse() {
		// Refused before the command runs: a statement needs a subject,
		// and a step that ran but could not be recorded is worse.
		return nil, fault.Invalidf("step %q names no materials and no products: pass -m or -p (a signed statement needs at least one subject)", s.Name)
	}
	// Every image reference is checked before the command runs.
	si, err := r.images(s)
	if err != nil {
		return nil, err
	}
	log := r.o.logger.With("step", s.Name)
	started := r.o.clock()
	ciFacts := r.ci(ctx)
	materials, err := r.hash(ctx, "materials", si.materialFiles)
	ci, ciErr := ciFacts()
	if err != nil {
		return nil, err
	}
	if ciErr != nil {
		return nil, ciErr
	}
	imgs, err := r.resolveImages(ctx, "materials", si.materials, false)
	if err != nil {
		return nil, err
	}
	materials = withImages(materials, imgs)
	log.Debug("materials recorded", "count", len(materials))
	environ := r.o.commandEnv
	if environ == nil {
		environ = os.Environ()
	}
	cr, runErr := runCommand(ctx, s.Command, runConfig{
		Stdout:     r.o.stdout,
		Stderr:     r.o.stderr,
		MaxCapture: r.o.maxCapture,
		Timeout:    r.o.timeout,
		Env:        CommandEnv(environ, r.signer),
		Redact:     r.o.redact,
		Clock:      r.o.clock,
	})
	if cr == nil {
		return nil, runErr
	}
	if runErr != nil && !errors.Is(runErr, ErrTimeout) {
		// Cancelled: the step did not finish, so nothing is recorded.
		return nil, runErr
	}
	log.Debug("command finished", "exitCode", cr.ExitCode, "timedOut", cr.TimedOut)
	products, err := r.hash(ctx, "products", si.productFiles)
	if err != nil {
		return nil, err
	}
	// A product image missing after a command that failed (its push
	// failed with it) leaves the step recorded with the command's exit
	// code, without the image, and the error returned with the result.
	imgs, imgErr := r.resolveImages(ctx, "products", si.products, cr.ExitCode != 0)
	if imgErr != nil && cr.ExitCode == 0 {
		return nil, imgErr
	}
	products = withImages(products, imgs)
	products = shareUnchanged(materials, products)
	code := cr.ExitCode
	rec := &Record{
		Step:            s.Name,
		Command:         r.redactArgs(s.Command),
		ExitCode:        &code,
		Stdout:          string(cr.Stdout),
		Stderr:          string(cr.Stderr),
		StdoutTruncated: cr.StdoutTruncated,
		StderrTruncated: cr.StderrTruncated,
		CI:              ci,
		StartedOn:       started,
		FinishedOn:      r.o.clock(),
	}
	res, err := r.write(ctx, rec, materials, products)
	if err != nil {
		return nil, err
	}
	res.TimedOut = cr.TimedOut
	if imgErr != nil {
		return res, errors.Join(runErr, imgErr)
	}
	return res, runErr
}

func (r *Recorder) hash(ctx context.Context, what string, paths []string) ([]hashing.FileSum, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	hs, err := r.hasher.HashFiles(ctx, paths)
	if err == nil {
		hs, err = r.dirs.Group(hs)
	}
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", what, err)
	}
	return hs, nil
}

// redactArgs returns the command with every secret value replaced by "***"
// in each argument, so a token passed on the command line never reaches a
// record.
func (r *Recorder) redactArgs(argv []string) []string {
	if len(r.o.redact) == 0 || len(argv) == 0 {
		return argv
	}
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = string(redact([]byte(a), r.o.redact))
	}
	return out
}

// pending is the state a Start leaves for the Stop of the same step.
type pending struct {
	Version   int        `json:"version"`
	Step      string     `json:"step"`
	Command   []string   `json:"command,omitempty"`
	Materials []artifact `json:"materials"`
	StartedOn time.Time  `json:"startedOn"`
}

type artifact struct {
	Name   string        `json:"name"`
	Digest pendingDigest `json:"digest"`
}

// pendingDigest holds the digests of a pending material: the JSON object
// of a descriptor's digest map, without a map per material. Its fields
// are cacheAlgorithms in order.
type pendingDigest struct {
	DirHash string `json:"dirHash,omitempty"` // a directory: alone
	SHA256  string `json:"sha256,omitempty"`
	SHA384  string `json:"sha384,omitempty"`
	SHA512  string `json:"sha512,omitempty"`
}

func pendingDigestOf(f *hashing.FileSum) pendingDigest {
	s := &f.Sums
	return pendingDigest{DirHash: f.DirHash, SHA256: s[0], SHA384: s[1], SHA512: s[2]}
}

func (d pendingDigest) sums() hashing.Sums { return hashing.Sums{d.SHA256, d.SHA384, d.SHA512} }

// toFileSum returns the pending material named name, and false when its
// digests are not valid.
func (d pendingDigest) toFileSum(name string) (hashing.FileSum, bool) {
	if d.DirHash != "" {
		return hashing.FileSum{Name: name, DirHash: d.DirHash}, hashing.IsHex64(d.DirHash) && d.sums() == hashing.Sums{}
	}
	s := d.sums()
	return hashing.FileSum{Name: name, Sums: s}, s.Valid()
}

func pendingName(step string) string { return step + workspace.SuffixPending }

// Start begins recording a phase that is not one command (Cloud Build
// steps run in separate containers that share the workspace): it hashes the
// materials and keeps them, pending, in the workspace for Stop. Starting a
// step that is already pending returns ErrPending.
func (r *Recorder) Start(ctx context.Context, s Step) error {
	// The hash cache file is written in the background: done before
	// the step is.
	defer r.hasher.Flush()
	if err := workspace.ValidateStepName(s.Name); err != nil {
		return err
	}
	name := pendingName(s.Name)
	if _, err := os.Stat(r.ws.Path(name)); err == nil {
		return fmt.Errorf("step %q (%s): %w", s.Name, r.ws.Path(name), ErrPending)
	}
	si, err := r.images(Step{Name: s.Name, Materials: s.Materials})
	if err != nil {
		return err
	}
	started := r.o.clock()
	materials, err := r.hash(ctx, "materials", si.materialFiles)
	if err != nil {
		return err
	}
	imgs, err := r.resolveImages(ctx, "materials", si.materials, false)
	if err != nil {
		return err
	}
	materials = withImages(materials, imgs)
	p := pending{Version: 1, Step: s.Name, Command: r.redactArgs(s.Command), StartedOn: started.UTC()}
	for i := range materials {
		p.Materials = append(p.Materials, artifact{Name: materials[i].Name, Digest: pendingDigestOf(&materials[i])})
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding pending record: %w", err)
	}
	if err := r.ws.Create(name, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("step %q (%s): %w", s.Name, r.ws.Path(name), ErrPending)
		}
		return err
	}
	r.o.logger.Debug("step started", "step", s.Name, "materials", len(materials))
	return nil
}

// Stop finishes a phase begun with Start: it hashes the products, signs the
// record and writes it, and removes the pending state. Stopping a step that
// was not started returns ErrNoPending. A Command given to Stop replaces the
// one given to Start.
func (r *Recorder) Stop(ctx context.Context, s Step) (*Result, error) {
	// The hash cache file is written in the background: done before
	// the step is.
	defer r.hasher.Flush()
	if err := workspace.ValidateStepName(s.Name); err != nil {
		return nil, err
	}
	name := pendingName(s.Name)
	data, err := r.ws.Read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("step %q: %w", s.Name, ErrNoPending)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pending record of step %q: %w", s.Name, err)
	}
	var p pending
	if err := json.Unmarshal(data, &p); err != nil || p.Version != 1 || p.Step != s.Name {
		return nil, fault.Invalidf("pending record %s is corrupt: remove it and start the step again", r.ws.Path(name))
	}
	si, err := r.images(Step{Name: s.Name, Products: s.Products})
	if err != nil {
		return nil, err
	}
	ciFacts := r.ci(ctx)
	products, err := r.hash(ctx, "products", si.productFiles)
	ci, ciErr := ciFacts()
	if err != nil {
		return nil, err
	}
	if ciErr != nil {
		return nil, ciErr
	}
	imgs, err := r.resolveImages(ctx, "products", si.products, false)
	if err != nil {
		return nil, err
	}
	products = withImages(products, imgs)
	command := p.Command
	if len(s.Command) > 0 {
		command = r.redactArgs(s.Command)
	}
	rec := &Record{
		Step:       s.Name,
		Command:    command,
		CI:         ci,
		StartedOn:  p.StartedOn,
		FinishedOn: r.o.clock(),
	}
	materials := make([]hashing.FileSum, len(p.Materials))
	for i, m := range p.Materials {
		f, ok := m.Digest.toFileSum(m.Name)
		if m.Name == "" || !ok {
			return nil, fault.Invalidf("pending record %s is corrupt: remove it and start the step again", r.ws.Path(name))
		}
		materials[i] = f
	}
	products = shareUnchanged(materials, products)
	res, err := r.write(ctx, rec, materials, products)
	if err != nil {
		return nil, err
	}
	if err := r.ws.Remove(name); err != nil {
		return nil, err
	}
	return res, nil
}

// write signs rec, with its materials and products, in every format asked
// for and writes the files. Every output is built and signed before the
// first file is written. The statement is encoded into one buffer, behind
// room for the DSSE pre-authentication header, signed there, and streamed
// from there into the envelope file: a step over a large tree holds its
// payload once.
func (r *Recorder) write(ctx context.Context, rec *Record, materials, products []hashing.FileSum) (*Result, error) {
	keyID, err := r.signer.KeyID()
	if err != nil {
		return nil, fmt.Errorf("reading key id: %w", err)
	}
	if err := rec.checkFields(); err != nil {
		return nil, err
	}
	type file struct {
		name    string
		data    []byte
		written *safefile.File // when data is nil: written, to be committed
	}
	var files []file
	defer func() {
		for _, f := range files {
			if f.written != nil {
				f.written.Abort() // a no-op once committed
			}
		}
	}()
	res := &Result{
		Step: rec.Step, ExitCode: rec.ExitCode, Materials: len(materials), Products: len(products),
		rec: rec, materials: materials, products: products,
	}
	if r.o.format.dsse() {
		by := rec.byproducts()
		subjects := products
		if len(subjects) == 0 {
			subjects = materials
			by[byproductSubjects] = "materials"
		}
		if len(subjects) == 0 {
			return nil, fault.Invalidf("step %q recorded no materials and no products: a statement needs at least one subject", rec.Step)
		}
		buf, err := rec.appendStatement(make([]byte, envelope.PAEReserve), by, subjects, materials)
		if err != nil {
			return nil, err
		}
		payload := buf[envelope.PAEReserve:]
		name := workspace.EnvelopeName(rec.Step, keyID)
		res.envelopeFile = r.ws.Path(name)
		bs, bundled := r.signer.(envelope.BundleSigner)
		var body *envelope.Body
		if !bundled {
			// The envelope's payload is written to its temporary file
			// while the signer signs.
			af, err := r.ws.Start(name)
			if err != nil {
				return nil, err
			}
			files = append(files, file{name: name, written: af})
			body = envelope.WriteBody(af, envelope.PayloadTypeInToto, payload)
		}
		sig, err := r.signer.Sign(ctx, envelope.InPlacePAE(buf, envelope.PayloadTypeInToto))
		if body != nil {
			if berr := body.Wait(); berr != nil && err == nil {
				err = fmt.Errorf("writing %s: %w", res.envelopeFile, berr)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("signing envelope: %w", err)
		}
		signature := dsse.Signature{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}
		if bundled {
			// The bundle holds the envelope: built in memory.
			env := &dsse.Envelope{
				PayloadType: envelope.PayloadTypeInToto,
				Payload:     base64.StdEncoding.EncodeToString(payload),
				Signatures:  []dsse.Signature{signature},
			}
			data, err := json.Marshal(env)
			if err != nil {
				return nil, fmt.Errorf("encoding envelope: %w", err)
			}
			b, err := bs.Bundle(ctx, env)
			if err != nil {
				return nil, err
			}
			res.envelope = env
			files = append(files, file{name: name, data: data}, file{name: workspace.BundleName(rec.Step, keyID), data: b})
		} else if err := body.Finish(signature); err != nil {
			return nil, fmt.Errorf("writing %s: %w", res.envelopeFile, err)
		}
	}
	if r.o.format.legacy() {
		data, err := signLink(ctx, r.signer.(envelope.LegacySigner), keyID, rec.link(materials, products))
		if err != nil {
			return nil, err
		}
		files = append(files, file{name: workspace.LinkName(rec.Step, keyID), data: data})
	}
	for _, f := range files {
		if f.data != nil {
			err = r.ws.Write(f.name, f.data)
		} else {
			err = f.written.Commit(nil)
		}
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, r.ws.Path(f.name))
		r.o.logger.Info("step recorded", "step", rec.Step, "file", r.ws.Path(f.name))
	}
	return res, nil
}

// signLink signs a classic in-toto link: the signature is over the
// canonical JSON of the link, as in-toto verifies it.
func signLink(ctx context.Context, signer envelope.LegacySigner, keyID string, link in_toto.Link) ([]byte, error) {
	canonical, err := cjson.EncodeCanonical(link)
	if err != nil {
		return nil, fmt.Errorf("encoding link %q: %w", link.Name, err)
	}
	sig, err := signer.SignLegacy(ctx, canonical)
	if err != nil {
		return nil, fmt.Errorf("signing link %q: %w", link.Name, err)
	}
	mb := in_toto.Metablock{
		Signed:     link,
		Signatures: []in_toto.Signature{{KeyID: keyID, Sig: hex.EncodeToString(sig)}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(mb); err != nil {
		return nil, fmt.Errorf("encoding link %q: %w", link.Name, err)
	}
	return buf.Bytes(), nil
}

// WithDirHash records every directory that matches one of patterns as one
// artifact: named by its path, with the digest {"dirHash": HEX} (see
// DirHashAlgorithm) over the files below it that the excludes leave,
// instead of an artifact per file. Patterns use the exclude syntax
// (gitignore, see WithExcludes) and are matched against directory names
// relative to the base directory; where directories nest, the outermost
// that matches is the artifact. The digest is computed from the per-file
// sha256 digests the Hasher produces (in parallel, with its cache), so the
// Hasher must compute sha256. Symbolic links to files count as the file
// they lead to (as dirhash.HashDir reads them); a link to a directory
// inside one is a fault.ErrInvalidInput error (as in dirhash.HashDir: skipped,
// what it leads to would be out of the digest) unless
// WithFollowSymlinkDirs follows it or an exclude leaves it out. The
// spec's shell line instead skips every symbolic link. With WithNormalizeLineEndings the files' digests, and so
// the dirHash, are of their normalized content. A directory below which nothing is recorded is not an
// artifact. A path given to record that lies inside a matching directory,
// a name with a newline below one, and WithLStrip together with
// WithDirHash are fault.ErrInvalidInput errors. There are no patterns by
// default.
func WithDirHash(patterns ...string) Option {
	return func(o *recorderOptions) error {
		o.dirHash = append(o.dirHash, patterns...)
		return nil
	}
}

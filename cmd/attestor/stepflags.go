package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/spf13/pflag"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/store/oci"
)

var errNoKey = errors.New("no signing key: pass --key PATH|URI or --keyless (or set ATTESTOR_KEY)")

// stepFlags are the flags of the commands that record a step.
type stepFlags struct {
	step                 string
	materials, products  []string
	excludes             []string
	dirHash              []string
	lstrip               []string
	baseDir              string
	followSymlinkDirs    bool
	normalizeLineEndings bool
	noDefaultExcludes    bool
	noCache              bool
	workspaceCache       bool
	key                  string
	sig                  signerFlags
	format               string
}

func (f *stepFlags) addCommon(fs *pflag.FlagSet) {
	fs.StringVarP(&f.step, "step", "n", "", "step name (required)")
	fs.StringArrayVarP(&f.excludes, "exclude", "e", nil, "gitignore-style pattern of paths not to record (repeatable)")
	fs.StringArrayVar(&f.dirHash, "dirhash", nil, "gitignore-style pattern of directories to record as one artifact each (in-toto dirHash digest), not file by file (repeatable; e.g. node_modules)")
	fs.StringArrayVar(&f.lstrip, "lstrip", nil, "prefix to strip from recorded paths (repeatable)")
	fs.StringVar(&f.baseDir, "base-dir", ".", "directory that recorded paths are relative to")
	fs.BoolVar(&f.followSymlinkDirs, "follow-symlink-dirs", false, "follow symlinks to directories")
	fs.BoolVar(&f.normalizeLineEndings, "normalize-line-endings", false, "hash files with CRLF line endings as LF")
	fs.BoolVar(&f.noDefaultExcludes, "no-default-excludes", false, "do not apply the default excludes ("+strings.Join(hashing.DefaultExcludes, " ")+")")
	fs.BoolVar(&f.noCache, "no-cache", false, "read every file: do not reuse, between the materials and the products, the digests of files that did not change")
	fs.BoolVar(&f.workspaceCache, "workspace-cache", false, "keep the digests of unchanged files in the workspace for later steps signed with the same key file (trusts that nothing left running between the steps rewrites files through shared memory maps)")
	fs.StringVar(&f.key, "key", "", keyFlagHelp)
	f.sig.add(fs)
	fs.StringVar(&f.format, "format", string(attestor.FormatDSSE), "what to write: dsse, legacy (classic in-toto link) or both")
}

func (f *stepFlags) addMaterials(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.materials, "materials", "m", nil, "file or directory to record before the command, or an image oci://REGISTRY/REPO:TAG|@DIGEST (repeatable)")
}

func (f *stepFlags) addProducts(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.products, "products", "p", nil, "file or directory to record after the command, or an image oci://REGISTRY/REPO:TAG|@DIGEST (repeatable)")
}

// keyFlagHelp is the help of --key of the commands that sign with the
// signer flags (run, record, provenance).
const keyFlagHelp = "signing key: PEM or cosign key file (cosign keys read COSIGN_PASSWORD) or KMS URI (gcpkms://, awskms://, azurekms://, hashivault://) (env ATTESTOR_KEY)"

// recordFiles names the files a step record is written to, for help texts.
const recordFiles = `The record is <step>.<keyid[:8]>.dsse.json in the workspace (--format
legacy: the classic in-toto link <step>.<keyid[:8]>.link; both: the two;
signed keyless, also the sigstore bundle <step>.<keyid[:8]>.sigstore.json).
Recording a step again replaces its earlier record (a notice on stderr says
so).`

// recorder builds the Recorder that the flags describe.
func (f *stepFlags) recorder(ctx context.Context, g *globals, extra ...attestor.Option) (*attestor.Recorder, error) {
	if f.step == "" {
		return nil, fault.Invalid(errors.New("--step is required"))
	}
	if err := workspace.ValidateStepName(f.step); err != nil {
		return nil, err
	}
	format, err := attestor.ParseFormat(f.format)
	if err != nil {
		return nil, err
	}
	signer, err := f.sig.signer(ctx, g, f.key)
	if err != nil {
		return nil, err
	}
	ws, err := workspace.Open(g.dir)
	if err != nil {
		return nil, err
	}
	hashOpts := []hashing.Option{hashing.WithBaseDir(f.baseDir)}
	if f.noDefaultExcludes {
		hashOpts = append(hashOpts, hashing.WithoutDefaultExcludes())
	}
	if len(f.excludes) > 0 {
		hashOpts = append(hashOpts, hashing.WithExcludes(f.excludes...))
	}
	if len(f.lstrip) > 0 {
		hashOpts = append(hashOpts, hashing.WithLStrip(f.lstrip...))
	}
	if f.followSymlinkDirs {
		hashOpts = append(hashOpts, hashing.WithFollowSymlinkDirs())
	}
	if f.normalizeLineEndings {
		hashOpts = append(hashOpts, hashing.WithNormalizeLineEndings())
	}
	if f.noCache {
		hashOpts = append(hashOpts, hashing.WithoutCache())
	}
	if show := newHashProgress(g.stderr, isTerminal(g.stderr), g.verbose, g.logger); show != nil {
		hashOpts = append(hashOpts, hashing.WithProgress(show))
	}
	var opts []attestor.Option
	if len(f.dirHash) > 0 {
		opts = append(opts, attestor.WithDirHash(f.dirHash...))
	}
	if f.namesImage() {
		resolve, err := imageResolver(g)
		if err != nil {
			return nil, err
		}
		opts = append(opts, attestor.WithImageResolver(resolve))
	}
	if f.workspaceCache {
		if f.noCache {
			return nil, fault.Invalid(errors.New("--workspace-cache and --no-cache: choose one"))
		}
		opts = append(opts, attestor.WithWorkspaceCache())
	}
	opts = append(opts,
		// Detected while the materials are hashed (local facts run git).
		attestor.WithCIDetect(func(ctx context.Context) (map[string]any, error) { return ciFacts(ctx, f.baseDir) }),
		attestor.WithHashOptions(hashOpts...),
		// The secrets of the environment attestor started with, some of
		// which main took out of the process's environment: redacted from
		// the record all the same.
		attestor.WithRedact(attestor.SecretsFromEnv(g.env())),
		// The command's environment is the one attestor started with,
		// less what attestor.CommandEnv keeps from it: a build that uses
		// VAULT_TOKEN while the step signs with a key file keeps it.
		attestor.WithCommandEnv(g.env()),
		attestor.WithFormat(format),
		attestor.WithLogger(g.logger),
	)
	return attestor.NewRecorder(ws, signer, append(opts, extra...)...)
}

// pendingSummary is the --json output of record start.
type pendingSummary struct {
	Step    string `json:"step"`
	Pending bool   `json:"pending"`
}

// stepSummary is the --json output of run and record stop.
type stepSummary struct {
	Step      string   `json:"step"`
	ExitCode  *int     `json:"exitCode,omitempty"`
	TimedOut  bool     `json:"timedOut,omitempty"`
	Materials int      `json:"materials"`
	Products  int      `json:"products"`
	Files     []string `json:"files"`
}

func (g *globals) reportStep(res *attestor.Result, earlier map[string]bool) error {
	var replaced []string
	for _, f := range res.Files {
		if earlier[filepath.Base(f)] {
			replaced = append(replaced, f)
		}
	}
	if len(replaced) > 0 {
		// A step recorded again (a retried job, a step run twice) keeps
		// only its last record: say so, the verifier sees only that one.
		fmt.Fprintf(g.stderr, "attestor: step %s was recorded before: its record was replaced (%s)\n", res.Step, strings.Join(replaced, ", "))
	}
	if g.json {
		return g.printJSON(stepSummary{
			Step:      res.Step,
			ExitCode:  res.ExitCode,
			TimedOut:  res.TimedOut,
			Materials: res.Materials,
			Products:  res.Products,
			Files:     res.Files,
		})
	}
	status := ""
	if res.ExitCode != nil {
		status = fmt.Sprintf(", exit %d", *res.ExitCode)
	}
	if res.TimedOut {
		status += ", timed out"
	}
	fmt.Fprintf(g.stderr, "attestor: recorded step %s (%d materials, %d products%s): %s\n",
		res.Step, res.Materials, res.Products, status, strings.Join(res.Files, ", "))
	return nil
}

// earlierRecords returns the names of the files in the workspace that may
// be records of step, before it is recorded: reportStep says which the new
// record replaced.
func (g *globals) earlierRecords(step string) map[string]bool {
	dir := g.dir
	if dir == "" {
		dir = workspace.DefaultDir
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), step+".") {
			names[e.Name()] = true
		}
	}
	return names
}

func (g *globals) printf(format string, args ...any) {
	fmt.Fprintf(g.stderr, format, args...)
}

// commandStdout is where a wrapped command's stdout streams: stdout, or
// stderr when --json keeps stdout for the machine output.
func (g *globals) commandStdout() io.Writer {
	if g.json {
		return g.stderr
	}
	return g.stdout
}

// ciFacts detects the CI platform and returns its facts as the JSON object
// a step record's environment carries. Numbers become integers or strings,
// so the facts also fit a classic in-toto link (canonical JSON has no
// floats).
func ciFacts(ctx context.Context, dir string) (map[string]any, error) {
	facts, err := actions.Detect(ctx, os.Environ(), actions.WithDir(dir))
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(facts)
	if err != nil {
		return nil, fmt.Errorf("encoding CI facts: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("encoding CI facts: %w", err)
	}
	return integralNumbers(m).(map[string]any), nil
}

func integralNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = integralNumbers(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = integralNumbers(e)
		}
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		return v.String()
	}
	return v
}

// namesImage reports whether a material or product is an image.
func (f *stepFlags) namesImage() bool {
	for _, p := range append(append([]string(nil), f.materials...), f.products...) {
		if strings.HasPrefix(p, workspace.ImagePrefix) {
			return true
		}
	}
	return false
}

// imageResolver resolves the images a step names with the registry client
// of push: the same credentials (docker config, GITHUB_TOKEN for ghcr.io),
// retries, bounds and time limits.
func imageResolver(g *globals) (attestor.ImageResolver, error) {
	reg, err := oci.New(oci.WithLogger(g.logger), oci.WithUserAgent("attestor/"+version))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ref string) (string, error) {
		sub, err := reg.Resolve(ctx, ref)
		if err != nil {
			return "", err
		}
		return sub.Digest.String(), nil
	}, nil
}

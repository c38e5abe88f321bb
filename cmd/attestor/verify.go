package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/attestor/attestor/actions/spinnaker"
	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/oci"
)

// sourceFlags are the flags that say where attestations come from
// (verify, promote).
type sourceFlags struct {
	from         []string
	insecure     bool
	timeout      time.Duration
	grafeasURL   string
	grafeasProj  string
	grafeasAPI   string
	grafeasToken bool
	trustedRoot  string
}

func (f *sourceFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringSliceVar(&f.from, "from", nil, "where to fetch attestations from: dir (the workspace), oci (the image's registry), grafeas (default: oci for --image, dir for --artifact)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP and unverified TLS to a registry that is not on loopback")
	fs.DurationVar(&f.timeout, "timeout", 0, "give up on a registry after this long, retries included (default 5m)")
	fs.StringVar(&f.grafeasURL, "grafeas", "", "Grafeas server URL (with --from grafeas; default for --grafeas-api v1: Container Analysis)")
	fs.StringVar(&f.grafeasProj, "grafeas-project", "", "Grafeas project of the occurrences (with --from grafeas)")
	fs.StringVar(&f.grafeasAPI, "grafeas-api", string(grafeas.V1Beta1), "Grafeas API: v1beta1 (open-source server) or v1 (Container Analysis)")
	fs.BoolVar(&f.grafeasToken, "grafeas-adc", false, "authenticate to Grafeas with Google application default credentials")
	fs.StringVar(&f.trustedRoot, "trusted-root", "", "sigstore trusted root (trusted_root.json) to check keyless functionaries' signatures with")
}

// verifierOptions are the gate options the flags ask for.
func (f *sourceFlags) verifierOptions(g *globals) ([]gate.Option, error) {
	opts := []gate.Option{gate.WithLogger(g.logger)}
	if f.trustedRoot != "" {
		tr, err := sign.LoadTrustedRoot(f.trustedRoot)
		if err != nil {
			return nil, err
		}
		opts = append(opts, gate.WithTrustedMaterial(tr))
	}
	return opts, nil
}

func (f *sourceFlags) registry(g *globals) (*oci.Registry, error) {
	opts := []oci.Option{oci.WithLogger(g.logger), oci.WithUserAgent("attestor/" + version)}
	if f.timeout > 0 {
		opts = append(opts, oci.WithTimeout(f.timeout))
	}
	if f.insecure {
		opts = append(opts, oci.WithInsecure())
	}
	return oci.New(opts...)
}

func (f *sourceFlags) grafeas(g *globals, extra ...grafeas.Option) (*grafeas.Client, error) {
	api, err := grafeas.ParseAPI(f.grafeasAPI)
	if err != nil {
		return nil, err
	}
	opts := []grafeas.Option{grafeas.WithAPI(api), grafeas.WithLogger(g.logger), grafeas.WithUserAgent("attestor/" + version)}
	if f.grafeasProj == "" {
		return nil, fault.Invalid(errors.New("--from grafeas needs --grafeas-project"))
	}
	opts = append(opts, grafeas.WithProject(f.grafeasProj))
	if f.grafeasURL != "" {
		opts = append(opts, grafeas.WithURL(f.grafeasURL))
	}
	if f.grafeasToken {
		opts = append(opts, grafeas.WithApplicationDefaultCredentials())
	}
	return grafeas.New(append(opts, extra...)...)
}

// subjectFlags name what is verified.
type subjectFlags struct {
	image, artifact string
}

// summaryOptions are the verification summary's options: the subject's
// kind (a file by --artifact, an image by --image: never guessed from
// the name) and the URIs given.
func (s *subjectFlags) summaryOptions(policyURI, resourceURI string) []gate.SummaryOption {
	var opts []gate.SummaryOption
	switch {
	case s.artifact != "":
		opts = append(opts, gate.WithSubjectKind(gate.SubjectFile))
	case s.image != "":
		opts = append(opts, gate.WithSubjectKind(gate.SubjectImage))
	}
	if policyURI != "" {
		opts = append(opts, gate.WithPolicyURI(policyURI))
	}
	if resourceURI != "" {
		opts = append(opts, gate.WithResourceURI(resourceURI))
	}
	return opts
}

// checkSummaryOptions applies opts to a summary of a placeholder result,
// so that a bad URI is a usage error before anything is fetched.
func checkSummaryOptions(opts []gate.SummaryOption) error {
	placeholder := &gate.Result{Subject: gate.SubjectRef{Name: "_", Digest: "sha256:" + strings.Repeat("0", 64)}}
	_, err := placeholder.Summary("", opts...)
	return err
}

// withSources returns the subject and the sources to read its
// attestations from: --from, else the subject's defaults.
func (s *subjectFlags) withSources(ctx context.Context, f *sourceFlags, g *globals) (store.Subject, []gate.Source, error) {
	subject, defaults, err := s.resolve(ctx, f, g)
	if err != nil {
		return store.Subject{}, nil, err
	}
	from := f.from
	if len(from) == 0 {
		from = defaults
	}
	sources, err := f.sources(g, from)
	if err != nil {
		return store.Subject{}, nil, err
	}
	return subject, sources, nil
}

// resolve returns the subject, and the default sources for it.
func (s *subjectFlags) resolve(ctx context.Context, f *sourceFlags, g *globals) (store.Subject, []string, error) {
	switch {
	case s.image != "" && s.artifact != "":
		return store.Subject{}, nil, fault.Invalid(errors.New("give --image or --artifact, not both"))
	case s.artifact != "":
		rd, err := hashFileSubject(s.artifact)
		if err != nil {
			return store.Subject{}, nil, err
		}
		return store.Subject{Name: rd.GetName(), Digest: v1.Hash{Algorithm: "sha256", Hex: rd.GetDigest()["sha256"]}}, []string{"dir"}, nil
	case s.image != "":
		reg, err := f.registry(g)
		if err != nil {
			return store.Subject{}, nil, err
		}
		d, err := oci.Resolve(ctx, s.image, reg.RemoteOptions(ctx)...)
		if err != nil {
			return store.Subject{}, nil, err
		}
		sub, err := store.ImageSubject(d)
		return sub, []string{"oci"}, err
	}
	return store.Subject{}, nil, fault.Invalid(errors.New("--image or --artifact is required"))
}

// sources builds the named sources.
func (f *sourceFlags) sources(g *globals, names []string) ([]gate.Source, error) {
	var out []gate.Source
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if seen[n] {
			continue
		}
		seen[n] = true
		switch n {
		case "dir":
			fi, err := os.Stat(workspaceDir(g))
			if err != nil || !fi.IsDir() {
				return nil, fault.Invalid(fmt.Errorf("--from dir: no workspace at %q (set --dir)", workspaceDir(g)))
			}
			ws, err := workspace.Open(g.dir)
			if err != nil {
				return nil, err
			}
			out = append(out, gate.Source{Name: "dir", Store: gate.NewWorkspace(ws)})
		case "oci":
			reg, err := f.registry(g)
			if err != nil {
				return nil, err
			}
			out = append(out, gate.Source{Name: "oci", Store: reg})
		case "grafeas":
			c, err := f.grafeas(g)
			if err != nil {
				return nil, err
			}
			out = append(out, gate.Source{Name: "grafeas", Store: c})
		default:
			return nil, fault.Invalid(fmt.Errorf("--from %q: use dir, oci or grafeas", n))
		}
	}
	return out, nil
}

func workspaceDir(g *globals) string {
	if g.dir == "" {
		return workspace.DefaultDir
	}
	return g.dir
}

// verifyOutput is the --json output of verify: the gate's result, what
// each source returned, and where the verification summary went.
type verifyOutput struct {
	*gate.Result
	Sources []gate.SourceResult `json:"sources,omitempty"`
	// Summary is the workspace file of the signed verification summary
	// ("" when none was written: no --key).
	Summary string `json:"summary,omitempty"`
}

// verifyFlags are the flags of the command newVerifyCmd makes.
type verifyFlags struct {
	subj        subjectFlags
	src         sourceFlags
	policyPath  string
	key         string
	layoutPath  string
	layoutKeys  []string
	policyURI   string
	resourceURI string
	graph       graphFlags
}

func newVerifyCmd(g *globals) *cobra.Command {
	var fl verifyFlags
	cmd := &cobra.Command{
		Use:   "verify --image REF | --artifact PATH --policy FILE [--from oci,grafeas,dir] [--key REF]",
		Short: "Verify the chain of attestations of an image or a file against a policy",
		Long: `verify fetches the attestations of the subject (an image, resolved to its
manifest digest, or a file, by its sha256) from every source named by --from,
verifies each signature against the policy's functionaries, and checks the
chain: every step present with at least its threshold of distinct trusted
signers agreeing on materials and products, the in-toto artifact rules across
steps, the subject among the final step's products, the SLSA provenance
(signer, subject, builder, build type, source, ref, age, and the step records
it binds) and every other required attestation. The policy schema is in the
README ("Gate: verify and promote").

Every reason a check failed is reported: a table on stderr, the full result
with --json on stdout. With --key (or ATTESTOR_KEY) a signed verification
summary (SLSA VSA v1) is written to the workspace as _vsa.<keyid[:8]>.dsse.json,
on a failure too. It names an image https://REGISTRY/REPO@sha256:..., a
file pkg:generic/NAME?checksum=sha256:... (--resource-uri: where it is
published), and the policy pkg:generic/NAME?checksum=sha256:... by its file's
name and digest (--policy-uri: where it is published); no local directory.

--graph FILE draws the chain checked, on a pass and on a failure, as a
Mermaid flowchart (or, with --graph-format dot or a .dot/.gv file, a
Graphviz digraph): the policy's steps in order, an edge for each MATCH rule
from the step whose artifacts it reads to the step that consumes them, the
subject after the last step, the provenance and each required attestation,
every node marked passed, failed (with its first reason) or missing.

--layout FILE --layout-key KEY verifies a classic signed in-toto layout over
the legacy links (<step>.<keyid[:8]>.link) in the workspace instead.

In a Spinnaker Run Job (SPINNAKER_EXECUTION_ID set) the verdict is also
printed as SPINNAKER_PROPERTY_* lines (VERDICT, VERIFIED, IMAGE,
IMAGE_DIGEST, PROVENANCE_DIGEST) for later stages: on stdout, or on stderr
with --json (stdout holds the JSON).

Exit status: 0 verified, 1 verification failed, 2 bad input (a bad policy),
3 a source (registry, Grafeas) failed.`,
		Example: `  attestor verify --artifact dist/app.tar --policy policy.yaml
  attestor verify --image ghcr.io/acme/app:v1.2.3 --policy policy.yaml --from oci,dir --key gate.key --json
  attestor verify --layout root.layout --layout-key alice.pub`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd.Context(), g, &fl)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&fl.subj.image, "image", "", "image to verify: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:...")
	fs.StringVar(&fl.subj.artifact, "artifact", "", "file to verify")
	fs.StringVar(&fl.policyPath, "policy", "", "policy file, YAML or JSON (key paths are relative to its directory)")
	fs.StringVar(&fl.key, "key", "", "sign a verification summary with this key and write it to the workspace (env ATTESTOR_KEY)")
	fs.StringVar(&fl.layoutPath, "layout", "", "verify a classic signed in-toto layout over the workspace's legacy links instead of a policy")
	fs.StringSliceVar(&fl.layoutKeys, "layout-key", nil, "public key of the layout's signer (with --layout; repeatable)")
	fs.StringVar(&fl.policyURI, "policy-uri", "", "the policy's URI in the verification summary, where it is published (default: pkg:generic/NAME?checksum=sha256:HEX of the policy file)")
	fs.StringVar(&fl.resourceURI, "resource-uri", "", "the subject's URI in the verification summary, where it is expected to come from (default: https://REGISTRY/REPO@DIGEST for an image, pkg:generic/NAME?checksum=sha256:HEX for a file)")
	fl.src.register(cmd)
	fl.graph.register(cmd)
	return cmd
}

// runVerify runs the command newVerifyCmd makes, with its flags fl.
func runVerify(ctx context.Context, g *globals, fl *verifyFlags) error {
	if fl.layoutPath != "" || len(fl.layoutKeys) > 0 {
		if fl.subj.image != "" || fl.subj.artifact != "" || len(fl.src.from) > 0 || fl.policyURI != "" || fl.resourceURI != "" || fl.graph.file != "" {
			return fault.Invalid(errors.New("--layout verifies the workspace's legacy links: --image, --artifact, --from, --policy-uri, --resource-uri and --graph do not apply"))
		}
		return runVerifyLayout(ctx, g, fl.layoutPath, fl.layoutKeys, fl.policyPath)
	}
	if fl.policyPath == "" {
		return fault.Invalid(errors.New("--policy is required"))
	}
	if _, err := fl.graph.resolve(); err != nil {
		return err
	}
	sopts := fl.subj.summaryOptions(fl.policyURI, fl.resourceURI)
	if fl.policyURI != "" || fl.resourceURI != "" {
		if !g.hasKey(fl.key) {
			return fault.Invalid(errors.New("--policy-uri and --resource-uri go into the verification summary: they need --key"))
		}
		if err := checkSummaryOptions(sopts); err != nil {
			return err
		}
	}
	policy, err := gate.LoadPolicy(fl.policyPath)
	if err != nil {
		return err
	}
	subject, sources, err := fl.subj.withSources(ctx, &fl.src, g)
	if err != nil {
		return err
	}
	var signer envelope.Signer
	if g.hasKey(fl.key) {
		if signer, err = g.loadSigner(ctx, fl.key); err != nil {
			return err
		}
	}
	vopts, err := fl.src.verifierOptions(g)
	if err != nil {
		return err
	}
	out, err := verifySubject(ctx, policy, subject, sources, signer, g, vopts, sopts...)
	if out != nil {
		if perr := g.reportVerify(out); perr != nil {
			return perr
		}
		if perr := g.emitSpinnaker(out.Result, ""); perr != nil {
			return perr
		}
		if gerr := fl.graph.emit(g, policy, out.Result); gerr != nil {
			return gerr
		}
	}
	if err != nil {
		return err
	}
	return nil
}

// verifySubject fetches, verifies and writes the summary (made with
// sopts). The output is returned whenever a result exists; the error
// carries the exit status: a failed source (exit 3) wins over a failed
// verification (exit 1).
func verifySubject(ctx context.Context, policy *gate.Policy, subject store.Subject, sources []gate.Source, signer envelope.Signer, g *globals, vopts []gate.Option, sopts ...gate.SummaryOption) (*verifyOutput, error) {
	atts, srcResults, fetchErr := gate.Fetch(ctx, subject, sources...)
	if fetchErr != nil && !errors.Is(fetchErr, fault.ErrUnavailable) {
		return nil, fetchErr
	}
	v, err := gate.NewVerifier(policy, vopts...)
	if err != nil {
		return nil, err
	}
	res, verr := v.Verify(ctx, subject, atts)
	if res == nil {
		return nil, verr
	}
	out := &verifyOutput{Result: res, Sources: srcResults}
	if signer != nil {
		data, name, err := gate.SignSummary(ctx, res, signer, "", sopts...)
		if err != nil {
			return out, err
		}
		ws, err := workspace.Open(g.dir)
		if err != nil {
			return out, err
		}
		if err := ws.Write(name, data); err != nil {
			return out, err
		}
		out.Summary = ws.Path(name)
	}
	if fetchErr != nil {
		// Reported in the table; exit 3 even if the gate passed on what
		// the other sources returned.
		return out, &exitError{code: exitCode(fetchErr)}
	}
	if verr != nil {
		// Every reason is in the table.
		return out, &exitError{code: exitCode(verr)}
	}
	return out, nil
}

// emitSpinnaker prints the gate's result (and the promoted image, if any)
// as Spinnaker properties when the command runs in a Spinnaker Run Job;
// elsewhere it prints nothing. The lines go to stdout, or to stderr with
// --json so that stdout stays one JSON document (Spinnaker reads both
// from the job's log).
func (g *globals) emitSpinnaker(res *gate.Result, promoted string) error {
	if res == nil {
		return nil
	}
	props := map[string]string{
		spinnaker.PropertyVerdict:  res.Verdict,
		spinnaker.PropertyVerified: strconv.FormatBool(res.Verified),
		spinnaker.PropertyPromoted: promoted,
	}
	if res.Subject.Digest != "" {
		props[spinnaker.PropertyImageDigest] = res.Subject.Digest
		props[spinnaker.PropertyImage] = res.Subject.Name + "@" + res.Subject.Digest
	}
	if p := res.Provenance; p != nil && p.Verdict == gate.Passed && p.Digest != "" {
		d := p.Digest
		if !strings.HasPrefix(d, "sha256:") {
			d = "sha256:" + d
		}
		props[spinnaker.PropertyProvenanceDigest] = d
	}
	w := g.stdout
	if g.json {
		w = g.stderr
	}
	if _, err := spinnaker.Emit(w, g.env(), props); err != nil {
		return fmt.Errorf("writing the Spinnaker properties: %w", err)
	}
	return nil
}

func (g *globals) reportVerify(out *verifyOutput) error {
	if g.json {
		if err := g.printJSON(out); err != nil {
			return err
		}
	}
	writeVerifyTable(g.stderr, out)
	return nil
}

// writeVerifyTable writes the human summary: one row per step, the
// provenance and each required attestation, then every reason.
func writeVerifyTable(w io.Writer, out *verifyOutput) {
	res := out.Result
	what := res.Subject.Name
	if res.Subject.Digest != "" {
		what += "@" + res.Subject.Digest
	}
	fmt.Fprintf(w, "attestor: verify %s against %s: %s\n", what, nonEmpty(res.Policy.Source, "the policy"), res.Verdict)
	for _, s := range out.Sources {
		if s.Error != "" {
			fmt.Fprintf(w, "  source %s: FAILED: %s\n", s.Name, s.Error)
		} else {
			fmt.Fprintf(w, "  source %s: %d attestation(s)\n", s.Name, s.Attestations)
		}
	}
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tSIGNERS\tVERDICT\tREASON")
	row := func(name string, signers []string, verdict string, reasons []string) {
		reason := ""
		if len(reasons) > 0 {
			reason = reasons[0]
			if len(reasons) > 1 {
				reason += fmt.Sprintf(" (+%d more)", len(reasons)-1)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", name, nonEmpty(strings.Join(signers, ", "), "-"), verdict, oneLine(reason))
	}
	for _, s := range res.Steps {
		row(s.Name, s.Signers, s.Verdict, s.Reasons)
	}
	if p := res.Provenance; p != nil {
		row("(provenance)", p.Signers, p.Verdict, p.Reasons)
	}
	for _, a := range res.Attestations {
		row("("+shortType(a.PredicateType)+")", a.Signers, a.Verdict, a.Reasons)
	}
	tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
	if len(res.Reasons) > 0 {
		fmt.Fprintf(w, "attestor: %d reason(s):\n", len(res.Reasons))
		for _, r := range res.Reasons {
			prefix := r.Code
			if r.Step != "" {
				prefix += " [" + r.Step + "]"
			}
			fmt.Fprintf(w, "  - %s: %s\n", prefix, oneLine(r.Message))
		}
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "attestor: warning: %s\n", warn)
	}
	switch out.Summary {
	case "-":
	case "":
		fmt.Fprintln(w, "attestor: no --key: no verification summary written")
	default:
		fmt.Fprintf(w, "attestor: verification summary written to %s\n", out.Summary)
	}
}

// shortType shortens a predicate type URI to its last two path segments
// ("vuln/v1") for the table; --json has it whole.
func shortType(t string) string {
	parts := strings.Split(strings.TrimSuffix(t, "/"), "/")
	if len(parts) <= 2 {
		return t
	}
	return strings.Join(parts[len(parts)-2:], "/")
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func runVerifyLayout(ctx context.Context, g *globals, layoutPath string, keyPaths []string, policyPath string) error {
	switch {
	case policyPath != "":
		return fault.Invalid(errors.New("give --policy or --layout, not both"))
	case layoutPath == "":
		return fault.Invalid(errors.New("--layout-key needs --layout"))
	case len(keyPaths) == 0:
		return fault.Invalid(errors.New("--layout needs --layout-key"))
	}
	var keys []*sign.Verifier
	for _, p := range keyPaths {
		v, err := sign.LoadVerifier(p)
		if err != nil {
			return err
		}
		keys = append(keys, v)
	}
	res, err := gate.VerifyLayout(ctx, layoutPath, keys, workspaceDir(g))
	if res == nil {
		return err
	}
	out := &verifyOutput{Result: res}
	if g.json {
		if perr := g.printJSON(out); perr != nil {
			return perr
		}
	}
	fmt.Fprintf(g.stderr, "attestor: verify the links in %s against layout %s: %s\n", workspaceDir(g), layoutPath, res.Verdict)
	for _, r := range res.Reasons {
		fmt.Fprintf(g.stderr, "  - %s: %s\n", r.Code, oneLine(r.Message))
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(g.stderr, "attestor: warning: %s\n", oneLine(warn))
	}
	if err != nil {
		return &exitError{code: exitCode(err)}
	}
	return nil
}

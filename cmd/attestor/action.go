package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/spf13/cobra"

	"github.com/attestor/attestor/actions/github"
	"github.com/attestor/attestor/actions/spinnaker"
	"github.com/attestor/attestor/attestor/gate"
)

// The inputs of the attestor action that actionArgs handles itself; every
// other input is mapped by its row of actionInputs alone.
const (
	inCommand = "command"
	inDir     = "dir"
	inArgs    = "args"
	inKey     = "key"
)

// The outputs of the attestor action.
const (
	outAttestations     = "attestations"
	outProvenanceDigest = "provenance-digest"
	outVerified         = "verified"
	outVerdict          = "verdict"
	outImageDigest      = "image-digest"
	outImage            = "image"
	outExitCode         = "exit-code"
	outPromotedImage    = "promoted-image"
)

// secretEnv are environment variables holding secrets that a step passes
// to the action (env: on the step); they are masked too.
var secretEnv = []string{"COSIGN_PASSWORD", "ATTESTOR_GRAFEAS_TOKEN", "VAULT_TOKEN", "SIGSTORE_ID_TOKEN", "GITHUB_TOKEN"}

// actionCommands are the values of the command input, each with the words
// of the attestor command it runs.
var actionCommands = map[string][]string{
	"run":          {"run"},
	"record-start": {"record", "start"},
	"record-stop":  {"record", "stop"},
	"provenance":   {"provenance"},
	"push":         {"push"},
	"verify":       {"verify"},
	"promote":      {"promote"},
}

// An inputKind is how an input's value becomes its flag's arguments.
type inputKind int

const (
	// kindString is FLAG VALUE, when the input is not empty.
	kindString inputKind = iota
	// kindList is FLAG ITEM for each line of the input (blank lines and
	// lines starting with # dropped).
	kindList
	// kindCommaList is one FLAG A,B,C with the items given one a line or
	// comma-separated.
	kindCommaList
	// kindBool is FLAG when the input is true; false or empty adds
	// nothing, anything else is an error.
	kindBool
	// kindKey is FLAG VALUE when the input names a key (a file, a KMS
	// URI); a PEM key is kept in memory instead (actionCall.keyPEM).
	kindKey
)

// A flagPlace is where an input's flag goes on the command line: the
// global flags before the command's words, then the command's flags place
// by place, rows of the same place in the table's order.
type flagPlace int

const (
	placeCommand flagPlace = iota // what the command works on, and how: --step, --image, --to, --dry-run
	placePolicy                   // --policy
	placeFrom                     // where the attestations are read from: --from
	placeSigning                  // how the record is signed and written: --key, --keyless, --format
	placeRemote                   // how servers are reached: --insecure, --grafeas
	placeGlobal                   // before the command's words: --dir, --verbose
)

// An actionInput is one input of the attestor action (action.yml), read
// from INPUT_<NAME> (upper-cased, hyphens kept), as the runner passes them.
type actionInput struct {
	name string
	// flag is the flag of the attestor command the input maps to; "" for
	// the inputs actionArgs handles itself (command, args) and those only
	// ever an argument (destination).
	flag  string
	kind  inputKind
	place flagPlace
	// secret inputs are masked (::add-mask::) before anything is logged,
	// and shown as *** on the command line logged.
	secret bool
	// commands are the commands that read the input, nil for every one.
	// An input given to a command that does not read it is bad usage: it
	// would otherwise be silently ignored.
	commands []string
	// needs are the commands for which the input must not be empty.
	needs []string
	// args are the commands that take the input as an argument after
	// their words (in the table's order), not as flag; it must not be
	// empty.
	args []string
}

// The commands that share inputs.
var (
	recordCommands  = []string{"run", "record-start", "record-stop"}
	signingCommands = []string{"run", "record-start", "record-stop", "provenance"}
	keyCommands     = []string{"run", "record-start", "record-stop", "provenance", "verify", "promote"}
	gateCommands    = []string{"verify", "promote"}
	remoteCommands  = []string{"push", "verify", "promote"}
)

// actionInputs are the inputs of the attestor action, in action.yml's
// order (TestActionYAML compares them); errors that name several inputs
// name them in this order.
var actionInputs = []actionInput{
	{name: inCommand},
	{name: inDir, flag: "--dir", kind: kindString, place: placeGlobal},
	{name: "verbose", flag: "--verbose", kind: kindBool, place: placeGlobal},
	{name: "step", flag: "--step", kind: kindString, commands: recordCommands, needs: recordCommands},
	{name: "materials", flag: "--materials", kind: kindList, commands: []string{"run", "record-start"}},
	{name: "products", flag: "--products", kind: kindList, commands: []string{"run", "record-stop"}},
	{name: "exclude", flag: "--exclude", kind: kindList, commands: recordCommands},
	{name: "dirhash", flag: "--dirhash", kind: kindList, commands: recordCommands},
	{name: inArgs, commands: []string{"run"}},
	{name: inKey, flag: "--key", kind: kindKey, place: placeSigning, secret: true, commands: keyCommands},
	{name: "keyless", flag: "--keyless", kind: kindBool, place: placeSigning, commands: signingCommands},
	{name: "identity-token", flag: "--identity-token", kind: kindString, place: placeSigning, secret: true, commands: signingCommands},
	{name: "fulcio-url", flag: "--fulcio-url", kind: kindString, place: placeSigning, commands: signingCommands},
	{name: "rekor-url", flag: "--rekor-url", kind: kindString, place: placeSigning, commands: signingCommands},
	{name: "format", flag: "--format", kind: kindString, place: placeSigning, commands: recordCommands},
	{name: "subjects", flag: "--subject", kind: kindList, commands: []string{"provenance"}},
	{name: "slsa-version", flag: "--slsa-version", kind: kindString, place: placeSigning, commands: []string{"provenance"}},
	{name: "image", flag: "--image", kind: kindString, commands: remoteCommands, needs: []string{"push"}, args: []string{"promote"}},
	{name: "artifact", flag: "--artifact", kind: kindString, commands: []string{"verify"}},
	{name: "destination", commands: []string{"promote"}, args: []string{"promote"}},
	{name: "to", flag: "--to", kind: kindCommaList, commands: []string{"push"}},
	{name: "from", flag: "--from", kind: kindCommaList, place: placeFrom, commands: gateCommands},
	{name: "oci-scheme", flag: "--oci-scheme", kind: kindString, commands: []string{"push"}},
	{name: "dry-run", flag: "--dry-run", kind: kindBool, commands: []string{"push", "promote"}},
	{name: "insecure", flag: "--insecure", kind: kindBool, place: placeRemote, commands: remoteCommands},
	{name: "policy", flag: "--policy", kind: kindString, place: placePolicy, commands: gateCommands, needs: gateCommands},
	{name: "grafeas-url", flag: "--grafeas", kind: kindString, place: placeRemote, commands: remoteCommands},
	{name: "grafeas-project", flag: "--grafeas-project", kind: kindString, place: placeRemote, commands: remoteCommands},
	{name: "grafeas-api", flag: "--grafeas-api", kind: kindString, place: placeRemote, commands: remoteCommands},
	{name: "grafeas-token", flag: "--grafeas-token", kind: kindString, place: placeRemote, secret: true, commands: []string{"push"}},
}

// readBy reports whether the command reads the input.
func (in actionInput) readBy(command string) bool {
	return in.commands == nil || slices.Contains(in.commands, command)
}

func newActionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "action",
		Hidden: true,
		Short:  "Run as the attestor GitHub Action: read the INPUT_* variables, run the command, write outputs and a step summary",
		Long: `action is the entry point of the attestor GitHub Action (action.yml) and of
Run Jobs configured the same way. It reads the action's inputs from the
INPUT_<NAME> variables (command, step, materials, products, key, keyless,
image, policy, grafeas-url, grafeas-project, dry-run, ...), runs the attestor
command they name with the same flags and code as the CLI, and then writes
the outputs (attestations, provenance-digest, verified, verdict,
image-digest) to GITHUB_OUTPUT and a table to GITHUB_STEP_SUMMARY. Secrets
are masked (::add-mask::) first. In a Spinnaker Run Job (SPINNAKER_EXECUTION_ID
set), the outputs are also printed as SPINNAKER_PROPERTY_* lines (VERDICT,
VERIFIED, IMAGE, IMAGE_DIGEST, PROMOTED_IMAGE, PROVENANCE_DIGEST).

With arguments (attestor action -- COMMAND [FLAG]...), the arguments are
the command line instead of the inputs: the form for a Run Job or a Cloud
Build step that wants the outputs, the summary or the Spinnaker properties.

Outside GitHub Actions nothing is written but the command's own output.`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			environ := g.env()
			gh := github.New(github.WithEnviron(environ), github.WithWriter(g.stdout))
			return runAction(cmd.Context(), g, gh, environ, args)
		},
	}
}

// actionCall is the CLI invocation an action's inputs map to.
type actionCall struct {
	command string   // the command input
	args    []string // the attestor command line, without the program name
	shown   []string // args with secrets replaced, for the log
	dir     string   // the workspace named on the command line, if any
	keyPEM  []byte   // the key input, when it is the PEM key itself
}

// runAction runs the command the inputs name and reports it to the
// platform.
func runAction(ctx context.Context, g *globals, gh *github.Action, environ, cliArgs []string) error {
	maskSecrets(gh)
	var (
		call *actionCall
		err  error
	)
	if len(cliArgs) > 0 {
		call, err = passthroughArgs(g, cliArgs)
	} else {
		call, err = actionArgs(gh)
	}
	if err != nil {
		gh.Errorf("attestor: %v", err)
		return fault.Invalid(err)
	}
	end := gh.Group("attestor " + strings.Join(call.shown, " "))
	var (
		out    bytes.Buffer
		graph  *gate.Graph // the chain verify or promote checked
		result any         // the command's typed result
	)
	code := executeWith(ctx, &globals{stdout: &out, stderr: g.stderr, environ: g.environ, keyPEM: call.keyPEM, argsInMemory: len(cliArgs) == 0,
		graph: func(gr *gate.Graph) { graph = gr }, result: func(r any) { result = r }}, call.args)
	if out.Len() > 0 {
		// The command's properties are printed again below, with the
		// action's: a Run Job's log (stdout and stderr) has each once.
		g.stderr.Write(withoutProperties(out.Bytes()))
	}
	end()

	outputs, summary := actionResult(gh, call, result, code)
	if graph != nil && (call.command == "verify" || call.command == "promote") {
		summary.Mermaid = graph.Mermaid()
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(outputs)) {
		if err := gh.SetOutput(name, outputs[name]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := gh.AddStepSummary(summary.Markdown()); err != nil {
		errs = append(errs, err)
	}
	{
		// Empty values (a verdict of push) are not written.
		props := map[string]string{
			spinnaker.PropertyVerdict:          outputs[outVerdict],
			spinnaker.PropertyVerified:         outputs[outVerified],
			spinnaker.PropertyImageDigest:      outputs[outImageDigest],
			spinnaker.PropertyImage:            outputs[outImage],
			spinnaker.PropertyProvenanceDigest: outputs[outProvenanceDigest],
			spinnaker.PropertyPromoted:         outputs[outPromotedImage],
		}
		if _, err := spinnaker.Emit(g.stdout, environ, props); err != nil {
			errs = append(errs, err)
		}
	}
	if code != 0 {
		gh.Errorf("attestor %s failed (exit %d)", call.command, code)
		// The command reported why on stderr; the exit code is its own.
		return &exitError{code: code}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("writing the action's outputs: %w", err)
	}
	return nil
}

// maskSecrets masks (::add-mask::) the secret inputs and the secrets of
// secretEnv, before anything is logged.
func maskSecrets(gh *github.Action) {
	for _, in := range actionInputs {
		if v := gh.Input(in.name); in.secret && v != "" && !isKeyReference(in, v) {
			gh.AddMask(pemBody(v))
		}
	}
	for _, name := range secretEnv {
		if v := gh.Getenv(name); v != "" {
			gh.AddMask(v)
		}
	}
}

// actionArgs maps the inputs to an attestor command line, each input by
// its row of actionInputs: --json, the global flags, the command's words,
// its flags and, for run, -- and the command to record.
func actionArgs(gh *github.Action) (*actionCall, error) {
	c := &actionCall{command: gh.Input(inCommand)}
	words, ok := actionCommands[c.command]
	if !ok {
		names := slices.Sorted(maps.Keys(actionCommands))
		if c.command == "" {
			return nil, fmt.Errorf("input %s is required: one of %s", inCommand, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("input %s: %q: want one of %s", inCommand, c.command, strings.Join(names, ", "))
	}
	var unused []string
	for _, in := range actionInputs {
		if !in.readBy(c.command) && gh.Input(in.name) != "" {
			unused = append(unused, in.name)
		}
	}
	if len(unused) > 0 {
		return nil, fmt.Errorf("command %s does not use the input(s) %s", c.command, strings.Join(unused, ", "))
	}

	c.add("--json")
	for _, in := range actionInputs {
		if in.place == placeGlobal {
			if err := c.addInput(gh, in); err != nil {
				return nil, err
			}
		}
	}
	for _, in := range actionInputs {
		if slices.Contains(in.needs, c.command) && gh.Input(in.name) == "" {
			return nil, fmt.Errorf("command %s needs the input %s", c.command, in.name)
		}
	}
	var argNames, argValues []string
	for _, in := range actionInputs {
		if slices.Contains(in.args, c.command) {
			argNames, argValues = append(argNames, in.name), append(argValues, gh.Input(in.name))
		}
	}
	if slices.Contains(argValues, "") {
		return nil, fmt.Errorf("command %s needs the inputs %s", c.command, strings.Join(argNames, " and "))
	}
	c.add(words...)
	c.add(argValues...)
	if c.command == "provenance" {
		// Keyless provenance, where this build's provenance command has it.
		for _, in := range []string{"keyless", "identity-token", "fulcio-url", "rekor-url"} {
			if gh.Input(in) != "" && !cliHasFlag("provenance", in) {
				return nil, fmt.Errorf("input %s: this build's provenance command does not sign keyless (no --%s); give a key", in, in)
			}
		}
	}
	// The command's flags, by place, each place in the table's order.
	flags := slices.DeleteFunc(slices.Clone(actionInputs), func(in actionInput) bool {
		return in.place == placeGlobal || in.flag == "" || !in.readBy(c.command) || slices.Contains(in.args, c.command)
	})
	slices.SortStableFunc(flags, func(a, b actionInput) int { return int(a.place) - int(b.place) })
	for _, in := range flags {
		if err := c.addInput(gh, in); err != nil {
			return nil, err
		}
	}
	if c.command == "run" {
		words, err := splitWords(gh.Input(inArgs))
		if err != nil {
			return nil, &github.InputError{Name: inArgs, Value: gh.Input(inArgs), Err: err}
		}
		if len(words) == 0 {
			return nil, fmt.Errorf("command run needs the input %s: the command to record", inArgs)
		}
		c.add("--")
		c.add(words...)
	}
	return c, nil
}

// add appends words to the command line and to the line shown.
func (c *actionCall) add(words ...string) {
	c.args, c.shown = append(c.args, words...), append(c.shown, words...)
}

// addInput appends the flag of the input in, as its kind says.
func (c *actionCall) addInput(gh *github.Action, in actionInput) error {
	switch in.kind {
	case kindString:
		if v := gh.Input(in.name); v != "" {
			c.args = append(c.args, in.flag, v)
			if in.secret {
				v = "***"
			}
			c.shown = append(c.shown, in.flag, v)
		}
	case kindList:
		for _, v := range gh.ListInput(in.name) {
			c.add(in.flag, v)
		}
	case kindCommaList:
		var items []string
		for _, line := range gh.ListInput(in.name) {
			for _, it := range strings.Split(line, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
		}
		if len(items) > 0 {
			c.add(in.flag, strings.Join(items, ","))
		}
	case kindBool:
		v, err := gh.BoolInput(in.name)
		if err != nil {
			return err
		}
		if v {
			c.add(in.flag)
		}
	case kindKey:
		// A key named is passed as it is; the key itself (PEM, as a secret
		// holds it) is kept in memory for the command (globals.keyPEM),
		// never written to a file that the command a step wraps could
		// read.
		v := gh.Input(in.name)
		switch {
		case v == "":
		case isKeyReference(in, v):
			c.add(in.flag, v)
		default:
			c.keyPEM = []byte(v + "\n")
			c.shown = append(c.shown, in.flag, "***")
		}
	}
	return nil
}

// passthroughArgs is the call of attestor action -- COMMAND [FLAG]...:
// the command line as given, with --json (and --dir from the global
// flags) added.
func passthroughArgs(g *globals, args []string) (*actionCall, error) {
	c := &actionCall{command: args[0], dir: g.dir}
	if args[0] == "record" && len(args) > 1 {
		c.command = "record-" + args[1]
	}
	if _, ok := actionCommands[c.command]; !ok {
		return nil, fmt.Errorf("attestor action -- %s: want one of run, record start, record stop, provenance, push, verify, promote", args[0])
	}
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "--dir" && i+1 < len(args) {
			c.dir = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--dir="); ok {
			c.dir = v
		}
	}
	pre := []string{"--json"}
	if g.dir != "" {
		pre = append(pre, "--dir", g.dir)
	}
	if g.verbose {
		pre = append(pre, "--verbose")
	}
	c.args = append(pre, args...)
	c.shown = slices.Clone(c.args)
	for i := range c.shown {
		for _, f := range []string{"--identity-token", "--grafeas-token"} {
			if c.shown[i] == f && i+1 < len(c.shown) {
				c.shown[i+1] = "***"
			} else if strings.HasPrefix(c.shown[i], f+"=") {
				c.shown[i] = f + "=***"
			}
		}
	}
	return c, nil
}

// cliHasFlag reports whether the CLI's command has the flag.
func cliHasFlag(command, flag string) bool {
	c, _, err := newRootCmd(&globals{}).Find([]string{command})
	return err == nil && c.Flags().Lookup(flag) != nil
}

// pemBody drops the armor lines (-----BEGIN ...-----) of a PEM secret,
// which are no secret: masking them would hide them in every log.
func pemBody(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "-----") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// isKeyReference reports whether the value of a secret input names a key
// (a path, a KMS URI) rather than being the secret itself.
func isKeyReference(in actionInput, v string) bool {
	return in.kind == kindKey && !strings.Contains(v, "-----BEGIN")
}

// actionResult makes the action's outputs and step summary from the
// command's typed result (nil when it printed none: it failed early) and
// the workspace.
func actionResult(gh *github.Action, call *actionCall, result any, code int) (map[string]string, *github.Summary) {
	outputs := map[string]string{}
	sum := &github.Summary{Title: "attestor " + call.command}
	dir := call.dir
	if dir == "" {
		dir = workspaceDirOf(gh)
	}
	ws, wsErr := workspace.Open(dir)
	if wsErr == nil {
		if names, err := ws.Envelopes(); err == nil {
			var files []string
			for _, n := range names {
				files = append(files, ws.Path(n))
			}
			outputs[outAttestations] = strings.Join(files, "\n")
			if d := latestProvenanceDigest(ws, names); d != "" {
				outputs[outProvenanceDigest] = d
			}
		}
	}

	var verified *gate.Result // what verify or promote checked
	switch r := result.(type) {
	case pendingSummary:
		sum.Rows = append(sum.Rows, github.Row{Step: r.Step, Verdict: "started"})
	case stepSummary:
		verdict := "recorded"
		if r.ExitCode != nil {
			verdict = fmt.Sprintf("recorded, exit %d", *r.ExitCode)
			outputs[outExitCode] = strconv.Itoa(*r.ExitCode)
		}
		if r.TimedOut {
			verdict += ", timed out"
		}
		subjects := []string{fmt.Sprintf("%d materials", r.Materials), fmt.Sprintf("%d products", r.Products)}
		sum.Rows = append(sum.Rows, github.Row{Step: r.Step, Signers: keyIDsOf(r.Files), Subjects: subjects, Verdict: verdict})
		for _, f := range r.Files {
			sum.Notes = append(sum.Notes, "Wrote "+f+".")
		}
	case provenanceSummary:
		if r.Digest == "" {
			break
		}
		outputs[outProvenanceDigest] = r.Digest
		sum.Rows = append(sum.Rows, github.Row{Step: "(provenance)", Signers: keyIDsOf([]string{r.File}), Subjects: r.Subjects, Verdict: "signed " + r.Digest})
	case pushSummary:
		if r.Result == nil || r.Image == "" {
			break
		}
		sum.Subject = r.Image
		outputs[outImage] = r.Image
		if _, d, ok := strings.Cut(r.Image, "@"); ok {
			outputs[outImageDigest] = d
		}
		for _, a := range r.Attestations {
			verdict := "already attached"
			if len(a.Schemes) > 0 {
				schemes := make([]string, len(a.Schemes))
				for i, s := range a.Schemes {
					schemes[i] = string(s)
				}
				verdict = "pushed (" + strings.Join(schemes, ", ") + ")"
				if r.DryRun {
					verdict = "would push (" + strings.Join(schemes, ", ") + ")"
				}
			}
			sum.Rows = append(sum.Rows, github.Row{Step: a.PredicateType, Subjects: []string{"sha256:" + a.Digest}, Verdict: verdict})
		}
		if r.DryRun {
			sum.Notes = append(sum.Notes, "Dry run: nothing was written to the registry.")
		}
	case *verifyOutput:
		verified = r.Result
	case *promoteOutput:
		if r.Result != nil {
			verified = r.Result.Result
		}
	}
	if verified != nil && verified.Verdict == "" {
		verified = nil
	}
	if call.command == "verify" || call.command == "promote" {
		if verified == nil {
			if code != 0 {
				outputs[outVerified] = "false"
			}
		} else {
			verifySummary(outputs, sum, verified)
		}
		if p, ok := result.(*promoteOutput); ok && verified != nil && p.Destination != "" {
			outputs[outPromotedImage] = p.Destination
			switch {
			case p.Copied:
				sum.Notes = append(sum.Notes, "Promoted to "+p.Destination+".")
			case p.DryRun:
				sum.Notes = append(sum.Notes, "Dry run: would promote to "+p.Destination+".")
			}
		}
	}
	if code != 0 {
		sum.Notes = append(sum.Notes, fmt.Sprintf("attestor %s exited with status %d; see the step's log.", call.command, code))
	}
	return outputs, sum
}

// verifySummary writes what the gate decided into the outputs and the
// step summary.
func verifySummary(outputs map[string]string, sum *github.Summary, res *gate.Result) {
	outputs[outVerified] = strconv.FormatBool(res.Verified)
	outputs[outVerdict] = res.Verdict
	// The provenance the gate accepted, rather than the workspace's.
	delete(outputs, outProvenanceDigest)
	if d := acceptedProvenance(res); d != "" {
		outputs[outProvenanceDigest] = d
	}
	sum.Verdict = res.Verdict
	if res.Subject.Name != "" {
		sum.Subject = res.Subject.Name
		if res.Subject.Digest != "" {
			sum.Subject += "@" + res.Subject.Digest
			outputs[outImageDigest] = res.Subject.Digest
			outputs[outImage] = sum.Subject
		}
	}
	for _, s := range res.Steps {
		sum.Rows = append(sum.Rows, github.Row{Step: s.Name, Signers: s.Signers, Subjects: []string{fmt.Sprintf("%d record(s)", s.Records)}, Verdict: s.Verdict})
	}
	if p := res.Provenance; p != nil {
		sum.Rows = append(sum.Rows, github.Row{Step: "(provenance)", Signers: p.Signers, Subjects: p.Steps, Verdict: p.Verdict})
	}
	for _, a := range res.Attestations {
		sum.Rows = append(sum.Rows, github.Row{Step: a.PredicateType, Signers: a.Signers, Verdict: a.Verdict})
	}
	for _, r := range res.Reasons {
		sum.Notes = append(sum.Notes, "- "+r.Code+": "+oneLine(r.Message))
	}
}

// acceptedProvenance returns the digest of the provenance envelope the gate
// accepted: where the policy checks provenance, the result's
// provenance.digest when that check passed; else, on a chain that passed,
// the one SLSA provenance envelope whose signature verified; "" when the
// gate accepted none, or that is ambiguous (several).
func acceptedProvenance(res *gate.Result) string {
	if p := res.Provenance; p != nil {
		// The policy checks provenance: the one it accepted, if any.
		if p.Verdict != gate.Passed || p.Digest == "" {
			return ""
		}
		return "sha256:" + strings.TrimPrefix(p.Digest, "sha256:")
	}
	// No provenance check: the one provenance whose signature verified,
	// on a chain that passed.
	if !res.Verified {
		return ""
	}
	found := ""
	for _, e := range res.Envelopes {
		if strings.HasPrefix(e.PredicateType, "https://slsa.dev/provenance/") && e.Status == gate.StatusVerified {
			if found != "" {
				return ""
			}
			found = "sha256:" + e.Digest
		}
	}
	return found
}

// workspaceDirOf is the workspace the command used: the dir input,
// ATTESTOR_DIR, or the default.
func workspaceDirOf(gh *github.Action) string {
	if d := gh.Input(inDir); d != "" {
		return d
	}
	if d := gh.Getenv("ATTESTOR_DIR"); d != "" {
		return d
	}
	return workspace.DefaultDir
}

// latestProvenanceDigest is the sha256 of the newest provenance envelope in the
// workspace ("" when there is none).
func latestProvenanceDigest(ws *workspace.Workspace, names []string) string {
	var newest string
	var newestMod int64
	for _, n := range names {
		if !strings.HasPrefix(n, workspace.ReservedPrefix+"provenance.") {
			continue
		}
		fi, err := os.Stat(ws.Path(n))
		if err != nil {
			continue
		}
		if m := fi.ModTime().UnixNano(); newest == "" || m > newestMod {
			newest, newestMod = n, m
		}
	}
	if newest == "" {
		return ""
	}
	data, err := ws.Read(newest)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// keyIDsOf returns the key ids in workspace file names (STEP.KEYID.dsse.json).
func keyIDsOf(files []string) []string {
	var ids []string
	for _, f := range files {
		base := filepath.Base(f)
		parts := strings.Split(base, ".")
		if len(parts) >= 3 && !slices.Contains(ids, parts[len(parts)-3]) {
			ids = append(ids, parts[len(parts)-3])
		}
	}
	return ids
}

// splitWords splits s into words as a POSIX shell would, without
// expansions: blanks separate words, single quotes keep everything, double
// quotes keep all but \" and \\, a backslash escapes the next character.
func splitWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i, inWord = i+1+j, true
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
					cur.WriteByte(s[i])
					continue
				}
				if s[i] == '"' {
					closed = true
					break
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("unterminated double quote")
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inWord = true
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// withoutProperties returns out without its SPINNAKER_PROPERTY_* lines.
func withoutProperties(out []byte) []byte {
	if !bytes.Contains(out, []byte(spinnaker.PropertyPrefix)) {
		return out
	}
	var kept []byte
	for line := range bytes.Lines(out) {
		if !bytes.HasPrefix(line, []byte(spinnaker.PropertyPrefix)) {
			kept = append(kept, line...)
		}
	}
	return kept
}

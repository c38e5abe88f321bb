package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/spf13/cobra"

	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
)

// inspectOutput is the --json output of inspect: the inventory, and the
// files --output-dir wrote.
type inspectOutput struct {
	*gate.Inventory
	// Files are the files written to --output-dir, in the inventory's
	// order: each envelope, then its bundle, if any.
	Files []string `json:"files,omitempty"`
}

// inspectFlags are the flags of the command newInspectCmd makes.
type inspectFlags struct {
	subj       subjectFlags
	src        sourceFlags
	keyPath    string
	policyPath string
	outputDir  string
}

func newInspectCmd(g *globals) *cobra.Command {
	var fl inspectFlags
	cmd := &cobra.Command{
		Use:   "inspect --image REF | --artifact PATH [--from dir,oci,grafeas] [--key KEY | --policy FILE] [--output-dir DIR]",
		Short: "List the attestations of an image or a file: where each is, what it is, who signed it",
		Long: `inspect lists every attestation of the subject (an image, resolved to its
manifest digest, or a file, by its sha256) that the sources named by --from
hold (the defaults are verify's: oci for --image, dir for --artifact), one
row each: where it was found (the workspace file, the cosign .att image, an
OCI referrer, a Grafeas occurrence; one attestation found in several places
is one row naming them all, keyed by the digest of its envelope's payload
type, payload and signatures), its predicate type, the step of a step
record, the key ids its signatures name (and, for a keyless signature, the
issuer and subject of its certificate), its subjects (how many, and the
first few), its time (a step record's finishedOn, a provenance's build
finish) and its size.

What is listed is what the attestations claim: nothing is verified unless
--key (a public key: PEM, cosign .pub, certificate or in-toto JSON; the KEY
column says whether a signature verifies with it) or --policy (the POLICY
column names the functionaries of the policy whose keys or keyless
identities verified it, as verify does; keyless needs --trusted-root) is
given. Text from the attestations is shown with control characters
escaped.

--json prints the inventory (gate.Inventory) on stdout. --output-dir DIR
writes each envelope to DIR/<digest>.dsse.json and its sigstore bundle,
if any, to DIR/<digest>.sigstore.json (the digest of the row; no name comes
from the attestation), each file atomically.

Exit status: 0 listed (also when nothing was found), 2 bad input, 3 a
source (registry, Grafeas) failed; what the other sources hold is listed.`,
		Example: `  attestor inspect --image ghcr.io/acme/app:v1.2.3
  attestor inspect --image localhost:5000/app@sha256:... --from oci,grafeas --grafeas http://127.0.0.1:8080 --grafeas-project builds --policy policy.yaml
  attestor inspect --artifact dist/app.tar --key ci.pub --output-dir attestations --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInspect(cmd.Context(), g, &fl)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&fl.subj.image, "image", "", "image to inspect: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:...")
	fs.StringVar(&fl.subj.artifact, "artifact", "", "file to inspect")
	fs.StringVar(&fl.keyPath, "key", "", "public key to check every signature with (PEM, cosign .pub, certificate, in-toto JSON)")
	fs.StringVar(&fl.policyPath, "policy", "", "policy whose functionaries every signature is checked against")
	fs.StringVar(&fl.outputDir, "output-dir", "", "write each envelope (and sigstore bundle) to this directory, named by its digest")
	fl.src.register(cmd)
	return cmd
}

// runInspect runs the command newInspectCmd makes, with its flags fl.
func runInspect(ctx context.Context, g *globals, fl *inspectFlags) error {
	if fl.keyPath != "" && fl.policyPath != "" {
		return fault.Invalid(errors.New("give --key or --policy, not both"))
	}
	var opts []gate.InspectOption
	if fl.keyPath != "" {
		key, err := sign.LoadVerifier(fl.keyPath)
		if err != nil {
			return fault.Invalid(err)
		}
		opts = append(opts, gate.WithInspectKey(key))
	}
	if fl.policyPath != "" {
		policy, err := gate.LoadPolicy(fl.policyPath)
		if err != nil {
			return err
		}
		vopts, err := fl.src.verifierOptions(g)
		if err != nil {
			return err
		}
		v, err := gate.NewVerifier(policy, vopts...)
		if err != nil {
			return err
		}
		opts = append(opts, gate.WithInspectPolicy(v))
	}
	if fl.outputDir != "" {
		if fi, err := os.Stat(fl.outputDir); err == nil && !fi.IsDir() {
			return fault.Invalid(fmt.Errorf("--output-dir %q is not a directory", fl.outputDir))
		}
	}
	subject, sources, err := fl.subj.withSources(ctx, &fl.src, g)
	if err != nil {
		return err
	}
	inv, ierr := gate.Inspect(ctx, subject, sources, opts...)
	if inv == nil {
		return ierr
	}
	out := &inspectOutput{Inventory: inv}
	if fl.outputDir != "" {
		if out.Files, err = writeInventory(fl.outputDir, inv); err != nil {
			return err
		}
	}
	if g.json {
		if err := g.printJSON(out); err != nil {
			return err
		}
	}
	writeInspectTable(g.stderr, out)
	if ierr != nil {
		// Reported in the table; what the others hold is listed.
		code := 3
		if errors.Is(ierr, fault.ErrInvalidInput) {
			code = 2
		}
		return &exitError{code: code}
	}
	return nil
}

// writeInventory writes every envelope and bundle of inv to dir, named by
// the entry's digest (hex: no attestation names a file), each atomically.
func writeInventory(dir string, inv *gate.Inventory) ([]string, error) {
	if len(inv.Attestations) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fault.Invalid(fmt.Errorf("--output-dir: %w", err))
	}
	var files []string
	for i := range inv.Attestations {
		e := &inv.Attestations[i]
		if !isHex(e.Digest) {
			return files, fmt.Errorf("attestation digest %q is not hex", e.Digest)
		}
		for _, f := range []struct {
			suffix string
			data   []byte
		}{{workspace.SuffixEnvelope, e.Envelope()}, {sign.BundleExt, e.SigstoreBundle()}} {
			if f.data == nil {
				continue
			}
			path := filepath.Join(dir, e.Digest+f.suffix)
			if err := safefile.WriteAtomic(path, f.data, 0o644); err != nil {
				if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
					err = fault.Invalid(err)
				}
				return files, err
			}
			files = append(files, path)
		}
	}
	return files, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// writeInspectTable writes the inventory for people: one row per
// attestation, then where each was found. Every value from an attestation
// or a source goes through printable.
func writeInspectTable(w io.Writer, out *inspectOutput) {
	inv := out.Inventory
	what := printable(inv.Subject.Name, 200)
	if inv.Subject.Digest != "" {
		what += "@" + inv.Subject.Digest
	}
	switch n := len(inv.Attestations); n {
	case 0:
		fmt.Fprintf(w, "attestor: inspect %s: no attestations found\n", what)
	default:
		fmt.Fprintf(w, "attestor: inspect %s: %d attestation(s)\n", what, n)
	}
	for _, s := range inv.Sources {
		if s.Error != "" {
			fmt.Fprintf(w, "  source %s: FAILED: %s\n", s.Name, printable(s.Error, 4096))
		} else {
			fmt.Fprintf(w, "  source %s: %d copies\n", s.Name, s.Attestations)
		}
	}
	if len(inv.Attestations) == 0 {
		return
	}
	var check string
	switch {
	case len(inv.Attestations) > 0 && inv.Attestations[0].Key != nil:
		check = "KEY " + shortID(inv.Attestations[0].Key.KeyID)
	case len(inv.Attestations) > 0 && inv.Attestations[0].Policy != nil:
		check = "POLICY"
	}
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	header := "  DIGEST\tTYPE\tSTEP\tSIGNER\tSUBJECTS\tTIME\tSIZE\tFOUND IN"
	if check != "" {
		header += "\t" + check
	}
	fmt.Fprintln(tw, header)
	for _, e := range inv.Attestations {
		typ := "(unreadable)"
		if e.PredicateType != "" {
			typ = printable(shortType(e.PredicateType), 40)
		}
		when := "-"
		if !e.Time.IsZero() {
			when = e.Time.Format(time.RFC3339)
		}
		row := []string{
			"sha256:" + short12(e.Digest),
			typ,
			nonEmpty(printable(e.Step, 40), "-"),
			signerCell(e),
			subjectsCell(e),
			when,
			sizeCell(e.Size),
			whereCell(e.Locations),
		}
		switch {
		case e.Key != nil && e.Key.Verified:
			row = append(row, "verified")
		case e.Key != nil:
			row = append(row, "no")
		case e.Policy != nil:
			// The functionaries only of an envelope verify uses: one a
			// functionary signed but verify ignores or refuses (not a
			// statement, an invalid record) shows its status.
			cell := e.Policy.Status
			if e.Policy.Status == gate.StatusVerified && len(e.Policy.Functionaries) > 0 {
				cell = strings.Join(e.Policy.Functionaries, ", ")
			}
			row = append(row, printable(cell, 60))
		case check != "":
			row = append(row, "-")
		}
		fmt.Fprintf(tw, "  %s\n", strings.Join(row, "\t"))
	}
	tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
	for _, e := range inv.Attestations {
		fmt.Fprintf(w, "  sha256:%s:\n", short12(e.Digest))
		for _, l := range e.Locations {
			fmt.Fprintf(w, "    %s %s %s\n", nonEmpty(l.Source, "-"), nonEmpty(l.Kind, "-"), printable(nonEmpty(l.Ref, "-"), 1024))
		}
		if e.Keyless != nil {
			fmt.Fprintf(w, "    keyless: issuer %s, subject %s\n", printable(e.Keyless.Issuer, 200), printable(e.Keyless.Subject, 400))
		}
		if e.Policy != nil && e.Policy.Reason != "" {
			fmt.Fprintf(w, "    policy: %s: %s\n", e.Policy.Status, printable(e.Policy.Reason, 400))
		}
		if e.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", printable(e.Error, 400))
		}
	}
	for _, f := range out.Files {
		fmt.Fprintf(w, "attestor: wrote %s\n", f)
	}
}

func short12(hex string) string {
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}

// signerCell is the keyless identity, else the key ids the signatures
// name.
func signerCell(e gate.InventoryEntry) string {
	if e.Keyless != nil {
		return "keyless: " + printable(e.Keyless.Subject, 60) + " (" + printable(e.Keyless.Issuer, 60) + ")"
	}
	if len(e.KeyIDs) == 0 {
		return "-"
	}
	ids := make([]string, len(e.KeyIDs))
	for i, id := range e.KeyIDs {
		ids[i] = printable(short12(id), 12)
	}
	return strings.Join(ids, ", ")
}

func subjectsCell(e gate.InventoryEntry) string {
	if e.SubjectCount == 0 {
		return "-"
	}
	names := make([]string, len(e.Subjects))
	for i, n := range e.Subjects {
		names[i] = printable(n, 40)
	}
	s := fmt.Sprintf("%d: %s", e.SubjectCount, strings.Join(names, ", "))
	if e.SubjectCount > len(e.Subjects) {
		s += ", …"
	}
	return s
}

func sizeCell(n int) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// whereCell names the places of the copies: "dir", "oci .att",
// "oci referrer", "grafeas" (×N for several of a kind).
func whereCell(locs []store.Location) string {
	var order []string
	count := map[string]int{}
	for _, l := range locs {
		var name string
		switch l.Kind {
		case store.LocationCosign:
			name = l.Source + " .att"
		case store.LocationReferrer:
			name = l.Source + " referrer"
		default:
			name = l.Source
		}
		name = printable(name, 40)
		if count[name] == 0 {
			order = append(order, name)
		}
		count[name]++
	}
	for i, n := range order {
		if c := count[n]; c > 1 {
			order[i] = fmt.Sprintf("%s ×%d", n, c)
		}
	}
	return strings.Join(order, ", ")
}

// printable returns s for a terminal: control and format characters (an
// escape sequence, a tab, a bidirectional override) and invalid UTF-8
// escaped as \xNN or \uNNNN, at most n runes ("…" marks a cut).
func printable(s string, n int) string {
	var b strings.Builder
	runes := 0
	for i := 0; i < len(s); {
		if runes >= n {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x100 && (unicode.IsControl(r) || r == '\\'):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += max(size, 1)
		runes++
	}
	return b.String()
}

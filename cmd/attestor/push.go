package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/spf13/cobra"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/local"
	"github.com/attestor/attestor/attestor/store/oci"
)

// Where push --dry-run leaves its output in the workspace.
const (
	dryRunOCIDir   = workspace.ReservedPrefix + "dry-run/oci"
	dryRunStoreDir = workspace.ReservedPrefix + "dry-run/attestations"
)

// maxPasswordStdin bounds what --registry-password-stdin reads.
const maxPasswordStdin = 64 << 10

// pushFlags are the flags of the command newPushCmd makes.
type pushFlags struct {
	image         string
	to            []string
	scheme        string
	dryRun        bool
	username      string
	passwordStdin bool
	insecure      bool
	timeout       time.Duration
	trustedRoot   string
	gf            grafeasFlags
}

func newPushCmd(g *globals) *cobra.Command {
	var fl pushFlags
	cmd := &cobra.Command{
		Use:   "push --image REF [--to oci,grafeas] [--oci-scheme cosign|referrers|both] [--dry-run]",
		Short: "Attach every signed attestation in the workspace to an image in its registry",
		Long: `push attaches every signed attestation in the workspace (step records and
provenance) to the image REF. A tag is resolved to the image's digest first;
the digest is what the attestations are attached to.

The attestations are written as cosign writes them (the sha256-<hex>.att
image, which cosign verify-attestation and admission controllers read) and
as OCI 1.1 referrers carrying sigstore bundles (through the referrers API,
or the referrers tag where the registry has none); --oci-scheme chooses.
A keyless attestation's .att layer carries its certificate and Rekor entry
as cosign's annotations; --trusted-root adds the certificate's chain.
Pushing again is safe: attestations already attached are not written twice,
and concurrent pushes to one image keep each other's.

Credentials come from the docker config and credential helpers (docker
login), GITHUB_TOKEN for ghcr.io, or --registry-username with the password
on stdin. --dry-run writes nothing to the registry: it prints every blob,
manifest and tag it would write and saves them under <dir>/_dry-run/.

--to grafeas (alone or with oci) also writes them to a Grafeas server as
occurrences on the image; see the --grafeas-* flags.`,
		Example: `  attestor push --image ghcr.io/acme/app:v1.2.3
  echo "$TOKEN" | attestor push --image registry.example/app@sha256:... --registry-username ci --registry-password-stdin
  attestor push --image localhost:5000/app:dev --dry-run --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return pushAttestations(cmd.Context(), cmd, g, &fl)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&fl.image, "image", "", "image to attach the attestations to: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:... (required)")
	fs.StringSliceVar(&fl.to, "to", []string{"oci"}, "where to push: oci")
	fs.StringVar(&fl.scheme, "oci-scheme", string(oci.SchemeBoth), "how to attach: cosign (.att tag), referrers (OCI 1.1 + sigstore bundle) or both")
	fs.BoolVar(&fl.dryRun, "dry-run", false, "write nothing to the registry: print every write and save it under <dir>/_dry-run/")
	fs.StringVar(&fl.username, "registry-username", "", "registry user name (with --registry-password-stdin); default: docker config, credential helpers, GITHUB_TOKEN for ghcr.io")
	fs.BoolVar(&fl.passwordStdin, "registry-password-stdin", false, "read the registry password or token from stdin")
	fs.BoolVar(&fl.insecure, "insecure", false, "allow plain HTTP and unverified TLS to a registry that is not on loopback")
	fs.DurationVar(&fl.timeout, "timeout", 0, "give up after this long, retries included (default 5m)")
	fs.StringVar(&fl.trustedRoot, "trusted-root", "", "sigstore trusted_root.json whose Fulcio CAs complete the certificate chain annotation of keyless attestations in the cosign .att scheme (default: empty chain: verifiers use their own trusted root)")
	fl.gf.register(fs)
	return cmd
}

// pushAttestations runs the command newPushCmd makes, with its flags fl.
func pushAttestations(ctx context.Context, cmd *cobra.Command, g *globals, fl *pushFlags) error {
	if fl.image == "" {
		return fault.Invalid(errors.New("--image is required"))
	}
	toOCI, toGrafeas := false, false
	for _, t := range fl.to {
		switch strings.TrimSpace(t) {
		case "oci":
			toOCI = true
		case "grafeas":
			toGrafeas = true
		default:
			return fault.Invalid(fmt.Errorf("--to %q: use oci, grafeas or both (oci,grafeas)", t))
		}
	}
	if !toOCI && !toGrafeas {
		return fault.Invalid(errors.New("--to: name oci, grafeas or both"))
	}
	sch, err := oci.ParseScheme(fl.scheme)
	if err != nil {
		return err
	}
	ws, err := workspace.Open(g.dir)
	if err != nil {
		return err
	}
	atts, names, err := local.ReadWorkspace(ws)
	if errors.Is(err, store.ErrTooLarge) {
		return fmt.Errorf("%w (a step over a large tree: record each big directory as one artifact with --dirhash DIR, or leave it out with -e)", err)
	}
	if err != nil {
		return err
	}
	if len(atts) == 0 {
		return fault.Invalid(fmt.Errorf("no signed attestations in workspace %s: run 'attestor run' or 'attestor provenance' first", ws.Dir()))
	}
	opts := []oci.Option{oci.WithScheme(sch), oci.WithLogger(g.logger), oci.WithUserAgent("attestor/" + version)}
	if fl.timeout > 0 {
		opts = append(opts, oci.WithTimeout(fl.timeout))
	}
	if fl.insecure {
		opts = append(opts, oci.WithInsecure())
	}
	if fl.trustedRoot != "" {
		tr, err := sign.LoadTrustedRoot(fl.trustedRoot)
		if err != nil {
			return err
		}
		opts = append(opts, oci.WithTrustedMaterial(tr))
	}
	switch {
	case fl.passwordStdin && fl.username == "":
		return fault.Invalid(errors.New("--registry-password-stdin needs --registry-username"))
	case fl.username != "" && !fl.passwordStdin:
		return fault.Invalid(errors.New("--registry-username needs --registry-password-stdin (the password is read from stdin, never from a flag)"))
	case fl.username != "":
		password, err := readPassword(cmd.InOrStdin())
		if err != nil {
			return err
		}
		opts = append(opts, oci.WithBasicAuth(fl.username, password))
	}
	var dry *oci.DryRun
	if fl.dryRun {
		if dry, err = oci.NewDryRun(ws.Path(dryRunOCIDir)); err != nil {
			return err
		}
		opts = append(opts, oci.WithDryRun(dry))
	}
	reg, err := oci.New(opts...)
	if err != nil {
		return err
	}
	subject, err := pushSubject(ctx, reg, fl.image, toOCI)
	if err != nil {
		return err
	}
	var errs []error
	if toOCI {
		res, err := reg.Push(ctx, subject, atts...)
		if err != nil {
			errs = append(errs, err)
		} else if err := g.pushedOCI(ctx, res, names, atts, ws, dry); err != nil {
			errs = append(errs, err)
		}
	}
	if toGrafeas {
		if err := pushGrafeas(ctx, g, subject, atts, &fl.gf); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pushedOCI saves a dry run's attestations for verify --from dir and
// reports the push.
func (g *globals) pushedOCI(ctx context.Context, res *oci.Result, names []string, atts []store.Attestation, ws *workspace.Workspace, dry *oci.DryRun) error {
	if dry != nil {
		d, err := local.New(ws.Path(dryRunStoreDir))
		if err != nil {
			return err
		}
		if err := d.Put(ctx, res.Subject, atts...); err != nil {
			return err
		}
	}
	return g.reportPush(res, names, dry)
}

func readPassword(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPasswordStdin+1))
	if err != nil {
		return "", fault.Invalid(fmt.Errorf("reading the registry password from stdin: %w", err))
	}
	if len(data) > maxPasswordStdin {
		return "", fault.Invalid(errors.New("the registry password on stdin is too long"))
	}
	password := string(bytes.TrimRight(data, "\r\n"))
	if password == "" {
		return "", fault.Invalid(errors.New("--registry-password-stdin: stdin is empty"))
	}
	return password, nil
}

// pushSummary is the --json output of push.
type pushSummary struct {
	*oci.Result
	DryRun    bool     `json:"dryRun,omitempty"`
	DryRunDir string   `json:"dryRunDir,omitempty"`
	Files     []string `json:"files"`
}

func (g *globals) reportPush(res *oci.Result, names []string, dry *oci.DryRun) error {
	if g.json {
		s := pushSummary{Result: res, Files: names}
		if dry != nil {
			s.DryRun, s.DryRunDir = true, filepath.Dir(dry.Dir())
		}
		return g.printJSON(s)
	}
	verb, pushed, already := "pushed", 0, 0
	if dry != nil {
		verb = "would push"
	}
	for _, a := range res.Attestations {
		if len(a.Schemes) > 0 {
			pushed++
		} else {
			already++
		}
	}
	g.printf("attestor: %s %d attestation(s) to %s (%d already attached)\n", verb, pushed, res.Image, already)
	for _, a := range res.Attestations {
		where := "already attached"
		if len(a.Schemes) > 0 {
			var s []string
			for _, sc := range a.Schemes {
				s = append(s, string(sc))
			}
			where = strings.Join(s, ", ")
		}
		g.printf("  %s  %s  %s\n", a.Digest[:12], a.PredicateType, where)
	}
	if dry != nil {
		g.printf("attestor: dry run: nothing was written to the registry; these writes were saved under %s:\n", filepath.Dir(dry.Dir()))
	} else if g.verbose && len(res.Writes) > 0 {
		g.printf("attestor: writes:\n")
	}
	if dry != nil || g.verbose {
		for _, w := range res.Writes {
			g.printf("  %-8s %s (%s, %d bytes)\n", w.Kind, w.Ref, w.MediaType, w.Size)
		}
	}
	return nil
}

// pushSubject returns the image the attestations are attached to: image
// resolved by reg (a tag to its digest; a digest checked to be there),
// except that an image named by digest needs no registry when nothing is
// written to it (--to grafeas alone, with or without --dry-run).
func pushSubject(ctx context.Context, reg *oci.Registry, image string, toOCI bool) (store.Subject, error) {
	if !toOCI {
		d, ok, err := oci.ParseDigestRef(image)
		if err != nil {
			return store.Subject{}, err
		}
		if ok {
			return store.ImageSubject(d)
		}
	}
	return reg.Resolve(ctx, image)
}

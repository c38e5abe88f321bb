package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/spf13/cobra"

	"github.com/attestor/attestor/actions"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/provenance"
)

// provenanceFlags are the flags of the command newProvenanceCmd makes.
type provenanceFlags struct {
	subjects    []string
	key         string
	sf          signerFlags
	slsaVersion string
	builderID   string
	buildType   string
	source      string
}

func newProvenanceCmd(g *globals) *cobra.Command {
	var fl provenanceFlags
	cmd := &cobra.Command{
		Use:   "provenance [--subject PATH|oci://REF]... [--key REF] [--slsa-version 1|0.2]",
		Short: "Sign the build's SLSA provenance from the step records and the CI platform's facts",
		Long: `provenance signs an SLSA provenance statement (v1.0 by default, v0.2 with
--slsa-version 0.2) into the workspace as _provenance.<keyid[:8]>.dsse.json
(signed keyless, with its sigstore bundle _provenance.<keyid[:8]>.sigstore.json).

Subjects are files (by sha256) and images (oci://REF, resolved to their
manifest digest); without --subject they are the products of the step that
finished last. The builder id, build type, invocation and source come from the
CI platform the command runs on (GitHub Actions, GitLab CI, Spinnaker, Cloud
Build, or the local git checkout); what the platform does not state is left
out, and --builder-id, --build-type and --source override it. Every step record
in the workspace is listed by the sha256 of its envelope (runDetails.byproducts;
materials in v0.2), and the first step's materials and the source commit are
the resolved dependencies.`,
		Example: `  attestor provenance --subject oci://europe-docker.pkg.dev/acme/apps/app:v1.4.0 --key ci.key
  attestor provenance --subject bin/app --key ci.key --slsa-version 0.2`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProvenance(cmd.Context(), g, &fl)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&fl.subjects, "subject", nil, "artifact the provenance is about: a file, or an image as oci://REF (repeatable; default: the final step's products)")
	fs.StringVar(&fl.key, "key", "", keyFlagHelp)
	fl.sf.add(fs)
	fs.StringVar(&fl.slsaVersion, "slsa-version", string(provenance.V1), "SLSA provenance version: 1 or 0.2")
	fs.StringVar(&fl.builderID, "builder-id", "", "builder id (default: the CI platform's)")
	fs.StringVar(&fl.buildType, "build-type", "", "build type URI (default: the CI platform's)")
	fs.StringVar(&fl.source, "source", "", "source built, REPO[@refs/...|@COMMIT] (default: the CI platform's)")
	return cmd
}

// runProvenance runs the command newProvenanceCmd makes, with its flags fl.
func runProvenance(ctx context.Context, g *globals, fl *provenanceFlags) error {
	version, err := provenance.ParseVersion(fl.slsaVersion)
	if err != nil {
		return err
	}
	opts := []provenance.Option{
		provenance.WithVersion(version),
		provenance.WithBuilderID(fl.builderID),
		provenance.WithBuildType(fl.buildType),
	}
	if fl.source != "" {
		src, err := actions.ParseSource(fl.source)
		if err != nil {
			return fault.Invalid(err)
		}
		opts = append(opts, provenance.WithSource(src))
	}
	signer, err := fl.sf.signer(ctx, g, fl.key)
	if err != nil {
		return err
	}
	ws, err := workspace.Open(g.dir)
	if err != nil {
		return err
	}
	steps, err := readSteps(ctx, ws, signer)
	if err != nil {
		return err
	}
	if len(steps) == 0 {
		return fmt.Errorf("workspace %s: %w", ws.Dir(), provenance.ErrNoSteps)
	}
	subs, err := resolveSubjects(ctx, fl.subjects)
	if err != nil {
		return err
	}
	facts, err := actions.Detect(ctx, os.Environ())
	if err != nil {
		return fault.Invalid(fmt.Errorf("reading the CI platform's facts: %w", err))
	}
	g.logger.Debug("platform detected", "platform", facts.Platform, "builderId", facts.BuilderID, "invocation", facts.InvocationURL)
	st, err := provenance.Build(provenance.Input{Facts: facts, Steps: steps, Subjects: subs}, opts...)
	if err != nil {
		return err
	}
	keyID, err := signer.KeyID()
	if err != nil {
		return fmt.Errorf("reading key id: %w", err)
	}
	env, data, err := envelope.SignStatement(ctx, signer, st)
	if err != nil {
		return err
	}
	var bundle []byte
	if bs, ok := signer.(envelope.BundleSigner); ok {
		if bundle, err = bs.Bundle(ctx, env); err != nil {
			return err
		}
	}
	name := workspace.AttestationName("provenance", keyID)
	if err := ws.Write(name, data); err != nil {
		return err
	}
	if bundle != nil {
		if err := ws.Write(workspace.BundleName(workspace.ReservedPrefix+"provenance", keyID), bundle); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(data)
	out := provenanceSummary{
		File:     ws.Path(name),
		Digest:   "sha256:" + hex.EncodeToString(sum[:]),
		Subjects: subjectStrings(st.GetSubject()),
	}
	if g.json {
		return g.printJSON(out)
	}
	g.printf("attestor: signed SLSA v%s provenance of %s (%d step records, %s): %s\n",
		version, strings.Join(out.Subjects, ", "), len(steps), facts.Platform, out.File)
	return nil
}

// provenanceSummary is the --json output of provenance.
type provenanceSummary struct {
	File     string   `json:"file"`
	Digest   string   `json:"digest"`
	Subjects []string `json:"subjects"`
}

// readSteps reads every step record in the workspace; envelopes of other
// statements (an earlier provenance) are skipped. A record signed by the
// provenance's own key (its key id among the signatures) must verify with
// it, and is then Verified: one changed since it was signed (by anything
// that can write the workspace) is refused rather than bound, or its
// products signed for. Records of other keys are bound as found; the
// gate verifies them.
func readSteps(ctx context.Context, ws *workspace.Workspace, signer envelope.Signer) ([]*provenance.Step, error) {
	ver, err := sign.NewVerifier(signer.Public())
	if err != nil {
		return nil, err
	}
	keyID, err := ver.KeyID()
	if err != nil {
		return nil, err
	}
	names, err := ws.Envelopes()
	if err != nil {
		return nil, fault.Invalid(err)
	}
	var steps []*provenance.Step
	for _, n := range names {
		data, err := ws.Read(n)
		if err != nil {
			return nil, fault.Invalid(fmt.Errorf("reading %s: %w", ws.Path(n), err))
		}
		s, err := provenance.ReadStep(n, data)
		if errors.Is(err, provenance.ErrNotStepRecord) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("workspace %s: %w", ws.Dir(), err)
		}
		env, err := envelope.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("workspace %s: %s: %w", ws.Dir(), n, err)
		}
		if slices.ContainsFunc(env.Signatures, func(sig dsse.Signature) bool { return sig.KeyID == keyID }) {
			if _, _, err := sign.VerifyEnvelope(ctx, env, ver); err != nil {
				return nil, fault.Invalid(fmt.Errorf("step record %s is signed by this key but does not verify (changed since it was signed?): refusing to sign provenance over it: %w", ws.Path(n), err))
			}
			s.Verified = true
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// resolveSubjects hashes file subjects and resolves image subjects
// (oci://REF) to their manifest digests.
func resolveSubjects(ctx context.Context, refs []string) ([]*ita1.ResourceDescriptor, error) {
	var subs []*ita1.ResourceDescriptor
	for _, ref := range refs {
		if strings.HasPrefix(ref, workspace.ImagePrefix) {
			d, err := oci.Resolve(ctx, ref, remote.WithAuthFromKeychain(oci.DockerKeychain))
			if err != nil {
				return nil, err
			}
			subs = append(subs, &ita1.ResourceDescriptor{
				Name:   d.Context().Name(),
				Digest: map[string]string{"sha256": strings.TrimPrefix(d.DigestStr(), "sha256:")},
			})
			continue
		}
		rd, err := hashFileSubject(ref)
		if err != nil {
			return nil, err
		}
		subs = append(subs, rd)
	}
	return subs, nil
}

func hashFileSubject(path string) (*ita1.ResourceDescriptor, error) {
	if path == "" {
		return nil, fault.Invalid(errors.New("empty --subject"))
	}
	// Without blocking: a FIFO at path is refused, not waited on.
	f, _, err := safefile.Open(path)
	if errors.Is(err, fault.ErrInvalidInput) {
		return nil, fault.Invalid(fmt.Errorf("subject %q: %w (images are oci://REF)", path, err))
	}
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("subject %q: %w", path, err))
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fault.Invalid(fmt.Errorf("hashing subject %q: %w", path, err))
	}
	return &ita1.ResourceDescriptor{
		Name:   filepath.ToSlash(filepath.Clean(path)),
		Digest: map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))},
	}, nil
}

func subjectStrings(rds []*ita1.ResourceDescriptor) []string {
	out := make([]string, 0, len(rds))
	for _, rd := range rds {
		out = append(out, rd.GetName()+"@sha256:"+rd.GetDigest()["sha256"])
	}
	return out
}

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/spf13/cobra"

	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/promote"
	"github.com/attestor/attestor/attestor/sign/kms"
	"github.com/attestor/attestor/attestor/store/grafeas"
)

// promoteOutput is the --json output of promote.
type promoteOutput struct {
	*promote.Result
	// Files are the workspace files written: the summary and the signed
	// simple-signing payload.
	Files []string `json:"files,omitempty"`
}

// simpleSigningFile is the workspace file of a signed simple-signing
// payload, for the Binary Authorization / Kritis ATTESTATION occurrence.
type simpleSigningFile struct {
	// Payload and Signature are standard base64 (as the Grafeas
	// attestation's serializedPayload and signature fields take them).
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
	// KeyID is the in-toto key id (the file is named by it).
	KeyID string `json:"keyId"`
	// PublicKeyID is the signature's publicKeyId: the id Binary
	// Authorization knows the key by.
	PublicKeyID string `json:"publicKeyId"`
	Image       string `json:"image"`
}

// promoteFlags are the flags of the command newPromoteCmd makes.
type promoteFlags struct {
	src        sourceFlags
	policyPath string
	key        string
	dryRun     bool
	noteProj   string
	authority  string
	payload    string
	keyID      string
	graph      graphFlags
}

func newPromoteCmd(g *globals) *cobra.Command {
	var fl promoteFlags
	cmd := &cobra.Command{
		Use:   "promote SRC DST --policy FILE --key REF [--dry-run]",
		Short: "Verify an image and, only if it passes, copy it by digest and sign its promotion",
		Long: `promote verifies the image SRC against the policy exactly as verify does
(attestations from --from, default the registry) and, only when it passes,
copies it by digest to DST (REGISTRY/REPO, or REGISTRY/REPO:TAG to tag it; the
same or another registry; a multi-platform index with all its images). Then it
signs a verification summary (SLSA VSA v1) of the copy with --key and attaches
it to the copy in the registry (and writes it to Grafeas with
--grafeas-project), and signs the simple-signing payload of a Binary
Authorization / Kritis attestation of the copy, saved in the workspace as
_kritis.<keyid[:8]>.json and, with --grafeas-project, written to Grafeas as an
ATTESTATION occurrence on the attestation authority's note
(--grafeas-authority-note; got or created; not written again when the
copy already has one from the same key).

The payload's critical.type is gcloud's (--binauthz-payload gcloud: "Google
cloud binauthz container signature", what gcloud container binauthz
create-signature-payload writes) or Kritis' (--binauthz-payload atomic:
"atomic container signature"). The signature's publicKeyId is the id Binary
Authorization knows the key by: for a gcpkms:// key version, its resource
name //cloudkms.googleapis.com/v1/projects/.../cryptoKeyVersions/N; for
any other key, ni:///sha-256;<base64url of the SHA-256 of its PKIX DER>
(the default id of a PKIX key); --binauthz-key-id sets another.

--graph FILE draws the chain checked, as verify --graph does (on a refusal
too).

When the verification fails nothing is copied or written. --dry-run verifies
and signs but writes nothing remote: the summary and the simple-signing
payload are saved in the workspace.

In a Spinnaker Run Job (SPINNAKER_EXECUTION_ID set) the outcome is also
printed as SPINNAKER_PROPERTY_* lines (VERDICT, VERIFIED, IMAGE,
IMAGE_DIGEST, PROMOTED_IMAGE, PROVENANCE_DIGEST): on stdout, or on stderr
with --json.

Exit status: 0 promoted, 1 verification failed, 2 bad input, 3 a registry or
Grafeas failed.`,
		Example: `  attestor promote ghcr.io/acme/app:rc1 ghcr.io/acme/prod/app:v1.2.3 --policy policy.yaml --key release.key
  attestor promote localhost:5000/app@sha256:... localhost:5000/prod/app --policy policy.yaml --key release.key --dry-run --json`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPromote(cmd.Context(), g, &fl, args)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&fl.policyPath, "policy", "", "policy file, YAML or JSON (required)")
	fs.StringVar(&fl.key, "key", "", "key that signs the promotion attestation (required; env ATTESTOR_KEY)")
	fs.BoolVar(&fl.dryRun, "dry-run", false, "verify and sign, but copy and write nothing remote; save the attestations in the workspace")
	fs.StringVar(&fl.noteProj, "grafeas-note-project", "", "Grafeas project holding the notes (default: --grafeas-project)")
	fs.StringVar(&fl.payload, "binauthz-payload", "gcloud", "critical.type of the Binary Authorization / Kritis payload: gcloud (\"Google cloud binauthz container signature\", as gcloud writes it) or atomic (\"atomic container signature\", as Kritis writes it)")
	fs.StringVar(&fl.keyID, "binauthz-key-id", "", "publicKeyId of the Binary Authorization / Kritis signature: the id of the key in the attestor (default: a gcpkms:// key version's resource name //cloudkms.googleapis.com/v1/..., else ni:///sha-256;... of the public key)")
	fs.StringVar(&fl.authority, "grafeas-authority-note", "", "the attestation authority's note that the Binary Authorization / Kritis attestation is written on: NOTE (in the note project) or projects/PROJECT/notes/NOTE (default: attestor-authority)")
	fl.src.register(cmd)
	fl.graph.register(cmd)
	return cmd
}

// runPromote runs the command newPromoteCmd makes, with its flags fl.
func runPromote(ctx context.Context, g *globals, fl *promoteFlags, args []string) error {
	if fl.src.grafeasProj == "" && (fl.noteProj != "" || fl.authority != "") {
		return fault.Invalid(errors.New("--grafeas-note-project and --grafeas-authority-note need --grafeas-project"))
	}
	if fl.policyPath == "" {
		return fault.Invalid(errors.New("--policy is required"))
	}
	if _, err := fl.graph.resolve(); err != nil {
		return err
	}
	policy, err := gate.LoadPolicy(fl.policyPath)
	if err != nil {
		return err
	}
	typ, err := binauthzPayloadType(fl.payload)
	if err != nil {
		return err
	}
	signer, err := g.loadSigner(ctx, fl.key)
	if err != nil {
		return err
	}
	ssOpts := []promote.SimpleSigningOption{promote.WithPayloadType(typ)}
	if fl.keyID == "" {
		fl.keyID = binauthzKeyID(g, signer)
	}
	if fl.keyID != "" {
		ssOpts = append(ssOpts, promote.WithPublicKeyID(fl.keyID))
	}
	reg, err := fl.src.registry(g)
	if err != nil {
		return err
	}
	opts := []promote.Option{promote.WithRegistry(reg), promote.WithSimpleSigning(ssOpts...)}
	if len(fl.src.from) > 0 {
		sources, err := fl.src.sources(g, fl.src.from)
		if err != nil {
			return err
		}
		opts = append(opts, promote.WithSources(sources...))
	}
	if fl.src.grafeasProj != "" {
		var gopts []grafeas.Option
		if fl.noteProj != "" {
			gopts = append(gopts, grafeas.WithNoteProject(fl.noteProj))
		}
		if fl.authority != "" {
			gopts = append(gopts, grafeas.WithAuthorityNote(fl.authority))
		}
		c, err := fl.src.grafeas(g, gopts...)
		if err != nil {
			return err
		}
		opts = append(opts, promote.WithGrafeas(c))
	}
	if fl.dryRun {
		opts = append(opts, promote.WithDryRun())
	}
	vopts, err := fl.src.verifierOptions(g)
	if err != nil {
		return err
	}
	v, err := gate.NewVerifier(policy, vopts...)
	if err != nil {
		return err
	}
	p, perr := promote.Image(ctx, v, args[0], args[1], signer, opts...)
	if p == nil {
		return perr
	}
	out := &promoteOutput{Result: p}
	if p.SimpleSigning != nil {
		files, err := savePromotion(g, p, fl.dryRun)
		if err != nil {
			return err
		}
		out.Files = files
	}
	if g.json {
		if err := g.printJSON(out); err != nil {
			return err
		}
	}
	writeVerifyTable(g.stderr, &verifyOutput{Result: p.Result, Summary: "-"})
	if err := fl.graph.emit(g, policy, p.Result); err != nil {
		return err
	}
	promoted := ""
	if perr == nil && p.Copied {
		promoted = p.Destination
	}
	if err := g.emitSpinnaker(p.Result, promoted); err != nil {
		return err
	}
	switch {
	case perr != nil && errors.Is(perr, gate.ErrNotVerified):
		g.printf("attestor: %s not promoted: verification failed; nothing was copied or written\n", p.Source)
		return &exitError{code: 1}
	case perr != nil:
		return perr
	}
	verb := "promoted"
	if fl.dryRun {
		verb = "dry run: would promote"
	}
	dest := p.Destination
	if p.Tag != "" {
		dest += " (tag " + p.Tag + ")"
	}
	g.printf("attestor: %s %s to %s\n", verb, p.Source, dest)
	for _, w := range p.Written {
		if w == "grafeas-authority" {
			g.printf("  Binary Authorization / Kritis attestation in Grafeas on %s (publicKeyId %s)\n", p.AuthorityNote, p.SimpleSigning.PublicKeyID)
			continue
		}
		g.printf("  promotion attestation written to %s\n", w)
	}
	for _, f := range out.Files {
		g.printf("  saved %s\n", f)
	}
	for _, m := range p.Pending {
		g.printf("  not written: %s\n", m)
	}
	return nil
}

// savePromotion saves the signed simple-signing payload (and, in a dry run,
// the summary) in the workspace.
func savePromotion(g *globals, p *promote.Result, dryRun bool) ([]string, error) {
	ws, err := workspace.Open(g.dir)
	if err != nil {
		return nil, err
	}
	ss := p.SimpleSigning
	data, err := json.MarshalIndent(simpleSigningFile{
		Payload:     base64.StdEncoding.EncodeToString(ss.Payload),
		Signature:   base64.StdEncoding.EncodeToString(ss.Signature),
		KeyID:       ss.KeyID,
		PublicKeyID: ss.PublicKeyID,
		Image:       p.Destination,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	names := []string{fmt.Sprintf("%skritis.%s.json", workspace.ReservedPrefix, shortID(ss.KeyID))}
	if err := ws.Write(names[0], data); err != nil {
		return nil, err
	}
	if dryRun {
		name := workspace.ReservedPrefix + "dry-run/promote/" + workspace.AttestationName("vsa", ss.KeyID)
		if err := ws.Write(name, p.Summary); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	for i, n := range names {
		names[i] = ws.Path(n)
	}
	return names, nil
}

// binauthzPayloadType returns the critical.type that --binauthz-payload
// names.
func binauthzPayloadType(v string) (string, error) {
	switch v {
	case "gcloud":
		return promote.SimpleSigningTypeGcloud, nil
	case "atomic":
		return promote.SimpleSigningTypeAtomic, nil
	}
	return "", fault.Invalid(fmt.Errorf("--binauthz-payload %q: want gcloud or atomic", v))
}

// binauthzKeyID returns the public key id that Binary Authorization knows
// the signer's key by when it is not the default (promote.PKIXKeyID, the
// ni:/// id of a PKIX key): a Cloud KMS key version's resource name.
// A gcpkms:// key without a version names no one key version (Cloud KMS
// signs with the newest enabled one), so it keeps the default, with a
// warning.
func binauthzKeyID(g *globals, signer envelope.Signer) string {
	ks, ok := signer.(*kms.Signer)
	if !ok {
		return ""
	}
	ref := kmsRef(ks)
	if !strings.HasPrefix(ref, kms.SchemeGCP) {
		return ""
	}
	id, err := promote.CloudKMSKeyID(ref)
	if err != nil {
		g.logger.Warn("promote: the Cloud KMS key names no version: the Binary Authorization attestation names it by the ni:/// id of its public key, which an attestor holding it as a PKIX key knows; for an attestor holding the key version, name it (gcpkms://.../cryptoKeyVersions/N) or pass --binauthz-key-id", "key", ref)
		return ""
	}
	return id
}

// kmsRef returns the URI of a KMS signer: the "kms" attribute it logs
// (kms.Signer exports its URI there and in String only).
func kmsRef(s *kms.Signer) string {
	for _, a := range s.LogValue().Group() {
		if a.Key == "kms" {
			return a.Value.String()
		}
	}
	return ""
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

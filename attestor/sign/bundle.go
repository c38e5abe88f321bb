package sign

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// BundleMediaType is the media type of the sigstore bundles this package
// writes: protobuf-specs Bundle v0.3, in its JSON encoding. Its file
// extension is BundleExt.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// BundleExt is the file name extension of a sigstore bundle written next to
// an envelope (<step>.<keyid8>.sigstore.json), as cosign and the sigstore
// clients name them.
const BundleExt = ".sigstore.json"

// maxBundleSize bounds the bundles VerifyBundle parses.
const maxBundleSize = 16 << 20

// Identity is who must have signed a keyless bundle: the OIDC issuer and
// subject that Fulcio wrote in the certificate, and for GitHub Actions the
// workflow claims Fulcio copies into certificate extensions. Empty fields
// are not checked, but Issuer (or IssuerRegexp) and Subject (or
// SubjectRegexp) are required: an Identity that names nobody matches
// nobody. Regexps are Go regexps (RE2), unanchored as in cosign: anchor them
// with ^ and $.
type Identity struct {
	// Issuer is the exact OIDC issuer, such as
	// "https://token.actions.githubusercontent.com".
	Issuer string `json:"issuer,omitempty" yaml:"issuer,omitempty"`
	// IssuerRegexp matches the OIDC issuer.
	IssuerRegexp string `json:"issuerRegexp,omitempty" yaml:"issuerRegexp,omitempty"`
	// Subject is the exact certificate subject (the SAN: for GitHub, the
	// workflow URI "https://github.com/OWNER/REPO/.github/workflows/F@REF";
	// for people, an email address).
	Subject string `json:"subject,omitempty" yaml:"subject,omitempty"`
	// SubjectRegexp matches the certificate subject.
	SubjectRegexp string `json:"subjectRegexp,omitempty" yaml:"subjectRegexp,omitempty"`

	// Repository is the GitHub repository the workflow ran in, "OWNER/REPO"
	// (certificate extension 1.3.6.1.4.1.57264.1.5).
	Repository string `json:"repository,omitempty" yaml:"repository,omitempty"`
	// Ref is the git ref the workflow ran for, such as "refs/tags/v1.2.0"
	// (1.3.6.1.4.1.57264.1.6).
	Ref string `json:"ref,omitempty" yaml:"ref,omitempty"`
	// Workflow is the workflow's name (1.3.6.1.4.1.57264.1.4).
	Workflow string `json:"workflow,omitempty" yaml:"workflow,omitempty"`
	// Trigger is the event that triggered the workflow, such as "push"
	// (1.3.6.1.4.1.57264.1.2).
	Trigger string `json:"trigger,omitempty" yaml:"trigger,omitempty"`
	// SHA is the commit the workflow ran for (1.3.6.1.4.1.57264.1.3).
	SHA string `json:"sha,omitempty" yaml:"sha,omitempty"`
}

// certificateIdentity converts id to sigstore-go's form.
func (id Identity) certificateIdentity() (verify.CertificateIdentity, error) {
	if id.Issuer == "" && id.IssuerRegexp == "" {
		return verify.CertificateIdentity{}, fault.Invalid(errors.New("keyless identity: no issuer or issuerRegexp"))
	}
	if id.Subject == "" && id.SubjectRegexp == "" {
		return verify.CertificateIdentity{}, fault.Invalid(errors.New("keyless identity: no subject or subjectRegexp"))
	}
	san, err := verify.NewSANMatcher(id.Subject, id.SubjectRegexp)
	if err != nil {
		return verify.CertificateIdentity{}, fault.Invalid(fmt.Errorf("keyless identity: subject: %w", err))
	}
	iss, err := verify.NewIssuerMatcher(id.Issuer, id.IssuerRegexp)
	if err != nil {
		return verify.CertificateIdentity{}, fault.Invalid(fmt.Errorf("keyless identity: issuer: %w", err))
	}
	ci, err := verify.NewCertificateIdentity(san, iss, certificate.Extensions{
		GithubWorkflowRepository: id.Repository,
		GithubWorkflowRef:        id.Ref,
		GithubWorkflowName:       id.Workflow,
		GithubWorkflowTrigger:    id.Trigger,
		GithubWorkflowSHA:        id.SHA,
	})
	if err != nil {
		return verify.CertificateIdentity{}, fault.Invalid(fmt.Errorf("keyless identity: %w", err))
	}
	return ci, nil
}

// maxTrustedRoot bounds a trusted_root.json (sigstore's public one is
// about 10 KiB).
const maxTrustedRoot = 16 << 20

// LoadTrustedRoot reads a sigstore trusted root (trusted_root.json, as
// `cosign trusted-root create` writes it or TUF distributes it): the Fulcio
// certificate authorities, Rekor and CT log keys and timestamp authorities
// that VerifyBundle trusts. Errors match fault.ErrInvalidInput.
//
// The file is opened without blocking (a FIFO there is an error) and read
// up to 16 MiB.
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	data, err := safefile.Read(path, maxTrustedRoot)
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("loading trusted root: %w", err))
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("loading trusted root %q: %w", path, err))
	}
	return tr, nil
}

// BundleOption configures VerifyBundle.
type BundleOption func(*bundleOptions) error

type bundleOptions struct {
	tlogThreshold int
	tsaThreshold  int
}

func defaultBundleOptions() bundleOptions {
	return bundleOptions{tlogThreshold: 1}
}

// VerifyBundle verifies a sigstore bundle (JSON, v0.1 to v0.3) that holds a
// DSSE envelope signed with a Fulcio certificate, and returns the
// envelope's payload. It checks, with sigstore-go's verifier:
//
//   - the certificate chains to a Fulcio certificate authority of trusted,
//     at the time the transparency log (or timestamp authority) observed
//     the signature; when trusted lists CT logs, the certificate's
//     embedded SCT too;
//   - a transparency log entry of a log in trusted, with its inclusion
//     proof or promise;
//   - the DSSE signature with the certificate's key;
//   - the certificate's issuer, subject and GitHub workflow claims against
//     id (see Identity).
//
// The payload type must be PayloadTypeInToto. Subjects and predicates are
// the caller's business. A bundle that does not verify returns an error
// matching ErrNoValidSignature (ErrMalformedBundle for one that cannot be
// parsed, ErrIdentityMismatch for a valid signature by someone else); an
// invalid id or option, an error matching fault.ErrInvalidInput. The
// payload is nil whenever err is not.
func VerifyBundle(ctx context.Context, bundle []byte, trusted root.TrustedMaterial, id Identity, opts ...BundleOption) (payload []byte, err error) {
	res, err := VerifyBundleResult(ctx, bundle, trusted, id, opts...)
	if err != nil {
		return nil, err
	}
	return res.Payload, nil
}

// BundleResult is what VerifyBundleResult verified: the statement and
// who signed it when.
type BundleResult struct {
	// Payload is the envelope's payload, an in-toto statement (JSON).
	Payload []byte `json:"payload"`
	// Certificate is the signing certificate's identity: issuer, subject
	// (SAN) and the Fulcio extensions (GitHub workflow claims...).
	Certificate certificate.Summary `json:"certificate"`
	// Timestamps are the verified times of the signature: Rekor's
	// integrated time, RFC 3161 timestamps.
	Timestamps []verify.TimestampVerificationResult `json:"timestamps"`
}

// VerifyBundleResult is VerifyBundle, returning what was verified as well
// as the payload (for reports and verification summaries). It checks and
// fails exactly as VerifyBundle does; the result is nil whenever err is
// not.
func VerifyBundleResult(ctx context.Context, bundle []byte, trusted root.TrustedMaterial, id Identity, opts ...BundleOption) (*BundleResult, error) {
	o := defaultBundleOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if trusted == nil {
		return nil, fault.Invalid(errors.New("verifying bundle: no trusted root"))
	}
	ci, err := id.certificateIdentity()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := ParseBundle(bundle)
	if err != nil {
		return nil, err
	}
	env, err := b.Envelope()
	if err != nil || env == nil {
		return nil, fmt.Errorf("verifying bundle: %w: no DSSE envelope", ErrMalformedBundle)
	}
	if pt := env.RawEnvelope().PayloadType; pt != envelope.PayloadTypeInToto {
		return nil, fmt.Errorf("verifying bundle: %w: payload type %q (want %q)", ErrNoValidSignature, pt, envelope.PayloadTypeInToto)
	}

	vopts := []verify.VerifierOption{verify.WithObserverTimestamps(1)}
	if o.tlogThreshold > 0 {
		vopts = append(vopts, verify.WithTransparencyLog(o.tlogThreshold))
	}
	if o.tsaThreshold > 0 {
		vopts = append(vopts, verify.WithSignedTimestamps(o.tsaThreshold))
	}
	if len(trusted.CTLogs()) > 0 {
		vopts = append(vopts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(trusted, vopts...)
	if err != nil {
		return nil, fault.Invalid(fmt.Errorf("verifying bundle: %w", err))
	}
	vr, err := v.Verify(b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithCertificateIdentity(ci)))
	if err != nil {
		var mismatch *verify.ErrNoMatchingCertificateIdentity
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("verifying bundle: %w: %v", ErrIdentityMismatch, err)
		}
		return nil, fmt.Errorf("verifying bundle: %w: %v", ErrNoValidSignature, err)
	}
	body, err := decodeBase64(env.RawEnvelope().Payload)
	if err != nil {
		return nil, fmt.Errorf("verifying bundle: %w: payload is not base64", ErrMalformedBundle)
	}
	res := &BundleResult{Payload: body, Timestamps: vr.VerifiedTimestamps}
	if vr.Signature != nil && vr.Signature.Certificate != nil {
		res.Certificate = *vr.Signature.Certificate
	}
	return res, nil
}

// ParseBundle parses and validates a sigstore bundle (JSON) as
// sigstore-go does: a supported media type, inclusion proofs where the
// version requires them. It does not verify it. Errors match
// ErrMalformedBundle.
func ParseBundle(data []byte) (*sgbundle.Bundle, error) {
	if len(data) > maxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrMalformedBundle, len(data), maxBundleSize)
	}
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedBundle, err)
	}
	return &b, nil
}

// BundleEnvelope returns the DSSE envelope a bundle holds, in the JSON
// form of the envelope files (go-securesystemslib dsse.Envelope), without
// verifying anything. Errors match ErrMalformedBundle.
func BundleEnvelope(data []byte) (*dsse.Envelope, error) {
	b, err := ParseBundle(data)
	if err != nil {
		return nil, err
	}
	e := b.GetDsseEnvelope()
	if e == nil {
		return nil, fmt.Errorf("%w: no DSSE envelope", ErrMalformedBundle)
	}
	env := &dsse.Envelope{
		PayloadType: e.GetPayloadType(),
		Payload:     base64.StdEncoding.EncodeToString(e.GetPayload()),
	}
	for _, s := range e.GetSignatures() {
		env.Signatures = append(env.Signatures, dsse.Signature{KeyID: s.GetKeyid(), Sig: base64.StdEncoding.EncodeToString(s.GetSig())})
	}
	return env, nil
}

// newBundle returns a v0.3 bundle of env with its verification material
// (the certificate's DER, or a public key hint when der is nil) and no log
// entries or timestamps yet.
func newBundle(env *dsse.Envelope, certDER []byte, hint string) (*protobundle.Bundle, error) {
	if env == nil || len(env.Signatures) == 0 {
		return nil, fault.Invalid(errors.New("bundling envelope: no envelope or no signature"))
	}
	payload, err := decodeBase64(env.Payload)
	if err != nil {
		return nil, fault.Invalid(errors.New("bundling envelope: payload is not base64"))
	}
	de := &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType}
	for i, s := range env.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil {
			return nil, fault.Invalid(fmt.Errorf("bundling envelope: signature %d is not base64", i))
		}
		// The keyid is left out, as cosign leaves it out: sigstore-go
		// skips a signature whose keyid is not its own id of the key.
		de.Signatures = append(de.Signatures, &protodsse.Signature{Sig: sig})
	}
	vm := &protobundle.VerificationMaterial{}
	if certDER != nil {
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: certDER}}
	} else {
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint}}
	}
	return &protobundle.Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: vm,
		Content:              &protobundle.Bundle_DsseEnvelope{DsseEnvelope: de},
	}, nil
}

// marshalBundle encodes b as sigstore clients write bundles.
func marshalBundle(b *protobundle.Bundle) ([]byte, error) {
	data, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	return data, nil
}

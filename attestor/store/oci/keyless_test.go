package oci_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/sign/signtest"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// keylessProvenance signs a minimal SLSA v1 provenance about subject with
// k and returns it with its sigstore bundle, as the workspace holds a
// keyless attestation.
func keylessProvenance(t *testing.T, k *sign.Keyless, subject store.Subject) store.Attestation {
	t.Helper()
	a := provenance(t, k, subject)
	env, err := envelope.Parse(a.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Bundle(t.Context(), env)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	if a, err = store.NewAttestation(a.Envelope, b); err != nil {
		t.Fatal(err)
	}
	return a
}

// cosignCmd runs cosign with a private HOME and TUF root and env, and
// returns its output.
func cosignCmd(t *testing.T, cosign string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cosign, args...)
	dir := t.TempDir()
	cmd.Env = append(append(os.Environ(), "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf")), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sigstoreEnv writes the Fulcio certificates and the Rekor key of trusted
// to files and returns the SIGSTORE_* variables that make cosign trust
// them instead of the public-good instance's (fetched with TUF): the root
// only, or with intermediates the root and its intermediates.
func sigstoreEnv(t *testing.T, trusted root.TrustedMaterial, intermediates bool) []string {
	t.Helper()
	dir := t.TempDir()
	var certs []byte
	for _, ca := range trusted.FulcioCertificateAuthorities() {
		f, ok := ca.(*root.FulcioCertificateAuthority)
		if !ok {
			t.Fatalf("certificate authority %T", ca)
		}
		certs = append(certs, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Root.Raw})...)
		if intermediates {
			for _, c := range f.Intermediates {
				certs = append(certs, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
			}
		}
	}
	var rekor []byte
	for _, l := range trusted.RekorLogs() {
		der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		rekor = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	rootFile, rekorFile := filepath.Join(dir, "fulcio.pem"), filepath.Join(dir, "rekor.pub")
	if err := os.WriteFile(rootFile, certs, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rekorFile, rekor, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"SIGSTORE_ROOT_FILE=" + rootFile, "SIGSTORE_REKOR_PUBLIC_KEY=" + rekorFile}
}

// TestKeylessCosign: a keyless attestation pushed in the cosign scheme
// alone is what cosign attest writes with a Fulcio certificate, so that
// cosign verify-attestation accepts it by identity, offline, and only
// for that identity; its Rekor entry is verified from the layer's bundle
// annotation (--offline: cosign may not ask Rekor). Pushing again writes
// nothing, and what Get reads back is the attestation pushed, with a
// bundle the gate verifies. Against the in-process registry and Debian's
// docker-registry.
func TestKeylessCosign(t *testing.T) {
	cosign := requireTool(t, "cosign", goBin(t)...)
	s := signtest.NewSigstore(t)
	trusted, _ := s.TrustedRoot(t)
	k := s.Keyless(t)
	// cosign verifies .att layers in its classic mode, which does not take
	// --trusted-root: offline, the Fulcio certificates and the Rekor key
	// come from SIGSTORE_ROOT_FILE and SIGSTORE_REKOR_PUBLIC_KEY. (The
	// offline Fulcio embeds no SCT, hence --insecure-ignore-sct.) The root
	// alone: cosign takes the intermediate from the chain annotation.
	env := sigstoreEnv(t, trusted, false)
	for _, r := range []struct {
		name  string
		start func(*testing.T) string
	}{
		{"in-process", func(t *testing.T) string { return newRegistry(t, false) }},
		{"distribution", func(t *testing.T) string {
			if testing.Short() {
				t.Skip("end to end")
			}
			return startDistribution(t)
		}},
	} {
		t.Run(r.name, func(t *testing.T) {
			subject := pushImage(t, r.start(t))
			a := keylessProvenance(t, k, subject)
			reg := newStore(t, oci.WithScheme(oci.SchemeCosign), oci.WithTrustedMaterial(trusted))
			if _, err := reg.Push(t.Context(), subject, a); err != nil {
				t.Fatalf("push: %v", err)
			}
			image := digestOf(t, subject).String()
			verify := func(identity string) (string, error) {
				return cosignCmd(t, cosign, env, "verify-attestation",
					"--certificate-identity", identity, "--certificate-oidc-issuer", signtest.GitHubIssuer,
					"--certificate-github-workflow-repository", signtest.GitHubRepository,
					"--type", "slsaprovenance1", "--insecure-ignore-sct", "--offline",
					"--allow-insecure-registry", image)
			}
			if out, err := verify(signtest.GitHubSubject); err != nil {
				t.Fatalf("cosign verify-attestation of a keyless .att layer: %v\n%s", err, out)
			}
			if out, err := verify("https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"); err == nil {
				t.Fatalf("cosign verify-attestation passed for another identity:\n%s", out)
			}

			// Again: nothing new.
			res, err := reg.Push(t.Context(), subject, a)
			if err != nil {
				t.Fatalf("second push: %v", err)
			}
			if len(res.Writes) != 0 || len(res.Attestations) != 1 || len(res.Attestations[0].Schemes) != 0 {
				t.Errorf("second push wrote %d times (%+v), want nothing", len(res.Writes), res.Attestations)
			}

			// Read back: the attestation pushed (its Digest, which the
			// provenance of a pipeline lists its step records by), with a
			// bundle that verifies for the identity, as the gate verifies
			// it.
			got, err := reg.Get(t.Context(), subject)
			if err != nil {
				t.Fatal(err)
			}
			storetest.Equal(t, got, a)
			if len(got) != 1 || got[0].Bundle == nil {
				t.Fatalf("read back %d attestations, the first without a bundle", len(got))
			}
			payload, err := sign.VerifyBundle(t.Context(), got[0].Bundle, trusted, signtest.GitHubIdentity())
			if err != nil {
				t.Fatalf("VerifyBundle of the bundle read back: %v\n%s", err, got[0].Bundle)
			}
			var st struct {
				PredicateType string `json:"predicateType"`
			}
			if err := json.Unmarshal(payload, &st); err != nil || st.PredicateType != a.PredicateType {
				t.Errorf("verified payload of type %q (%v), want %q", st.PredicateType, err, a.PredicateType)
			}
		})
	}
}

// attLayers returns the layers of subject's .att image.
func attLayers(t *testing.T, subject store.Subject) []v1.Descriptor {
	t.Helper()
	img, err := remote.Image(oci.AttestationTag(digestOf(t, subject)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers
}

func layerContent(t *testing.T, subject store.Subject, l v1.Descriptor) []byte {
	t.Helper()
	layer, err := remote.Layer(digestOf(t, subject).Context().Digest(l.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func pemCert(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// TestKeylessCosignFormat checks a keyless .att layer against what cosign
// attest writes with a Fulcio certificate and what cosign
// verify-attestation checks of it (pkg/cosign VerifyBundle): the
// certificate; the chain from its parent to the root; the Rekor bundle,
// whose signed entry timestamp verifies with the log's key over Rekor's
// payload, whose entry's envelope hash is the layer's sha256 and whose
// signature is the envelope's. A key-signed attestation keeps its two
// annotations; without trusted material the chain is empty.
func TestKeylessCosignFormat(t *testing.T) {
	s := signtest.NewSigstore(t)
	trusted, _ := s.TrustedRoot(t)
	k := s.Keyless(t)
	host := newRegistry(t, false)
	subject := pushImage(t, host)
	a := keylessProvenance(t, k, subject)
	keyed := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "keyed")
	if err := newStore(t, oci.WithScheme(oci.SchemeCosign), oci.WithTrustedMaterial(trusted)).Put(t.Context(), subject, keyed, a); err != nil {
		t.Fatal(err)
	}
	layers := attLayers(t, subject)
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2", len(layers))
	}
	if want := map[string]string{oci.AnnotationPredicateType: keyed.PredicateType, oci.AnnotationSignature: ""}; !maps.Equal(layers[0].Annotations, want) {
		t.Errorf("key-signed layer annotations %v, want %v", layers[0].Annotations, want)
	}
	l := layers[1]
	ann := l.Annotations
	cert, err := k.Certificate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ca := trusted.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)
	wantDigest, _ := a.Digest()
	for key, want := range map[string]string{
		oci.AnnotationSignature:      "",
		oci.AnnotationPredicateType:  a.PredicateType,
		oci.AnnotationCertificate:    pemCert(cert),
		oci.AnnotationChain:          pemCert(ca.Intermediates[0]) + pemCert(ca.Root),
		oci.AnnotationEnvelopeDigest: wantDigest,
	} {
		if got, ok := ann[key]; !ok || got != want {
			t.Errorf("annotation %s = %q (present %v), want %q", key, got, ok, want)
		}
	}
	if len(ann) != 6 {
		t.Errorf("annotations %v, want 6", ann)
	}

	// The Rekor bundle, checked as cosign checks it.
	var rb struct {
		SignedEntryTimestamp []byte
		Payload              struct {
			Body           string `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		}
	}
	if err := json.Unmarshal([]byte(ann[oci.AnnotationRekorBundle]), &rb); err != nil {
		t.Fatalf("bundle annotation %q: %v", ann[oci.AnnotationRekorBundle], err)
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		t.Fatal(err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := tlog.NewEntry(body, rb.Payload.IntegratedTime, rb.Payload.LogIndex, logID, rb.SignedEntryTimestamp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifySET(entry, trusted.RekorLogs()); err != nil {
		t.Errorf("the signed entry timestamp does not verify: %v", err)
	}
	var dsseEntry struct {
		Kind string `json:"kind"`
		Spec struct {
			EnvelopeHash struct{ Algorithm, Value string } `json:"envelopeHash"`
			Signatures   []struct{ Signature string }      `json:"signatures"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &dsseEntry); err != nil {
		t.Fatal(err)
	}
	content := layerContent(t, subject, l)
	sum := sha256.Sum256(content)
	if dsseEntry.Kind != "dsse" || dsseEntry.Spec.EnvelopeHash.Value != hex.EncodeToString(sum[:]) {
		t.Errorf("the %s entry hashes %s, not the layer (%x)", dsseEntry.Kind, dsseEntry.Spec.EnvelopeHash.Value, sum)
	}
	env, err := envelope.Parse(content)
	if err != nil {
		t.Fatal(err)
	}
	if len(dsseEntry.Spec.Signatures) != 1 || len(env.Signatures) != 1 || dsseEntry.Spec.Signatures[0].Signature != env.Signatures[0].Sig {
		t.Errorf("the entry's signatures %v are not the layer's", dsseEntry.Spec.Signatures)
	}
	ver, err := sign.NewVerifier(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sign.VerifyEnvelope(t.Context(), env, ver); err != nil {
		t.Errorf("the layer's envelope does not verify with the certificate's key: %v", err)
	}
	orig, _ := envelope.Parse(a.Envelope)
	if env.Payload != orig.Payload || env.PayloadType != orig.PayloadType {
		t.Error("the layer carries another statement")
	}

	// Without trusted material: an empty chain.
	other := pushImage(t, host)
	if err := newStore(t, oci.WithScheme(oci.SchemeCosign)).Put(t.Context(), other, keylessProvenance(t, k, other)); err != nil {
		t.Fatal(err)
	}
	if chain, ok := attLayers(t, other)[0].Annotations[oci.AnnotationChain]; !ok || chain != "" {
		t.Errorf("chain annotation %q (present %v) without trusted material, want present and empty", chain, ok)
	}
}

// TestKeylessCosignBadBundle: a bundle that does not parse, or carries
// another envelope, is refused before anything is written.
func TestKeylessCosignBadBundle(t *testing.T) {
	s := signtest.NewSigstore(t)
	k := s.Keyless(t)
	host := newRegistry(t, false)
	subject := pushImage(t, host)
	a := keylessProvenance(t, k, subject)
	b := keylessProvenance(t, k, subject)
	for name, bad := range map[string]store.Attestation{
		"another envelope's": {Envelope: a.Envelope, Bundle: b.Bundle},
		"malformed":          {Envelope: a.Envelope, Bundle: []byte("{")},
	} {
		_, err := newStore(t, oci.WithScheme(oci.SchemeCosign)).Push(t.Context(), subject, bad)
		if !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("%s bundle: Push = %v, want ErrInvalidInput", name, err)
		}
	}
	if _, err := remote.Head(oci.AttestationTag(digestOf(t, subject))); err == nil {
		t.Error("a refused push wrote the .att image")
	}
}

// TestKeylessCosignUpgrade: a keyless attestation attached without
// cosign's annotations (as attestor wrote them before) gets its annotated
// layer at the next push, once; Get returns it once, with a bundle.
func TestKeylessCosignUpgrade(t *testing.T) {
	s := signtest.NewSigstore(t)
	trusted, _ := s.TrustedRoot(t)
	k := s.Keyless(t)
	host := newRegistry(t, false)
	subject := pushImage(t, host)
	a := keylessProvenance(t, k, subject)
	reg := newStore(t, oci.WithScheme(oci.SchemeCosign))
	if err := reg.Put(t.Context(), subject, store.Attestation{Envelope: a.Envelope}); err != nil {
		t.Fatal(err)
	}
	for i, wantLayers := range []int{2, 2} {
		if err := reg.Put(t.Context(), subject, a); err != nil {
			t.Fatal(err)
		}
		if n := len(attLayers(t, subject)); n != wantLayers {
			t.Errorf("push %d: %d layers, want %d", i+1, n, wantLayers)
		}
	}
	got, err := reg.Get(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, a)
	if len(got) != 1 || got[0].Bundle == nil {
		t.Fatalf("read back %d attestations, the first without a bundle", len(got))
	}
	if _, err := sign.VerifyBundle(t.Context(), got[0].Bundle, trusted, signtest.GitHubIdentity()); err != nil {
		t.Errorf("VerifyBundle: %v", err)
	}
}

// TestKeylessSchemes: in either scheme and both, Get returns the keyless
// attestation pushed (its Digest: the keyid the Rekor encoding drops is
// put back) with a bundle that verifies; with both, the referrer's bundle,
// which has the inclusion proof.
func TestKeylessSchemes(t *testing.T) {
	s := signtest.NewSigstore(t)
	trusted, _ := s.TrustedRoot(t)
	k := s.Keyless(t)
	for _, v := range variants {
		for _, scheme := range []oci.Scheme{oci.SchemeBoth, oci.SchemeCosign, oci.SchemeReferrers} {
			t.Run(v.name+"/"+string(scheme), func(t *testing.T) {
				host := newRegistry(t, v.referrers)
				subject := pushImage(t, host)
				a := keylessProvenance(t, k, subject)
				reg := newStore(t, oci.WithScheme(scheme))
				if err := reg.Put(t.Context(), subject, a); err != nil {
					t.Fatal(err)
				}
				got, err := reg.Get(t.Context(), subject)
				if err != nil {
					t.Fatal(err)
				}
				storetest.Equal(t, got, a)
				if len(got) != 1 || got[0].Bundle == nil {
					t.Fatalf("read back %d attestations, the first without a bundle", len(got))
				}
				if _, err := sign.VerifyBundle(t.Context(), got[0].Bundle, trusted, signtest.GitHubIdentity()); err != nil {
					t.Errorf("VerifyBundle: %v", err)
				}
				if scheme != oci.SchemeCosign && !bytes.Equal(got[0].Bundle, a.Bundle) {
					t.Errorf("the bundle read back is not the one pushed")
				}
			})
		}
	}
}

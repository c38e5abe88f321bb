package oci_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
	"github.com/attestor/attestor/attestor/store/storetest"
)

func digestOf(t *testing.T, s store.Subject) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s.String())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCosignFormat checks the .att image against what cosign attest
// writes: an OCI manifest with an OCI config, one DSSE layer per
// attestation annotated with predicateType and an empty signature.
func TestCosignFormat(t *testing.T) {
	host := newRegistry(t, false)
	subject := pushImage(t, host)
	a := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "a")
	b := storetest.Attestation(t, subject, envelope.PredicateTypeLink, "b")
	reg := newStore(t, oci.WithScheme(oci.SchemeCosign))
	if err := reg.Put(t.Context(), subject, a); err != nil {
		t.Fatal(err)
	}
	if err := reg.Put(t.Context(), subject, b); err != nil {
		t.Fatal(err)
	}
	tag := oci.AttestationTag(digestOf(t, subject))
	if want := "sha256-" + subject.Digest.Hex + ".att"; tag.TagStr() != want {
		t.Errorf("tag = %s, want %s", tag.TagStr(), want)
	}
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s with config %s, want cosign's %s and %s", m.MediaType, m.Config.MediaType, types.OCIManifestSchema1, types.OCIConfigJSON)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want 2", len(m.Layers))
	}
	for i, want := range []store.Attestation{a, b} {
		l := m.Layers[i]
		if l.MediaType != oci.MediaTypeDSSE {
			t.Errorf("layer %d media type %s", i, l.MediaType)
		}
		wantAnn := map[string]string{oci.AnnotationPredicateType: want.PredicateType, oci.AnnotationSignature: ""}
		if len(l.Annotations) != len(wantAnn) || l.Annotations[oci.AnnotationPredicateType] != want.PredicateType {
			t.Errorf("layer %d annotations %v, want %v", i, l.Annotations, wantAnn)
		}
		if sig, ok := l.Annotations[oci.AnnotationSignature]; !ok || sig != "" {
			t.Errorf("layer %d: signature annotation %q (present %v), want present and empty", i, sig, ok)
		}
		h, _, _ := v1.SHA256(strings.NewReader(string(want.Envelope)))
		if l.Digest != h {
			t.Errorf("layer %d is not the envelope byte for byte", i)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 2 || cfg.RootFS.DiffIDs[0] != m.Layers[0].Digest {
		t.Errorf("config diff_ids %v do not follow the layers", cfg.RootFS.DiffIDs)
	}
}

// TestReferrerFormat checks a referrer: OCI manifest, artifactType the
// bundle media type, the image as subject, one bundle layer, cosign's
// annotations; the bundle is a v0.3 key bundle whose envelope is the one
// put.
func TestReferrerFormat(t *testing.T) {
	host := newRegistry(t, true)
	subject := pushImage(t, host)
	a := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "a")
	if err := newStore(t, oci.WithScheme(oci.SchemeReferrers)).Put(t.Context(), subject, a); err != nil {
		t.Fatal(err)
	}
	d := digestOf(t, subject)
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("%d referrers, want 1", len(im.Manifests))
	}
	desc, err := remote.Get(d.Context().Digest(im.Manifests[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.ArtifactType != oci.MediaTypeBundle {
		t.Errorf("manifest %s artifactType %s", m.MediaType, m.ArtifactType)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest || m.Subject.Size == 0 || m.Subject.MediaType == "" {
		t.Errorf("subject %+v, want the image's descriptor", m.Subject)
	}
	if m.Config.MediaType != "application/vnd.oci.empty.v1+json" || m.Config.Size != 2 {
		t.Errorf("config %+v, want the OCI empty descriptor", m.Config)
	}
	if m.Annotations[oci.AnnotationBundleContent] != "dsse-envelope" || m.Annotations[oci.AnnotationBundlePredicateType] != a.PredicateType {
		t.Errorf("annotations %v", m.Annotations)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != oci.MediaTypeBundle {
		t.Fatalf("layers %+v, want one bundle", m.Layers)
	}
	l, err := remote.Layer(d.Context().Digest(m.Layers[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw := make([]byte, m.Layers[0].Size)
	if _, err := rc.Read(raw); err != nil && len(raw) == 0 {
		t.Fatal(err)
	}
	checkBundle(t, raw, a)
}

func checkBundle(t *testing.T, raw []byte, a store.Attestation) {
	t.Helper()
	b := &protobundle.Bundle{}
	if err := protojson.Unmarshal(raw, b); err != nil {
		t.Fatalf("bundle does not parse: %v\n%s", err, raw)
	}
	if b.GetMediaType() != oci.MediaTypeBundle {
		t.Errorf("bundle media type %q", b.GetMediaType())
	}
	env, _ := envelope.Parse(a.Envelope)
	if hint := b.GetVerificationMaterial().GetPublicKey().GetHint(); hint != env.Signatures[0].KeyID {
		t.Errorf("hint %q, want the key id %q", hint, env.Signatures[0].KeyID)
	}
	sigs := b.GetDsseEnvelope().GetSignatures()
	if len(sigs) != 1 || sigs[0].GetKeyid() != "" {
		t.Errorf("bundle signatures %v, want one without a keyid (as cosign writes it)", sigs)
	}
	got, err := oci.EnvelopeFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	gotEnv, err := envelope.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if gotEnv.Payload != env.Payload || gotEnv.Signatures[0].Sig != env.Signatures[0].Sig || gotEnv.PayloadType != env.PayloadType {
		t.Errorf("the bundle's envelope differs from the one put")
	}
}

func TestNewBundle(t *testing.T) {
	a := storetest.Attestation(t, storetest.FileSubject(t), "https://slsa.dev/provenance/v1", "a")
	raw, err := oci.NewBundle(a.Envelope, "")
	if err != nil {
		t.Fatal(err)
	}
	checkBundle(t, raw, a)
	for _, bad := range []string{"", "{", `{"payloadType":"x","payload":"e30=","signatures":[]}`} {
		if _, err := oci.NewBundle([]byte(bad), ""); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("NewBundle(%q) = %v, want ErrInvalidInput", bad, err)
		}
	}
	if _, err := oci.EnvelopeFromBundle([]byte(`{"mediaType":"` + oci.MediaTypeBundle + `"}`)); !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("EnvelopeFromBundle(no envelope) = %v, want ErrInvalidInput", err)
	}
}

// TestDryRun: nothing reaches the registry; every write is listed and
// saved; a later real push writes the same.
func TestDryRun(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			host := newRegistry(t, v.referrers)
			subject := pushImage(t, host)
			a := storetest.Attestation(t, subject, "https://slsa.dev/provenance/v1", "a")
			dir := filepath.Join(t.TempDir(), "dry")
			dry, err := oci.NewDryRun(dir)
			if err != nil {
				t.Fatal(err)
			}
			res, err := newStore(t, oci.WithDryRun(dry)).Push(t.Context(), subject, a)
			if err != nil {
				t.Fatal(err)
			}
			got, err := newStore(t).Get(t.Context(), subject)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 {
				t.Fatalf("a dry run attached %d attestations", len(got))
			}
			if len(res.Writes) == 0 || len(res.Writes) != len(dry.Writes()) {
				t.Fatalf("result lists %d writes, the dry run %d", len(res.Writes), len(dry.Writes()))
			}
			tags := 0
			for _, w := range res.Writes {
				data, err := os.ReadFile(w.Path)
				if err != nil {
					t.Fatalf("write %s %s not saved: %v", w.Kind, w.Ref, err)
				}
				if h, _, _ := v1.SHA256(strings.NewReader(string(data))); h.String() != w.Digest || int64(len(data)) != w.Size {
					t.Errorf("saved %s does not match its digest and size", w.Path)
				}
				if w.Kind == "tag" {
					tags++
				}
			}
			// The .att tag, and the referrers fallback tag where the
			// registry has no referrers API.
			wantTags := 2
			if v.referrers {
				wantTags = 1
			}
			if tags != wantTags {
				t.Errorf("%d tags written, want %d", tags, wantTags)
			}
			var index []oci.Write
			data, err := os.ReadFile(filepath.Join(dir, "index.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &index); err != nil || len(index) != len(res.Writes) {
				t.Errorf("index.json lists %d writes (%v), want %d", len(index), err, len(res.Writes))
			}
		})
	}
}

// TestInsecure: plain HTTP goes only to loopback registries unless
// WithInsecure.
func TestInsecure(t *testing.T) {
	var sawHTTP bool
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Scheme == "http" {
			sawHTTP = true
		}
		return nil, errors.New("no network in this test")
	})
	subject := store.Subject{Name: "10.1.2.3:5000/app", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
	_, err := newStore(t, oci.WithTransport(rt), oci.WithRetry(1, 0)).Get(t.Context(), subject)
	if !errors.Is(err, oci.ErrInsecure) || !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("Get over plain HTTP to 10.1.2.3 = %v, want ErrInsecure", err)
	}
	if sawHTTP {
		t.Error("a plain-HTTP request left without WithInsecure")
	}
	_, _ = newStore(t, oci.WithTransport(rt), oci.WithRetry(1, 0), oci.WithInsecure()).Get(t.Context(), subject)
	if !sawHTTP {
		t.Error("no plain-HTTP request with WithInsecure")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []oci.Option
	}{
		{"keychain and basic auth", []oci.Option{oci.WithKeychain(authn.DefaultKeychain), oci.WithBasicAuth("u", "p")}},
		{"basic auth without password", []oci.Option{oci.WithBasicAuth("u", "")}},
		{"zero attempts", []oci.Option{oci.WithRetry(0, 0)}},
		{"bad scheme", []oci.Option{oci.WithScheme("x")}},
		{"tiny read limit", []oci.Option{oci.WithReadLimit(10)}},
		{"zero timeout", []oci.Option{oci.WithTimeout(0)}},
	} {
		if _, err := oci.New(tc.opts...); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("%s: New = %v, want ErrInvalidInput", tc.name, err)
		}
	}
}

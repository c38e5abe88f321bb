package promote

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/internal/testkit"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/oci"
)

// TestPromote copies verified images (and indexes) by digest, within a
// registry and to another one, and attaches a signed verification summary
// to the copy; an image that fails verification is not copied and
// nothing is written.
func TestPromote(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		index     bool
		other     bool   // to another registry
		tag       bool   // DST with a tag
		signer    string // of the chain
		dryRun    bool
		wantError error
	}{
		{name: "image", signer: "ci"},
		{name: "index to another registry with a tag", index: true, other: true, tag: true, signer: "ci"},
		{name: "dry run", signer: "ci", dryRun: true},
		{name: "signed by the wrong key", signer: "mallory", wantError: gate.ErrNotVerified},
		{name: "no attestations", wantError: gate.ErrNoAttestations},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := testkit.Registry(t)
			dstHost := host
			if tt.other {
				dstHost = testkit.Registry(t)
			}
			reg, err := oci.New()
			if err != nil {
				t.Fatal(err)
			}
			c := newChain(t)
			c.key("ci")
			release := c.key("release")
			img := testkit.PushImage(t, host, "team/app", tt.index)
			if tt.signer != "" {
				testkit.AttestPush(c.t, reg, img, c.key(tt.signer), now.Add(-time.Hour))
			}
			v, err := gate.NewVerifier(c.policy(testkit.ImagePolicy))
			if err != nil {
				t.Fatal(err)
			}
			dst := dstHost + "/prod/app"
			if tt.tag {
				dst += ":v1"
			}
			opts := []Option{WithRegistry(reg)}
			if tt.dryRun {
				opts = append(opts, WithDryRun())
			}
			p, err := Image(context.Background(), v, host+"/team/app:dev", dst, release, opts...)
			dstDigest, _ := name.NewDigest(dstHost + "/prod/app@" + img.DigestStr())
			_, headErr := remote.Head(dstDigest)
			if tt.wantError != nil {
				if !errors.Is(err, tt.wantError) || !errors.Is(err, gate.ErrVerification) {
					t.Fatalf("Image: %v, want %v", err, tt.wantError)
				}
				if p == nil || p.Copied || p.Result == nil || p.Result.Verified {
					t.Errorf("promotion: %+v", p)
				}
				if headErr == nil {
					t.Errorf("the image was copied")
				}
				return
			}
			if err != nil {
				t.Fatalf("Image: %v", err)
			}
			if tt.dryRun {
				if headErr == nil || p.Copied || len(p.Written) != 0 || len(p.Summary) == 0 || p.SimpleSigning == nil {
					t.Errorf("dry run: copied=%v written=%v head=%v", p.Copied, p.Written, headErr)
				}
				return
			}
			if headErr != nil || !p.Copied || p.Destination != dstDigest.String() {
				t.Fatalf("not copied: %v %+v", headErr, p)
			}
			if tt.index {
				idx, err := remote.Index(dstDigest)
				if err != nil {
					t.Fatal(err)
				}
				m, _ := idx.IndexManifest()
				for _, d := range m.Manifests {
					if _, err := remote.Head(dstDigest.Context().Digest(d.Digest.String())); err != nil {
						t.Errorf("platform image %s not copied: %v", d.Digest, err)
					}
				}
			}
			if tt.tag {
				tag, _ := name.NewTag(dst)
				if d, err := remote.Head(tag); err != nil || d.Digest.String() != img.DigestStr() {
					t.Errorf("tag %s: %v", dst, err)
				}
			}
			sub, _ := store.ImageSubject(dstDigest)
			atts, err := reg.Get(context.Background(), sub)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, a := range atts {
				if a.PredicateType == gate.PredicateTypeVSA {
					found = true
					env, _ := envelope.Parse(a.Envelope)
					payload, _ := env.DecodeB64Payload()
					if !strings.Contains(string(payload), `"verificationResult":"PASSED"`) || !strings.Contains(string(payload), dstHost+"/prod/app@") {
						t.Errorf("summary: %s", payload)
					}
				}
			}
			if !found {
				t.Errorf("no verification summary attached to %s", dstDigest)
			}
			// The chain came along: the copy verifies where it lives.
			if res, err := v.Verify(context.Background(), sub, atts); err != nil || p.Attached != 1 {
				t.Errorf("verifying the copy (%d attached): %v\n%s", p.Attached, err, dump(res))
			}
			var ss simpleSigningPayload
			if err := json.Unmarshal(p.SimpleSigning.Payload, &ss); err != nil {
				t.Fatal(err)
			}
			if ss.Critical.Type != SimpleSigningType || ss.Critical.Image.DockerManifestDigest != img.DigestStr() || ss.Critical.Identity.DockerReference != dstHost+"/prod/app" {
				t.Errorf("simple signing: %s", p.SimpleSigning.Payload)
			}
			if err := release.Verifier().Verify(context.Background(), p.SimpleSigning.Payload, p.SimpleSigning.Signature); err != nil {
				t.Errorf("simple-signing signature: %v", err)
			}
			if p.SimpleSigning.PublicKeyID != niOf(t, release.Public()) {
				t.Errorf("simple-signing public key id %q, want %q", p.SimpleSigning.PublicKeyID, niOf(t, release.Public()))
			}
		})
	}
}

// TestPromoteDestination: a destination digest must be the source's.
func TestPromoteDestination(t *testing.T) {
	t.Parallel()
	src, _ := name.NewDigest("r.example/a@sha256:" + strings.Repeat("a", 64))
	for _, tt := range []struct {
		dst, repo, tag string
		bad            bool
	}{
		{dst: "r.example/b", repo: "r.example/b"},
		{dst: "oci://r.example/b:v1", repo: "r.example/b", tag: "v1"},
		{dst: "r.example/b@sha256:" + strings.Repeat("a", 64), repo: "r.example/b"},
		{dst: "r.example/b@sha256:" + strings.Repeat("b", 64), bad: true},
		{dst: "R.example/B!", bad: true},
	} {
		repo, tag, err := parseDestination(tt.dst, src, nil)
		if tt.bad {
			if !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("%s: %v", tt.dst, err)
			}
			continue
		}
		gotTag := ""
		if tag != nil {
			gotTag = tag.TagStr()
		}
		if err != nil || repo.Name() != tt.repo || gotTag != tt.tag {
			t.Errorf("%s: %v %v %v", tt.dst, repo, gotTag, err)
		}
	}
}

// TestImageNoVerifier: without a verifier nothing is read or copied
// (there is no registry at 127.0.0.1:1).
func TestImageNoVerifier(t *testing.T) {
	t.Parallel()
	p, err := Image(t.Context(), nil, "127.0.0.1:1/a:b", "127.0.0.1:1/c", newChain(t).key("release"))
	if p != nil || !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("Image = %v, %v; want invalid input", p, err)
	}
}

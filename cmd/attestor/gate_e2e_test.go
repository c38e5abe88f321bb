package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/attestor/attestor/actions/spinnaker"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/gate"
	"github.com/attestor/attestor/attestor/promote"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/oci"
)

// gatePolicy is the policy of TestGateE2E: three steps chained by their
// artifacts, the image's manifest the last product, and provenance signed
// by the CI key.
const gatePolicy = `version: 1
expires: 2099-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: build
    functionaries: [ci]
    materials: [[ALLOW, "src/*"], [ALLOW, Makefile], [DISALLOW, "*"]]
    products: [[CREATE, bin/app], [DISALLOW, "*"]]
  - name: package
    functionaries: [ci]
    materials: [[MATCH, bin/app, WITH, PRODUCTS, FROM, build], [DISALLOW, "*"]]
    products: [[CREATE, dist/app.tar], [DISALLOW, "*"]]
  - name: image
    functionaries: [ci]
    materials: [[MATCH, dist/app.tar, WITH, PRODUCTS, FROM, package], [DISALLOW, "*"]]
    products: [[CREATE, dist/image.manifest.json], [DISALLOW, "*"]]
provenance:
  functionaries: [ci]
  sourceRepos: [https://github.com/acme/app]
  refs: [refs/heads/main]
`

// grafeasOccurrence is the part of a v1beta1 occurrence the test reads.
type grafeasOccurrence struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	NoteName string `json:"noteName"`
	Resource struct {
		URI string `json:"uri"`
	} `json:"resource"`
	Envelope    json.RawMessage `json:"envelope"`
	Attestation struct {
		Attestation struct {
			Generic *struct {
				ContentType       string `json:"contentType"`
				SerializedPayload []byte `json:"serializedPayload"`
				Signatures        []struct {
					Signature   []byte `json:"signature"`
					PublicKeyID string `json:"publicKeyId"`
				} `json:"signatures"`
			} `json:"genericSignedAttestation"`
		} `json:"attestation"`
	} `json:"attestation"`
}

func grafeasOccurrences(t *testing.T, url, project string) []grafeasOccurrence {
	t.Helper()
	resp, err := http.Get(url + "/v1beta1/projects/" + project + "/occurrences?pageSize=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var list struct {
		Occurrences []grafeasOccurrence `json:"occurrences"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("listing the Grafeas occurrences of %s: %s\n%s", project, resp.Status, body)
	}
	return list.Occurrences
}

// kritisOccurrences returns the occurrences on the attestation
// authority's note about resource uri ("" for any).
func kritisOccurrences(occs []grafeasOccurrence, note, uri string) []grafeasOccurrence {
	var out []grafeasOccurrence
	for _, o := range occs {
		if o.NoteName == note && (uri == "" || o.Resource.URI == uri) {
			out = append(out, o)
		}
	}
	return out
}

func spinnakerProps(s string) map[string]string {
	props := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(line, spinnaker.PropertyPrefix); ok {
			if k, v, ok := strings.Cut(rest, "="); ok {
				props[k] = v
			}
		}
	}
	return props
}

// TestGateE2E runs the gate end to end against real servers on
// 127.0.0.1, Debian's docker-registry and the open-source Grafeas server:
// three steps recorded with attestor run, provenance, push to the registry
// and Grafeas, verify from each, promote (a copy by digest and the Kritis
// ATTESTATION occurrence of the copy); then one pushed step record is
// tampered with, and verify fails with the reason and promote writes
// nothing.
func TestGateE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no end-to-end gate")
	}
	t.Parallel()
	host := startRegistry(t)
	grafeasURL := startGrafeas(t)
	const project = "acme-ci"
	const authority = "projects/kritis/notes/prod-attestor"

	p := newProject(t)
	ciSigner, err := sign.Load(p.key)
	if err != nil {
		t.Fatal(err)
	}
	ciPub, err := sign.MarshalPublicKey(ciSigner.Public())
	if err != nil {
		t.Fatal(err)
	}
	policyDir := t.TempDir()
	policy := filepath.Join(policyDir, "release.yaml")
	writeFile(t, policy, gatePolicy)
	writeFile(t, filepath.Join(policyDir, "ci.pub"), string(ciPub))
	releaseKey := filepath.Join(t.TempDir(), "release.key")
	writeKey(t, releaseKey, "ecdsa")
	release, err := sign.Load(releaseKey)
	if err != nil {
		t.Fatal(err)
	}
	releaseID, err := promote.PKIXKeyID(release.Public()) // Binary Authorization's id of the key
	if err != nil {
		t.Fatal(err)
	}

	// Nothing of the test's environment leaks in but what it sets.
	run := func(env []string, args ...string) result {
		t.Helper()
		return attestorProcess(t, p.base, env, args...)
	}
	must := func(what string, r result) result {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s:\n%s", what, r)
		}
		return r
	}

	// Record: three steps.
	stepArgs := func(step string, mp ...string) []string {
		return append([]string{"run", "--step", step}, append(mp, p.flags()...)...)
	}
	must("run build", run(nil, append(stepArgs("build", "-m", "src", "-m", "Makefile", "-p", "bin"),
		"--", "sh", "-c", "mkdir -p bin && cat src/main.c src/util.c > bin/app")...))
	must("run package", run(nil, append(stepArgs("package", "-m", "bin", "-p", "dist"),
		"--", "sh", "-c", "mkdir -p dist && cp bin/app dist/app.tar")...))
	// The image holds the package; its manifest is the image step's product.
	tarball, err := os.ReadFile(p.path("dist/app.tar"))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := tarLayer([]imageFile{{"app.tar", tarball, 0o644}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer})
	if err != nil {
		t.Fatal(err)
	}
	image := host + "/acme/app:v1"
	tag, err := name.NewTag(image)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	manifest, _ := img.RawManifest()
	digest, _ := img.Digest()
	staged := filepath.Join(t.TempDir(), "manifest.json")
	writeFile(t, staged, string(manifest))
	must("run image", run(nil, append(stepArgs("image", "-m", "dist", "-p", "dist/image.manifest.json"),
		"--", "cp", staged, "dist/image.manifest.json")...))

	// Provenance, and push to the registry and Grafeas.
	must("provenance", run(nil, "provenance", "--dir", p.ws, "--key", p.key, "--subject", "oci://"+image, "--source", "https://github.com/acme/app@refs/heads/main"))
	must("push", run(nil, "push", "--dir", p.ws, "--image", image, "--to", "oci,grafeas",
		"--grafeas", grafeasURL, "--grafeas-project", project))

	grafeasFlags := []string{"--grafeas", grafeasURL, "--grafeas-project", project}
	verify := func(env []string, from string, extra ...string) (result, *gate.Result) {
		t.Helper()
		args := append([]string{"verify", "--dir", t.TempDir(), "--json", "--image", image, "--policy", policy, "--from", from}, grafeasFlags...)
		r := run(env, append(args, extra...)...)
		var res gate.Result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("verify --from %s --json: %v\n%s", from, err, r)
		}
		return r, &res
	}
	for _, from := range []string{"oci", "grafeas"} {
		r, res := verify(nil, from)
		if r.code != 0 || !res.Verified || res.Verdict != gate.Passed || res.Subject.Digest != digest.String() {
			t.Fatalf("verify --from %s: verified %v, verdict %s, subject %+v\n%s", from, res.Verified, res.Verdict, res.Subject, r)
		}
		if res.Provenance == nil || res.Provenance.Verdict != gate.Passed || len(res.Steps) != 3 {
			t.Errorf("verify --from %s: provenance %+v, %d steps", from, res.Provenance, len(res.Steps))
		}
	}
	// In a Spinnaker Run Job, verify prints the verdict as properties.
	spin := []string{"SPINNAKER_EXECUTION_ID=01JDQ3Z8E2E0000000000000", "SPINNAKER_URL=https://spinnaker.acme.example"}
	r := must("verify in Spinnaker", run(spin, "verify", "--dir", t.TempDir(), "--image", image, "--policy", policy, "--from", "oci"))
	props := spinnakerProps(r.stdout)
	if props[spinnaker.PropertyVerdict] != gate.Passed || props[spinnaker.PropertyVerified] != "true" ||
		props[spinnaker.PropertyImage] != host+"/acme/app@"+digest.String() || props[spinnaker.PropertyImageDigest] != digest.String() {
		t.Errorf("verify in Spinnaker: properties %v\n%s", props, r)
	}

	// Promote: a copy by digest, the summary, the Kritis attestation.
	promoteCmd := func(env []string, dst string) (result, *promote.Result) {
		t.Helper()
		args := append([]string{"promote", "--dir", t.TempDir(), "--json", image, dst, "--policy", policy, "--key", releaseKey,
			"--from", "oci", "--grafeas-authority-note", authority}, grafeasFlags...)
		r := run(env, args...)
		var pr promote.Result
		if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil {
			t.Fatalf("promote --json: %v\n%s", err, r)
		}
		return r, &pr
	}
	r, promo := promoteCmd(spin, host+"/prod/app")
	dst := host + "/prod/app@" + digest.String()
	if r.code != 0 || !promo.Copied || promo.Destination != dst || promo.AuthorityNote != authority ||
		!slices.Contains(promo.Written, "grafeas-authority") || len(promo.Pending) != 0 {
		t.Fatalf("promote: %+v\n%s", promo, r)
	}
	props = spinnakerProps(r.stderr) // with --json the properties are on stderr
	if props[spinnaker.PropertyPromoted] != dst || props[spinnaker.PropertyVerdict] != gate.Passed || props[spinnaker.PropertyImageDigest] != digest.String() {
		t.Errorf("promote in Spinnaker: properties %v\n%s", props, r)
	}
	if strings.Contains(r.stdout, spinnaker.PropertyPrefix) {
		t.Errorf("promote --json printed properties on stdout:\n%s", r.stdout)
	}
	if d, err := remote.Head(mustDigest(t, dst)); err != nil || d.Digest != digest {
		t.Fatalf("the copy %s: %v", dst, err)
	}
	// The copy verifies where it lives.
	if r := run(nil, "verify", "--dir", t.TempDir(), "--image", dst, "--policy", policy, "--from", "oci"); r.code != 0 {
		t.Errorf("verify the copy:\n%s", r)
	}
	dstURI := store.ResourceURI(store.Subject{Name: host + "/prod/app", Digest: digest})
	kritis := kritisOccurrences(grafeasOccurrences(t, grafeasURL, project), authority, dstURI)
	if len(kritis) != 1 {
		t.Fatalf("%d Kritis occurrences on %s, want 1", len(kritis), dstURI)
	}
	k := kritis[0]
	g := k.Attestation.Attestation.Generic
	if k.Kind != "ATTESTATION" || g == nil || g.ContentType != "SIMPLE_SIGNING_JSON" || len(g.Signatures) != 1 || g.Signatures[0].PublicKeyID != releaseID {
		t.Fatalf("Kritis occurrence: %+v", k)
	}
	var ss struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(g.SerializedPayload, &ss); err != nil {
		t.Fatal(err)
	}
	if ss.Critical.Identity.DockerReference != host+"/prod/app" || ss.Critical.Image.DockerManifestDigest != digest.String() || ss.Critical.Type != promote.SimpleSigningType {
		t.Errorf("simple-signing payload: %s", g.SerializedPayload)
	}
	if err := release.Verifier().Verify(context.Background(), g.SerializedPayload, g.Signatures[0].Signature); err != nil {
		t.Errorf("the Kritis signature does not verify with the release key: %v", err)
	}
	var note struct {
		Kind string `json:"kind"`
	}
	if resp, err := http.Get(grafeasURL + "/v1beta1/" + authority); err != nil {
		t.Error(err)
	} else {
		json.NewDecoder(resp.Body).Decode(&note)
		resp.Body.Close()
		if note.Kind != "ATTESTATION" {
			t.Errorf("the authority note %s: kind %q", authority, note.Kind)
		}
	}
	// A second promotion writes no duplicate.
	if r, _ := promoteCmd(nil, host+"/prod/app"); r.code != 0 {
		t.Fatalf("second promote:\n%s", r)
	}
	if n := len(kritisOccurrences(grafeasOccurrences(t, grafeasURL, project), authority, dstURI)); n != 1 {
		t.Errorf("after a second promotion: %d Kritis occurrences, want 1", n)
	}

	// Tamper: the package step's record with an altered payload (its
	// product swapped), pushed to the image in the registry and Grafeas.
	files, _ := filepath.Glob(filepath.Join(p.ws, "package.*.dsse.json"))
	if len(files) != 1 {
		t.Fatalf("package records: %q", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	subjects, _ := st["subject"].([]any)
	if len(subjects) == 0 {
		t.Fatalf("package record has no products: %s", payload)
	}
	subjects[0].(map[string]any)["digest"] = map[string]string{"sha256": strings.Repeat("ba", 32)}
	altered, _ := json.Marshal(st)
	env.Payload = base64.StdEncoding.EncodeToString(altered)
	tampered, _ := json.Marshal(env)
	att, err := store.NewAttestation(tampered, nil)
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := store.ImageSubject(tag.Context().Digest(digest.String()))
	reg, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Put(context.Background(), subj, att); err != nil {
		t.Fatal(err)
	}
	gc, err := grafeas.New(grafeas.WithURL(grafeasURL), grafeas.WithProject(project))
	if err != nil {
		t.Fatal(err)
	}
	if err := gc.Put(context.Background(), subj, att); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"oci", "grafeas"} {
		r, res := verify(nil, from)
		if r.code != 1 || res.Verified || res.Verdict != gate.Failed {
			t.Errorf("verify --from %s of the tampered image: exit %d, verdict %s\n%s", from, r.code, res.Verdict, r)
		}
		var codes []string
		for _, reason := range res.Reasons {
			codes = append(codes, reason.Code)
		}
		if !slices.Contains(codes, "signature") {
			t.Errorf("verify --from %s of the tampered image: reasons %q, want signature\n%s", from, codes, r.stdout)
		}
	}
	before := len(grafeasOccurrences(t, grafeasURL, project))
	r, promo = promoteCmd(spin, host+"/quarantine/app")
	if r.code != 1 || promo.Copied || promo.Result == nil || promo.Result.Verified {
		t.Errorf("promote of the tampered image: exit %d, %+v\n%s", r.code, promo, r)
	}
	if props := spinnakerProps(r.stderr); props[spinnaker.PropertyVerdict] != gate.Failed || props[spinnaker.PropertyVerified] != "false" || props[spinnaker.PropertyPromoted] != "" {
		t.Errorf("promote of the tampered image in Spinnaker: properties %v", props)
	}
	if _, err := remote.Head(mustDigest(t, host+"/quarantine/app@"+digest.String())); err == nil {
		t.Errorf("the tampered image was copied")
	}
	occs := grafeasOccurrences(t, grafeasURL, project)
	if len(occs) != before {
		t.Errorf("promote of the tampered image wrote %d Grafeas occurrences", len(occs)-before)
	}
	if n := len(kritisOccurrences(occs, authority, "")); n != 1 {
		t.Errorf("%d Kritis occurrences in all, want 1", n)
	}
	for _, o := range occs {
		if strings.Contains(o.Resource.URI, "/quarantine/") {
			t.Errorf("an occurrence on the tampered promotion's destination: %+v", o)
		}
	}
}

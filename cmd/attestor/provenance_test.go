package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ita1 "github.com/in-toto/attestation/go/v1"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
	"github.com/attestor/attestor/provenance"
)

// spinnakerEnv is a Spinnaker Run Job's environment, as its manifest
// templates it in.
var spinnakerEnv = []string{
	"SPINNAKER_URL=https://spinnaker.acme.example",
	"SPINNAKER_APPLICATION=app",
	"SPINNAKER_PIPELINE=build-and-release",
	"SPINNAKER_EXECUTION_ID=01JDQ7Z6X4M2N8P5R3T1V9W7Y5",
	"SPINNAKER_SOURCE_REPO=https://github.com/acme/app",
	"SPINNAKER_SOURCE_REF=refs/heads/main",
	"SPINNAKER_SOURCE_COMMIT=5f0e4c1a7b2d3e9f8a6b5c4d3e2f1a0b9c8d7e6f",
}

// provenanceProject is a project whose workspace holds two signed step
// records (test, then build, which made bin/app) and bin/app itself.
func provenanceProject(t *testing.T) *project {
	t.Helper()
	p := newProject(t)
	writeFile(t, p.path("bin/app"), "app binary\n")
	signer, err := sign.Load(p.key)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(p.ws)
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := signer.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 24, 9, 13, 0, 0, time.UTC)
	src := []*ita1.ResourceDescriptor{{Name: "src/main.c", Digest: provenanceDigest("int main(void) { return 0; }\n")}}
	for _, rec := range []*attestor.Record{
		{Step: "test", Command: []string{"make", "test"}, Materials: src, StartedOn: t0, FinishedOn: t0.Add(time.Minute)},
		{Step: "build", Command: []string{"make"}, Materials: src,
			Products:  []*ita1.ResourceDescriptor{{Name: "bin/app", Digest: provenanceDigest("app binary\n")}},
			StartedOn: t0.Add(time.Minute), FinishedOn: t0.Add(2 * time.Minute)},
	} {
		st, err := rec.Statement()
		if err != nil {
			t.Fatal(err)
		}
		_, data, err := envelope.SignStatement(context.Background(), signer, st)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.Write(workspace.EnvelopeName(rec.Step, keyID), data); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func provenanceDigest(s string) map[string]string {
	sum := sha256.Sum256([]byte(s))
	return map[string]string{"sha256": hex.EncodeToString(sum[:])}
}

// provenanceOut is the --json output of provenance.
type provenanceOut struct {
	File     string   `json:"file"`
	Digest   string   `json:"digest"`
	Subjects []string `json:"subjects"`
}

// readProvenance checks the --json output against the file written and
// returns the signed statement.
func readProvenance(t *testing.T, r result) (provenanceOut, *ita1.Statement) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("provenance failed:\n%s", r)
	}
	var out provenanceOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("decoding --json output: %v\n%s", err, r)
	}
	data, err := os.ReadFile(out.File)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := "sha256:" + hex.EncodeToString(sum[:]); out.Digest != want {
		t.Errorf("digest %s, the file's is %s", out.Digest, want)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	st, err := envelope.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

func TestProvenance(t *testing.T) {
	t.Parallel()
	p := provenanceProject(t)
	// No --subject: the products of the step that finished last.
	r := attestorProcess(t, p.base, spinnakerEnv, "provenance", "--json", "--dir", p.ws, "--key", p.key)
	out, st := readProvenance(t, r)
	if want := filepath.Join(p.ws, "_provenance."); !strings.HasPrefix(out.File, want) || !strings.HasSuffix(out.File, ".dsse.json") {
		t.Errorf("file %s, want %s<keyid>.dsse.json", out.File, want)
	}
	if len(out.Subjects) != 1 || out.Subjects[0] != "bin/app@sha256:"+provenanceDigest("app binary\n")["sha256"] {
		t.Errorf("subjects %v", out.Subjects)
	}
	pred, err := provenance.V1Predicate(st)
	if err != nil {
		t.Fatal(err)
	}
	if got := pred.GetRunDetails().GetBuilder().GetId(); got != "https://spinnaker.acme.example" {
		t.Errorf("builder id %q", got)
	}
	if n := len(pred.GetRunDetails().GetByproducts()); n != 2 {
		t.Errorf("%d step records listed, want 2", n)
	}

	// Again, v0.2, with a file subject: the earlier provenance in the
	// workspace is not taken for a step record.
	r = attestorProcess(t, p.base, spinnakerEnv, "provenance", "--json", "--dir", p.ws, "--key", p.key,
		"--slsa-version", "0.2", "--subject", "Makefile")
	out, st = readProvenance(t, r)
	if st.GetPredicateType() != provenance.PredicateTypeV02 {
		t.Errorf("predicate type %s", st.GetPredicateType())
	}
	if len(out.Subjects) != 1 || !strings.HasPrefix(out.Subjects[0], "Makefile@sha256:") {
		t.Errorf("subjects %v", out.Subjects)
	}
	v02, err := provenance.V02Predicate(st)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v02.GetMaterials()); n != 4 { // source, src/main.c, 2 step records
		t.Errorf("%d materials, want 4: %v", n, v02.GetMaterials())
	}
}

// TestProvenanceLocalOverrides: a local build outside a git checkout knows
// no source; --source, --builder-id and --build-type supply it.
func TestProvenanceLocalOverrides(t *testing.T) {
	t.Parallel()
	p := provenanceProject(t)
	r := attestorProcess(t, p.base, nil, "provenance", "--dir", p.ws, "--key", p.key)
	if r.code != 2 || !strings.Contains(r.stderr, "--source") {
		t.Fatalf("local build without a source: want exit 2 naming --source\n%s", r)
	}
	r = attestorProcess(t, p.base, nil, "provenance", "--json", "--dir", p.ws, "--key", p.key,
		"--source", "https://github.com/acme/app@refs/heads/main",
		"--builder-id", "https://ci.acme.example/builder", "--build-type", "https://ci.acme.example/type/v1")
	_, st := readProvenance(t, r)
	pred, err := provenance.V1Predicate(st)
	if err != nil {
		t.Fatal(err)
	}
	if pred.GetRunDetails().GetBuilder().GetId() != "https://ci.acme.example/builder" ||
		pred.GetBuildDefinition().GetBuildType() != "https://ci.acme.example/type/v1" ||
		pred.GetBuildDefinition().GetResolvedDependencies()[0].GetUri() != "git+https://github.com/acme/app@refs/heads/main" {
		t.Errorf("overrides not applied: %v", pred)
	}
}

// provenanceRegistry starts an in-process registry on 127.0.0.1 holding
// team/app:v1 and returns its host and the image's digest.
func provenanceRegistry(t *testing.T, wrap func(http.Handler) http.Handler) (string, string) {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if wrap == nil {
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return host, d.String()
}

func TestProvenanceImageSubject(t *testing.T) {
	t.Parallel()
	p := provenanceProject(t)
	host, digest := provenanceRegistry(t, nil)
	r := attestorProcess(t, p.base, spinnakerEnv, "provenance", "--json", "--dir", p.ws, "--key", p.key,
		"--subject", "oci://"+host+"/team/app:v1", "--subject", "bin/app")
	out, st := readProvenance(t, r)
	if want := host + "/team/app@" + digest; len(out.Subjects) != 2 || out.Subjects[0] != want {
		t.Errorf("subjects %v, want %s first", out.Subjects, want)
	}
	if got := st.GetSubject()[0]; got.GetName() != host+"/team/app" || "sha256:"+got.GetDigest()["sha256"] != digest {
		t.Errorf("image subject %v", got)
	}
}

func TestProvenanceBadInput(t *testing.T) {
	t.Parallel()
	p := provenanceProject(t)
	host, _ := provenanceRegistry(t, nil)
	down := httptest.NewServer(http.NotFoundHandler())
	downHost := strings.TrimPrefix(down.URL, "http://")
	down.Close()
	empty := t.TempDir()

	base := []string{"provenance", "--dir", p.ws, "--key", p.key}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing subject", slices.Concat(base, []string{"--subject", "bin/nope"}), 2, "bin/nope"},
		{"directory subject", slices.Concat(base, []string{"--subject", "src"}), 2, "not a regular file"},
		{"unknown image", slices.Concat(base, []string{"--subject", "oci://" + host + "/team/app:nope"}), 2, "not found"},
		{"bad image reference", slices.Concat(base, []string{"--subject", "oci://" + host + "/Team/App"}), 2, "image reference"},
		{"registry down", slices.Concat(base, []string{"--subject", "oci://" + downHost + "/team/app:v1"}), 3, downHost},
		{"empty workspace", []string{"provenance", "--dir", empty, "--key", p.key}, 2, "no step records"},
		{"bad SLSA version", slices.Concat(base, []string{"--slsa-version", "3"}), 2, "SLSA version"},
		{"bad source", slices.Concat(base, []string{"--source", "not a url"}), 2, "invalid source"},
		{"no key", []string{"provenance", "--dir", p.ws}, 2, "--key"},
		{"arguments", slices.Concat(base, []string{"bin/app"}), 2, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := attestorProcess(t, p.base, spinnakerEnv, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want exit %d naming %q\n%s", tc.code, tc.want, r)
			}
			if entries, _ := filepath.Glob(filepath.Join(p.ws, "_provenance.*")); len(entries) != 0 {
				t.Errorf("provenance written despite the error: %v", entries)
			}
		})
	}
}

// TestProvenanceRegistryUnavailable: a registry that keeps failing after
// go-containerregistry's retries exits 3. Slow (the retries back off for
// a few seconds), so skipped with -short.
func TestProvenanceRegistryUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("retries take seconds")
	}
	t.Parallel()
	p := provenanceProject(t)
	failing, _ := provenanceRegistry(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	})
	r := attestorProcess(t, p.base, spinnakerEnv, "provenance", "--dir", p.ws, "--key", p.key, "--subject", "oci://"+failing+"/team/app:v1")
	if r.code != 3 {
		t.Fatalf("want exit 3\n%s", r)
	}
}

func TestProvenanceHelpGolden(t *testing.T) {
	t.Parallel()
	r := cli(t, "provenance", "--help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("attestor provenance --help:\n%s", r)
	}
	golden(t, filepath.Join("help", "attestor-provenance.golden"), r.stdout)
}

package attestor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/sign"
)

// registryState stands in for a registry behind the ImageResolver
// interface: the Recorder does no network I/O (the real registry client is
// tested with the CLI against docker-registry). It maps "REPO:TAG" to a
// digest and counts the calls; marker is a file the step's command
// creates, so each call knows whether it came before or after the command.
type registryState struct {
	mu     sync.Mutex
	tags   map[string]string
	fail   error
	marker string
	before []string // refs resolved before the command ran
	after  []string // refs resolved after
}

func (s *registryState) resolve(_ context.Context, ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(s.marker); err == nil {
		s.after = append(s.after, ref)
	} else {
		s.before = append(s.before, ref)
	}
	if s.fail != nil {
		return "", s.fail
	}
	d, ok := s.tags[ref]
	if !ok {
		return "", fault.Invalid(fmt.Errorf("image %q not found in the registry", ref))
	}
	return d, nil
}

var (
	digestBase = strings.Repeat("b", 64)
	digestApp1 = strings.Repeat("1", 64)
)

func TestImageName(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]string{
		"oci://127.0.0.1:5000/team/app:v1":                   "oci://127.0.0.1:5000/team/app",
		"oci://127.0.0.1:5000/team/app@sha256:" + digestApp1: "oci://127.0.0.1:5000/team/app",
		"oci://ghcr.io/acme/app":                             "oci://ghcr.io/acme/app",
		"oci://debian:12":                                    "oci://index.docker.io/library/debian",
		"127.0.0.1:5000/team/app:v1@sha256:" + digestApp1:    "oci://127.0.0.1:5000/team/app",
	} {
		got, err := attestor.ImageName(ref)
		if err != nil || got != want {
			t.Errorf("ImageName(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	for _, bad := range []string{"oci://", "oci://UPPER/app", "oci://app@sha256:abc", "oci://app@sha512:" + strings.Repeat("a", 128), "oci:// app:v1"} {
		if _, err := attestor.ImageName(bad); !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("ImageName(%q) = %v, want fault.ErrInvalidInput", bad, err)
		}
	}
}

// TestImageArtifacts: material images are resolved before the command,
// product images after it; both are recorded under oci://REGISTRY/REPO
// with the manifest's sha256, sorted among the files.
func TestImageArtifacts(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	reg := &registryState{
		marker: filepath.Join(t.TempDir(), "ran"),
		tags:   map[string]string{"r.test/base:12": "sha256:" + digestBase},
	}
	r := p.recorder(t, newFakeSigner(), attestor.WithImageResolver(reg.resolve))
	// The command "pushes" the product: the tag exists only after it.
	cmd := []string{"sh", "-c", "touch " + reg.marker}
	reg.tags["r.test/team/app:v1"] = "sha256:" + digestApp1
	res, err := r.Run(context.Background(), attestor.Step{
		Name:      "package",
		Materials: []string{"oci://r.test/base:12", "src"},
		Products:  []string{"oci://r.test/team/app:v1", "go.mod"},
		Command:   cmd,
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(reg.before, " ") != "r.test/base:12" || strings.Join(reg.after, " ") != "r.test/team/app:v1" {
		t.Errorf("resolved before the command %q, after %q", reg.before, reg.after)
	}
	rec := res.Record()
	if got := artifactNames(rec, false); strings.Join(got, " ") != "oci://r.test/base src/main.go src/util.go" {
		t.Errorf("materials = %q", got)
	}
	if got := artifactNames(rec, true); strings.Join(got, " ") != "go.mod oci://r.test/team/app" {
		t.Errorf("products = %q", got)
	}
	if d := digestOf(t, rec, true, "oci://r.test/team/app"); len(d) != 1 || d["sha256"] != digestApp1 {
		t.Errorf("image digest = %v", d)
	}
	// The signed statement names the image among its subjects.
	st := readRecord(t, res.Files[0], newFakeSigner().Public())
	found := false
	for _, s := range st.Products {
		found = found || (s.GetName() == "oci://r.test/team/app" && s.GetDigest()["sha256"] == digestApp1)
	}
	if !found {
		t.Errorf("the signed record's products %v lack the image", st.Products)
	}
}

// TestImageStartStop: record start resolves material images, record stop
// product images.
func TestImageStartStop(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	reg := &registryState{marker: filepath.Join(t.TempDir(), "none"), tags: map[string]string{
		"r.test/team/app@sha256:" + digestApp1: "sha256:" + digestApp1,
		"r.test/team/app:prod":                 "sha256:" + digestApp1,
	}}
	r := p.recorder(t, newFakeSigner(), attestor.WithImageResolver(reg.resolve))
	ctx := context.Background()
	if err := r.Start(ctx, attestor.Step{Name: "deploy", Materials: []string{"oci://r.test/team/app@sha256:" + digestApp1}}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Stop(ctx, attestor.Step{Name: "deploy", Products: []string{"oci://r.test/team/app:prod"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Record()
	if d := digestOf(t, rec, false, "oci://r.test/team/app"); d["sha256"] != digestApp1 {
		t.Errorf("material %v", d)
	}
	if d := digestOf(t, rec, true, "oci://r.test/team/app"); d["sha256"] != digestApp1 {
		t.Errorf("product %v", d)
	}
}

func TestImageBadInput(t *testing.T) {
	t.Parallel()
	unavailable := fault.Unavailable(errors.New("dial tcp 127.0.0.1:1: connection refused"))
	tests := []struct {
		name                string
		materials, products []string
		noResolver          bool
		fail                error
		want                error
		wantText            string
		ran                 bool
	}{
		{name: "malformed material", materials: []string{"oci://r.test/Bad:tag"}, want: fault.ErrInvalidInput, wantText: `"oci://r.test/Bad:tag"`},
		{name: "malformed product", products: []string{"oci://r.test/app@sha256:12"}, want: fault.ErrInvalidInput, wantText: `"oci://r.test/app@sha256:12"`},
		{name: "same repository twice", materials: []string{"oci://r.test/base:12", "oci://r.test/base:13"}, want: fault.ErrInvalidInput, wantText: "two images of one repository"},
		{name: "no resolver", materials: []string{"oci://r.test/base:12"}, noResolver: true, want: fault.ErrInvalidInput, wantText: "cannot resolve images"},
		{name: "material missing", materials: []string{"oci://r.test/nothing:1"}, want: fault.ErrInvalidInput, wantText: `"r.test/nothing:1" not found`},
		{name: "registry unavailable", materials: []string{"oci://r.test/base:12"}, fail: unavailable, want: fault.ErrUnavailable, wantText: "connection refused"},
		{name: "product missing after the command", products: []string{"oci://r.test/never:1"}, want: attestor.ErrImageNotFound, wantText: `"oci://r.test/never:1" after the command`, ran: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "")
			reg := &registryState{marker: filepath.Join(t.TempDir(), "ran"), tags: map[string]string{"r.test/base:12": "sha256:" + digestBase}, fail: tt.fail}
			var opts []attestor.Option
			if !tt.noResolver {
				opts = append(opts, attestor.WithImageResolver(reg.resolve))
			}
			r := p.recorder(t, newFakeSigner(), opts...)
			res, err := r.Run(context.Background(), attestor.Step{
				Name: "s", Materials: append(tt.materials, "go.mod"), Products: tt.products,
				Command: []string{"touch", reg.marker},
			})
			if res != nil {
				t.Errorf("recorded: %v", res.Files)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.wantText) {
				t.Fatalf("err = %v, want %v saying %q", err, tt.want, tt.wantText)
			}
			if _, serr := os.Stat(reg.marker); (serr == nil) != tt.ran {
				t.Errorf("command ran: %v, want %v", serr == nil, tt.ran)
			}
			if files := p.wsFiles(t); len(files) != 0 {
				t.Errorf("workspace written: %v", files)
			}
		})
	}
}

// TestImageMissingAfterFailedCommand: when the command failed (its push
// with it), the step is recorded with the command's exit code, without the
// image, and the error names the image.
func TestImageMissingAfterFailedCommand(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	reg := &registryState{marker: filepath.Join(t.TempDir(), "ran"), tags: map[string]string{}}
	r := p.recorder(t, newFakeSigner(), attestor.WithImageResolver(reg.resolve))
	res, err := r.Run(context.Background(), attestor.Step{
		Name: "package", Materials: []string{"src"}, Products: []string{"oci://r.test/team/app:v1", "go.mod"},
		Command: []string{"sh", "-c", "touch " + reg.marker + "; echo push failed >&2; exit 7"},
	})
	if !errors.Is(err, attestor.ErrImageNotFound) || !strings.Contains(err.Error(), "oci://r.test/team/app:v1") {
		t.Fatalf("err = %v, want ErrImageNotFound naming the image", err)
	}
	if res == nil {
		t.Fatal("the step was not recorded")
	}
	if *res.ExitCode != 7 {
		t.Errorf("exit code %d, want 7", *res.ExitCode)
	}
	if got := artifactNames(res.Record(), true); strings.Join(got, " ") != "go.mod" {
		t.Errorf("products = %q", got)
	}
	if len(res.Files) != 1 {
		t.Errorf("files = %v", res.Files)
	}
}

// TestRecorderGoldenArtifacts pins the recorded forms of an image artifact
// and a directory artifact: the statement and the classic link.
func TestRecorderGoldenArtifacts(t *testing.T) {
	t.Parallel()
	signer, err := sign.Load(filepath.Join("testdata", "golden", "ed25519.key"))
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, "")
	writeFile(t, filepath.Join(p.base, "node_modules", "left-pad", "index.js"), "module.exports = pad\n")
	writeFile(t, filepath.Join(p.base, "node_modules", "left-pad", "package.json"), "{\"name\":\"left-pad\"}\n")
	writeFile(t, filepath.Join(p.base, "node_modules", ".package-lock.json"), "{}\n")
	reg := &registryState{marker: filepath.Join(t.TempDir(), "ran"), tags: map[string]string{
		"127.0.0.1:5000/team/base:12": "sha256:" + digestBase,
		"127.0.0.1:5000/team/app:v1":  "sha256:" + digestApp1,
	}}
	r := p.recorder(t, signer,
		attestor.WithFormat(attestor.FormatBoth),
		attestor.WithCI(map[string]any{"platform": "local"}),
		attestor.WithClock(func() time.Time { return t1 }),
		attestor.WithDirHash("node_modules"),
		attestor.WithImageResolver(reg.resolve),
	)
	res, err := r.Run(context.Background(), attestor.Step{
		Name:      "package",
		Materials: []string{"oci://127.0.0.1:5000/team/base:12", "node_modules", "src"},
		Products:  []string{"oci://127.0.0.1:5000/team/app:v1"},
		Command:   []string{"sh", "-c", "touch " + reg.marker},
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := res.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	// The direct encoding of the record (compact artifacts) is the
	// protobuf one's.
	direct, err := res.Record().MarshalStatement()
	if err != nil || !bytes.Equal(direct, payload) {
		t.Errorf("MarshalStatement = %s, %v; want the signed payload %s", direct, err, payload)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, payload, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden(t, "artifacts.statement.json", bytes.ReplaceAll(pretty.Bytes(), []byte(reg.marker), []byte("MARKER")))
	link, err := os.ReadFile(res.Files[1])
	if err != nil {
		t.Fatal(err)
	}
	var mb in_toto.Metablock
	if err := mb.Load(res.Files[1]); err != nil {
		t.Fatal(err)
	}
	if err := mb.VerifySignature(signer.InTotoKey()); err != nil {
		t.Errorf("in_toto.Metablock.VerifySignature: %v", err)
	}
	// The signature covers the marker's random path: the golden link is
	// the signed part, with the path replaced.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(link, &m); err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	if err := json.Indent(&signed, m["signed"], "", "  "); err != nil {
		t.Fatal(err)
	}
	signed.WriteByte('\n')
	golden(t, "artifacts.link.signed.json", bytes.ReplaceAll(signed.Bytes(), []byte(reg.marker), []byte("MARKER")))
}

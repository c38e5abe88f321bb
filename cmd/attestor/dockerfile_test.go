package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"archive/tar"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// dockerfile is the root Dockerfile, parsed as far as the checks need.
type dockerfile struct {
	args   map[string]string // global ARGs (before the first FROM) and their defaults
	stages []*stage
}

type stage struct {
	name     string
	from     string // as written
	platform string
	instrs   []instr
}

type instr struct {
	cmd  string // upper-case
	args string // the rest, continuation lines joined
}

func (s *stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func (s *stage) last(cmd string) string {
	all := s.all(cmd)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

func (d *dockerfile) stage(name string) *stage {
	for _, s := range d.stages {
		if s.name == name {
			return s
		}
	}
	return nil
}

// parseDockerfile reads instructions: comments and blank lines dropped,
// continuation lines (trailing \) joined.
func parseDockerfile(t *testing.T, data string) *dockerfile {
	t.Helper()
	d := &dockerfile{args: map[string]string{}}
	var logical []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continued instruction: %q", cur.String())
	}
	for _, l := range logical {
		cmd, rest, _ := strings.Cut(strings.TrimSpace(l), " ")
		cmd, rest = strings.ToUpper(cmd), strings.TrimSpace(rest)
		switch {
		case cmd == "FROM":
			s := &stage{}
			fields := strings.Fields(rest)
			if len(fields) > 0 && strings.HasPrefix(fields[0], "--platform=") {
				s.platform, fields = strings.TrimPrefix(fields[0], "--platform="), fields[1:]
			}
			switch {
			case len(fields) == 1:
				s.from = fields[0]
			case len(fields) == 3 && strings.EqualFold(fields[1], "AS"):
				s.from, s.name = fields[0], fields[2]
			default:
				t.Fatalf("FROM %s: want FROM [--platform=P] IMAGE [AS NAME]", rest)
			}
			d.stages = append(d.stages, s)
		case len(d.stages) == 0 && cmd == "ARG":
			k, v, _ := strings.Cut(rest, "=")
			d.args[k] = v
		case len(d.stages) == 0:
			t.Fatalf("%s before the first FROM", cmd)
		default:
			s := d.stages[len(d.stages)-1]
			s.instrs = append(s.instrs, instr{cmd, rest})
		}
	}
	return d
}

var (
	digestRE = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	argRefRE = regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$`)
)

func readDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return parseDockerfile(t, string(data))
}

// TestDockerfile validates the Dockerfile by parsing it: a build stage
// that builds the static, trimmed, version-stamped binary; a runtime stage
// on the base image that copies only that binary, runs as 65532 and has
// ENTRYPOINT ["attestor"]; the last stage (the image of `uses:
// docker://...-action`, a GitHub container action) the runtime stage as root; base images pinned by digest or
// taken from a global ARG that a build can override; either way pinned by
// digest (an override in the environment, GO_IMAGE=...@sha256:..., the value
// passed as --build-arg, must be pinned too).
func TestDockerfile(t *testing.T) {
	t.Parallel()
	d := readDockerfile(t)
	var names []string
	for _, s := range d.stages {
		names = append(names, s.name)
	}
	if !slices.Equal(names, []string{"build", "runtime", "action"}) {
		t.Fatalf("stages %q, want build, runtime, action", names)
	}

	// Base images: a digest, or a global ARG (overridable) whose default
	// is a digest or a tag.
	for _, s := range d.stages {
		if d.stage(s.from) != nil {
			continue // a previous stage
		}
		ref := s.from
		if m := argRefRE.FindStringSubmatch(ref); m != nil {
			def, ok := d.args[m[1]]
			if !ok {
				t.Errorf("stage %s: FROM %s: %s is not a global ARG (declared before the first FROM)", s.name, ref, m[1])
				continue
			}
			if override := os.Getenv(m[1]); override != "" {
				def = override
			}
			ref = def
			if !digestRE.MatchString(ref) {
				t.Errorf("stage %s: base %s=%s is a tag, not pinned by digest: pin it (%s=%s@sha256:..., read with docker buildx imagetools inspect %s)", s.name, m[1], ref, m[1], ref, ref)
			}
		} else if !digestRE.MatchString(ref) {
			t.Errorf("stage %s: FROM %s: neither pinned by digest (@sha256:...) nor a build ARG", s.name, ref)
		}
		if _, err := name.ParseReference(strings.TrimSuffix(strings.SplitN(ref, "@", 2)[0], ":")); err != nil {
			t.Errorf("stage %s: base %q: %v", s.name, ref, err)
		}
	}

	// The Go image's version is go.mod's.
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVersion == nil || !strings.HasPrefix(strings.TrimPrefix(d.args["GO_IMAGE"], "golang:"), string(goVersion[1])) {
		t.Errorf("GO_IMAGE=%s does not build with go %s (go.mod)", d.args["GO_IMAGE"], goVersion[1])
	}

	build := d.stage("build")
	goBuild := dockerGoBuild(t, d)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "-X main.version=${VERSION}", "./cmd/attestor", "-o /out/attestor"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("build stage's go build lacks %q: %s", want, goBuild)
		}
	}
	if !slices.ContainsFunc(build.all("ARG"), func(a string) bool { return strings.HasPrefix(a, "VERSION") }) {
		t.Error("build stage has no ARG VERSION")
	}

	rt := d.stage("runtime")
	if rt.from != "${BASE_IMAGE}" {
		t.Errorf("runtime stage FROM %s, want ${BASE_IMAGE}", rt.from)
	}
	if copies := rt.all("COPY"); !slices.Equal(copies, []string{"--from=build /out/attestor /usr/local/bin/attestor"}) {
		t.Errorf("runtime stage copies %q, want only the binary to /usr/local/bin/attestor", copies)
	}
	if runs := rt.all("RUN"); len(runs) > 0 {
		t.Errorf("runtime stage runs %q: the base has no shell", runs)
	}
	if u := rt.last("USER"); u != "65532:65532" {
		t.Errorf("runtime stage USER %q, want 65532:65532 (non-root)", u)
	}
	if ep := dockerEntrypoint(t, rt); !slices.Equal(ep, []string{"attestor"}) {
		t.Errorf("runtime stage ENTRYPOINT %q, want [\"attestor\"] (exec form)", ep)
	}

	action := d.stage("action")
	if action.from != "runtime" || len(action.instrs) != 1 || action.last("USER") != "0:0" {
		t.Errorf("action stage = FROM %s %v, want FROM runtime with only USER 0:0 (GitHub's Docker actions run as root)", action.from, action.instrs)
	}
}

// dockerGoBuild returns the build stage's RUN instruction that runs go
// build, without its --mount options.
func dockerGoBuild(t *testing.T, d *dockerfile) string {
	t.Helper()
	for _, run := range d.stage("build").all("RUN") {
		if !strings.Contains(run, "go build") {
			continue
		}
		var words []string
		for _, w := range strings.Fields(run) {
			if !strings.HasPrefix(w, "--mount=") {
				words = append(words, w)
			}
		}
		return strings.Join(words, " ")
	}
	t.Fatal("the build stage runs no go build")
	return ""
}

func dockerEntrypoint(t *testing.T, s *stage) []string {
	t.Helper()
	var ep []string
	if err := json.Unmarshal([]byte(s.last("ENTRYPOINT")), &ep); err != nil {
		t.Errorf("ENTRYPOINT %s: not the exec form: %v", s.last("ENTRYPOINT"), err)
	}
	return ep
}

// TestContainerImage builds the binary with the Dockerfile's own go build
// command, assembles the runtime image from it with go-containerregistry
// (the binary at /usr/local/bin/attestor, the host's CA certificates, a
// nonroot user, the Dockerfile's ENTRYPOINT and USER) on an empty base,
// pushes it to an in-process registry and exports it as a tarball, pulls
// it back, extracts its filesystem and runs its entry point as the
// container would: ENTRYPOINT + ["version"], found through the image's
// PATH, as user 65532 when the test can switch users.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building the image")
	}
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux")
	}
	d := readDockerfile(t)
	rt := d.stage("runtime")
	const version = "v0.0.0-image-test"

	// The binary, built by the Dockerfile's command.
	out := t.TempDir()
	bin := filepath.Join(out, "attestor")
	script := strings.TrimSpace(strings.TrimPrefix(dockerGoBuild(t, d), "RUN"))
	script = strings.ReplaceAll(script, "/out/attestor", bin)
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "VERSION="+version, "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH,
		"PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH")) //nolint:staticcheck // the toolchain running the test
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's go build: %v\n%s\n%s", err, script, outb)
	}
	assertStatic(t, bin)

	// The image.
	binData, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	files := []imageFile{
		{"usr/local/bin/attestor", binData, 0o755},
		{"etc/passwd", []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644},
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		files = append(files, imageFile{"etc/ssl/certs/ca-certificates.crt", ca, 0o644})
	} else {
		t.Logf("no host CA bundle: %v", err)
	}
	layer, err := tarLayer(files)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Entrypoint = dockerEntrypoint(t, rt)
	if err := json.Unmarshal([]byte(rt.last("CMD")), &cfg.Config.Cmd); err != nil {
		t.Errorf("CMD %s: %v", rt.last("CMD"), err)
	}
	cfg.Config.User = rt.last("USER")
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}

	// Pushed to a registry and exported as a tarball, as docker save would.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/attestor/attestor:" + version)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(filepath.Join(out, "image.tar"), ref, img); err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	fromTar, err := tarball.ImageFromPath(filepath.Join(out, "image.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := pulled.Digest()
	d2, _ := fromTar.Digest()
	if d1 != d2 {
		t.Errorf("registry digest %s, tarball digest %s", d1, d2)
	}

	// The container: its filesystem and its entry point.
	root := t.TempDir()
	extractImage(t, pulled, root)
	pcfg, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if pcfg.Config.User != "65532:65532" {
		t.Errorf("image user %q", pcfg.Config.User)
	}
	argv := append(slices.Clone(pcfg.Config.Entrypoint), "version")
	exe := lookPathIn(t, root, pcfg.Config.Env, argv[0])
	run := exec.Command(exe, argv[1:]...)
	run.Env = pcfg.Config.Env
	run.Dir = root
	if os.Getuid() == 0 {
		runAs(run, 65532, 65532)
		// t.TempDir's directories are private: open them to 65532.
		for _, p := range []string{root, filepath.Dir(root)} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for p := filepath.Dir(root); p != "/" && p != "."; p = filepath.Dir(p) {
			fi, err := os.Stat(p)
			if err != nil || fi.Mode().Perm()&0o001 == 0 {
				run.SysProcAttr = nil // a parent 65532 cannot traverse
				break
			}
		}
	}
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("the image's entry point %q: %v\n%s", argv, err, stderr.String())
	}
	if want := "attestor " + version + " "; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("the image's entry point printed %q, want %q...", stdout.String(), want)
	}
	as := "the test's user"
	if run.SysProcAttr != nil {
		as = "uid 65532"
	}
	t.Logf("image %s: %s (image user %s; run as %s)", ref, strings.TrimSpace(stdout.String()), pcfg.Config.User, as)
}

type imageFile struct {
	path string
	data []byte
	mode int64
}

func tarLayer(files []imageFile) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.path); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	slices.Sort(sorted)
	for _, d := range sorted {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// extractImage writes the image's flattened filesystem under root.
func extractImage(t *testing.T, img v1.Image, root string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(path.Clean("/"+h.Name)))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
}

// lookPathIn finds exe as the container runtime does: through PATH from
// the image's Env, inside root.
func lookPathIn(t *testing.T, root string, env []string, exe string) string {
	t.Helper()
	if strings.Contains(exe, "/") {
		return filepath.Join(root, exe)
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range strings.Split(v, ":") {
				p := filepath.Join(root, dir, exe)
				if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
					return p
				}
			}
		}
	}
	t.Fatalf("entry point %q not found on the image's PATH", exe)
	return ""
}

// assertStatic fails unless bin is a static ELF executable (no
// interpreter, no shared libraries) without symbols (-s).
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: not static (CGO_ENABLED=0?)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %q: not static", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: not stripped (-s)")
	}
}

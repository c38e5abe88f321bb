package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	r := cli(t, "version")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("attestor version:\n%s", r)
	}
	want := regexp.MustCompile(`^attestor devel( \([0-9a-f]+\))? ` + regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	if !want.MatchString(r.stdout) {
		t.Errorf("attestor version printed %q, want a match of %s", r.stdout, want)
	}

	r = cli(t, "version", "--json")
	if r.code != 0 {
		t.Fatalf("attestor version --json:\n%s", r)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("attestor version --json printed %q: %v", r.stdout, err)
	}
	v.Commit = ""
	if diff := cmp.Diff(versionInfo{Version: "devel", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}, v); diff != "" {
		t.Errorf("version --json (-want +got):\n%s", diff)
	}

	if r := cli(t, "version", "extra"); r.code != 2 {
		t.Errorf("attestor version extra: want exit 2:\n%s", r)
	}
}

// stepJSON is the --json output of run and record stop.
type stepJSON struct {
	Step      string   `json:"step"`
	ExitCode  *int     `json:"exitCode"`
	TimedOut  bool     `json:"timedOut"`
	Materials int      `json:"materials"`
	Products  int      `json:"products"`
	Files     []string `json:"files"`
}

func decodeStep(t *testing.T, r result) stepJSON {
	t.Helper()
	var s stepJSON
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("decoding --json output: %v\n%s", err, r)
	}
	return s
}

// verifyRecord verifies a signed step record with the project's key and
// returns what it says.
func (p *project) verifyRecord(t *testing.T, path string) *attestor.Record {
	t.Helper()
	signer, err := sign.Load(p.key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	payload, _, err := sign.VerifyEnvelope(context.Background(), env, signer.Verifier())
	if err != nil {
		t.Fatalf("verifying %s: %v", path, err)
	}
	st, err := envelope.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := attestor.RecordFromStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (p *project) keyID(t *testing.T) string {
	t.Helper()
	signer, err := sign.Load(p.key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := signer.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRun(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	args := append([]string{"run", "--json", "--step", "build", "-m", "src", "-m", "Makefile", "-p", "bin"}, p.flags()...)
	args = append(args, "--", "sh", "-c", `mkdir -p "$0/bin" && echo app > "$0/bin/app" && echo compiled`, p.base)
	r := cli(t, args...)
	if r.code != 0 {
		t.Fatalf("attestor run:\n%s", r)
	}
	envelope := filepath.Join(p.ws, workspace.EnvelopeName("build", p.keyID(t)))
	want := stepJSON{Step: "build", ExitCode: new(int), Materials: 3, Products: 1, Files: []string{envelope}}
	if diff := cmp.Diff(want, decodeStep(t, r)); diff != "" {
		t.Errorf("--json output (-want +got):\n%s", diff)
	}
	// With --json, stdout is the machine output: the command's output
	// goes to stderr.
	assertContains(t, "stderr", r.stderr, "compiled\n")
	rec := p.verifyRecord(t, envelope)
	var got []string
	for _, m := range append(rec.Materials, rec.Products...) {
		got = append(got, m.GetName())
	}
	if diff := cmp.Diff([]string{"Makefile", "src/main.c", "src/util.c", "bin/app"}, got); diff != "" {
		t.Errorf("recorded artifacts (-want +got):\n%s", diff)
	}
	if rec.Stdout != "compiled\n" || rec.ExitCode == nil || *rec.ExitCode != 0 {
		t.Errorf("record: stdout %q, exit code %v", rec.Stdout, rec.ExitCode)
	}

	// Without --json the summary is human text on stderr, and the command's
	// output is on stdout.
	args = append([]string{"run", "--step", "test", "-m", "src"}, p.flags()...)
	r = cli(t, append(args, "--", "echo", "ok")...)
	if r.code != 0 || r.stdout != "ok\n" {
		t.Fatalf("attestor run without --json:\n%s", r)
	}
	assertContains(t, "stderr", r.stderr, "recorded step test", "2 materials", "exit 0", workspace.EnvelopeName("test", p.keyID(t)))
}

// TestRunExitCode: run records a failing command and exits with its code.
func TestRunExitCode(t *testing.T) {
	t.Parallel()
	for _, code := range []int{1, 3, 42} {
		p := newProject(t)
		script := "echo failing >&2; exit " + strconv.Itoa(code)
		args := append([]string{"run", "--step", "test", "-m", "src"}, p.flags()...)
		args = append(args, "--", "sh", "-c", script)

		r := attestorProcess(t, p.base, nil, args...)
		if r.code != code {
			t.Errorf("attestor run -- sh -c %q: process exit %d, want %d\n%s", script, r.code, code, r)
		}
		envelope := filepath.Join(p.ws, workspace.EnvelopeName("test", p.keyID(t)))
		rec := p.verifyRecord(t, envelope)
		if rec.ExitCode == nil || *rec.ExitCode != code || rec.Stderr != "failing\n" {
			t.Errorf("record: exit code %v, stderr %q; want %d, %q", rec.ExitCode, rec.Stderr, code, "failing\n")
		}
		assertContains(t, "stderr", r.stderr, "failing\n", "recorded step test")

		// In process too, with --json.
		if err := os.RemoveAll(p.ws); err != nil {
			t.Fatal(err)
		}
		r = cli(t, append([]string{"--json"}, args...)...)
		if r.code != code {
			t.Errorf("execute(run -- sh -c %q) = %d, want %d\n%s", script, r.code, code, r)
		}
		if s := decodeStep(t, r); s.ExitCode == nil || *s.ExitCode != code {
			t.Errorf("--json exitCode = %v, want %d", s.ExitCode, code)
		}
	}
}

func TestRunCommandCannotStart(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	args := append([]string{"run", "--step", "build", "-m", "src"}, p.flags()...)
	args = append(args, "--", "attestor-test-no-such-command", "arg")
	r := attestorProcess(t, p.base, nil, args...)
	if r.code != 2 {
		t.Errorf("exit %d, want 2:\n%s", r.code, r)
	}
	assertContains(t, "stderr", r.stderr, "attestor-test-no-such-command", "cannot start")
	if files := p.wsFiles(t); len(files) != 0 {
		t.Errorf("workspace holds %q, want nothing", files)
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	args := append([]string{"run", "--json", "--step", "slow", "-m", "src", "--timeout", "300ms"}, p.flags()...)
	r := cli(t, append(args, "--", "sleep", "60")...)
	if r.code != 128+15 {
		t.Errorf("exit %d, want %d (the command's, killed by SIGTERM):\n%s", r.code, 128+15, r)
	}
	s := decodeStep(t, r)
	if !s.TimedOut || len(s.Files) != 1 {
		t.Errorf("--json output %+v: want timedOut and one file", s)
	}
	assertContains(t, "stderr", r.stderr, "timed out")
}

// TestRunEnvironment: the workspace and key come from ATTESTOR_DIR and
// ATTESTOR_KEY, and paths are relative to the working directory.
func TestRunEnvironment(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	ws := filepath.Join(t.TempDir(), "shared-ws")
	env := []string{"ATTESTOR_DIR=" + ws, "ATTESTOR_KEY=" + p.key}
	r := attestorProcess(t, p.base, env, "run", "--json", "--step", "build", "-m", "src", "--", "true")
	if r.code != 0 {
		t.Fatalf("attestor run:\n%s", r)
	}
	want := filepath.Join(ws, workspace.EnvelopeName("build", p.keyID(t)))
	if s := decodeStep(t, r); !cmp.Equal(s.Files, []string{want}) {
		t.Errorf("files %q, want %q", s.Files, want)
	}
	if p.wsFiles(t) != nil {
		t.Errorf("the default workspace was created although ATTESTOR_DIR is set")
	}
}

// TestRunDefaultWorkspaceNotRecorded: with the defaults (workspace
// .attestor, base directory .), recording the whole tree leaves the
// workspace out, even the links of earlier steps with --format both.
func TestRunDefaultWorkspaceNotRecorded(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	env := []string{"ATTESTOR_KEY=" + p.key}
	for _, step := range []string{"one", "two"} {
		r := attestorProcess(t, p.base, env, "run", "--json", "--format", "both", "--no-default-excludes", "--step", step, "-m", ".", "-p", ".", "--", "true")
		if r.code != 0 {
			t.Fatalf("attestor run:\n%s", r)
		}
		if s := decodeStep(t, r); s.Materials != 3 || s.Products != 3 {
			t.Errorf("step %s recorded %d materials and %d products, want 3 and 3 (the workspace left out)", step, s.Materials, s.Products)
		}
	}
	if got := len(p.wsFiles(t)); got != 4 {
		t.Errorf("workspace holds %q, want 4 files", p.wsFiles(t))
	}
}

func TestRecordStartStop(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	r := cli(t, append([]string{"record", "start", "--json", "--step", "build", "-m", "src"}, p.flags()...)...)
	if r.code != 0 {
		t.Fatalf("record start:\n%s", r)
	}
	var started map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &started); err != nil || !cmp.Equal(started, map[string]any{"step": "build", "pending": true}) {
		t.Errorf("record start --json printed %q (%v)", r.stdout, err)
	}
	if diff := cmp.Diff([]string{"build.pending.json"}, p.wsFiles(t)); diff != "" {
		t.Errorf("workspace after start (-want +got):\n%s", diff)
	}

	// Starting again is refused.
	r = cli(t, append([]string{"record", "start", "--step", "build", "-m", "src"}, p.flags()...)...)
	if r.code != 2 {
		t.Errorf("second record start: want exit 2:\n%s", r)
	}
	assertContains(t, "stderr", r.stderr, "already started", `"build"`)

	writeFile(t, p.path("bin/app"), "app")
	args := append([]string{"record", "stop", "--json", "--step", "build", "-p", "bin"}, p.flags()...)
	r = cli(t, append(args, "--", "make", "all")...)
	if r.code != 0 {
		t.Fatalf("record stop:\n%s", r)
	}
	envelope := filepath.Join(p.ws, workspace.EnvelopeName("build", p.keyID(t)))
	want := stepJSON{Step: "build", Materials: 2, Products: 1, Files: []string{envelope}}
	if diff := cmp.Diff(want, decodeStep(t, r)); diff != "" {
		t.Errorf("record stop --json (-want +got):\n%s", diff)
	}
	rec := p.verifyRecord(t, envelope)
	if !cmp.Equal(rec.Command, []string{"make", "all"}) || rec.ExitCode != nil {
		t.Errorf("record: command %q, exit code %v; want [make all], none", rec.Command, rec.ExitCode)
	}
	if diff := cmp.Diff([]string{filepath.Base(envelope)}, p.wsFiles(t)); diff != "" {
		t.Errorf("workspace after stop (-want +got):\n%s", diff)
	}

	// Stopping again: nothing is pending.
	r = cli(t, append([]string{"record", "stop", "--step", "build", "-p", "bin"}, p.flags()...)...)
	if r.code != 2 {
		t.Errorf("second record stop: want exit 2:\n%s", r)
	}
}

func TestRecordStopWithoutStart(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	r := attestorProcess(t, p.base, nil, append([]string{"record", "stop", "--step", "build", "-p", "src"}, p.flags()...)...)
	if r.code != 2 {
		t.Errorf("record stop without start: exit %d, want 2:\n%s", r.code, r)
	}
	assertContains(t, "stderr", r.stderr, `"build"`, "record start")
	if files := p.wsFiles(t); len(files) != 0 {
		t.Errorf("workspace holds %q, want nothing", files)
	}
}

// TestBadInput: every kind of bad input exits 2 with a message that names
// the input, runs nothing and writes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery"
	root := os.Geteuid() == 0
	tests := []struct {
		name  string
		setup func(t *testing.T, p *project) // optional
		args  func(p *project) []string      // before "--"; the command touches a marker
		env   []string                       // for the process run; in-process runs are skipped when set
		want  []string                       // in stderr
		// notWant must not be in stderr (secrets).
		notWant []string
		// wsAllowed: the case is about the workspace itself.
		wsAllowed bool
		// commandRuns: the bad input is only seen after the command ran.
		commandRuns bool
	}{
		{
			name: "missing material",
			args: func(p *project) []string { return p.runArgs("-m", "src", "-m", "no-such-file.c") },
			want: []string{`"no-such-file.c"`},
		},
		{
			name:        "missing product",
			args:        func(p *project) []string { return p.runArgs("-m", "src", "-p", "dist/app.tar") },
			want:        []string{`"dist/app.tar"`},
			commandRuns: true,
		},
		{
			name: "material outside the base directory",
			args: func(p *project) []string { return p.runArgs("-m", "../") },
			want: []string{`"../"`},
		},
		{
			name: "unreadable material",
			setup: func(t *testing.T, p *project) {
				if root {
					// root reads every file: a dangling symlink is
					// unreadable for everyone.
					if err := os.Symlink("gone.c", p.path("src/secret.c")); err != nil {
						t.Fatal(err)
					}
					return
				}
				writeFile(t, p.path("src/secret.c"), "int x;\n")
				if err := os.Chmod(p.path("src/secret.c"), 0); err != nil {
					t.Fatal(err)
				}
			},
			args: func(p *project) []string { return p.runArgs("-m", "src") },
			want: []string{"src/secret.c"},
		},
		{
			name: "dangling symlink",
			setup: func(t *testing.T, p *project) {
				if err := os.Symlink(p.path("nowhere"), p.path("src/link.c")); err != nil {
					t.Fatal(err)
				}
			},
			args: func(p *project) []string { return p.runArgs("-m", "src") },
			want: []string{"src/link.c"},
		},
		{
			name:  "malformed key file",
			setup: func(t *testing.T, p *project) { writeFile(t, p.key, "this is not a key\n") },
			args:  func(p *project) []string { return p.runArgs("-m", "src") },
			want:  []string{"ci.key", "malformed key"},
		},
		{
			name:  "missing key file",
			setup: func(t *testing.T, p *project) { os.Remove(p.key) },
			args:  func(p *project) []string { return p.runArgs("-m", "src") },
			want:  []string{"ci.key"},
		},
		{
			name: "public key given as the signing key",
			setup: func(t *testing.T, p *project) {
				p.cosignKey(t, password)
				p.key = strings.TrimSuffix(p.key, ".key") + ".pub"
			},
			args: func(p *project) []string { return p.runArgs("-m", "src") },
			want: []string{"cosign.pub"},
		},
		{
			name:    "wrong password for a cosign key",
			setup:   func(t *testing.T, p *project) { p.cosignKey(t, password) },
			env:     []string{"COSIGN_PASSWORD=not-the-" + password},
			args:    func(p *project) []string { return p.runArgs("-m", "src") },
			want:    []string{"cosign.key", "password"},
			notWant: []string{"not-the-" + password},
		},
		{
			name:  "cosign key without COSIGN_PASSWORD",
			setup: func(t *testing.T, p *project) { p.cosignKey(t, password) },
			env:   []string{},
			args:  func(p *project) []string { return p.runArgs("-m", "src") },
			want:  []string{"cosign.key", "COSIGN_PASSWORD"},
		},
		{
			name: "step name with a slash",
			args: func(p *project) []string { return p.runArgs("-m", "src", "--step", "a/b") },
			want: []string{`"a/b"`},
		},
		{
			name: "step name ..",
			args: func(p *project) []string { return p.runArgs("-m", "src", "--step", "..") },
			want: []string{`".."`},
		},
		{
			name: "step name ../x",
			args: func(p *project) []string { return p.runArgs("-m", "src", "--step", "../x") },
			want: []string{`"../x"`},
		},
		{
			name: "unknown format",
			args: func(p *project) []string { return p.runArgs("-m", "src", "--format", "xml") },
			want: []string{`"xml"`, "dsse, legacy or both"},
		},
		{
			name: "unknown flag",
			args: func(p *project) []string { return p.runArgs("-m", "src", "--bogus") },
			want: []string{"--bogus"},
		},
		{
			name: "no --step",
			args: func(p *project) []string {
				return []string{"run", "--dir", p.ws, "--base-dir", p.base, "--key", p.key, "-m", "src"}
			},
			want: []string{"--step"},
		},
		{
			name: "no key",
			args: func(p *project) []string {
				return []string{"run", "--dir", p.ws, "--base-dir", p.base, "--step", "build", "-m", "src"}
			},
			env:  []string{}, // ATTESTOR_KEY must not be set
			want: []string{"--key", "ATTESTOR_KEY"},
		},
		{
			name: "negative timeout",
			args: func(p *project) []string { return p.runArgs("-m", "src", "--timeout", "-1s") },
			want: []string{"-1s"},
		},
		{
			name: "bad timeout",
			args: func(p *project) []string { return p.runArgs("-m", "src", "--timeout", "soon") },
			want: []string{`"soon"`},
		},
		{
			name:      "workspace is a file",
			setup:     func(t *testing.T, p *project) { writeFile(t, p.ws, "not a directory") },
			args:      func(p *project) []string { return p.runArgs("-m", "src") },
			want:      []string{".attestor"},
			wsAllowed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, inProcess := range []bool{true, false} {
				if inProcess && tt.env != nil {
					continue // needs an environment of its own
				}
				p := newProject(t)
				if tt.setup != nil {
					tt.setup(t, p)
				}
				marker := p.path("command-ran")
				args := append(tt.args(p), "--", "touch", marker)
				var r result
				if inProcess {
					r = cli(t, args...)
				} else {
					r = attestorProcess(t, p.base, tt.env, args...)
				}
				how := map[bool]string{true: "in process", false: "process"}[inProcess]
				if r.code != 2 {
					t.Errorf("%s: exit %d, want 2\n%s", how, r.code, r)
				}
				assertContains(t, how+" stderr", r.stderr, tt.want...)
				for _, s := range tt.notWant {
					if strings.Contains(r.stderr, s) {
						t.Errorf("%s: stderr contains %q:\n%s", how, s, r.stderr)
					}
				}
				if r.stdout != "" {
					t.Errorf("%s: stdout is not empty: %q", how, r.stdout)
				}
				if fileExists(marker) != tt.commandRuns {
					t.Errorf("%s: the command ran: %v, want %v", how, fileExists(marker), tt.commandRuns)
				}
				if tt.wsAllowed {
					continue
				}
				if files := p.wsFiles(t); len(files) != 0 {
					t.Errorf("%s: workspace holds %q, want nothing", how, files)
				}
			}
		})
	}
}

// runArgs returns "run" with the project's flags, --step build and extra;
// a later --step wins.
func (p *project) runArgs(extra ...string) []string {
	return append(append([]string{"run", "--step", "build"}, p.flags()...), extra...)
}

// cosignKey replaces the project's key with a cosign key pair encrypted
// with password: cosign.key and cosign.pub.
func (p *project) cosignKey(t *testing.T, password string) {
	t.Helper()
	priv, pub, err := sign.GenerateKeyPair([]byte(password))
	if err != nil {
		t.Fatal(err)
	}
	p.key = filepath.Join(filepath.Dir(p.key), "cosign.key")
	writeFile(t, p.key, string(priv))
	writeFile(t, strings.TrimSuffix(p.key, ".key")+".pub", string(pub))
}

// TestCosignKeyWithPassword: a cosign key signs with the password from
// COSIGN_PASSWORD, which neither the wrapped command nor the record gets.
func TestCosignKeyWithPassword(t *testing.T) {
	t.Parallel()
	const password = "s3cret-cosign-password"
	p := newProject(t)
	p.cosignKey(t, password)
	args := append([]string{"run", "--json", "--step", "build", "-m", "src"}, p.flags()...)
	r := attestorProcess(t, p.base, []string{"COSIGN_PASSWORD=" + password}, append(args, "--", "sh", "-c", `echo "pw=$COSIGN_PASSWORD"`)...)
	if r.code != 0 {
		t.Fatalf("attestor run with a cosign key:\n%s", r)
	}
	s := decodeStep(t, r)
	data, err := os.ReadFile(s.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.LoadVerifier(strings.TrimSuffix(p.key, ".key") + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	payload, _, err := sign.VerifyEnvelope(context.Background(), env, v)
	if err != nil {
		t.Fatalf("the record does not verify with cosign.pub: %v", err)
	}
	if bytes.Contains(payload, []byte(password)) {
		t.Errorf("the record contains the password:\n%s", payload)
	}
	assertContains(t, "payload", string(payload), `pw=\n`)
}

// helpCommands are the commands whose --help is golden.
var helpCommands = [][]string{
	{},
	{"run"},
	{"record"},
	{"record", "start"},
	{"record", "stop"},
	{"key"},
	{"key", "generate"},
	{"key", "public"},
	{"version"},
	{"inspect"},
}

func TestHelpGolden(t *testing.T) {
	t.Parallel()
	for _, cmd := range helpCommands {
		name := strings.Join(append([]string{"attestor"}, cmd...), "-")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Help asked for is the output: on stdout, so that
			// "attestor --help | less" shows it.
			r := cli(t, append(append([]string{}, cmd...), "--help")...)
			if r.code != 0 || r.stderr != "" || r.stdout == "" {
				t.Fatalf("attestor %s --help:\n%s", strings.Join(cmd, " "), r)
			}
			golden(t, filepath.Join("help", name+".golden"), r.stdout)
			if r2 := cli(t, append([]string{"help"}, cmd...)...); r2.stdout != r.stdout || r2.stderr != "" {
				t.Errorf("attestor help %s differs from --help", strings.Join(cmd, " "))
			}
		})
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (regenerate with go test ./cmd/attestor -update): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; regenerate with -update if intended):\n%s", path, diff)
	}
}

// TestUnknownCommand: a mistyped command is bad usage (exit 2), never a
// silent success: a pipeline step with a typo must fail.
func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"bogus"}, {"record", "strat"}, {"key", "generte"}, {"--bogus-flag"}} {
		r := cli(t, args...)
		if r.code != 2 {
			t.Errorf("attestor %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r)
		}
		assertContains(t, "stderr", r.stderr, strings.TrimLeft(args[len(args)-1], "-"))
	}
}

// TestKeyGenerate is not parallel: it sets COSIGN_PASSWORD.
func TestKeyGenerate(t *testing.T) {
	const password = "key-generate-test-password"
	t.Setenv("COSIGN_PASSWORD", password)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ci")
	r := cli(t, "key", "generate", "--json", "--output-prefix", prefix)
	if r.code != 0 {
		t.Fatalf("key generate:\n%s", r)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("key generate --json printed %q: %v", r.stdout, err)
	}
	if diff := cmp.Diff(map[string]string{"privateKey": prefix + ".key", "publicKey": prefix + ".pub"}, out); diff != "" {
		t.Errorf("--json output (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	priv, _ := os.ReadFile(prefix + ".key")
	pub, _ := os.ReadFile(prefix + ".pub")
	if bytes.Contains(priv, []byte(password)) {
		t.Error("the private key file contains the password")
	}

	// The pair loads back and matches.
	signer, err := sign.Load(prefix + ".key")
	if err != nil {
		t.Fatalf("loading the generated key: %v", err)
	}
	verifier, err := sign.LoadVerifier(prefix + ".pub")
	if err != nil {
		t.Fatalf("loading the generated public key: %v", err)
	}
	id1, _ := signer.KeyID()
	id2, _ := verifier.KeyID()
	if id1 != id2 {
		t.Errorf("key ids differ: private %s, public %s", id1, id2)
	}

	// key public prints the same public key.
	r = cli(t, "key", "public", "--key", prefix+".key")
	if r.code != 0 || r.stdout != string(pub) {
		t.Errorf("key public printed %q, want %q:\n%s", r.stdout, pub, r)
	}
	assertContains(t, "stderr", r.stderr, id1)

	// The key signs a step.
	p := newProject(t)
	p.key = prefix + ".key"
	if r := cli(t, append(p.runArgs("-m", "src"), "--", "true")...); r.code != 0 {
		t.Errorf("run with the generated key:\n%s", r)
	}

	// Existing files are never overwritten.
	for _, existing := range []string{".key", ".pub"} {
		other := filepath.Join(dir, "other")
		writeFile(t, other+existing, "keep")
		r = cli(t, "key", "generate", "--output-prefix", other)
		if r.code != 2 {
			t.Errorf("key generate over an existing %s: exit %d, want 2\n%s", existing, r.code, r)
		}
		assertContains(t, "stderr", r.stderr, other+existing, "already exists")
		for _, ext := range []string{".key", ".pub"} {
			data, err := os.ReadFile(other + ext)
			if ext == existing && string(data) != "keep" {
				t.Errorf("%s was overwritten", other+ext)
			}
			if ext != existing && err == nil {
				t.Errorf("%s was written although %s exists", other+ext, other+existing)
			}
		}
		os.Remove(other + existing)
	}
	r = cli(t, "key", "generate", "--output-prefix", prefix)
	if r.code != 2 {
		t.Errorf("key generate over the first pair: exit %d, want 2", r.code)
	}
	if again, _ := os.ReadFile(prefix + ".key"); !bytes.Equal(again, priv) {
		t.Error("the private key was overwritten")
	}

	// Without COSIGN_PASSWORD: bad input, nothing written.
	r = attestorProcess(t, dir, nil, "key", "generate", "--output-prefix", "nopw")
	if r.code != 2 {
		t.Errorf("key generate without COSIGN_PASSWORD: exit %d, want 2\n%s", r.code, r)
	}
	assertContains(t, "stderr", r.stderr, "COSIGN_PASSWORD")
	if fileExists(filepath.Join(dir, "nopw.key")) || fileExists(filepath.Join(dir, "nopw.pub")) {
		t.Error("key generate without a password wrote files")
	}
	// An empty password is a password.
	r = attestorProcess(t, dir, []string{"COSIGN_PASSWORD="}, "key", "generate", "--output-prefix", "empty")
	if r.code != 0 {
		t.Errorf("key generate with an empty COSIGN_PASSWORD:\n%s", r)
	}
	if _, err := sign.Load(filepath.Join(dir, "empty.key"), sign.WithPassword(func() ([]byte, error) { return nil, nil })); err != nil {
		t.Errorf("loading a key with an empty password: %v", err)
	}
}

// TestKeyGenerateCosign: cosign signs and verifies with the pair that key
// generate writes.
func TestKeyGenerateCosign(t *testing.T) {
	t.Parallel()
	cosign := requireTool(t, "cosign")
	const password = "cosign-interop-password"
	dir := t.TempDir()
	env := []string{"COSIGN_PASSWORD=" + password}
	if r := attestorProcess(t, dir, env, "key", "generate", "--output-prefix", "ci"); r.code != 0 {
		t.Fatalf("key generate:\n%s", r)
	}
	writeFile(t, filepath.Join(dir, "blob"), "the artifact\n")
	runCosign := func(args ...string) error {
		cmd := exec.Command(cosign, args...)
		cmd.Dir = dir
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("cosign %s:\n%s", strings.Join(args, " "), out)
		}
		return err
	}
	if err := runCosign("sign-blob", "--key", "ci.key", "--tlog-upload=false", "--yes", "--output-signature", "blob.sig", "blob"); err != nil {
		t.Fatalf("cosign sign-blob with the generated key: %v", err)
	}
	if err := runCosign("verify-blob", "--key", "ci.pub", "--signature", "blob.sig", "--insecure-ignore-tlog=true", "blob"); err != nil {
		t.Fatalf("cosign verify-blob with the generated public key: %v", err)
	}
	// And a tampered blob does not verify.
	writeFile(t, filepath.Join(dir, "blob"), "another artifact\n")
	if err := runCosign("verify-blob", "--key", "ci.pub", "--signature", "blob.sig", "--insecure-ignore-tlog=true", "blob"); err == nil {
		t.Error("cosign verify-blob accepted a tampered blob")
	}
}

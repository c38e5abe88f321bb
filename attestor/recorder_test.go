package attestor_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"
	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/workspace"
)

// fakeSigner is an in-memory Ed25519 Signer that is not a LegacySigner. It
// stands in for the key handling of attestor/sign, which is tested there;
// its signatures are real, so envelopes it signs verify.
type fakeSigner struct {
	priv     ed25519.PrivateKey
	keyID    string
	signErr  error
	keyIDErr error
}

// fakeKeyID is the key id of every fakeSigner: files it signs are named
// <step>.fa4e51de.*.
const fakeKeyID = "fa4e51de0123456789abcdef0123456789abcdef0123456789abcdef01234567"

func newFakeSigner() *fakeSigner {
	seed := sha256.Sum256([]byte("attestor fake signer"))
	return &fakeSigner{priv: ed25519.NewKeyFromSeed(seed[:]), keyID: fakeKeyID}
}

func (s *fakeSigner) Sign(_ context.Context, msg []byte) ([]byte, error) {
	if s.signErr != nil {
		return nil, s.signErr
	}
	return ed25519.Sign(s.priv, msg), nil
}

func (s *fakeSigner) KeyID() (string, error) { return s.keyID, s.keyIDErr }

func (s *fakeSigner) Public() crypto.PublicKey { return s.priv.Public() }

// fakeLegacySigner is a fakeSigner that signs classic links too.
type fakeLegacySigner struct {
	*fakeSigner
	legacyErr error
}

func newFakeLegacySigner() *fakeLegacySigner { return &fakeLegacySigner{fakeSigner: newFakeSigner()} }

func (s *fakeLegacySigner) SignLegacy(_ context.Context, msg []byte) ([]byte, error) {
	if s.legacyErr != nil {
		return nil, s.legacyErr
	}
	return ed25519.Sign(s.priv, msg), nil
}

var (
	_ envelope.Signer       = (*fakeSigner)(nil)
	_ envelope.LegacySigner = (*fakeLegacySigner)(nil)
)

// project is a source tree to record, with its workspace.
type project struct {
	base   string // the tree; recorded paths are relative to it
	wsDir  string // the workspace directory
	ws     *workspace.Workspace
	before []string // listTree(base) right after setup
}

// projectFiles is the content of every new project.
var projectFiles = map[string]string{
	"go.mod":       "module example.com/app\n",
	"src/main.go":  "package main\n\nfunc main() {}\n",
	"src/util.go":  "package main\n",
	"README.md":    "# app\n",
	"ws-data/keep": "not the workspace\n",
}

// newProject makes a project in a temporary directory with its workspace at
// wsRel below it ("" means .attestor).
func newProject(t *testing.T, wsRel string) *project {
	t.Helper()
	base := t.TempDir()
	for name, content := range projectFiles {
		writeFile(t, filepath.Join(base, name), content)
	}
	if wsRel == "" {
		wsRel = workspace.DefaultDir
	}
	wsDir := filepath.Join(base, wsRel)
	ws, err := workspace.Open(wsDir)
	if err != nil {
		t.Fatal(err)
	}
	return &project{base: base, wsDir: wsDir, ws: ws, before: listTree(t, base)}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// listTree returns every file and directory below dir, hidden ones too, as
// '/'-separated relative paths, sorted; directories end in '/'.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertUnchanged fails unless the project's tree, workspace included, is as
// it was after setup: no record, no pending state, no temporary file.
func (p *project) assertUnchanged(t *testing.T) {
	t.Helper()
	if diff := cmp.Diff(p.before, listTree(t, p.base)); diff != "" {
		t.Errorf("files were written (-before +after):\n%s", diff)
	}
}

// wsFiles lists the workspace.
func (p *project) wsFiles(t *testing.T) []string {
	t.Helper()
	return listTree(t, p.wsDir)
}

// recorder returns a Recorder for the project with a fixed clock, no
// redaction from the environment, and the given options.
func (p *project) recorder(t *testing.T, signer envelope.Signer, opts ...attestor.Option) *attestor.Recorder {
	t.Helper()
	all := append([]attestor.Option{
		attestor.WithHashOptions(hashing.WithBaseDir(p.base)),
		attestor.WithClock(func() time.Time { return t0 }),
		attestor.WithRedact(nil),
	}, opts...)
	r, err := attestor.NewRecorder(p.ws, signer, all...)
	if err != nil {
		t.Fatalf("NewRecorder: %v", err)
	}
	return r
}

// readRecord reads a signed step record from the workspace, verifies it
// with pub and returns what it says.
func readRecord(t *testing.T, path string, pub crypto.PublicKey) *attestor.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatalf("envelope.Parse(%s): %v", path, err)
	}
	if env.PayloadType != envelope.PayloadTypeInToto {
		t.Errorf("payloadType = %q, want %q", env.PayloadType, envelope.PayloadTypeInToto)
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	payload, _, err := sign.VerifyEnvelope(context.Background(), env, v)
	if err != nil {
		t.Fatalf("VerifyEnvelope(%s): %v", path, err)
	}
	st, err := envelope.ParseStatement(payload)
	if err != nil {
		t.Fatalf("ParseStatement: %v", err)
	}
	rec, err := attestor.RecordFromStatement(st)
	if err != nil {
		t.Fatalf("RecordFromStatement: %v", err)
	}
	return rec
}

// readLink reads a classic signed link and verifies its one signature with
// pub and the in-toto link scheme.
func readLink(t *testing.T, path string, pub crypto.PublicKey, keyID string) in_toto.Link {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var mb struct {
		Signed     in_toto.Link        `json:"signed"`
		Signatures []in_toto.Signature `json:"signatures"`
	}
	if err := json.Unmarshal(data, &mb); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	if len(mb.Signatures) != 1 || mb.Signatures[0].KeyID != keyID {
		t.Fatalf("%s: signatures %+v, want one by %s", path, mb.Signatures, keyID)
	}
	canonical, err := cjson.EncodeCanonical(mb.Signed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := hex.DecodeString(mb.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyLegacy(context.Background(), canonical, sig); err != nil {
		t.Errorf("%s: link signature does not verify: %v", path, err)
	}
	return mb.Signed
}

func names(rds []*ita1.ResourceDescriptor) []string {
	var out []string
	for _, r := range rds {
		out = append(out, r.GetName())
	}
	return out
}

// shell returns the command that runs script with sh, the project's base
// directory as $1 (commands run in the test's working directory, not in the
// base directory).
func (p *project) shell(script string) []string {
	return []string{"sh", "-c", script, "sh", p.base}
}

func TestRecorderRun(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	signer := newFakeSigner()
	var live bytes.Buffer
	ci := map[string]any{"platform": "local", "runId": "7"}
	r := p.recorder(t, signer, attestor.WithOutput(&live, &live), attestor.WithCI(ci))
	cmd := p.shell(`mkdir -p "$1/bin" && printf 'app v1' > "$1/bin/app" && echo built`)
	res, err := r.Run(context.Background(), attestor.Step{
		Name:      "build",
		Materials: []string{"src", "go.mod"},
		Products:  []string{"bin"},
		Command:   cmd,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := &attestor.Record{
		Step:    "build",
		Command: cmd,
		Materials: []*ita1.ResourceDescriptor{
			rd("go.mod", sha256Hex(projectFiles["go.mod"])),
			rd("src/main.go", sha256Hex(projectFiles["src/main.go"])),
			rd("src/util.go", sha256Hex(projectFiles["src/util.go"])),
		},
		Products:   []*ita1.ResourceDescriptor{rd("bin/app", sha256Hex("app v1"))},
		ExitCode:   intp(0),
		Stdout:     "built\n",
		CI:         ci,
		StartedOn:  t0,
		FinishedOn: t0,
	}
	if diff := cmp.Diff(want, res.Record(), recordCmp); diff != "" {
		t.Errorf("Result.Record (-want +got):\n%s", diff)
	}
	if res.TimedOut {
		t.Error("TimedOut is set")
	}
	if live.String() != "built\n" {
		t.Errorf("live output %q, want %q", live.String(), "built\n")
	}
	wantFile := p.ws.Path(workspace.EnvelopeName("build", fakeKeyID))
	if diff := cmp.Diff([]string{wantFile}, res.Files); diff != "" {
		t.Errorf("Result.Files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"build.fa4e51de.dsse.json"}, p.wsFiles(t)); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}
	if env, err := res.Envelope(); err != nil || env == nil {
		t.Fatalf("Result.Envelope() = %v, %v", env, err)
	}
	fromFile := readRecord(t, wantFile, signer.Public())
	if diff := cmp.Diff(res.Record(), fromFile, recordCmp); diff != "" {
		t.Errorf("signed record differs from Result.Record (-result +file):\n%s", diff)
	}
}

func TestRecorderRunFailingCommand(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	signer := newFakeSigner()
	r := p.recorder(t, signer)
	res, err := r.Run(context.Background(), attestor.Step{
		Name:      "test",
		Materials: []string{"src"},
		Command:   []string{"sh", "-c", "echo 'FAIL: TestX' >&2; exit 3"},
	})
	if err != nil {
		t.Fatalf("Run of a failing command: %v (want the failure recorded, no error)", err)
	}
	if res.Record().ExitCode == nil || *res.Record().ExitCode != 3 {
		t.Fatalf("ExitCode = %v, want 3", res.Record().ExitCode)
	}
	rec := readRecord(t, res.Files[0], signer.Public())
	if rec.ExitCode == nil || *rec.ExitCode != 3 || rec.Stderr != "FAIL: TestX\n" {
		t.Errorf("signed record: exit code %v, stderr %q; want 3, %q", rec.ExitCode, rec.Stderr, "FAIL: TestX\n")
	}
	// No products: the materials are the subjects.
	if len(rec.Products) != 0 || len(rec.Materials) != 2 {
		t.Errorf("signed record: materials %v, products %v", names(rec.Materials), names(rec.Products))
	}
}

func TestRecorderRunCommandCannotStart(t *testing.T) {
	t.Parallel()
	notExecutable := filepath.Join(t.TempDir(), "script.sh")
	writeFile(t, notExecutable, "#!/bin/sh\necho hi\n")
	tests := []struct {
		name    string
		command []string
	}{
		{"not on PATH", []string{"attestor-test-no-such-command"}},
		{"missing absolute path", []string{"/nonexistent/bin/tool", "arg"}},
		{"not executable", []string{notExecutable}},
		{"a directory", []string{t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "")
			r := p.recorder(t, newFakeLegacySigner(), attestor.WithFormat(attestor.FormatBoth))
			res, err := r.Run(context.Background(), attestor.Step{Name: "build", Materials: []string{"src"}, Command: tt.command})
			if !errors.Is(err, attestor.ErrCommandStart) || !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("Run(%q) error = %v, want one matching ErrCommandStart and fault.ErrInvalidInput", tt.command, err)
			}
			if res != nil {
				t.Errorf("Run(%q) result = %+v, want nil", tt.command, res)
			}
			if err != nil && !strings.Contains(err.Error(), tt.command[0]) {
				t.Errorf("error %q does not name the command %q", err, tt.command[0])
			}
			p.assertUnchanged(t)
		})
	}
}

func TestRecorderRunNoCommand(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	r := p.recorder(t, newFakeSigner())
	for _, cmd := range [][]string{nil, {}} {
		res, err := r.Run(context.Background(), attestor.Step{Name: "build", Command: cmd})
		if !errors.Is(err, fault.ErrInvalidInput) || res != nil {
			t.Errorf("Run(no command) = %v, %v; want an error matching fault.ErrInvalidInput", res, err)
		}
	}
	p.assertUnchanged(t)
}

func TestRecorderRunTimeout(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	signer := newFakeSigner()
	r := p.recorder(t, signer, attestor.WithTimeout(200*time.Millisecond))
	res, err := r.Run(context.Background(), attestor.Step{
		Name:      "slow",
		Materials: []string{"src"},
		Command:   []string{"sleep", "60"},
	})
	if !errors.Is(err, attestor.ErrTimeout) {
		t.Fatalf("Run error = %v, want one matching ErrTimeout", err)
	}
	if res == nil {
		t.Fatal("a command that timed out must still be recorded: result is nil")
	}
	if !res.TimedOut {
		t.Error("TimedOut is not set")
	}
	const sigterm = 128 + 15
	if res.Record().ExitCode == nil || *res.Record().ExitCode != sigterm {
		t.Errorf("ExitCode = %v, want %d (killed by SIGTERM)", res.Record().ExitCode, sigterm)
	}
	if len(res.Files) != 1 {
		t.Fatalf("Files = %v, want one record", res.Files)
	}
	rec := readRecord(t, res.Files[0], signer.Public())
	if rec.ExitCode == nil || *rec.ExitCode != sigterm {
		t.Errorf("signed record: exit code %v, want %d", rec.ExitCode, sigterm)
	}
}

// TestRecorderRunCancelled: a cancelled run (CI job cancelled, Ctrl-C) did
// not finish its step, so it is not recorded.
func TestRecorderRunCancelled(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	r := p.recorder(t, newFakeSigner())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	res, err := r.Run(ctx, attestor.Step{Name: "build", Materials: []string{"src"}, Command: []string{"sleep", "60"}})
	<-done
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Errorf("Run = %v, %v; want nil, an error matching context.Canceled", res, err)
	}
	p.assertUnchanged(t)
}

func TestRecorderRunCaptureAndRedact(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-very-secret"
	p := newProject(t, "")
	// The command reads the secret from a file: its arguments are recorded
	// as they are.
	secretFile := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secretFile, secret)
	signer := newFakeLegacySigner()
	var live bytes.Buffer
	r := p.recorder(t, signer,
		attestor.WithFormat(attestor.FormatBoth),
		attestor.WithRedact([]string{secret}),
		attestor.WithMaxCapture(32),
		attestor.WithOutput(&live, &live),
	)
	res, err := r.Run(context.Background(), attestor.Step{
		Name:      "deploy",
		Materials: []string{"src"},
		Command:   []string{"sh", "-c", `s=$(cat "$1"); echo "token=$s"; echo "$s" >&2; echo 0123456789abcdefghij >&2`, "sh", secretFile},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Record()
	if want := "token=***\n"; rec.Stdout != want || rec.StdoutTruncated {
		t.Errorf("Stdout = %q (truncated %v), want %q, not truncated", rec.Stdout, rec.StdoutTruncated, want)
	}
	if want := "***\n0123456789ab"; rec.Stderr != want || !rec.StderrTruncated {
		t.Errorf("Stderr = %q (truncated %v), want %q, truncated", rec.Stderr, rec.StderrTruncated, want)
	}
	if !strings.Contains(live.String(), secret) {
		t.Errorf("live output %q is redacted; only the record should be", live.String())
	}
	signed := readRecord(t, res.Files[0], signer.Public())
	if diff := cmp.Diff(rec, signed, recordCmp); diff != "" {
		t.Errorf("signed record (-result +file):\n%s", diff)
	}
	for _, f := range res.Files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("%s contains the secret", f)
		}
	}
	env, err := p.ws.ReadEnvelope(filepath.Base(res.Files[0]))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(payload, []byte(secret)) {
		t.Error("the signed statement contains the secret")
	}
}

func TestRecorderFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format    attestor.Format
		wantFiles []string
	}{
		{attestor.FormatDSSE, []string{"build.fa4e51de.dsse.json"}},
		{attestor.FormatLegacy, []string{"build.fa4e51de.link"}},
		{attestor.FormatBoth, []string{"build.fa4e51de.dsse.json", "build.fa4e51de.link"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "")
			signer := newFakeLegacySigner()
			r := p.recorder(t, signer, attestor.WithFormat(tt.format))
			res, err := r.Run(context.Background(), attestor.Step{
				Name:      "build",
				Materials: []string{"src"},
				Products:  []string{"README.md"},
				Command:   []string{"true"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantFiles, p.wsFiles(t)); diff != "" {
				t.Errorf("workspace (-want +got):\n%s", diff)
			}
			var got []string
			for _, f := range res.Files {
				got = append(got, filepath.Base(f))
			}
			if diff := cmp.Diff(tt.wantFiles, got); diff != "" {
				t.Errorf("Result.Files (-want +got):\n%s", diff)
			}
			if env, err := res.Envelope(); err != nil || (env != nil) != (tt.format != attestor.FormatLegacy) {
				t.Errorf("Result.Envelope() = %v, %v for format %s", env, err, tt.format)
			}
			if tt.format == attestor.FormatDSSE {
				return
			}
			link := readLink(t, p.ws.Path(workspace.LinkName("build", fakeKeyID)), signer.Public(), fakeKeyID)
			wantLink, err := json.Marshal(res.Record().Link())
			if err != nil {
				t.Fatal(err)
			}
			gotLink, err := json.Marshal(link)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(wantLink), string(gotLink)); diff != "" {
				t.Errorf("signed link differs from Record.Link (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecorderStartStop(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	signer := newFakeSigner()
	ctx := context.Background()

	// Start and stop run in different processes (different containers in
	// Cloud Build): only the workspace carries the state.
	start := p.recorder(t, signer)
	if err := start.Start(ctx, attestor.Step{Name: "build", Materials: []string{"src"}, Command: []string{"make", "all"}}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if diff := cmp.Diff([]string{"build.pending.json"}, p.wsFiles(t)); diff != "" {
		t.Errorf("workspace after Start (-want +got):\n%s", diff)
	}

	// The phase: a material changes, a product appears.
	writeFile(t, filepath.Join(p.base, "src/main.go"), "package main // changed\n")
	writeFile(t, filepath.Join(p.base, "bin/app"), "app v2")

	stop := p.recorder(t, signer, attestor.WithClock(func() time.Time { return t1 }))
	res, err := stop.Stop(ctx, attestor.Step{Name: "build", Products: []string{"bin"}})
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	want := &attestor.Record{
		Step:    "build",
		Command: []string{"make", "all"},
		Materials: []*ita1.ResourceDescriptor{ // as they were at the start
			rd("src/main.go", sha256Hex(projectFiles["src/main.go"])),
			rd("src/util.go", sha256Hex(projectFiles["src/util.go"])),
		},
		Products:   []*ita1.ResourceDescriptor{rd("bin/app", sha256Hex("app v2"))},
		StartedOn:  t0,
		FinishedOn: t1,
	}
	if diff := cmp.Diff(want, res.Record(), recordCmp); diff != "" {
		t.Errorf("Result.Record (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"build.fa4e51de.dsse.json"}, p.wsFiles(t)); diff != "" {
		t.Errorf("workspace after Stop (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, readRecord(t, res.Files[0], signer.Public()), recordCmp); diff != "" {
		t.Errorf("signed record (-want +got):\n%s", diff)
	}

	// The step can be started again once stopped.
	if err := start.Start(ctx, attestor.Step{Name: "build"}); err != nil {
		t.Errorf("Start after Stop: %v", err)
	}
}

func TestRecorderStopReplacesCommand(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	r := p.recorder(t, newFakeSigner())
	ctx := context.Background()
	if err := r.Start(ctx, attestor.Step{Name: "build", Materials: []string{"src"}, Command: []string{"make"}}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Stop(ctx, attestor.Step{Name: "build", Products: []string{"README.md"}, Command: []string{"make", "release"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"make", "release"}, res.Record().Command); diff != "" {
		t.Errorf("Command (-want +got):\n%s", diff)
	}
	if res.Record().ExitCode != nil {
		t.Errorf("ExitCode = %d, want nil: no command ran", *res.Record().ExitCode)
	}
}

func TestRecorderStopWithoutStart(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	r := p.recorder(t, newFakeSigner())
	ctx := context.Background()
	res, err := r.Stop(ctx, attestor.Step{Name: "build", Products: []string{"src"}})
	if !errors.Is(err, attestor.ErrNoPending) || !errors.Is(err, fault.ErrInvalidInput) || res != nil {
		t.Errorf("Stop without Start = %v, %v; want an error matching ErrNoPending and fault.ErrInvalidInput", res, err)
	}
	// A pending step of another name does not count.
	if err := r.Start(ctx, attestor.Step{Name: "other", Materials: []string{"src"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stop(ctx, attestor.Step{Name: "build"}); !errors.Is(err, attestor.ErrNoPending) {
		t.Errorf("Stop(build) with only 'other' pending = %v, want ErrNoPending", err)
	}
	if diff := cmp.Diff([]string{"other.pending.json"}, p.wsFiles(t)); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}
}

func TestRecorderStartTwice(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	r := p.recorder(t, newFakeSigner())
	ctx := context.Background()
	if err := r.Start(ctx, attestor.Step{Name: "build", Materials: []string{"src"}}); err != nil {
		t.Fatal(err)
	}
	pendingPath := p.ws.Path("build.pending.json")
	first, err := os.ReadFile(pendingPath)
	if err != nil {
		t.Fatal(err)
	}
	later := p.recorder(t, newFakeSigner(), attestor.WithClock(func() time.Time { return t1 }))
	err = later.Start(ctx, attestor.Step{Name: "build", Materials: []string{"go.mod"}})
	if !errors.Is(err, attestor.ErrPending) || !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("second Start = %v, want an error matching ErrPending and fault.ErrInvalidInput", err)
	}
	second, err := os.ReadFile(pendingPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("the second Start changed the pending record:\n%s\n%s", first, second)
	}
	if diff := cmp.Diff([]string{"build.pending.json"}, p.wsFiles(t)); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}
}

func TestRecorderStopCorruptPending(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not JSON":       "{",
		"wrong version":  `{"version":2,"step":"build","materials":[],"startedOn":"2025-03-14T15:09:26Z"}`,
		"other step":     `{"version":1,"step":"test","materials":[],"startedOn":"2025-03-14T15:09:26Z"}`,
		"empty":          "",
		"JSON of a list": "[]",
		"digest not hex": `{"version":1,"step":"build","materials":[{"name":"a","digest":{"sha256":"zz"}}],"startedOn":"2025-03-14T15:09:26Z"}`,
		"no digest":      `{"version":1,"step":"build","materials":[{"name":"a","digest":{}}],"startedOn":"2025-03-14T15:09:26Z"}`,
		"no name":        `{"version":1,"step":"build","materials":[{"name":"","digest":{"sha256":"` + strings.Repeat("ab", 32) + `"}}],"startedOn":"2025-03-14T15:09:26Z"}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "")
			if err := p.ws.Write("build.pending.json", []byte(content)); err != nil {
				t.Fatal(err)
			}
			p.before = listTree(t, p.base)
			r := p.recorder(t, newFakeSigner())
			res, err := r.Stop(context.Background(), attestor.Step{Name: "build", Products: []string{"src"}})
			if !errors.Is(err, fault.ErrInvalidInput) || res != nil {
				t.Errorf("Stop with a corrupt pending record = %v, %v; want an error matching fault.ErrInvalidInput", res, err)
			}
			p.assertUnchanged(t)
		})
	}
}

func TestRecorderInvalidStepName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a/b", "..", "../x", "", ".hidden", strings.Repeat("x", 200), "a\\b", "/etc/passwd"} {
		t.Run(strconv.Quote(name[:min(len(name), 20)]), func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "ws/inner")
			r := p.recorder(t, newFakeLegacySigner(), attestor.WithFormat(attestor.FormatBoth))
			ctx := context.Background()
			marker := filepath.Join(p.base, "ran")
			step := attestor.Step{Name: name, Materials: []string{"src"}, Products: []string{"src"}, Command: []string{"touch", marker}}
			if res, err := r.Run(ctx, step); !errors.Is(err, fault.ErrInvalidInput) || res != nil {
				t.Errorf("Run(%q) = %v, %v; want an error matching fault.ErrInvalidInput", name, res, err)
			}
			if err := r.Start(ctx, step); !errors.Is(err, fault.ErrInvalidInput) {
				t.Errorf("Start(%q) = %v; want an error matching fault.ErrInvalidInput", name, err)
			}
			if res, err := r.Stop(ctx, step); !errors.Is(err, fault.ErrInvalidInput) || errors.Is(err, attestor.ErrNoPending) || res != nil {
				t.Errorf("Stop(%q) = %v, %v; want an error matching fault.ErrInvalidInput (not ErrNoPending)", name, res, err)
			}
			// Nothing ran, nothing was written in or next to the workspace.
			p.assertUnchanged(t)
		})
	}
}

func TestNewRecorderErrors(t *testing.T) {
	t.Parallel()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ws     *workspace.Workspace
		signer envelope.Signer
		opts   []attestor.Option
	}{
		{"no workspace", nil, newFakeSigner(), nil},
		{"no signer", ws, nil, nil},
		{"legacy format, signer without SignLegacy", ws, newFakeSigner(), []attestor.Option{attestor.WithFormat(attestor.FormatLegacy)}},
		{"both formats, signer without SignLegacy", ws, newFakeSigner(), []attestor.Option{attestor.WithFormat(attestor.FormatBoth)}},
		{"unknown format", ws, newFakeLegacySigner(), []attestor.Option{attestor.WithFormat("xml")}},
		{"empty format", ws, newFakeLegacySigner(), []attestor.Option{attestor.WithFormat("")}},
		{"negative timeout", ws, newFakeSigner(), []attestor.Option{attestor.WithTimeout(-time.Second)}},
		{"negative capture", ws, newFakeSigner(), []attestor.Option{attestor.WithMaxCapture(-1)}},
		{"nil clock", ws, newFakeSigner(), []attestor.Option{attestor.WithClock(nil)}},
		{"nil logger", ws, newFakeSigner(), []attestor.Option{attestor.WithLogger(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := attestor.NewRecorder(tt.ws, tt.signer, tt.opts...)
			if !errors.Is(err, fault.ErrInvalidInput) || r != nil {
				t.Errorf("NewRecorder = %v, %v; want an error matching fault.ErrInvalidInput", r, err)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"dsse", "legacy", "both"} {
		if f, err := attestor.ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "DSSE", "json", "link", "dsse,legacy"} {
		_, err := attestor.ParseFormat(s)
		if !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("ParseFormat(%q) error = %v, want one matching fault.ErrInvalidInput", s, err)
		} else if !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("ParseFormat(%q) error %q does not name the input", s, err)
		}
	}
}

// TestRecorderWorkspaceNotRecorded: the workspace below the recorded tree
// is never a material or a product, wherever it is and whatever is in it
// (records, links, pending state), and nothing else is left out because of
// it.
func TestRecorderWorkspaceNotRecorded(t *testing.T) {
	t.Parallel()
	for _, wsRel := range []string{".attestor", "ws", "nested/deeper/ws", "src/.attestor"} {
		t.Run(wsRel, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, wsRel)
			// Without the default excludes, which would hide *.link files.
			r := p.recorder(t, newFakeLegacySigner(),
				attestor.WithFormat(attestor.FormatBoth),
				attestor.WithHashOptions(hashing.WithoutDefaultExcludes()),
			)
			ctx := context.Background()
			all := []string{"."}
			var recorded []string
			for _, step := range []string{"one", "two"} {
				res, err := r.Run(ctx, attestor.Step{Name: step, Materials: all, Products: all, Command: []string{"true"}})
				if err != nil {
					t.Fatal(err)
				}
				recorded = append(recorded, names(res.Record().Materials)...)
				recorded = append(recorded, names(res.Record().Products)...)
			}
			if err := r.Start(ctx, attestor.Step{Name: "three", Materials: all}); err != nil {
				t.Fatal(err)
			}
			res, err := r.Stop(ctx, attestor.Step{Name: "three", Products: all})
			if err != nil {
				t.Fatal(err)
			}
			recorded = append(recorded, names(res.Record().Materials)...)
			recorded = append(recorded, names(res.Record().Products)...)
			for _, name := range recorded {
				if name == wsRel || strings.HasPrefix(name, wsRel+"/") {
					t.Errorf("workspace file %q was recorded", name)
				}
			}
			// The project itself is recorded in full.
			var want []string
			for name := range projectFiles {
				want = append(want, name)
			}
			slices.Sort(want)
			if diff := cmp.Diff(want, names(res.Record().Products)); diff != "" {
				t.Errorf("products of the last step (-want +got):\n%s", diff)
			}
			if len(p.wsFiles(t)) != 6 {
				t.Errorf("workspace holds %q, want two files per step", p.wsFiles(t))
			}
		})
	}
}

// TestRecorderWorkspaceNotRecordedThroughSymlinks: the workspace is left
// out when it and the base directory are named through different symbolic
// links (a symlinked checkout; /tmp on macOS).
func TestRecorderWorkspaceNotRecordedThroughSymlinks(t *testing.T) {
	t.Parallel()
	for _, viaLink := range []string{"base", "workspace"} {
		t.Run(viaLink, func(t *testing.T) {
			t.Parallel()
			real := t.TempDir()
			writeFile(t, filepath.Join(real, "a.txt"), "a")
			link := filepath.Join(t.TempDir(), "checkout")
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			base, wsDir := link, filepath.Join(real, ".attestor")
			if viaLink == "workspace" {
				base, wsDir = real, filepath.Join(link, ".attestor")
			}
			ws, err := workspace.Open(wsDir)
			if err != nil {
				t.Fatal(err)
			}
			r, err := attestor.NewRecorder(ws, newFakeSigner(), attestor.WithHashOptions(hashing.WithBaseDir(base)))
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range []string{"one", "two"} {
				res, err := r.Run(context.Background(), attestor.Step{Name: step, Materials: []string{"."}, Command: []string{"true"}})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"a.txt"}, names(res.Record().Materials)); diff != "" {
					t.Errorf("step %s: materials (-want +got):\n%s", step, diff)
				}
			}
		})
	}
}

// TestRecorderNothingHalfWritten: every failure leaves the tree and the
// workspace as they were: no record, no pending state, no temporary file.
func TestRecorderNothingHalfWritten(t *testing.T) {
	t.Parallel()
	errSign := errors.New("signing service says no")
	plain := func() envelope.Signer { return newFakeSigner() }
	tests := []struct {
		name   string
		signer func() envelope.Signer
		step   attestor.Step
		// startFails: the error comes from hashing the materials, so
		// Start fails too; otherwise Start succeeds and Stop fails.
		startFails bool
		wantErr    error // besides being non-nil
	}{
		{
			name:       "missing material",
			signer:     plain,
			step:       attestor.Step{Name: "build", Materials: []string{"src", "no-such-file"}},
			startFails: true,
			wantErr:    fault.ErrInvalidInput,
		},
		{
			name:       "material outside the base directory",
			signer:     plain,
			step:       attestor.Step{Name: "build", Materials: []string{"../"}},
			startFails: true,
			wantErr:    fault.ErrInvalidInput,
		},
		{
			name:    "missing product",
			signer:  plain,
			step:    attestor.Step{Name: "build", Materials: []string{"src"}, Products: []string{"bin/app"}},
			wantErr: fault.ErrInvalidInput,
		},
		{
			name:    "signing fails",
			signer:  func() envelope.Signer { s := newFakeSigner(); s.signErr = errSign; return s },
			step:    attestor.Step{Name: "build", Materials: []string{"src"}},
			wantErr: errSign,
		},
		{
			name:    "key id fails",
			signer:  func() envelope.Signer { s := newFakeSigner(); s.keyIDErr = errSign; return s },
			step:    attestor.Step{Name: "build", Materials: []string{"src"}},
			wantErr: errSign,
		},
		{
			name: "legacy signing fails after the envelope was signed",
			signer: func() envelope.Signer {
				s := newFakeLegacySigner()
				s.legacyErr = errSign
				return s
			},
			step:    attestor.Step{Name: "build", Materials: []string{"src"}},
			wantErr: errSign,
		},
		{
			name:    "nothing to record",
			signer:  plain,
			step:    attestor.Step{Name: "build"},
			wantErr: fault.ErrInvalidInput,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []attestor.Option
			if _, ok := tt.signer().(envelope.LegacySigner); ok {
				opts = append(opts, attestor.WithFormat(attestor.FormatBoth))
			}
			ctx := context.Background()

			p := newProject(t, "")
			r := p.recorder(t, tt.signer(), opts...)
			step := tt.step
			step.Command = []string{"true"}
			res, err := r.Run(ctx, step)
			if err == nil || !errors.Is(err, tt.wantErr) || res != nil {
				t.Errorf("Run = %v, %v; want an error matching %v", res, err, tt.wantErr)
			}
			p.assertUnchanged(t)

			p = newProject(t, "")
			r = p.recorder(t, tt.signer(), opts...)
			err = r.Start(ctx, step)
			if tt.startFails {
				if err == nil || !errors.Is(err, tt.wantErr) {
					t.Errorf("Start = %v; want an error matching %v", err, tt.wantErr)
				}
				p.assertUnchanged(t)
				return
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			p.before = listTree(t, p.base)
			res, err = r.Stop(ctx, step)
			if err == nil || !errors.Is(err, tt.wantErr) || res != nil {
				t.Errorf("Stop = %v, %v; want an error matching %v", res, err, tt.wantErr)
			}
			// The pending state is kept, so the phase can be stopped again.
			p.assertUnchanged(t)
		})
	}
}

// TestRecorderMissingMaterialDoesNotRun: materials are hashed before the
// command runs, so bad input stops the step before it does anything.
func TestRecorderMissingMaterialDoesNotRun(t *testing.T) {
	t.Parallel()
	p := newProject(t, "")
	marker := filepath.Join(t.TempDir(), "ran")
	r := p.recorder(t, newFakeSigner())
	_, err := r.Run(context.Background(), attestor.Step{Name: "build", Materials: []string{"missing"}, Command: []string{"touch", marker}})
	if !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("Run = %v, want an error matching fault.ErrInvalidInput", err)
	} else if !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %q does not name the missing path", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran although a material is missing")
	}
}

// writeKey writes key as a PKCS #8 PEM file and returns its path.
func writeKey(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRecorderWithKeyFile records with real keys loaded by attestor/sign,
// in both formats, and verifies the classic link with in-toto-golang.
func TestRecorderWithKeyFile(t *testing.T) {
	t.Parallel()
	keys := map[string]func() (crypto.Signer, error){
		"ed25519": func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err },
		"ecdsa":   func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"rsa":     func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
	}
	for name, gen := range keys {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			key, err := gen()
			if err != nil {
				t.Fatal(err)
			}
			signer, err := sign.Load(writeKey(t, key))
			if err != nil {
				t.Fatal(err)
			}
			keyID, err := signer.KeyID()
			if err != nil {
				t.Fatal(err)
			}
			p := newProject(t, "")
			r := p.recorder(t, signer, attestor.WithFormat(attestor.FormatBoth))
			res, err := r.Run(context.Background(), attestor.Step{
				Name: "build", Materials: []string{"src"}, Products: []string{"README.md"}, Command: []string{"echo", "ok"},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{p.ws.Path(workspace.EnvelopeName("build", keyID)), p.ws.Path(workspace.LinkName("build", keyID))}
			if diff := cmp.Diff(want, res.Files); diff != "" {
				t.Fatalf("Files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(res.Record(), readRecord(t, res.Files[0], signer.Public()), recordCmp); diff != "" {
				t.Errorf("signed record (-result +file):\n%s", diff)
			}
			readLink(t, res.Files[1], signer.Public(), keyID)

			// in-toto-golang, the library in-toto's Go verifiers use,
			// accepts the link.
			var mb in_toto.Metablock
			if err := mb.Load(res.Files[1]); err != nil {
				t.Fatalf("in_toto.Metablock.Load: %v", err)
			}
			if err := mb.VerifySignature(signer.InTotoKey()); err != nil {
				t.Errorf("in_toto.Metablock.VerifySignature: %v", err)
			}
			if err := in_toto.ValidateMetablock(mb); err != nil {
				t.Errorf("in_toto.ValidateMetablock: %v", err)
			}
		})
	}
}

// TestRecorderGolden pins the signed files of a step recorded with a fixed
// Ed25519 key: Ed25519 signatures are deterministic, so the whole envelope
// and link are golden.
func TestRecorderGolden(t *testing.T) {
	t.Parallel()
	signer, err := sign.Load(filepath.Join("testdata", "golden", "ed25519.key"))
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, "")
	writeFile(t, filepath.Join(p.base, "bin/app"), "app v1")
	r := p.recorder(t, signer,
		attestor.WithFormat(attestor.FormatBoth),
		attestor.WithCI(map[string]any{"platform": "local"}),
		attestor.WithClock(func() time.Time { return t1 }),
	)
	res, err := r.Run(context.Background(), attestor.Step{
		Name:      "build",
		Materials: []string{"go.mod", "src"},
		Products:  []string{"bin"},
		Command:   []string{"sh", "-c", "echo built; echo 'a warning' >&2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	dsseFile, err := os.ReadFile(res.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "build.dsse.json", dsseFile)
	env, err := res.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, payload, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden(t, "build.statement.json", pretty.Bytes())
	linkFile, err := os.ReadFile(res.Files[1])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "build.link", linkFile)

	var mb in_toto.Metablock
	if err := mb.Load(res.Files[1]); err != nil {
		t.Fatal(err)
	}
	if err := mb.VerifySignature(signer.InTotoKey()); err != nil {
		t.Errorf("in_toto.Metablock.VerifySignature: %v", err)
	}
}

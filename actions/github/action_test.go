package github

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestOutsideActions: with no GitHub Actions environment at all, nothing
// panics, nothing is written, and no secret is echoed.
func TestOutsideActions(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	a := New(WithGetenv(env(nil)), WithWriter(&w))
	if a.Enabled() {
		t.Fatal("Enabled() outside Actions")
	}
	if err := a.SetOutput("verified", "true"); err != nil {
		t.Errorf("SetOutput: %v", err)
	}
	if err := a.AddStepSummary("| a |"); err != nil {
		t.Errorf("AddStepSummary: %v", err)
	}
	a.AddMask("s3cret")
	end := a.Group("long output")
	end()
	a.Errorf("boom %d", 1)
	if w.Len() != 0 {
		t.Errorf("wrote %q outside Actions", w.String())
	}
}

func TestInputs(t *testing.T) {
	t.Parallel()
	a := New(WithEnviron([]string{
		"INPUT_DRY-RUN=true",
		"INPUT_GRAFEAS-URL= http://127.0.0.1:8080 ",
		"INPUT_KEYLESS=False",
		"INPUT_BAD=yes",
		"INPUT_MATERIALS=go.mod\n  src \n\n# a comment\ncmd\n",
		"INPUT_SLSA_VERSION=1",
	}))
	if got := a.Input("grafeas-url"); got != "http://127.0.0.1:8080" {
		t.Errorf("Input(grafeas-url) = %q", got)
	}
	if got := a.Input("slsa version"); got != "1" {
		t.Errorf("Input(slsa version) = %q", got)
	}
	for name, want := range map[string]bool{"dry-run": true, "keyless": false, "unset": false} {
		got, err := a.BoolInput(name)
		if err != nil || got != want {
			t.Errorf("BoolInput(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	_, err := a.BoolInput("bad")
	var ie *InputError
	if !errors.As(err, &ie) || ie.Name != "bad" || ie.Value != "yes" {
		t.Errorf("BoolInput(bad) error = %v", err)
	}
	if diff := cmp.Diff([]string{"go.mod", "src", "cmd"}, a.ListInput("materials")); diff != "" {
		t.Errorf("ListInput (-want +got):\n%s", diff)
	}
	if got := a.ListInput("unset"); got != nil {
		t.Errorf("ListInput(unset) = %q", got)
	}
}

func TestSetOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "output")
	a := New(WithGetenv(env(map[string]string{EnvActions: "true", EnvOutput: out})), WithWriter(&bytes.Buffer{}))
	values := map[string]string{
		"verified":     "true",
		"attestations": ".attestor/build.abcd1234.dsse.json\n.attestor/_provenance.abcd1234.dsse.json",
		// A value that tries to end a fixed delimiter and set another output.
		"evil":  "x\n_GitHubActionsFileCommandDelimeter_\nverified<<EOF\nfalse\nEOF",
		"empty": "",
	}
	for _, k := range []string{"verified", "attestations", "evil", "empty"} {
		if err := a.SetOutput(k, values[k]); err != nil {
			t.Fatalf("SetOutput(%s): %v", k, err)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "_GitHubActionsFileCommandDelimeter_\n") && !strings.Contains(string(data), "ghadelimiter_") {
		t.Fatalf("fixed delimiter used:\n%s", data)
	}
	got, err := ParseFileCommands(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(values, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s\nfile:\n%s", diff, data)
	}
}

// TestSetOutputDelimiterCollision: a value holding the delimiter chosen is
// refused (forced here with a fixed random source).
func TestSetOutputDelimiterCollision(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "output")
	zeros := bytes.NewReader(make([]byte, 64))
	a := New(WithGetenv(env(map[string]string{EnvOutput: out})), withRandom(zeros))
	delim := "ghadelimiter_" + strings.Repeat("00", 16)
	if err := a.SetOutput("x", "a\n"+delim+"\ny<<Z"); !errors.Is(err, ErrDelimiter) {
		t.Errorf("SetOutput with the delimiter in the value: %v, want ErrDelimiter", err)
	}
	if err := a.SetOutput("bad\nname", "v"); !errors.Is(err, ErrDelimiter) {
		t.Errorf("SetOutput with a line break in the name: %v, want ErrDelimiter", err)
	}
}

// TestFileCommandFails: an unwritable GITHUB_OUTPUT or summary is an
// error, never a panic.
func TestFileCommandFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() // a directory: opening it for append fails
	a := New(WithGetenv(env(map[string]string{EnvOutput: dir, EnvStepSummary: dir})))
	if err := a.SetOutput("a", "b"); err == nil {
		t.Error("SetOutput to a directory: no error")
	}
	if err := a.AddStepSummary("x"); err == nil {
		t.Error("AddStepSummary to a directory: no error")
	}
}

func TestMaskAndGroup(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	a := New(WithGetenv(env(map[string]string{EnvActions: "true"})), WithWriter(&w))
	a.AddMask("line1\r\nline2\n\n")
	end := a.Group("attestor push")
	end()
	a.Errorf("verify: %s", "FAILED")
	want := "::add-mask::line1\n::add-mask::line2\n::group::attestor push\n::endgroup::\n::error::verify: FAILED\n"
	if got := w.String(); got != want {
		t.Errorf("workflow commands:\n%s\nwant:\n%s", got, want)
	}
}

// TestBrokenWriter: a workflow command that cannot be written does not
// panic (go-githubactions panics).
func TestBrokenWriter(t *testing.T) {
	t.Parallel()
	a := New(WithGetenv(env(map[string]string{EnvActions: "true"})), WithWriter(failWriter{}))
	a.AddMask("x")
	a.Group("g")()
	a.Errorf("e")
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestStepSummary(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "summary")
	a := New(WithGetenv(env(map[string]string{EnvStepSummary: path})))
	s := &Summary{
		Title:   "attestor verify",
		Subject: "127.0.0.1:5000/app@sha256:abc",
		Verdict: "PASSED",
		Rows: []Row{
			{Step: "build", Signers: []string{"ci (abcd1234)"}, Subjects: []string{"bin/app", "a|b"}, Verdict: "PASSED"},
			{Step: "(provenance)", Verdict: "PASSED"},
		},
		Notes: []string{"1 <script> note"},
	}
	for range 2 {
		if err := a.AddStepSummary(s.Markdown()); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "### attestor verify\n\n**Subject:** `127.0.0.1:5000/app@sha256:abc`\n\n**Verdict:** ✅ PASSED\n\n" +
		"| Step | Signers | Subjects | Verdict |\n| --- | --- | --- | --- |\n" +
		"| build | `ci (abcd1234)` | `bin/app`<br>`a\\|b` | PASSED |\n" +
		"| (provenance) | - | - | PASSED |\n\n1 &lt;script&gt; note\n\n"
	if got := string(data); got != want+want {
		t.Errorf("summary:\n%s\nwant (twice):\n%s", got, want)
	}
}

// TestStepSummaryMermaid: the diagram goes under the table in a fenced
// mermaid block, fenced longer than any run of backticks in it, so that
// nothing in it closes the block.
func TestStepSummaryMermaid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ diagram, fence string }{
		{"flowchart LR\n  s0[\"build\"]\n", "```"},
		{"flowchart LR\n  s0[\"a ``` b\"]", "````"},
		{"x `````` y\n", "```````"},
	} {
		s := &Summary{Title: "attestor verify", Rows: []Row{{Step: "build", Verdict: "PASSED"}}, Mermaid: tt.diagram, Notes: []string{"note"}}
		diagram := strings.TrimSuffix(tt.diagram, "\n") + "\n"
		want := "### attestor verify\n\n| Step | Signers | Subjects | Verdict |\n| --- | --- | --- | --- |\n| build | - | - | PASSED |\n\n" +
			tt.fence + "mermaid\n" + diagram + tt.fence + "\n\nnote\n"
		if got := s.Markdown(); got != want {
			t.Errorf("summary:\n%s\nwant:\n%s", got, want)
		}
	}
}

func TestParseFileCommands(t *testing.T) {
	t.Parallel()
	got, err := ParseFileCommands("a=1\nb<<EOF\nx\ny=z\nEOF\nc=d=e\n")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "x\ny=z", "c": "d=e"}, got); diff != "" {
		t.Error(diff)
	}
	if _, err := ParseFileCommands("a<<EOF\nx\n"); err == nil {
		t.Error("unterminated heredoc: no error")
	}
}

func TestSetOutputCarriageReturn(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "output")
	a := New(WithGetenv(env(map[string]string{EnvOutput: out})))
	if err := a.SetOutput("x", "a\r\nb"); !errors.Is(err, ErrDelimiter) {
		t.Errorf("SetOutput with a carriage return: %v, want ErrDelimiter", err)
	}
}

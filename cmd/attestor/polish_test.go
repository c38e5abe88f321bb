package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/workspace"
)

// TestVersionFlag: attestor --version prints what attestor version prints,
// --json included.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	for _, extra := range [][]string{nil, {"--json"}} {
		want := cli(t, append([]string{"version"}, extra...)...)
		got := cli(t, append([]string{"--version"}, extra...)...)
		if got.code != 0 || want.code != 0 || got.stdout != want.stdout || got.stdout == "" {
			t.Errorf("attestor --version %v:\n%s\nattestor version:\n%s", extra, got, want)
		}
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(cli(t, "--version", "--json").stdout), &v); err != nil || v.Version == "" {
		t.Errorf("attestor --version --json: %+v, %v", v, err)
	}
}

// TestHelpOnStdout: help goes to stdout (also for a group command given no
// subcommand); errors, and nothing else, to stderr.
func TestHelpOnStdout(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"run", "--help"}, {"help", "verify"}, {"key"}, {"record", "-h"}} {
		r := cli(t, args...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("attestor %s:\n%s", strings.Join(args, " "), r)
		}
	}
	if r := cli(t, "bogus"); r.stdout != "" || r.stderr == "" {
		t.Errorf("an error went to stdout:\n%s", r)
	}
}

// TestKeyGenerateMissingDirectory: an --output-prefix in a directory that
// does not exist is bad input (exit 2) naming the directory, not an error
// about a temporary file, and nothing is written.
func TestKeyGenerateMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "keys")
	r := attestorProcess(t, dir, []string{"COSIGN_PASSWORD=pw"}, "key", "generate", "--output-prefix", filepath.Join(missing, "ci"))
	if r.code != 2 || !strings.Contains(r.stderr, "directory "+missing+" does not exist") || strings.Contains(r.stderr, "tmp-") {
		t.Errorf("key generate into a missing directory: want exit 2 naming it\n%s", r)
	}
	file := filepath.Join(dir, "file")
	writeFile(t, file, "x")
	r = attestorProcess(t, dir, []string{"COSIGN_PASSWORD=pw"}, "key", "generate", "--output-prefix", filepath.Join(file, "ci"))
	if r.code != 2 || !strings.Contains(r.stderr, file+" is not a directory") {
		t.Errorf("key generate below a file: want exit 2 naming it\n%s", r)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files written: %v", entries)
	}
}

// TestRunWithoutCommand: run without "-- COMMAND" says so (exit 2), not
// cobra's "requires at least 1 arg(s)".
func TestRunWithoutCommand(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	r := cli(t, append(append([]string{"run", "--step", "build"}, p.flags()...), "-m", "src")...)
	if r.code != 2 || !strings.Contains(r.stderr, `no command to run: give it after "--"`) || strings.Contains(r.stderr, "arg(s)") {
		t.Errorf("run without a command:\n%s", r)
	}
}

// TestHelpNamesRealFiles: the help of each command that writes to the
// workspace names the files as the code names them, and provenance's
// --key lists the KMS URIs as run's does.
func TestHelpNamesRealFiles(t *testing.T) {
	t.Parallel()
	// The names the code gives, with the key id shown as <keyid[:8]>.
	const id = "0123456789abcdef"
	shown := func(name string) string { return strings.Replace(name, id[:8], "<keyid[:8]>", 1) }
	cases := []struct {
		cmd  []string
		want []string
	}{
		{[]string{"run"}, []string{shown(workspace.EnvelopeName("<step>", id)), shown(workspace.LinkName("<step>", id)), shown(workspace.BundleName("<step>", id)), "replaces its earlier record"}},
		{[]string{"record"}, []string{shown(workspace.EnvelopeName("<step>", id)), shown(workspace.LinkName("<step>", id))}},
		{[]string{"provenance"}, []string{shown(workspace.AttestationName("provenance", id)), shown(workspace.BundleName(workspace.ReservedPrefix+"provenance", id))}},
		{[]string{"verify"}, []string{shown(workspace.AttestationName("vsa", id)), shown(workspace.LinkName("<step>", id))}},
		{[]string{"promote"}, []string{workspace.ReservedPrefix + "kritis.<keyid[:8]>.json"}},
	}
	for _, c := range cases {
		help := cli(t, append(c.cmd, "--help")...).stdout
		flat := strings.Join(strings.Fields(help), " ")
		for _, w := range c.want {
			if !strings.Contains(flat, w) {
				t.Errorf("attestor %s --help does not name %s:\n%s", c.cmd[0], w, help)
			}
		}
		if strings.Contains(help, "<keyid>") {
			t.Errorf("attestor %s --help names a file by the whole key id (<keyid>): the code uses its first 8 characters", c.cmd[0])
		}
	}
	kms := "gcpkms://, awskms://, azurekms://, hashivault://"
	for _, cmd := range []string{"run", "provenance", "record start", "record stop"} {
		if help := cli(t, append(strings.Fields(cmd), "--help")...).stdout; !strings.Contains(help, kms) {
			t.Errorf("attestor %s --help: --key does not list the KMS URIs (%s)", cmd, kms)
		}
	}
}

// TestRerunReplacesRecordNotice: recording a step again replaces its
// record, and says so on stderr, in one line naming the file; the first
// recording says nothing of the kind.
func TestRerunReplacesRecordNotice(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	args := append(append([]string{"run", "--step", "build"}, p.flags()...), "-m", "src", "--", "true")
	first := cli(t, args...)
	if first.code != 0 {
		t.Fatalf("first run:\n%s", first)
	}
	if strings.Contains(first.stderr, "replaced") {
		t.Errorf("the first recording of a step speaks of a replaced record:\n%s", first)
	}
	for _, again := range [][]string{args, append(append([]string{"record", "stop", "--step", "build"}, p.flags()...), "-p", "src")} {
		if again[0] == "record" {
			start := cli(t, append(append([]string{"record", "start", "--step", "build"}, p.flags()...), "-m", "src")...)
			if start.code != 0 {
				t.Fatalf("record start:\n%s", start)
			}
		}
		r := cli(t, again...)
		if r.code != 0 {
			t.Fatalf("%s again:\n%s", again[0], r)
		}
		var notice []string
		for _, line := range strings.Split(r.stderr, "\n") {
			if strings.Contains(line, "replaced") {
				notice = append(notice, line)
			}
		}
		if len(notice) != 1 || !strings.Contains(notice[0], "step build") || !strings.Contains(notice[0], ".dsse.json") {
			t.Errorf("%s of a recorded step: want one line saying its record was replaced:\n%s", again[0], r)
		}
	}
}

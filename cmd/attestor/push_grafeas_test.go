package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/spf13/pflag"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/storetest"
)

func grafeasTestFlags(t *testing.T, args ...string) *grafeasFlags {
	t.Helper()
	fs := pflag.NewFlagSet("push", pflag.ContinueOnError)
	fs.Bool("dry-run", false, "")
	var f grafeasFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestPushGrafeasDryRun(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	g := &globals{dir: dir, stdout: &bytes.Buffer{}, stderr: &stderr, logger: slog.New(slog.DiscardHandler)}
	f := grafeasTestFlags(t, "--dry-run", "--grafeas", "http://127.0.0.1:1", "--grafeas-project", "occ", "--grafeas-note-project", "notes")
	subj := storetest.FileSubject(t)
	atts := []store.Attestation{storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "p")}
	if err := pushGrafeas(t.Context(), g, subj, atts, f); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "_dry-run", "grafeas", "v1beta1", "notes", "notes", "attestor-provenance.json")); err != nil {
		t.Errorf("dry run did not save the note: %v", err)
	}
	if !strings.Contains(stderr.String(), "would push 1 attestation") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

func TestPushGrafeasUsage(t *testing.T) {
	t.Setenv(envGrafeasURL, "")
	t.Setenv(envGrafeasProject, "")
	g := &globals{dir: t.TempDir(), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, logger: slog.New(slog.DiscardHandler)}
	subj := storetest.FileSubject(t)
	for _, args := range [][]string{
		{"--grafeas", "http://127.0.0.1:1"},                                            // no project
		{"--grafeas-project", "p"},                                                     // no URL for v1beta1
		{"--grafeas", "http://x", "--grafeas-project", "p", "--grafeas-api", "v2"},     // bad API
		{"--grafeas", "http://x", "--grafeas-project", "p", "--grafeas-cert", "c.pem"}, // cert without key
	} {
		err := pushGrafeas(t.Context(), g, subj, nil, grafeasTestFlags(t, args...))
		if !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("%v: %v, want invalid input", args, err)
		}
	}
}

// TestPushGrafeasDigestOffline: an image named by digest needs no registry
// to push its attestations to Grafeas: a dry run works with no registry
// and no Grafeas server reachable.
func TestPushGrafeasDigestOffline(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	if r := cli(t, append(p.runArgs("-m", "src"), "--", "true")...); r.code != 0 {
		t.Fatalf("run:\n%s", r)
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	image := "127.0.0.1:1/acme/app@" + digest // nothing listens on port 1
	r := cli(t, "push", "--dir", p.ws, "--image", image, "--to", "grafeas", "--dry-run",
		"--grafeas", "http://127.0.0.1:1", "--grafeas-project", "builds", "--timeout", "5s")
	if r.code != 0 {
		t.Fatalf("push --to grafeas --dry-run of %s: want exit 0 without a registry\n%s", image, r)
	}
	if !strings.Contains(r.stdout+r.stderr, digest) {
		t.Errorf("the dry run does not name the image's digest:\n%s", r)
	}
	// A tag still needs the registry: exit 3 when it cannot be reached.
	if r := cli(t, "push", "--dir", p.ws, "--image", "127.0.0.1:1/acme/app:v1", "--to", "grafeas", "--dry-run",
		"--grafeas", "http://127.0.0.1:1", "--grafeas-project", "builds", "--timeout", "5s"); r.code != 3 {
		t.Errorf("push of a tag with no registry: exit %d, want 3\n%s", r.code, r)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"github.com/spf13/pflag"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
)

// Environment variables read when the matching flag is not set.
const (
	envGrafeasURL     = "ATTESTOR_GRAFEAS_URL"
	envGrafeasProject = "ATTESTOR_GRAFEAS_PROJECT"
	envGrafeasToken   = "ATTESTOR_GRAFEAS_TOKEN"
)

// grafeasFlags are the flags of push --to grafeas.
type grafeasFlags struct {
	url         string
	api         string
	project     string
	noteProject string
	token       string
	ca          string
	cert        string
	key         string
	notePrefix  string
	fs          *pflag.FlagSet // the command's flags: --dry-run is read from them
}

// register adds the --grafeas-* flags to fs (the push command's flags).
func (f *grafeasFlags) register(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.url, "grafeas", "", "Grafeas server URL, e.g. http://127.0.0.1:8080 (env "+envGrafeasURL+"; default for --grafeas-api v1: "+grafeas.ContainerAnalysisURL+")")
	fs.StringVar(&f.api, "grafeas-api", string(grafeas.V1Beta1), "Grafeas API: v1beta1 (open-source server) or v1 (Google Container Analysis)")
	fs.StringVar(&f.project, "grafeas-project", "", "project the occurrences are written to (env "+envGrafeasProject+"; required with --to grafeas)")
	fs.StringVar(&f.noteProject, "grafeas-note-project", "", "project holding the notes (default: --grafeas-project)")
	fs.StringVar(&f.token, "grafeas-token", "", "bearer token (env "+envGrafeasToken+"; --grafeas-api v1 default: application default credentials)")
	fs.StringVar(&f.ca, "grafeas-ca", "", "PEM file of the CA that signed the Grafeas server's certificate")
	fs.StringVar(&f.cert, "grafeas-cert", "", "PEM client certificate for mutual TLS (with --grafeas-key)")
	fs.StringVar(&f.key, "grafeas-key", "", "PEM client key for mutual TLS (with --grafeas-cert)")
	fs.StringVar(&f.notePrefix, "grafeas-note-prefix", grafeas.DefaultNotePrefix, "prefix of the note ids: PREFIX-step-STEP, PREFIX-provenance, PREFIX-attestation")
}

// options returns the client options the flags describe.
func (f *grafeasFlags) options(g *globals) ([]grafeas.Option, error) {
	api, err := grafeas.ParseAPI(f.api)
	if err != nil {
		return nil, err
	}
	u := grafeasFirstSet(f.url, os.Getenv(envGrafeasURL))
	project := grafeasFirstSet(f.project, os.Getenv(envGrafeasProject))
	if project == "" {
		return nil, fault.Invalid(errors.New("--to grafeas needs --grafeas-project (or " + envGrafeasProject + ")"))
	}
	if u == "" && api == grafeas.V1Beta1 {
		return nil, fault.Invalid(errors.New("--to grafeas needs --grafeas URL (or " + envGrafeasURL + "), or --grafeas-api v1 for Container Analysis"))
	}
	opts := []grafeas.Option{
		grafeas.WithAPI(api),
		grafeas.WithProject(project),
		grafeas.WithNotePrefix(f.notePrefix),
		grafeas.WithLogger(g.logger),
		grafeas.WithUserAgent("attestor/" + version),
	}
	if u != "" {
		opts = append(opts, grafeas.WithURL(u))
	}
	if f.noteProject != "" {
		opts = append(opts, grafeas.WithNoteProject(f.noteProject))
	}
	if f.token != "" && !g.argsInMemory {
		// As --identity-token: every process on the machine reads a
		// process's command line.
		g.logger.Warn("--grafeas-token on the command line is visible to every process on this machine: pass it in " + envGrafeasToken)
	}
	switch token := grafeasFirstSet(f.token, g.getenv(envGrafeasToken)); {
	case token != "":
		opts = append(opts, grafeas.WithToken(token))
	case api == grafeas.V1:
		opts = append(opts, grafeas.WithApplicationDefaultCredentials())
	}
	if f.ca != "" || f.cert != "" || f.key != "" {
		cfg, err := grafeas.TLSConfig(f.ca, f.cert, f.key)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grafeas.WithTLSConfig(cfg))
	}
	if f.dryRun() {
		ws, err := workspace.Open(g.dir)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grafeas.WithDryRun(ws, g.stderr))
	}
	return opts, nil
}

func (f *grafeasFlags) dryRun() bool {
	if f.fs == nil {
		return false
	}
	dry, err := f.fs.GetBool("dry-run")
	return err == nil && dry
}

// pushGrafeas puts atts on the subject's resource in Grafeas, as the flags
// describe (with push --dry-run, it only prints and saves the bodies it
// would send, under <dir>/_dry-run/grafeas/).
func pushGrafeas(ctx context.Context, g *globals, subject store.Subject, atts []store.Attestation, f *grafeasFlags) error {
	opts, err := f.options(g)
	if err != nil {
		return err
	}
	c, err := grafeas.New(opts...)
	if err != nil {
		return err
	}
	res, err := c.Push(ctx, subject, atts...)
	if err != nil {
		return fmt.Errorf("pushing to Grafeas: %w", err)
	}
	project := grafeasFirstSet(f.project, os.Getenv(envGrafeasProject))
	if res.DryRun {
		g.printf("attestor: dry run: would push %d attestation(s) to Grafeas (project %s) on %s; the bodies are saved under %s\n",
			res.Created, project, res.Resource, grafeasDryRunDir(g))
		return nil
	}
	g.printf("attestor: pushed %d attestation(s) to Grafeas (project %s) on %s (%d already there)\n", res.Created, project, res.Resource, res.Existing)
	return nil
}

func grafeasFirstSet(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// grafeasDryRunDir is where push --dry-run leaves the Grafeas bodies.
func grafeasDryRunDir(g *globals) string {
	dir := g.dir
	if dir == "" {
		dir = workspace.DefaultDir
	}
	return filepath.Join(dir, grafeas.DryRunDir)
}

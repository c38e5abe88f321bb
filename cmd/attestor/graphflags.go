package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/spf13/cobra"

	"github.com/attestor/attestor/attestor/gate"
)

// graphFlags ask verify and promote to draw the chain they checked.
type graphFlags struct {
	file, format string
}

func (f *graphFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.file, "graph", "", "write the chain checked as a graph to this file, on a pass and on a failure: steps in policy order, the MATCH rules' flows, the subject, the provenance, each node marked passed, failed (with its first reason) or missing")
	fs.StringVar(&f.format, "graph-format", "", "format of --graph: mermaid or dot (default: dot for a .dot or .gv file, else mermaid)")
}

// resolve checks the flags before anything is verified and returns the
// format, "" when no graph is asked for.
func (f *graphFlags) resolve() (string, error) {
	if f.file == "" {
		if f.format != "" {
			return "", fault.Invalid(errors.New("--graph-format needs --graph FILE"))
		}
		return "", nil
	}
	switch f.format {
	case gate.GraphMermaid, gate.GraphDOT:
		return f.format, nil
	case "":
		switch strings.ToLower(filepath.Ext(f.file)) {
		case ".dot", ".gv":
			return gate.GraphDOT, nil
		}
		return gate.GraphMermaid, nil
	}
	return "", fault.Invalid(fmt.Errorf("--graph-format %q: use mermaid or dot", f.format))
}

// emit hands the graph of res to the action, if it asked for it, and
// writes it to the --graph file (atomically), if one was given.
func (f *graphFlags) emit(g *globals, p *gate.Policy, res *gate.Result) error {
	if res == nil || (f.file == "" && g.graph == nil) {
		return nil
	}
	gr, err := gate.NewGraph(p, res)
	if err != nil {
		return err
	}
	if g.graph != nil {
		g.graph(gr)
	}
	if f.file == "" {
		return nil
	}
	format, err := f.resolve()
	if err != nil {
		return err
	}
	text, err := gr.Render(format)
	if err != nil {
		return err
	}
	if err := safefile.WriteAtomic(f.file, []byte(text), 0o644); err != nil {
		return fault.Invalid(fmt.Errorf("--graph: %w", err))
	}
	return nil
}

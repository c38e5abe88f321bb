package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/spf13/cobra"

	"github.com/attestor/attestor/attestor/gate"
)

// globals are the flags every command shares.
type globals struct {
	dir     string
	json    bool
	verbose bool
	stdout  io.Writer
	stderr  io.Writer
	logger  *slog.Logger

	// keyPEM is the PEM private key the GitHub Action was given in its key
	// input: kept in memory, never in a file another process could read.
	keyPEM []byte
	// environ is the environment the process started with, secrets
	// included, which main takes out of the process's environment (see
	// takeSecretEnv); nil: os.Environ().
	environ []string
	// argsInMemory says the command line was built in memory (the action)
	// rather than given in this process's argv, which every process on
	// the machine can read.
	argsInMemory bool
	// graph, if set, receives the chain graph of every verification
	// verify or promote makes (the action's step summary draws it).
	graph func(*gate.Graph)
	// result, if set, receives the typed result of the command (what
	// --json prints: stepSummary, pendingSummary, provenanceSummary,
	// pushSummary, *verifyOutput, *promoteOutput): the action reads its
	// outputs from it.
	result func(any)
}

// exitError carries an exit code chosen by a command (run exits with the
// wrapped command's code).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// executeWith runs the CLI with the globals g starts from and returns the
// process exit code: 0 success, 1 verification failed (or an unexpected
// error), 2 bad usage or input, 3 an external system failed; run returns
// the wrapped command's code.
func executeWith(ctx context.Context, g *globals, args []string) int {
	stderr := g.stderr
	root := newRootCmd(g)
	root.SetArgs(args)
	// Help asked for (--help, help CMD) is the output: stdout, so that
	// "attestor --help | less" shows it. Errors go to stderr.
	root.SetOut(g.stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "attestor: %v\n", err)
	return exitCode(err)
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, fault.ErrInvalidInput):
		return 2
	case errors.Is(err, fault.ErrUnavailable):
		return 3
	default:
		return 1
	}
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "attestor",
		Short: "Record, sign, push and verify the attestations of a build",
		Long: `attestor runs as a step in each phase of a build. It records what went in
and what came out (in-toto step records), signs SLSA provenance, pushes the
attestations to the image's OCI registry and to Grafeas, and gates promotion
on a verified chain.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.dir == "" {
				g.dir = os.Getenv("ATTESTOR_DIR")
			}
			g.logger = newLogger(g.stderr, g.verbose)
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fault.Invalid(err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.dir, "dir", "", "workspace directory (env ATTESTOR_DIR; default .attestor)")
	pf.BoolVar(&g.json, "json", false, "machine-readable output on stdout")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "verbose logging on stderr")
	var showVersion bool
	root.Flags().BoolVar(&showVersion, "version", false, "print the version (as attestor version)")
	root.AddCommand(
		newRunCmd(g),
		newRecordCmd(g),
		newProvenanceCmd(g),
		newPushCmd(g),
		newVerifyCmd(g),
		newPromoteCmd(g),
		newInspectCmd(g),
		newKeyCmd(g),
		newVersionCmd(g),
	)
	root.AddCommand(newActionCmd(g)) // hidden: the GitHub Action's entry point (action.go)
	for _, c := range append([]*cobra.Command{root}, root.Commands()...) {
		if c.HasSubCommands() {
			requireSubcommand(c)
		}
	}
	help := root.RunE
	root.RunE = func(c *cobra.Command, args []string) error {
		if showVersion {
			return newVersionCmd(g).RunE(c, nil)
		}
		return help(c, args)
	}
	return root
}

// requireSubcommand makes an unknown subcommand of cmd, a command that only
// groups others, bad usage (exit 2): cobra exits 1 for the root, and prints
// help and exits 0 for the others, so that a mistyped step in a pipeline
// passed. cmd alone still prints its help.
func requireSubcommand(cmd *cobra.Command) {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return fault.Invalid(errors.New(msg))
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
}

// newLogger logs text on a terminal and JSON elsewhere (CI logs), warnings
// and errors only unless verbose.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// usageArgs wraps a cobra positional-argument check so that its error is bad
// usage (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return fault.Invalid(check(cmd, args))
	}
}

// printJSON writes v, a command's typed result, as indented JSON on
// stdout, and hands it to g.result.
func (g *globals) printJSON(v any) error {
	if g.result != nil {
		g.result(v)
	}
	enc := jsonEncoder(g.stdout)
	return enc.Encode(v)
}

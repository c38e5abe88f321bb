package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/spf13/cobra"

	"github.com/attestor/attestor/attestor"
)

func newRunCmd(g *globals) *cobra.Command {
	var (
		f          stepFlags
		timeout    time.Duration
		maxCapture int
	)
	cmd := &cobra.Command{
		Use:   "run --step NAME [-m PATH]... [-p PATH]... [--key REF] -- COMMAND [ARG]...",
		Short: "Record a step: hash materials, run the command, hash products, sign",
		Long: `run records one build step. It hashes the materials, runs COMMAND with its
output streamed live, hashes the products, and signs the record into the
workspace. The step is recorded even when the command fails; run then exits
with the command's exit code.

` + recordFiles,
		Example: `  attestor run --step build -m go.mod -m src -p bin/app --key ci.key -- go build -o bin/app ./src`,
		Args:    usageArgs(requireCommand),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tuneGC()()
			rec, err := f.recorder(cmd.Context(), g,
				attestor.WithTimeout(timeout),
				attestor.WithMaxCapture(maxCapture),
				attestor.WithOutput(g.commandStdout(), g.stderr),
			)
			if err != nil {
				return err
			}
			earlier := g.earlierRecords(f.step)
			res, err := rec.Run(cmd.Context(), attestor.Step{
				Name:      f.step,
				Materials: f.materials,
				Products:  f.products,
				Command:   args,
			})
			if res == nil {
				return err
			}
			if rerr := g.reportStep(res, earlier); rerr != nil {
				return rerr
			}
			if errors.Is(err, attestor.ErrTimeout) {
				fmt.Fprintf(g.stderr, "attestor: step %s: command timed out after %s and was killed\n", f.step, timeout)
			}
			if errors.Is(err, fault.ErrInvalidInput) || errors.Is(err, fault.ErrUnavailable) {
				// A product image missing after a failed command: the
				// step is recorded with the command's exit code.
				return err
			}
			if code := *res.ExitCode; code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	f.addCommon(fs)
	f.addMaterials(fs)
	f.addProducts(fs)
	fs.DurationVar(&timeout, "timeout", 0, "kill the command's process group after this long (e.g. 10m; 0 = no timeout)")
	fs.IntVar(&maxCapture, "max-capture", attestor.DefaultMaxCapture, "bytes of stdout and of stderr kept in the record")
	return cmd
}

// requireCommand checks that run was given the command to wrap.
func requireCommand(_ *cobra.Command, args []string) error {
	if len(args) == 0 {
		return errors.New(`no command to run: give it after "--", as in: attestor run --step build -m src -p bin -- make build`)
	}
	return nil
}

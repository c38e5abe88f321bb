package main

import (
	"github.com/spf13/cobra"

	"github.com/attestor/attestor/attestor"
)

func newRecordCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Record a phase that is not one command (start, then stop)",
		Long: `record start hashes the materials and keeps them pending in the workspace;
record stop hashes the products and signs the step. Use them where a phase
spans several commands or containers (Cloud Build steps share /workspace).

` + recordFiles,
	}
	cmd.AddCommand(newRecordStartCmd(g), newRecordStopCmd(g))
	return cmd
}

func newRecordStartCmd(g *globals) *cobra.Command {
	var f stepFlags
	cmd := &cobra.Command{
		Use:     "start --step NAME [-m PATH]... [--key REF] [-- COMMAND...]",
		Short:   "Begin a step: hash its materials",
		Example: `  attestor record start --step build -m src --key ci.key -- make all`,
		Args:    usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tuneGC()()
			rec, err := f.recorder(cmd.Context(), g)
			if err != nil {
				return err
			}
			if err := rec.Start(cmd.Context(), attestor.Step{Name: f.step, Materials: f.materials, Command: args}); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(pendingSummary{Step: f.step, Pending: true})
			}
			g.printf("attestor: step %s started\n", f.step)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	f.addCommon(fs)
	f.addMaterials(fs)
	return cmd
}

func newRecordStopCmd(g *globals) *cobra.Command {
	var f stepFlags
	cmd := &cobra.Command{
		Use:     "stop --step NAME [-p PATH]... [--key REF] [-- COMMAND...]",
		Short:   "Finish a step begun with record start: hash its products and sign",
		Example: `  attestor record stop --step build -p bin/app --key ci.key`,
		Args:    usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tuneGC()()
			rec, err := f.recorder(cmd.Context(), g)
			if err != nil {
				return err
			}
			earlier := g.earlierRecords(f.step)
			res, err := rec.Stop(cmd.Context(), attestor.Step{Name: f.step, Products: f.products, Command: args})
			if err != nil {
				return err
			}
			return g.reportStep(res, earlier)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	f.addCommon(fs)
	f.addProducts(fs)
	return cmd
}

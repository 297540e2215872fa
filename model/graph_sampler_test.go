package model

import (
	"math"
	"testing"
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

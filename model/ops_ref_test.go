package model

import (
	"fmt"
	"math"
)

// Plain float64 reference implementations of the ops and of the whole
// model, written for clarity, not speed: the oracles for the op and
// gradient tests.

func refLinear(x, w, b, r []float64, n, k, m int) []float64 {
	y := make([]float64, n*m)
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			var s float64
			for l := 0; l < k; l++ {
				s += x[i*k+l] * w[l*m+j]
			}
			if b != nil {
				s += b[j]
			}
			if r != nil {
				s += r[i*m+j]
			}
			y[i*m+j] = s
		}
	}
	return y
}

func refLayerNorm(x, g, b []float64, n, d int, eps float64) []float64 {
	y := make([]float64, n*d)
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		var mean, v float64
		for _, a := range row {
			mean += a
		}
		mean /= float64(d)
		for _, a := range row {
			v += (a - mean) * (a - mean)
		}
		v /= float64(d)
		rstd := 1 / math.Sqrt(v+eps)
		for j, a := range row {
			y[i*d+j] = (a-mean)*rstd*g[j] + b[j]
		}
	}
	return y
}

func refGELU(u float64) float64 {
	return 0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u)))
}

func refBiasGELU(z, b []float64, n, f int) []float64 {
	y := make([]float64, n*f)
	for i := 0; i < n; i++ {
		for j := 0; j < f; j++ {
			y[i*f+j] = refGELU(z[i*f+j] + b[j])
		}
	}
	return y
}

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

// refAttention is causal multi-head attention from qkv (b·t, 3d) to (b·t, d).
func refAttention(qkv []float64, b, t, h, hd int) []float64 {
	d := h * hd
	out := make([]float64, b*t*d)
	scale := 1 / math.Sqrt(float64(hd))
	for bi := 0; bi < b; bi++ {
		for head := 0; head < h; head++ {
			at := func(i, part, c int) float64 { return qkv[(bi*t+i)*3*d+part*d+head*hd+c] }
			for i := 0; i < t; i++ {
				s := make([]float64, i+1)
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					for c := 0; c < hd; c++ {
						s[j] += at(i, 0, c) * at(j, 1, c)
					}
					s[j] *= scale
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for c := 0; c < hd; c++ {
					var o float64
					for j := 0; j <= i; j++ {
						o += s[j] / sum * at(j, 2, c)
					}
					out[(bi*t+i)*d+head*hd+c] = o
				}
			}
		}
	}
	return out
}

func refEmbed(wte, wpe []float64, ids []int32, t, d int) []float64 {
	x := make([]float64, len(ids)*d)
	for i, id := range ids {
		for j := 0; j < d; j++ {
			x[i*d+j] = wte[int(id)*d+j] + wpe[(i%t)*d+j]
		}
	}
	return x
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

// refWeights is a float64 copy of a model's parameters, by name.
type refWeights struct {
	c Config
	p map[string][]float64
}

func newRefWeights(w *Weights) *refWeights {
	r := &refWeights{c: w.Config, p: map[string][]float64{}}
	for _, t := range w.Tensors {
		r.p[t.Name] = f64(t.Data)
	}
	return r
}

// refForward returns the logits (b·t, vocab) of the model in float64.
func refForward(r *refWeights, ids []int32, b, t int) []float64 {
	c := r.c
	d := c.DModel
	n := b * t
	x := refEmbed(r.p["wte"], r.p["wpe"], ids, t, d)
	for l := 0; l < c.Layers; l++ {
		p := func(s string) []float64 { return r.p[fmt.Sprintf("h.%d.%s", l, s)] }
		h := refLayerNorm(x, p("ln_1.weight"), p("ln_1.bias"), n, d, 1e-5)
		qkv := refLinear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias"), nil, n, d, 3*d)
		a := refAttention(qkv, b, t, c.Heads, d/c.Heads)
		x = refLinear(a, p("attn.c_proj.weight"), p("attn.c_proj.bias"), x, n, d, d)
		h = refLayerNorm(x, p("ln_2.weight"), p("ln_2.bias"), n, d, 1e-5)
		u := refBiasGELU(refLinear(h, p("mlp.c_fc.weight"), nil, nil, n, d, c.MLP), p("mlp.c_fc.bias"), n, c.MLP)
		x = refLinear(u, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"), x, n, c.MLP, d)
	}
	h := refLayerNorm(x, r.p["ln_f.weight"], r.p["ln_f.bias"], n, d, 1e-5)
	return refLinear(h, r.p["lm_head.weight"], nil, nil, n, d, c.Vocab)
}

func refLoss(r *refWeights, ids, targets []int32, mask []float32, b, t int) float64 {
	return refMaskedXent(refForward(r, ids, b, t), targets, f64(mask), r.c.Vocab)
}

func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

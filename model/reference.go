package model

import (
	"fmt"
	"math"
)

// This file is the float64 oracle: gpt on refKernels, plain loops with
// float64 values written for clarity, not speed. The fast paths are tested
// against it (ReferenceLogits here, and the op and gradient tests).

// ReferenceLogits computes the logits (len(ids)·vocab values, position-major)
// of one sequence with the float64 oracle. It is what the fast paths are
// tested against, not meant to be fast. It panics on an empty or over-long
// sequence, an out-of-range token id or malformed weights, all programming
// errors in a test.
func ReferenceLogits(w *Weights, ids []int) []float32 {
	p, err := w.Params()
	if err != nil {
		panic(fmt.Sprintf("ReferenceLogits: %v", err))
	}
	c := w.Config
	if err := checkSequenceIDs(ids, c); err != nil {
		panic(fmt.Sprintf("ReferenceLogits: %v", err))
	}
	ids32 := make([]int32, len(ids))
	for i, id := range ids {
		ids32[i] = int32(id)
	}
	lg := refLogits(c, mapParams(c, p, f64), ids32, 1, len(ids))
	out := make([]float32, len(lg))
	for i, v := range lg {
		out[i] = float32(v)
	}
	return out
}

// refLogits returns the logits (b·t, vocab) of b sequences of t tokens.
func refLogits(c Config, p *Params[[]float64], ids []int32, b, t int) []float64 {
	return gpt[[]float64](refKernels{c: c, b: b, t: t, ids: ids}, p)
}

// refKernels computes gpt in float64 for b sequences of t tokens ids
// (n = b·t rows).
type refKernels struct {
	c    Config
	b, t int
	ids  []int32
}

func (k refKernels) n() int { return k.b * k.t }

// Embed: (n, d).
func (k refKernels) Embed(wte, wpe []float64) []float64 {
	return refEmbed(wte, wpe, k.ids, k.t, k.c.DModel)
}

// LayerNorm: (n, d) → (n, d).
func (k refKernels) LayerNorm(x, g, b []float64) []float64 {
	return refLayerNorm(x, g, b, k.n(), k.c.DModel, lnEps)
}

// Attention: (n, d) → qkv (n, 3d) → (n, d).
func (k refKernels) Attention(h, w, b []float64, _ int) []float64 {
	d := k.c.DModel
	return refAttention(refLinear(h, w, b, nil, k.n(), d, 3*d), k.b, k.t, k.c.Heads, k.c.HeadDim())
}

// OutputRows keeps every row.
func (k refKernels) OutputRows(x, a []float64) ([]float64, []float64) { return x, a }

// AddLinear: x + a·w + b, a (n, k) → (n, d).
func (k refKernels) AddLinear(x, a, w, b []float64) []float64 {
	n := k.n()
	return refLinear(a, w, b, x, n, len(a)/n, k.c.DModel)
}

// LinearGELU: (n, d) → (n, mlp).
func (k refKernels) LinearGELU(h, w, b []float64) []float64 {
	n, f := k.n(), k.c.MLP
	return refBiasGELU(refLinear(h, w, nil, nil, n, k.c.DModel, f), b, n, f)
}

// Residual records nothing.
func (k refKernels) Residual(int, []float64) {}

// Head: the logits (n, vocab); a tied lmHead is wte, transposed first.
func (k refKernels) Head(h, lmHead []float64) []float64 {
	d, v := k.c.DModel, k.c.Vocab
	if k.c.Tied {
		t := make([]float64, d*v)
		for i := 0; i < v; i++ {
			for j := 0; j < d; j++ {
				t[j*v+i] = lmHead[i*d+j]
			}
		}
		lmHead = t
	}
	return refLinear(h, lmHead, nil, nil, k.n(), d, v)
}

// refLinear is x·w + b + r: x (n, k), w (k, m), b (m) and r (n, m) or nil.
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

// refLayerNorm normalizes each of the n rows of x (n, d).
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

// refGELU is the tanh approximation of GELU.
func refGELU(u float64) float64 {
	return 0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u)))
}

// refBiasGELU is GELU(z + b), z (n, f), b (f).
func refBiasGELU(z, b []float64, n, f int) []float64 {
	y := make([]float64, n*f)
	for i := 0; i < n; i++ {
		for j := 0; j < f; j++ {
			y[i*f+j] = refGELU(z[i*f+j] + b[j])
		}
	}
	return y
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

// refEmbed is wte[id] + wpe[position] for the sequences of t tokens ids.
func refEmbed(wte, wpe []float64, ids []int32, t, d int) []float64 {
	x := make([]float64, len(ids)*d)
	for i, id := range ids {
		for j := 0; j < d; j++ {
			x[i*d+j] = wte[int(id)*d+j] + wpe[(i%t)*d+j]
		}
	}
	return x
}

func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

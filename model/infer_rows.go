package model

// rowKernels records gpt as the Sampler's pass: a program of stages over
// the sampler's row buffers, which Sampler.forward runs on each batch of
// token segments. Row ops compute each token row on its own (see the top
// of infer.go); consecutive row ops form one stage, run chunk by chunk of
// rows on parallel goroutines, so that a chunk goes through a block's
// MLP and the next block's q, k, v while it is in cache. Attention, which
// reads earlier positions from the KV cache, is a stage of its own, as is
// OutputRows.
type rowKernels struct {
	s       *Sampler
	program []func(segs []passSegment) // the stages
	ops     []func(lo, hi int)         // the row ops of the stage being recorded
}

// rowVal is an activation of a pass: width floats a row, in one of the
// sampler's buffers (read when the pass runs, as they grow).
type rowVal struct {
	buf   *[]float32
	width int
}

// rows returns rows lo..hi-1 of v.
func (v rowVal) rows(lo, hi int) []float32 { return (*v.buf)[lo*v.width : hi*v.width] }

// rowOp adds f, which computes rows lo..hi-1, to the current row stage.
func (k *rowKernels) rowOp(f func(lo, hi int)) { k.ops = append(k.ops, f) }

// stage ends the current row stage, if any, and then appends f unless it
// is nil.
func (k *rowKernels) stage(f func(segs []passSegment)) {
	if ops, s := k.ops, k.s; len(ops) > 0 {
		k.program = append(k.program, func([]passSegment) {
			s.parallelRows(s.workerCount(s.rows), s.rows, func(lo, hi int) {
				for _, op := range ops {
					op(lo, hi)
				}
			})
		})
		k.ops = nil
	}
	if f != nil {
		k.program = append(k.program, f)
	}
}

// Embed: x[t] = wte[id] + wpe[pos], into s.x.
func (k *rowKernels) Embed(wte, wpe []float32) rowVal {
	s, D := k.s, k.s.c.DModel
	x := rowVal{&s.x, D}
	k.rowOp(func(lo, hi int) {
		for t := lo; t < hi; t++ {
			row, e, pe := x.rows(t, t+1), wte[s.tokID[t]*D:][:D], wpe[s.tokPos[t]*D:][:D]
			for j := range row {
				row[j] = e[j] + pe[j]
			}
		}
	})
	return x
}

// LayerNorm: x → s.ln, row by row.
func (k *rowKernels) LayerNorm(x rowVal, g, b []float32) rowVal {
	out := rowVal{&k.s.ln, x.width}
	k.rowOp(func(lo, hi int) {
		for t := lo; t < hi; t++ {
			inferLayerNorm(out.rows(t, t+1), x.rows(t, t+1), g, b)
		}
	})
	return out
}

// Attention: h·w + b → s.qkv, keys and values appended to the cache; then
// the attention stage → s.att.
func (k *rowKernels) Attention(h rowVal, w, b []float32, layer int) rowVal {
	s, D := k.s, h.width
	qkv := rowVal{&s.qkv, 3 * D}
	k.rowOp(func(lo, hi int) {
		inferMatRows(qkv.rows(lo, hi), h.rows(lo, hi), w, b, D, 3*D)
		for t := lo; t < hi; t++ {
			s.storeKV(layer, t)
		}
	})
	k.stage(func(segs []passSegment) { s.parallelAttention(layer, segs) })
	return rowVal{&s.att, D}
}

// OutputRows: a stage that keeps the output rows alone (Sampler.compact).
func (k *rowKernels) OutputRows(x, a rowVal) (rowVal, rowVal) {
	k.stage(func([]passSegment) { k.s.compact(x, a) })
	return x, a
}

// AddLinear: a·w + b → s.proj, then added to x in place.
func (k *rowKernels) AddLinear(x, a rowVal, w, b []float32) rowVal {
	proj := rowVal{&k.s.proj, x.width}
	k.rowOp(func(lo, hi int) {
		inferMatRows(proj.rows(lo, hi), a.rows(lo, hi), w, b, a.width, x.width)
		inferAdd(x.rows(lo, hi), proj.rows(lo, hi))
	})
	return x
}

// LinearGELU: GELU(h·w + b) → s.hid.
func (k *rowKernels) LinearGELU(h rowVal, w, b []float32) rowVal {
	out := rowVal{&k.s.hid, len(b)}
	k.rowOp(func(lo, hi int) {
		u := out.rows(lo, hi)
		inferMatRows(u, h.rows(lo, hi), w, b, h.width, out.width)
		for i, v := range u {
			u[i] = inferGELU(v)
		}
	})
	return out
}

// Residual copies the output rows of x to s.resid in a probe pass.
func (k *rowKernels) Residual(layer int, x rowVal) {
	s := k.s
	if !s.residuals {
		return
	}
	k.rowOp(func(lo, hi int) {
		for t := lo; t < hi; t++ {
			if r := s.tokOut[t]; r >= 0 {
				copy(s.resid[(layer*s.outRows+r)*x.width:][:x.width], x.rows(t, t+1))
			}
		}
	})
}

// Head: h·lmHead (h·wteᵀ when tied) → s.logits. It runs after
// OutputRows, so row r is logits row r. A probe pass computes no logits.
func (k *rowKernels) Head(h rowVal, lmHead []float32) rowVal {
	s := k.s
	out := rowVal{&s.logits, s.c.Vocab}
	if s.residuals {
		return out
	}
	if s.c.Tied {
		k.rowOp(func(lo, hi int) { inferMatRowsT(out.rows(lo, hi), h.rows(lo, hi), lmHead, h.width, out.width) })
		return out
	}
	k.rowOp(func(lo, hi int) {
		inferMatRows(out.rows(lo, hi), h.rows(lo, hi), lmHead, nil, h.width, out.width)
	})
	return out
}

package model

import (
	"fmt"
	"math"
	"runtime"
)

// This file reads the residual stream, for linear probes (see
// eval.LinearProbe).
//
// Layer numbering: layer 0 is the input to the first block (token plus
// position embeddings), layer l (1 ≤ l ≤ Layers) is the residual stream after
// block l-1 has added its attention and MLP outputs, so layer Layers is the
// stream after the last block, before ln_f. There are Layers+1 layers in all.
//
// The pass is a plain float32 forward pass over one sequence at a time with
// the sampler's row-wise kernels (inferMatRows, inferLayerNorm, inferGELU),
// so each value depends only on its own sequence: results are identical
// whatever the batch, the worker count or GOMAXPROCS. Sequences are spread
// over GOMAXPROCS goroutines.

// ResidualActivations returns, for each sequence, the residual stream
// (DModel values) at its last token at the given layer (0..Layers, see
// above). Empty or over-long sequences, out-of-range token ids and an
// out-of-range layer are errors.
func ResidualActivations(w *Weights, seqs [][]int, layer int) ([][]float32, error) {
	if err := weightsError(w); err != nil {
		return nil, fmt.Errorf("residual activations: %w", err)
	}
	if layer < 0 || layer > w.Config.Layers {
		return nil, fmt.Errorf("residual activations: layer %d is out of range 0..%d", layer, w.Config.Layers)
	}
	all, err := residualActivations(w, seqs, layer)
	if err != nil {
		return nil, err
	}
	return all[layer], nil
}

// ResidualActivationsAll returns the last-token residual stream of every
// sequence at every layer, indexed [layer][sequence][d] with layers 0..Layers
// as documented above. One forward pass serves all layers.
func ResidualActivationsAll(w *Weights, seqs [][]int) ([][][]float32, error) {
	if err := weightsError(w); err != nil {
		return nil, fmt.Errorf("residual activations: %w", err)
	}
	return residualActivations(w, seqs, w.Config.Layers)
}

// residualActivations runs blocks 0..upTo-1 and fills layers 0..upTo of the
// result (the rest stay nil).
func residualActivations(w *Weights, seqs [][]int, upTo int) ([][][]float32, error) {
	c := w.Config
	for i, s := range seqs {
		if err := checkSequenceIDs(s, c); err != nil {
			return nil, fmt.Errorf("residual activations: sequence %d: %w", i, err)
		}
	}
	out := make([][][]float32, c.Layers+1)
	for l := 0; l <= upTo; l++ {
		out[l] = make([][]float32, len(seqs))
		buf := make([]float32, len(seqs)*c.DModel)
		for i := range seqs {
			out[l][i] = buf[i*c.DModel : (i+1)*c.DModel : (i+1)*c.DModel]
		}
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(seqs)))
	scratch := make([]*residualScratch, workers)
	inferParallel(workers, len(seqs), func(i, wid int) {
		if scratch[wid] == nil {
			scratch[wid] = &residualScratch{}
		}
		scratch[wid].run(w, seqs[i], upTo, func(l int, x []float32) { copy(out[l][i], x) })
	})
	return out, nil
}

type residualScratch struct {
	x, h, qkv, att, proj, hid, scores []float32
}

// run does the forward pass of one (validated) sequence through blocks
// 0..upTo-1, calling emit(l, x) with the last row of the residual stream at
// each layer 0..upTo. In the last block run, only the last row goes past the
// attention's key/value projections, since no later row depends on it.
func (s *residualScratch) run(w *Weights, ids []int, upTo int, emit func(l int, x []float32)) {
	c := w.Config
	D, F, H, hd := c.DModel, c.MLP, c.Heads, c.HeadDim()
	n := len(ids)
	s.x = growF32(s.x, n*D)
	s.h = growF32(s.h, n*D)
	s.qkv = growF32(s.qkv, n*3*D)
	s.att = growF32(s.att, n*D)
	s.proj = growF32(s.proj, n*D)
	s.hid = growF32(s.hid, n*F)
	s.scores = growF32(s.scores, n)
	x := s.x[:n*D]
	wte, wpe := w.Get("wte").Data, w.Get("wpe").Data
	for t, id := range ids {
		row := x[t*D : (t+1)*D]
		e, p := wte[id*D:(id+1)*D], wpe[t*D:(t+1)*D]
		for i := range row {
			row[i] = e[i] + p[i]
		}
	}
	emit(0, x[(n-1)*D:])
	scale := float32(1 / math.Sqrt(float64(hd)))
	for l := 0; l < upTo; l++ {
		L := func(name string) []float32 { return w.Layer(l, name).Data }
		lo := 0 // first row whose output is needed after attention
		if l == upTo-1 {
			lo = n - 1
		}
		h := s.h[:n*D]
		for t := 0; t < n; t++ {
			inferLayerNorm(h[t*D:(t+1)*D], x[t*D:(t+1)*D], L("ln_1.weight"), L("ln_1.bias"))
		}
		qkv := s.qkv[:n*3*D]
		inferMatRows(qkv, h, L("attn.c_attn.weight"), L("attn.c_attn.bias"), D, 3*D)
		att := s.att[lo*D : n*D]
		clear(att)
		for t := lo; t < n; t++ {
			a := att[(t-lo)*D : (t-lo+1)*D]
			for hh := 0; hh < H; hh++ {
				q := qkv[t*3*D+hh*hd : t*3*D+(hh+1)*hd]
				sc := s.scores[:t+1]
				mx := float32(math.Inf(-1))
				for j := 0; j <= t; j++ {
					k := qkv[j*3*D+D+hh*hd : j*3*D+D+(hh+1)*hd]
					var dot float32
					for i := range q {
						dot += q[i] * k[i]
					}
					sc[j] = dot * scale
					mx = max(mx, sc[j])
				}
				var sum float32
				for j := range sc {
					sc[j] = inferExp(sc[j] - mx)
					sum += sc[j]
				}
				inv := 1 / sum
				ah := a[hh*hd : (hh+1)*hd]
				for j := 0; j <= t; j++ {
					v := qkv[j*3*D+2*D+hh*hd : j*3*D+2*D+(hh+1)*hd]
					p := sc[j] * inv
					for i := range ah {
						ah[i] += p * v[i]
					}
				}
			}
		}
		rows := n - lo
		xr := x[lo*D : n*D]
		proj := s.proj[:rows*D]
		inferMatRows(proj, att, L("attn.c_proj.weight"), L("attn.c_proj.bias"), D, D)
		inferAdd(xr, proj)
		hr := s.h[:rows*D]
		for t := 0; t < rows; t++ {
			inferLayerNorm(hr[t*D:(t+1)*D], xr[t*D:(t+1)*D], L("ln_2.weight"), L("ln_2.bias"))
		}
		hid := s.hid[:rows*F]
		inferMatRows(hid, hr, L("mlp.c_fc.weight"), L("mlp.c_fc.bias"), D, F)
		for i, v := range hid {
			hid[i] = inferGELU(v)
		}
		inferMatRows(proj, hid, L("mlp.c_proj.weight"), L("mlp.c_proj.bias"), F, D)
		inferAdd(xr, proj)
		emit(l+1, x[(n-1)*D:])
	}
}

package model

import "fmt"

// This file reads the residual stream, for linear probes (see
// eval.LinearProbe).
//
// Layer numbering: layer 0 is the input to the first block (token plus
// position embeddings), layer l (1 ≤ l ≤ Layers) is the residual stream after
// block l-1 has added its attention and MLP outputs, so layer Layers is the
// stream after the last block, before ln_f. There are Layers+1 layers in all.
//
// The activations come from the Sampler's KV-cache pass (a probe pass, see
// Sampler.residuals), so each value depends only on its own sequence:
// results are identical whatever the batch or GOMAXPROCS.

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
	all, err := ResidualActivationsAll(w, seqs)
	if err != nil {
		return nil, err
	}
	return all[layer], nil
}

// ResidualActivationsAll returns the last-token residual stream of every
// sequence at every layer, indexed [layer][sequence][d] with layers 0..Layers
// as documented above. One forward pass serves all layers.
func ResidualActivationsAll(w *Weights, seqs [][]int) ([][][]float32, error) {
	s := &Sampler{w: w, residuals: true}
	if err := s.resolve(); err != nil {
		return nil, fmt.Errorf("residual activations: %w", err)
	}
	c := w.Config
	rows := make([]*rowState, len(seqs))
	cacheLen := 0
	for i, seq := range seqs {
		if err := checkSequenceIDs(seq, c); err != nil {
			return nil, fmt.Errorf("residual activations: sequence %d: %w", i, err)
		}
		rows[i] = &rowState{idx: i, prompt: seq, plen: len(seq)}
		cacheLen = max(cacheLen, len(seq))
	}
	D := c.DModel
	out := make([][][]float32, c.Layers+1)
	for l := range out {
		out[l] = make([][]float32, len(seqs))
		buf := make([]float32, len(seqs)*D)
		for i := range seqs {
			out[l][i] = buf[i*D : (i+1)*D : (i+1)*D]
		}
	}
	s.decode(rows, cacheLen, func(segs []passSegment, rows []*rowState) {
		for i, sg := range segs {
			if sg.logits == logitsNone {
				continue
			}
			for l := range out {
				copy(out[l][rows[i].idx], s.resid[(l*s.outRows+sg.lrow0)*D:][:D])
			}
			rows[i].done = true
		}
	})
	return out, nil
}

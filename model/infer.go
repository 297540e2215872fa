package model

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas/gonum"
)

// This file holds the inference forward passes: ReferenceLogits, a plain
// float64 oracle, and the Sampler's KV-cache pass that Generate and Logits
// run on.
//
// The KV-cache pass computes every token row with the same sequence of
// float32 operations whatever the batch around it: matrix products are done
// row by row (out = b + Σ_l in[l]·W[l,:], each term added with an
// elementwise axpy), LayerNorm, GELU and the residual adds are per row, and
// attention reads only the row's own cache. So a sequence's logits are
// bit-identical whether it is decoded alone or in a batch, prefilled at once
// or one token at a time, and for any GOMAXPROCS.

const (
	inferLNEps = 1e-5
	// inferGELUC is sqrt(2/π), the GELU tanh-approximation constant.
	inferGELUC = 0.7978845608028654
)

// ReferenceLogits computes the logits (len(ids)·vocab values, position-major)
// of one sequence with plain loops and float64 accumulation. It is the oracle
// the fast paths are tested against, not meant to be fast. It panics on an
// empty or over-long sequence, an out-of-range token id or malformed
// weights, all programming errors in a test.
func ReferenceLogits(w *Weights, ids []int) []float32 {
	if err := weightsError(w); err != nil {
		panic(fmt.Sprintf("ReferenceLogits: %v", err))
	}
	c := w.Config
	if err := checkSequenceIDs(ids, c); err != nil {
		panic(fmt.Sprintf("ReferenceLogits: %v", err))
	}
	D, F, V, H, hd := c.DModel, c.MLP, c.Vocab, c.Heads, c.HeadDim()
	n := len(ids)
	get := func(name string) []float32 { return w.Get(name).Data }
	lin := func(in []float64, W, b []float32, nout int) []float64 {
		out := make([]float64, nout)
		for j := 0; j < nout; j++ {
			s := 0.0
			if b != nil {
				s = float64(b[j])
			}
			for i, v := range in {
				s += v * float64(W[i*nout+j])
			}
			out[j] = s
		}
		return out
	}
	ln := func(x []float64, g, b []float32) []float64 {
		mean := 0.0
		for _, v := range x {
			mean += v
		}
		mean /= float64(len(x))
		vr := 0.0
		for _, v := range x {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(len(x))
		inv := 1 / math.Sqrt(vr+inferLNEps)
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = (v-mean)*inv*float64(g[i]) + float64(b[i])
		}
		return out
	}
	wte, wpe := get("wte"), get("wpe")
	x := make([][]float64, n)
	for t, id := range ids {
		x[t] = make([]float64, D)
		for i := 0; i < D; i++ {
			x[t][i] = float64(wte[id*D+i]) + float64(wpe[t*D+i])
		}
	}
	for l := 0; l < c.Layers; l++ {
		L := func(name string) []float32 { return w.Layer(l, name).Data }
		qkv := make([][]float64, n)
		for t := range x {
			qkv[t] = lin(ln(x[t], L("ln_1.weight"), L("ln_1.bias")), L("attn.c_attn.weight"), L("attn.c_attn.bias"), 3*D)
		}
		att := make([][]float64, n)
		for t := range att {
			att[t] = make([]float64, D)
		}
		scale := 1 / math.Sqrt(float64(hd))
		for h := 0; h < H; h++ {
			for t := 0; t < n; t++ {
				q := qkv[t][h*hd : (h+1)*hd]
				scores := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := 0; j <= t; j++ {
					k := qkv[j][D+h*hd : D+(h+1)*hd]
					s := 0.0
					for i := range q {
						s += q[i] * k[i]
					}
					scores[j] = s * scale
					mx = math.Max(mx, scores[j])
				}
				sum := 0.0
				for j := range scores {
					scores[j] = math.Exp(scores[j] - mx)
					sum += scores[j]
				}
				for j := 0; j <= t; j++ {
					v := qkv[j][2*D+h*hd : 2*D+(h+1)*hd]
					p := scores[j] / sum
					for i := range v {
						att[t][h*hd+i] += p * v[i]
					}
				}
			}
		}
		for t := range x {
			proj := lin(att[t], L("attn.c_proj.weight"), L("attn.c_proj.bias"), D)
			for i := range proj {
				x[t][i] += proj[i]
			}
			hid := lin(ln(x[t], L("ln_2.weight"), L("ln_2.bias")), L("mlp.c_fc.weight"), L("mlp.c_fc.bias"), F)
			for i, v := range hid {
				hid[i] = 0.5 * v * (1 + math.Tanh(inferGELUC*(v+0.044715*v*v*v)))
			}
			out := lin(hid, L("mlp.c_proj.weight"), L("mlp.c_proj.bias"), D)
			for i := range out {
				x[t][i] += out[i]
			}
		}
	}
	logits := make([]float32, n*V)
	for t := range x {
		lg := lin(ln(x[t], get("ln_f.weight"), get("ln_f.bias")), get("lm_head.weight"), nil, V)
		for j, v := range lg {
			logits[t*V+j] = float32(v)
		}
	}
	return logits
}

// checkSequenceIDs reports an empty or over-long sequence or an out-of-range id.
func checkSequenceIDs(ids []int, c Config) error {
	if len(ids) == 0 {
		return fmt.Errorf("empty sequence")
	}
	if len(ids) > c.Context {
		return fmt.Errorf("sequence of %d tokens is longer than the context of %d", len(ids), c.Context)
	}
	for i, id := range ids {
		if id < 0 || id >= c.Vocab {
			return fmt.Errorf("token %d at position %d is out of range [0, %d)", id, i, c.Vocab)
		}
	}
	return nil
}

// Sampler decodes batches of prompts with a KV cache. It reads the weights'
// own slices at each call (never copies them), so it always sees the current
// values of weights being trained (but must not run while they are being
// updated). It keeps its caches and scratch buffers between calls, so
// reusing one Sampler avoids reallocating them. A Sampler is not safe for
// concurrent use: give each goroutine its own (they can share the weights).
type Sampler struct {
	w *Weights

	// Token-row scratch, grown on demand: one row per token of a pass.
	x, a, qkv, att, hid []float32
	tokSlot, tokPos     []int
	tokLogit            []int // row of s.logits that token t's logits go to, or -1
	logits              []float32

	// kc and vc are the key and value caches, (slot, layer, head,
	// position, head_dim) with cacheLen positions, so that one head's keys
	// and values are contiguous.
	kc, vc   []float32
	cacheLen int

	workers []workerScratch
}

// workerScratch is one goroutine's private scratch.
type workerScratch struct {
	scores []float32
	cand   []sampleCandidate
}

// NewSampler returns a sampler over w. The weights are checked on each call
// of Generate and Logits, which report malformed ones as errors.
func NewSampler(w *Weights) *Sampler { return &Sampler{w: w} }

// samplerLayer are one block's weight slices.
type samplerLayer struct {
	ln1g, ln1b, qkvW, qkvB, projW, projB, ln2g, ln2b, fcW, fcB, outW, outB []float32
}

// samplerParams are the model's weight slices, resolved from the Weights at
// the start of each call.
type samplerParams struct {
	c                      Config
	wte, wpe, lnfg, lnfb   []float32
	head                   []float32
	layers                 []samplerLayer
	D, F, V, H, hd, stride int // stride: floats per cache slot
}

func (s *Sampler) resolve() (*samplerParams, error) {
	if err := weightsError(s.w); err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	w := s.w
	c := w.Config
	p := &samplerParams{c: c, D: c.DModel, F: c.MLP, V: c.Vocab, H: c.Heads, hd: c.HeadDim()}
	p.wte, p.wpe = w.Get("wte").Data, w.Get("wpe").Data
	p.lnfg, p.lnfb, p.head = w.Get("ln_f.weight").Data, w.Get("ln_f.bias").Data, w.Get("lm_head.weight").Data
	for l := 0; l < c.Layers; l++ {
		L := func(name string) []float32 { return w.Layer(l, name).Data }
		p.layers = append(p.layers, samplerLayer{
			ln1g: L("ln_1.weight"), ln1b: L("ln_1.bias"),
			qkvW: L("attn.c_attn.weight"), qkvB: L("attn.c_attn.bias"),
			projW: L("attn.c_proj.weight"), projB: L("attn.c_proj.bias"),
			ln2g: L("ln_2.weight"), ln2b: L("ln_2.bias"),
			fcW: L("mlp.c_fc.weight"), fcB: L("mlp.c_fc.bias"),
			outW: L("mlp.c_proj.weight"), outB: L("mlp.c_proj.bias"),
		})
	}
	return p, nil
}

// passSegment is a run of consecutive tokens of one sequence fed in one pass.
type passSegment struct {
	slot int   // cache slot of the sequence
	pos  int   // position of ids[0]
	ids  []int // the tokens
	// logits selects which tokens' logits the pass computes: none, the last
	// token's, or every token's.
	logits logitMode
	tok0   int // index of ids[0] among the pass's token rows
	lrow0  int // row of s.logits of the first logits computed
}

type logitMode int

const (
	logitsNone logitMode = iota
	logitsLast
	logitsAll
)

// prepare sizes the caches for slots sequences of up to cacheLen positions.
func (s *Sampler) prepare(p *samplerParams, slots, cacheLen int) {
	p.stride = len(p.layers) * cacheLen * p.D
	s.cacheLen = cacheLen
	s.kc = growF32(s.kc, slots*p.stride)
	s.vc = growF32(s.vc, slots*p.stride)
}

func growF32(b []float32, n int) []float32 {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]float32, n)
}

func growInt(b []int, n int) []int {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]int, n)
}

// forward runs one pass over segs: it appends each token's keys and values
// to its slot's cache and leaves the requested logits in s.logits, segment
// by segment in order, V values a row. Every segment's earlier positions
// must already be in the cache.
func (s *Sampler) forward(p *samplerParams, segs []passSegment) {
	m, nl := 0, 0
	for i := range segs {
		sg := &segs[i]
		sg.tok0, sg.lrow0 = m, nl
		m += len(sg.ids)
		switch sg.logits {
		case logitsLast:
			nl++
		case logitsAll:
			nl += len(sg.ids)
		}
	}
	D, F, V := p.D, p.F, p.V
	s.x = growF32(s.x, m*D)
	s.a = growF32(s.a, m*D)
	s.qkv = growF32(s.qkv, m*3*D)
	s.att = growF32(s.att, m*D)
	s.hid = growF32(s.hid, m*F)
	s.logits = growF32(s.logits, nl*V)
	s.tokSlot = growInt(s.tokSlot, m)
	s.tokPos = growInt(s.tokPos, m)
	s.tokLogit = growInt(s.tokLogit, m)
	for _, sg := range segs {
		for i, id := range sg.ids {
			t := sg.tok0 + i
			s.tokSlot[t], s.tokPos[t], s.tokLogit[t] = sg.slot, sg.pos+i, -1
			x := s.x[t*D : (t+1)*D]
			e, pe := p.wte[id*D:(id+1)*D], p.wpe[(sg.pos+i)*D:(sg.pos+i+1)*D]
			for j := range x {
				x[j] = e[j] + pe[j]
			}
		}
		switch sg.logits {
		case logitsLast:
			s.tokLogit[sg.tok0+len(sg.ids)-1] = sg.lrow0
		case logitsAll:
			for i := range sg.ids {
				s.tokLogit[sg.tok0+i] = sg.lrow0 + i
			}
		}
	}
	workers := s.workerCount(m)
	s.workerCount(len(segs) * p.H) // scratch for parallelAttention
	maxLen := 0
	for _, sg := range segs {
		maxLen = max(maxLen, sg.pos+len(sg.ids))
	}
	for i := range s.workers {
		s.workers[i].scores = growF32(s.workers[i].scores, maxLen)
	}
	nl0 := len(p.layers)
	s.parallelRows(workers, m, func(lo, hi int) { s.preAttention(p, 0, lo, hi) })
	for l := 0; l < nl0; l++ {
		s.parallelAttention(p, l, segs)
		s.parallelRows(workers, m, func(lo, hi int) {
			s.postAttention(p, l, lo, hi)
			if l+1 < nl0 {
				s.preAttention(p, l+1, lo, hi)
			} else {
				s.final(p, lo, hi)
			}
		})
	}
}

// preAttention computes the q, k and v of token rows lo..hi-1 in layer l
// and stores the keys and values in the cache.
func (s *Sampler) preAttention(p *samplerParams, l, lo, hi int) {
	D := p.D
	lw := &p.layers[l]
	for t := lo; t < hi; t++ {
		inferLayerNorm(s.a[t*D:(t+1)*D], s.x[t*D:(t+1)*D], lw.ln1g, lw.ln1b)
	}
	inferMatRows(s.qkv[lo*3*D:hi*3*D], s.a[lo*D:hi*D], lw.qkvW, lw.qkvB, D, 3*D)
	for t := lo; t < hi; t++ {
		qkv := s.qkv[t*3*D : (t+1)*3*D]
		hd := p.hd
		off := s.tokSlot[t]*p.stride + (l*p.H*s.cacheLen+s.tokPos[t])*hd
		for h := 0; h < p.H; h++ {
			o := off + h*s.cacheLen*hd
			copy(s.kc[o:o+hd], qkv[D+h*hd:D+(h+1)*hd])
			copy(s.vc[o:o+hd], qkv[2*D+h*hd:2*D+(h+1)*hd])
		}
	}
}

// postAttention finishes block l for token rows lo..hi-1: output
// projection, residual, MLP, residual.
func (s *Sampler) postAttention(p *samplerParams, l, lo, hi int) {
	D, F := p.D, p.F
	lw := &p.layers[l]
	x, a, hid := s.x[lo*D:hi*D], s.a[lo*D:hi*D], s.hid[lo*F:hi*F]
	inferMatRows(a, s.att[lo*D:hi*D], lw.projW, lw.projB, D, D)
	inferAdd(x, a)
	for r := 0; r < hi-lo; r++ {
		inferLayerNorm(a[r*D:(r+1)*D], x[r*D:(r+1)*D], lw.ln2g, lw.ln2b)
	}
	inferMatRows(hid, a, lw.fcW, lw.fcB, D, F)
	for i, v := range hid {
		hid[i] = inferGELU(v)
	}
	inferMatRows(a, hid, lw.outW, lw.outB, F, D)
	inferAdd(x, a)
}

// final computes the logits of the token rows in lo..hi-1 that want them.
// Their logits rows are consecutive, so the normalized rows are gathered at
// the start of the chunk's rows of s.a and multiplied at once.
func (s *Sampler) final(p *samplerParams, lo, hi int) {
	D, V := p.D, p.V
	n, r0 := 0, -1
	for t := lo; t < hi; t++ {
		r := s.tokLogit[t]
		if r < 0 {
			continue
		}
		if r0 < 0 {
			r0 = r
		}
		inferLayerNorm(s.a[(lo+n)*D:(lo+n+1)*D], s.x[t*D:(t+1)*D], p.lnfg, p.lnfb)
		n++
	}
	if n > 0 {
		inferMatRows(s.logits[r0*V:(r0+n)*V], s.a[lo*D:(lo+n)*D], p.head, nil, D, V)
	}
}

// attention computes head h of layer l for the tokens of segment sg.
func (s *Sampler) attention(p *samplerParams, l int, sg *passSegment, h int, scores []float32) {
	D, hd := p.D, p.hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	base := sg.slot*p.stride + (l*p.H+h)*s.cacheLen*hd
	kc, vc := s.kc[base:base+s.cacheLen*hd], s.vc[base:base+s.cacheLen*hd]
	for i := range sg.ids {
		t := sg.tok0 + i
		n := sg.pos + i + 1 // keys 0..pos
		q := s.qkv[t*3*D+h*hd : t*3*D+(h+1)*hd]
		sc := scores[:n]
		attnScores(sc, q, kc, hd)
		mx := float32(math.Inf(-1))
		for j, v := range sc {
			v *= scale
			sc[j] = v
			if v > mx {
				mx = v
			}
		}
		var sum float32
		for j, v := range sc {
			// Weights below e^-64 are flushed to 0: they cannot change the
			// result, and products with them could be subnormal, which
			// x86 computes a hundred times slower.
			var e float32
			if d := v - mx; d > -64 {
				e = inferExp(d)
			}
			sc[j] = e
			sum += e
		}
		inv := 1 / sum
		for j := range sc {
			sc[j] *= inv
		}
		attnValues(s.att[t*D+h*hd:t*D+(h+1)*hd], sc, vc, hd)
	}
}

// attnScores sets sc[j] = q·k_j for the keys k_j = kc[j·stride:][:len(q)].
// Every score sums its terms in the same order (one accumulator, ascending
// index) however the keys are grouped, so results do not depend on n.
func attnScores(sc, q, kc []float32, stride int) {
	hd := len(q)
	j := 0
	for ; j+4 <= len(sc); j += 4 {
		k0 := kc[j*stride : j*stride+hd]
		k1 := kc[(j+1)*stride : (j+1)*stride+hd]
		k2 := kc[(j+2)*stride : (j+2)*stride+hd]
		k3 := kc[(j+3)*stride : (j+3)*stride+hd]
		k0, k1, k2, k3 = k0[:len(q)], k1[:len(q)], k2[:len(q)], k3[:len(q)]
		var s0, s1, s2, s3 float32
		for i, qv := range q {
			s0 += qv * k0[i]
			s1 += qv * k1[i]
			s2 += qv * k2[i]
			s3 += qv * k3[i]
		}
		sc[j], sc[j+1], sc[j+2], sc[j+3] = s0, s1, s2, s3
	}
	for ; j < len(sc); j++ {
		k := kc[j*stride : j*stride+hd]
		k = k[:len(q)]
		var s0 float32
		for i, qv := range q {
			s0 += qv * k[i]
		}
		sc[j] = s0
	}
}

// attnValues sets out = Σ_j p[j]·v_j for the values v_j =
// vc[j·stride:][:len(out)], each element summed over ascending j. (Four
// accumulators is what the Go compiler keeps in registers best.)
func attnValues(out, p, vc []float32, stride int) {
	hd := len(out)
	d := 0
	for ; d+4 <= hd; d += 4 {
		var a0, a1, a2, a3 float32
		for j, pj := range p {
			v := vc[j*stride+d : j*stride+d+4 : j*stride+d+4]
			a0 += pj * v[0]
			a1 += pj * v[1]
			a2 += pj * v[2]
			a3 += pj * v[3]
		}
		o := out[d : d+4 : d+4]
		o[0], o[1], o[2], o[3] = a0, a1, a2, a3
	}
	for ; d < hd; d++ {
		var a float32
		for j, pj := range p {
			a += pj * vc[j*stride+d]
		}
		out[d] = a
	}
}

// parallelAttention runs attention for every (segment, head) of layer l.
func (s *Sampler) parallelAttention(p *samplerParams, l int, segs []passSegment) {
	n := len(segs) * p.H
	work := 0
	for _, sg := range segs {
		work += len(sg.ids) * (sg.pos + len(sg.ids))
	}
	workers := s.workerCount(n)
	if work*p.D < 1<<15 { // too little to be worth a goroutine
		workers = 1
	}
	inferParallel(workers, n, func(i, wid int) {
		sg := &segs[i/p.H]
		s.attention(p, l, sg, i%p.H, s.workers[wid].scores)
	})
}

// workerCount is how many goroutines to use for n items of work; it also
// makes sure there is scratch for each.
func (s *Sampler) workerCount(n int) int {
	k := min(runtime.GOMAXPROCS(0), n)
	k = max(k, 1)
	for len(s.workers) < k {
		s.workers = append(s.workers, workerScratch{})
	}
	return k
}

// parallelRows calls f on chunks lo..hi-1 of the token rows 0..m-1,
// spread over workers goroutines.
func (s *Sampler) parallelRows(workers, m int, f func(lo, hi int)) {
	if workers <= 1 || m <= 1 {
		f(0, m)
		return
	}
	// Two chunks a worker balances the load; chunks of several rows let
	// inferMatRows reuse each block of a weight matrix across rows.
	chunk := max(1, (m+2*workers-1)/(2*workers))
	nchunks := (m + chunk - 1) / chunk
	inferParallel(min(workers, nchunks), nchunks, func(i, _ int) {
		f(i*chunk, min(m, (i+1)*chunk))
	})
}

// inferParallel calls f(i, worker) for i in 0..n-1 on up to workers goroutines
// (the caller's included), handing out items in order; worker is the index
// of the goroutine, for its private scratch. Results are deterministic as
// long as f(i, ·) depends only on i.
func inferParallel(workers, n int, f func(i, worker int)) {
	if workers <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			f(i, 0)
		}
		return
	}
	workers = min(workers, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	run := func(wid int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			f(i, wid)
		}
	}
	wg.Add(workers - 1)
	for wid := 1; wid < workers; wid++ {
		go func() {
			defer wg.Done()
			run(wid)
		}()
	}
	run(0)
	wg.Wait()
}

var inferBLAS gonum.Implementation

// inferMatRows sets out = in·W + bias for a block of rows: in is rows×k, out
// rows×n and W k×n, all row-major; bias (n values) may be nil. Each out[i,j]
// is bias[j] plus the terms in[i,l]·W[l,j] added in order of l with float32
// rounding (gonum's axpy kernel is elementwise), so the result does not
// depend on the other rows, on the blocking below or on memory alignment.
//
// Rows go in groups of matGroup and columns in blocks of matCols: each
// group's output block stays in L1 while each row of W's block, loaded
// once, serves the whole group.
func inferMatRows(out, in, W, bias []float32, k, n int) {
	rows := len(in) / k
	out, in, W = out[:rows*n], in[:rows*k], W[:k*n]
	for r := 0; r < rows; r++ {
		o := out[r*n : (r+1)*n]
		if bias != nil {
			copy(o, bias[:n])
		} else {
			clear(o)
		}
	}
	for j0 := 0; j0 < n; j0 += matCols {
		j1 := min(n, j0+matCols)
		w := j1 - j0
		for r0 := 0; r0 < rows; r0 += matGroup {
			r1 := min(rows, r0+matGroup)
			for l := 0; l < k; l++ {
				wl := W[l*n+j0 : l*n+j1]
				for r := r0; r < r1; r++ {
					if v := in[r*k+l]; v != 0 {
						inferBLAS.Saxpy(w, v, wl, 1, out[r*n+j0:r*n+j1], 1)
					}
				}
			}
		}
	}
}

const (
	matGroup = 4
	matCols  = 1024
)

// inferLayerNorm sets out = (x - mean(x)) / sqrt(var(x) + eps) · g + b.
func inferLayerNorm(out, x, g, b []float32) {
	n := len(x)
	out, g, b = out[:n], g[:n], b[:n]
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(n)
	var vs float64
	for _, v := range x {
		d := float64(v) - mean
		vs += d * d
	}
	inv := float32(1 / math.Sqrt(vs/float64(n)+inferLNEps))
	m32 := float32(mean)
	for i, v := range x {
		out[i] = (v-m32)*inv*g[i] + b[i]
	}
}

// inferGELU is the tanh approximation 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))),
// computed as x·sigmoid(2u) = x / (1 + exp(-2u)), the same function with
// one exponential (much faster than math.Tanh).
// Where the result is below 1e-30 in magnitude it is flushed to 0, so no
// subnormal values (slow on x86) reach the next matrix product.
func inferGELU(x float32) float32 {
	u := inferGELUC * (x + 0.044715*x*x*x)
	if u < -37.5 {
		return 0
	}
	return x / (1 + inferExp(-2*u))
}

// inferExp is e^x for float32 within about 2 ulps (Cephes' expf: x = n·ln2 + r,
// a degree-6 polynomial for e^r, scaled by 2^n), several times faster than
// math.Exp. Arguments are clamped to [-87, 88], so results underflow to
// about 1.6e-38 rather than 0 and overflow to +Inf just past 88.
func inferExp(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	switch {
	case x != x:
		return x
	case x > 88.7:
		return float32(math.Inf(1))
	case x < -87:
		x = -87
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	k := int32(n)
	if k > 127 { // 2^128 is not a float32; x is in (88.38, 88.7]
		y *= 2
		k--
	}
	return y * math.Float32frombits(uint32(k+127)<<23)
}

func inferAdd(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

package model

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// This file holds the Sampler's KV-cache pass, that Generate, Logits and
// the probes' ResidualActivationsAll run on: gpt recorded by rowKernels
// (infer_rows.go) over the kernels of infer_kernels.go.
//
// The pass computes every token row with the same sequence of float32
// operations whatever the batch around it: matrix products are done row by
// row (out = b + Σ_l in[l]·W[l,:], each term added with an elementwise
// axpy), LayerNorm, GELU and the residual adds are per row, and attention
// reads only the row's own cache. So a sequence's logits are bit-identical
// whether it is decoded alone or in a batch, prefilled at once or one token
// at a time, and for any GOMAXPROCS.

// Sampler decodes batches of prompts with a KV cache. It reads the weights'
// own slices at each call (never copies them), so it always sees the current
// values of weights being trained (but must not run while they are being
// updated). It keeps its caches and scratch buffers between calls, so
// reusing one Sampler avoids reallocating them. A Sampler is not safe for
// concurrent use: give each goroutine its own (they can share the weights).
type Sampler struct {
	w *Weights
	c Config

	// program is the pass, recorded from gpt over the weights' slices at
	// the start of each call (resolve).
	program []func(segs []passSegment)
	// residuals makes probe passes (ResidualActivationsAll): they leave
	// the residual stream of each output row after each block in resid
	// (layer, output row, d_model), and compute no logits.
	residuals bool

	// Token-row scratch, grown on demand: one row per token of a pass.
	rows                       int // rows still computed (OutputRows drops some)
	x, ln, proj, qkv, att, hid []float32
	tokID, tokSlot, tokPos     []int
	tokOut                     []int // the row's output row, or -1
	outRows                    int   // output rows of the pass
	logits, resid              []float32

	// kc and vc are the key and value caches, (slot, layer, head,
	// position, head_dim) with cacheLen positions, so that one head's keys
	// and values are contiguous; stride is the floats of one slot.
	kc, vc           []float32
	cacheLen, stride int

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

// resolve checks the weights and records the pass over their slices.
func (s *Sampler) resolve() error {
	p, err := s.w.Params()
	if err != nil {
		return fmt.Errorf("sampler: %w", err)
	}
	s.c = s.w.Config
	k := &rowKernels{s: s}
	gpt[rowVal](k, p)
	k.stage(nil)
	s.program = k.program
	return nil
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

// passSegment is a run of consecutive tokens of one sequence fed in one pass.
type passSegment struct {
	slot int   // cache slot of the sequence
	pos  int   // position of ids[0]
	ids  []int // the tokens
	// logits selects which tokens' outputs (logits, or a probe's residual
	// rows) the pass computes: none, the last token's, or every token's.
	logits logitMode
	tok0   int // index of ids[0] among the pass's token rows
	lrow0  int // row of s.logits of the first output
}

type logitMode int

const (
	logitsNone logitMode = iota
	logitsLast
	logitsAll
)

// prepare sizes the caches for slots sequences of up to cacheLen positions.
func (s *Sampler) prepare(slots, cacheLen int) {
	s.stride = s.c.Layers * cacheLen * s.c.DModel
	s.cacheLen = cacheLen
	s.kc = growF32(s.kc, slots*s.stride)
	s.vc = growF32(s.vc, slots*s.stride)
}

// forward runs one pass over segs: it appends each token's keys and values
// to its slot's cache and leaves the requested outputs in s.logits (or
// s.resid), segment by segment in order. Every segment's earlier
// positions must already be in the cache.
func (s *Sampler) forward(segs []passSegment) {
	m := s.layout(segs)
	D := s.c.DModel
	s.x = growF32(s.x, m*D)
	s.ln = growF32(s.ln, m*D)
	s.proj = growF32(s.proj, m*D)
	s.qkv = growF32(s.qkv, m*3*D)
	s.att = growF32(s.att, m*D)
	s.hid = growF32(s.hid, m*s.c.MLP)
	s.workerCount(max(m, len(segs)*s.c.Heads)) // scratch for every goroutine
	maxLen := 0
	for _, sg := range segs {
		maxLen = max(maxLen, sg.pos+len(sg.ids))
	}
	for i := range s.workers {
		s.workers[i].scores = growF32(s.workers[i].scores, maxLen)
	}
	for _, stage := range s.program {
		stage(segs)
	}
}

// layout numbers the pass's token rows and output rows and fills the
// per-row token data; it returns the number of rows.
func (s *Sampler) layout(segs []passSegment) int {
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
	s.outRows = nl
	if s.residuals {
		s.resid = growF32(s.resid, (s.c.Layers+1)*nl*s.c.DModel)
	} else {
		s.logits = growF32(s.logits, nl*s.c.Vocab)
	}
	s.tokID, s.tokSlot = growInt(s.tokID, m), growInt(s.tokSlot, m)
	s.tokPos, s.tokOut = growInt(s.tokPos, m), growInt(s.tokOut, m)
	for _, sg := range segs {
		for i, id := range sg.ids {
			t := sg.tok0 + i
			s.tokID[t], s.tokSlot[t], s.tokPos[t], s.tokOut[t] = id, sg.slot, sg.pos+i, -1
		}
		switch sg.logits {
		case logitsLast:
			s.tokOut[sg.tok0+len(sg.ids)-1] = sg.lrow0
		case logitsAll:
			for i := range sg.ids {
				s.tokOut[sg.tok0+i] = sg.lrow0 + i
			}
		}
	}
	s.rows = m
	return m
}

// compact keeps the output rows (tokOut >= 0) alone, in order, in bufs and
// the token data. Output rows are numbered in row order, so row r is then
// output row r.
func (s *Sampler) compact(bufs ...rowVal) {
	n := 0
	for t := 0; t < s.rows; t++ {
		if s.tokOut[t] < 0 {
			continue
		}
		if t != n {
			for _, b := range bufs {
				copy(b.rows(n, n+1), b.rows(t, t+1))
			}
			s.tokID[n], s.tokSlot[n], s.tokPos[n], s.tokOut[n] = s.tokID[t], s.tokSlot[t], s.tokPos[t], s.tokOut[t]
		}
		n++
	}
	s.rows = n
}

// storeKV copies the keys and values of token row t in layer l from s.qkv
// to its slot's cache.
func (s *Sampler) storeKV(l, t int) {
	D, H, hd := s.c.DModel, s.c.Heads, s.c.HeadDim()
	qkv := s.qkv[t*3*D : (t+1)*3*D]
	off := s.tokSlot[t]*s.stride + (l*H*s.cacheLen+s.tokPos[t])*hd
	for h := 0; h < H; h++ {
		o := off + h*s.cacheLen*hd
		copy(s.kc[o:o+hd], qkv[D+h*hd:D+(h+1)*hd])
		copy(s.vc[o:o+hd], qkv[2*D+h*hd:2*D+(h+1)*hd])
	}
}

// attention computes head h of layer l for the tokens of segment sg; in the
// last layer, only for the output rows (the others are dropped next, see
// OutputRows).
func (s *Sampler) attention(l int, sg *passSegment, h int, scores []float32) {
	D, H, hd := s.c.DModel, s.c.Heads, s.c.HeadDim()
	scale := float32(1 / math.Sqrt(float64(hd)))
	base := sg.slot*s.stride + (l*H+h)*s.cacheLen*hd
	kc, vc := s.kc[base:base+s.cacheLen*hd], s.vc[base:base+s.cacheLen*hd]
	last, flush := l == s.c.Layers-1, !s.residuals
	for i := range sg.ids {
		t := sg.tok0 + i
		if last && s.tokOut[t] < 0 {
			continue
		}
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
			// result, and products with them could be subnormal, which x86
			// computes a hundred times slower. Probe passes keep them: the
			// probes' activations are computed as they always were.
			var e float32
			if d := v - mx; d > -64 || !flush {
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

// parallelAttention runs attention for every (segment, head) of layer l.
func (s *Sampler) parallelAttention(l int, segs []passSegment) {
	H := s.c.Heads
	n := len(segs) * H
	work := 0
	for _, sg := range segs {
		work += len(sg.ids) * (sg.pos + len(sg.ids))
	}
	workers := s.workerCount(n)
	if work*s.c.DModel < 1<<15 { // too little to be worth a goroutine
		workers = 1
	}
	inferParallel(workers, n, func(i, wid int) {
		s.attention(l, &segs[i/H], i%H, s.workers[wid].scores)
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

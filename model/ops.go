package model

// This file holds what every custom gorgonia op of the training graph
// shares: identity and hashing, type signatures, value access, panic
// guards and a deterministic parallel loop.
//
// Conventions for the ops in ops_*.go:
//   - Every op is a pointer with its own output buffer, allocated on the
//     first Do and reused on every later call, so a step allocates no
//     activation or gradient buffers (gorgonia's tapeMachine.Reset drops
//     the machine's registers, so ops that relied on them would allocate
//     every buffer again on every step).
//     An op instance therefore belongs to exactly one node.
//   - Forward ops that their gradient needs to remember something from
//     (LayerNorm statistics, tanh of the GELU, attention probabilities,
//     the loss's exponentials) keep it in the op; the gradient op holds a
//     pointer to the forward op. The tape runs ops in a topological order
//     of the graph, so a gradient op must take an input that depends on
//     the forward op's output: the loss ops' gradients take the loss
//     itself (nothing else would order them after it), and every other
//     gradient depends on those.
//   - Every op hashes a unique id: gorgonia merges nodes whose hashes
//     match (at graph build and again, without an equality check, in
//     Compile's value numbering), and an op with per-node state must never
//     be merged.
//   - Do never panics: a panic inside the tape machine's worker goroutine
//     would kill the process, so every Do recovers into an error.
//   - Results are bitwise deterministic at any GOMAXPROCS: parallel loops
//     split work into chunks that depend only on the sizes, and each
//     output element is reduced by one goroutine in a fixed order.

import (
	"fmt"
	"hash"
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opSeq numbers op instances so that no two share a hash.
var opSeq atomic.Uint64

// opID is embedded in every op: a unique id and the methods whose answers
// are the same for all of them.
type opID struct{ id uint64 }

func newOpID() opID { return opID{id: opSeq.Add(1)} }

func (opID) ReturnsPtr() bool     { return false }
func (opID) CallsExtern() bool    { return false }
func (opID) OverwritesInput() int { return -1 }

// opHash writes an op's description and unique id into h.
func opHash(h hash.Hash, op fmt.Stringer, id uint64) {
	fmt.Fprintf(h, "%s#%d", op.String(), id)
}

// opHashcode is the 32-bit FNV-1a of an op's WriteHash.
func opHashcode(op gorgonia.Op) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// Type constructors for op signatures.
func opF32T(dims int) hm.Type        { return gorgonia.TensorType{Dims: dims, Of: tensor.Float32} }
func opI32T(dims int) hm.Type        { return gorgonia.TensorType{Dims: dims, Of: tensor.Int32} }
func opFnType(ts ...hm.Type) hm.Type { return hm.NewFnType(ts...) }

// opShapeOf returns the i-th input shape of InferShape.
func opShapeOf(ds []gorgonia.DimSizer, i int) (tensor.Shape, error) {
	if i >= len(ds) {
		return nil, fmt.Errorf("missing input %d", i)
	}
	s, ok := ds[i].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("input %d: expected a tensor.Shape, got %T", i, ds[i])
	}
	return s, nil
}

// opWantShape checks that input i has exactly the given shape.
func opWantShape(ds []gorgonia.DimSizer, i int, want ...int) error {
	s, err := opShapeOf(ds, i)
	if err != nil {
		return err
	}
	if !s.Eq(tensor.Shape(want)) {
		return fmt.Errorf("input %d has shape %v, want %v", i, s, tensor.Shape(want))
	}
	return nil
}

// opCheckShapes checks the shapes of all inputs.
func opCheckShapes(ds []gorgonia.DimSizer, shapes ...[]int) error {
	if len(ds) != len(shapes) {
		return fmt.Errorf("got %d inputs, want %d", len(ds), len(shapes))
	}
	for i, s := range shapes {
		if err := opWantShape(ds, i, s...); err != nil {
			return err
		}
	}
	return nil
}

// f32s returns the float32 data of input i, checking its length.
func opF32s(vs []gorgonia.Value, i, n int) []float32 {
	if i >= len(vs) || vs[i] == nil {
		panic(fmt.Sprintf("missing input %d", i))
	}
	var d []float32
	switch v := vs[i].(type) {
	case *gorgonia.F32:
		d = []float32{float32(*v)}
	default:
		x, ok := v.Data().([]float32)
		if !ok {
			panic(fmt.Sprintf("input %d: want float32 data, got %T", i, v.Data()))
		}
		d = x
	}
	if len(d) != n {
		panic(fmt.Sprintf("input %d has %d elements, want %d", i, len(d), n))
	}
	return d
}

// i32s returns the int32 data of input i, checking its length.
func opI32s(vs []gorgonia.Value, i, n int) []int32 {
	if i >= len(vs) || vs[i] == nil {
		panic(fmt.Sprintf("missing input %d", i))
	}
	d, ok := vs[i].Data().([]int32)
	if !ok {
		panic(fmt.Sprintf("input %d: want int32 data, got %T", i, vs[i].Data()))
	}
	if len(d) != n {
		panic(fmt.Sprintf("input %d has %d elements, want %d", i, len(d), n))
	}
	return d
}

// opScalar reads a float32 scalar input (the gradient that flows into a
// scalar-valued op: gorgonia's constant 1, or a scalar tensor).
func opScalar(vs []gorgonia.Value, i int) float32 {
	if i >= len(vs) || vs[i] == nil {
		panic(fmt.Sprintf("missing input %d", i))
	}
	switch v := vs[i].(type) {
	case *gorgonia.F32:
		return float32(*v)
	case *gorgonia.F64:
		return float32(*v)
	}
	switch d := vs[i].Data().(type) {
	case float32:
		return d
	case float64:
		return float32(d)
	case []float32:
		if len(d) == 1 {
			return d[0]
		}
	case []float64:
		if len(d) == 1 {
			return float32(d[0])
		}
	}
	panic(fmt.Sprintf("input %d: want a float scalar, got %T", i, vs[i]))
}

// opBuf is an op's cached float32 output tensor.
type opBuf struct{ t *tensor.Dense }

// get returns the buffer's tensor and data, allocating it on first use.
// The data is not cleared.
func (b *opBuf) get(shape ...int) (*tensor.Dense, []float32) {
	if b.t == nil || !b.t.Shape().Eq(tensor.Shape(shape)) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		b.t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, n)))
	}
	return b.t, b.t.Data().([]float32)
}

// guard turns a panic in an op into an error. Use as: defer opGuard(op, &err).
func opGuard(op fmt.Stringer, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%v: panic: %v", op, r)
	}
}

// opParallel runs fn over [0, n) split into chunks of grain indices, on up
// to GOMAXPROCS goroutines. fn gets one whole chunk per call, and the
// chunks are the same at any GOMAXPROCS (in particular, per-chunk partial
// sums, see colPartials); so if fn computes each chunk independently, the
// result does not depend on GOMAXPROCS. A panic in fn is re-raised in the
// caller's goroutine.
func opParallel(n, grain int, fn func(lo, hi int)) {
	opParallelW(n, grain, func(_, lo, hi int) { fn(lo, hi) })
}

// opParallelW is opParallel that also tells fn which worker runs it, a
// number in [0, opWorkers(n, grain)), for per-worker scratch space.
func opParallelW(n, grain int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	nw := opWorkers(n, grain)
	if nw <= 1 {
		// Same chunks as in parallel: reductions into per-chunk partial
		// sums must see the same split.
		for lo := 0; lo < n; lo += grain {
			fn(0, lo, min(lo+grain, n))
		}
		return
	}
	chunks := (n + grain - 1) / grain
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		panicMu  sync.Mutex
		panicked any
	)
	work := func(w int) {
		defer func() {
			if r := recover(); r != nil {
				panicMu.Lock()
				if panicked == nil {
					panicked = r
				}
				panicMu.Unlock()
			}
		}()
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			lo := c * grain
			hi := min(lo+grain, n)
			fn(w, lo, hi)
		}
	}
	wg.Add(nw - 1)
	for w := 1; w < nw; w++ {
		go func() {
			defer wg.Done()
			work(w)
		}()
	}
	work(0)
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}

// workers is the number of goroutines opParallel(n, grain, ...) uses.
func opWorkers(n, grain int) int {
	if n <= 0 {
		return 0
	}
	if grain < 1 {
		grain = 1
	}
	return min(runtime.GOMAXPROCS(0), (n+grain-1)/grain)
}

// opGrainDiv divides every chunk size; tests raise it to make the parallel
// loops split tiny inputs into many chunks.
var opGrainDiv = 1

// opGrain picks a chunk size of about target elements of work, given the
// work per index.
func opGrain(perIndex, target int) int {
	if perIndex <= 0 {
		return 1
	}
	g := target / opGrainDiv / perIndex
	if g < 1 {
		g = 1
	}
	return g
}

// opColSums sets out[j] = Σ_i x[i*cols+j] for an (rows, cols) matrix.
func opColSums(out, x []float32, rows, cols int, p *colPartials) {
	p.reset(rows, cols)
	opParallel(rows, p.grain, func(lo, hi int) {
		acc := p.chunk(lo)
		for i := lo; i < hi; i++ {
			for j, v := range x[i*cols : (i+1)*cols] {
				acc[j] += v
			}
		}
	})
	p.sum(out)
}

// colPartials holds per-chunk column sums for reductions over the rows of
// a matrix that a parallel loop over rows computes on the way (a bias or
// gain gradient next to an input gradient). The chunks depend only on the
// sizes, and sum adds them in chunk order, so the result does not depend
// on GOMAXPROCS.
type colPartials struct {
	grain, cols int
	buf         []float32 // (chunks, cols)
}

// reset prepares zeroed partials for rows×cols; loops over the rows must
// use p.grain as their chunk size.
func (p *colPartials) reset(rows, cols int) {
	p.grain, p.cols = opGrain(cols, 1<<14), cols
	chunks := (rows + p.grain - 1) / p.grain
	if cap(p.buf) < chunks*cols {
		p.buf = make([]float32, chunks*cols)
	}
	p.buf = p.buf[:chunks*cols]
	clear(p.buf)
}

// chunk returns the partial sums of the chunk that starts at row lo.
func (p *colPartials) chunk(lo int) []float32 {
	c := lo / p.grain
	return p.buf[c*p.cols : (c+1)*p.cols]
}

// sum writes the total of the partials into out.
func (p *colPartials) sum(out []float32) {
	clear(out)
	for c := 0; c < len(p.buf); c += p.cols {
		for j, v := range p.buf[c : c+p.cols] {
			out[j] += v
		}
	}
}

// sideOutOp returns a vector that another op computed on the way to its
// own output (a gain or bias gradient reduced in the same pass as an
// input gradient). Its input is that op's output, only so that the tape
// runs it after that op.
//
//	main (any shape) → the vector (n)
type sideOutOp struct {
	opID
	name string
	n    int
	vec  *[]float32 // the producing op's result, refreshed by its every Do
	t    *tensor.Dense
}

func newSideOutOp(name string, n int, vec *[]float32) *sideOutOp {
	return &sideOutOp{opID: newOpID(), name: name, n: n, vec: vec}
}

func (op *sideOutOp) Arity() int { return 1 }
func (op *sideOutOp) Type() hm.Type {
	return opFnType(hm.TypeVariable('a'), opF32T(1))
}
func (op *sideOutOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n}, nil
}

func (op *sideOutOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	if len(*op.vec) != op.n {
		return nil, fmt.Errorf("%v: producer left %d values, want %d", op, len(*op.vec), op.n)
	}
	if op.t == nil || &op.t.Data().([]float32)[0] != &(*op.vec)[0] {
		op.t = tensor.New(tensor.WithShape(op.n), tensor.WithBacking(*op.vec))
	}
	return op.t, nil
}

func (op *sideOutOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *sideOutOp) DiffWRT(int) []bool { return []bool{false} }
func (op *sideOutOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *sideOutOp) String() string        { return fmt.Sprintf("SideOut(%s, %d)", op.name, op.n) }
func (op *sideOutOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *sideOutOp) Hashcode() uint32      { return opHashcode(op) }

// opBlock is a column-block size for loops that split columns, shrunk by
// opGrainDiv like opGrain.
func opBlock(b int) int { return max(1, b/opGrainDiv) }

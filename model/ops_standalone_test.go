package model

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Standalone ops over row kernels that the graph's ops use fused: the
// causal softmax of attentionOp and the cross-entropy of headXentOp. The op
// tests check those kernels, forward and backward, through these.

// causalSoftmaxOp is softmax over the last axis of attention scores with
// the 1/√head_dim scale and the causal mask fused in: row i of each (t, t)
// matrix attends to columns 0..i only. The training graph uses the same
// row kernels inside attentionOp; this op exposes them on their own.
//
//	s (bh, t, t) → p (bh, t, t)
type causalSoftmaxOp struct {
	opID
	bh, t int
	scale float32
	out   opBuf
}

func newCausalSoftmaxOp(bh, t int, scale float32) *causalSoftmaxOp {
	return &causalSoftmaxOp{opID: newOpID(), bh: bh, t: t, scale: scale}
}

func (op *causalSoftmaxOp) Arity() int    { return 1 }
func (op *causalSoftmaxOp) Type() hm.Type { return opFnType(opF32T(3), opF32T(3)) }
func (op *causalSoftmaxOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.bh, op.t, op.t}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.bh, op.t, op.t}, nil
}

func (op *causalSoftmaxOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	t := op.t
	s := opF32s(vs, 0, op.bh*t*t)
	res, p := op.out.get(op.bh, t, t)
	opParallel(op.bh*t, opGrain(t, 1<<14), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			causalSoftmaxRow(p[r*t:(r+1)*t], s[r*t:(r+1)*t], r%t, op.scale)
		}
	})
	return res, nil
}

func (op *causalSoftmaxOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *causalSoftmaxOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff: ds from the output p and dp.
func (op *causalSoftmaxOp) SymDiff(_ gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	ds, err := gorgonia.ApplyOp(&causalSoftmaxGradOp{opID: newOpID(), fwd: op}, out, grad) // (bh, t, t)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{ds}, nil
}

func (op *causalSoftmaxOp) String() string {
	return fmt.Sprintf("CausalSoftmax(%d×%d×%d scale=%g)", op.bh, op.t, op.t, op.scale)
}
func (op *causalSoftmaxOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *causalSoftmaxOp) Hashcode() uint32      { return opHashcode(op) }

// causalSoftmaxGradOp is the gradient of causalSoftmaxOp.
//
//	p (bh, t, t), dp (bh, t, t) → ds (bh, t, t)
type causalSoftmaxGradOp struct {
	opID
	fwd *causalSoftmaxOp
	out opBuf
}

func (op *causalSoftmaxGradOp) Arity() int    { return 2 }
func (op *causalSoftmaxGradOp) Type() hm.Type { return opFnType(opF32T(3), opF32T(3), opF32T(3)) }
func (op *causalSoftmaxGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	bh, t := op.fwd.bh, op.fwd.t
	if err := opCheckShapes(ds, []int{bh, t, t}, []int{bh, t, t}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{bh, t, t}, nil
}

func (op *causalSoftmaxGradOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	bh, t := op.fwd.bh, op.fwd.t
	p, dp := opF32s(vs, 0, bh*t*t), opF32s(vs, 1, bh*t*t)
	res, ds := op.out.get(bh, t, t)
	opParallel(bh*t, opGrain(t, 1<<14), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			causalSoftmaxGradRow(ds[r*t:(r+1)*t], p[r*t:(r+1)*t], dp[r*t:(r+1)*t], r%t, op.fwd.scale)
		}
	})
	return res, nil
}

func (op *causalSoftmaxGradOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *causalSoftmaxGradOp) DiffWRT(int) []bool { return []bool{false, false} }
func (op *causalSoftmaxGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *causalSoftmaxGradOp) String() string        { return fmt.Sprintf("CausalSoftmaxGrad(%v)", op.fwd) }
func (op *causalSoftmaxGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *causalSoftmaxGradOp) Hashcode() uint32      { return opHashcode(op) }

// maskedXentOp is the mean masked softmax cross-entropy:
//
//	loss = Σ_i w_i·(logsumexp(logits_i) − logits_i[target_i]) / Σ_i w_i
//
// with w the mask (0/1 weights; any non-negative weights work). Rows with
// w_i = 0 are skipped entirely, and an all-zero mask gives loss 0 and a
// zero gradient. It keeps each row's exponentials for the gradient. The
// row losses are summed in float64, in order.
//
//	logits (n, v), targets (n) int32, mask (n) → loss (scalar)
type maskedXentOp struct {
	opID
	n, v  int
	e     []float32 // (n, v) e**(logit − row max), from the last Do (rows with w = 0 untouched)
	inv   []float32 // per row 1/Σ e, so softmax = e·inv
	nll   []float64 // per row
	wsum  float64   // Σ w from the last Do
	loss  float64   // from the last Do
	value *gorgonia.F32
}

func newMaskedXentOp(n, v int) *maskedXentOp {
	return &maskedXentOp{opID: newOpID(), n: n, v: v, e: make([]float32, n*v), inv: make([]float32, n), nll: make([]float64, n), value: gorgonia.NewF32(0)}
}

func (op *maskedXentOp) Arity() int { return 3 }
func (op *maskedXentOp) Type() hm.Type {
	return opFnType(opF32T(2), opI32T(1), opF32T(1), tensor.Float32)
}
func (op *maskedXentOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.n, op.v}, []int{op.n}, []int{op.n}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.ScalarShape(), nil
}

func (op *maskedXentOp) Do(vs ...gorgonia.Value) (val gorgonia.Value, err error) {
	defer opGuard(op, &err)
	n, v := op.n, op.v
	logits, targets, mask := opF32s(vs, 0, n*v), opI32s(vs, 1, n), opF32s(vs, 2, n)
	if err := checkTargets(targets, mask, v); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	opParallel(n, opGrain(v, 1<<15), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if mask[i] == 0 {
				op.nll[i] = 0
				continue
			}
			op.nll[i], op.inv[i] = xentRow(op.e[i*v:(i+1)*v], logits[i*v:(i+1)*v], targets[i])
		}
	})
	op.loss, op.wsum = meanLoss(op.nll, mask)
	*op.value = gorgonia.F32(op.loss)
	return op.value, nil
}

func (op *maskedXentOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *maskedXentOp) DiffWRT(int) []bool { return []bool{true, false, false} }

// SymDiff: dlogits from maskedXentGradOp; targets and mask have none. The
// loss itself is an input of the gradient op, though only to order it
// after this op, whose exponentials it uses.
func (op *maskedXentOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dl, err := gorgonia.ApplyOp(&maskedXentGradOp{opID: newOpID(), fwd: op}, in[0], in[1], in[2], out, grad) // (n, v)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dl, nil, nil}, nil
}

func (op *maskedXentOp) String() string        { return fmt.Sprintf("MaskedXent(%d×%d)", op.n, op.v) }
func (op *maskedXentOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *maskedXentOp) Hashcode() uint32      { return opHashcode(op) }

// maskedXentGradOp is the loss gradient, from the forward op's
// exponentials: dlogits_i = g·w_i/Σw·(softmax(logits_i) − onehot(target_i)),
// zero rows where w_i = 0.
//
//	logits (n, v), targets (n) int32, mask (n), loss, g (scalars) → dlogits (n, v)
type maskedXentGradOp struct {
	opID
	fwd *maskedXentOp
	out opBuf
}

func (op *maskedXentGradOp) Arity() int { return 5 }
func (op *maskedXentGradOp) Type() hm.Type {
	return opFnType(opF32T(2), opI32T(1), opF32T(1), tensor.Float32, tensor.Float32, opF32T(2))
}
func (op *maskedXentGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	n, v := op.fwd.n, op.fwd.v
	if len(ds) != 5 {
		return nil, fmt.Errorf("%v: got %d inputs, want 5", op, len(ds))
	}
	if err := opCheckShapes(ds[:3], []int{n, v}, []int{n}, []int{n}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{n, v}, nil
}

func (op *maskedXentGradOp) Do(vs ...gorgonia.Value) (val gorgonia.Value, err error) {
	defer opGuard(op, &err)
	f := op.fwd
	n, v := f.n, f.v
	opF32s(vs, 0, n*v) // the logits: only checked, the forward op kept what is needed
	targets, mask, g := opI32s(vs, 1, n), opF32s(vs, 2, n), opScalar(vs, 4)
	if err := checkTargets(targets, mask, v); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	res, dl := op.out.get(n, v)
	opParallel(n, opGrain(v, 1<<15), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			drow := dl[i*v : (i+1)*v]
			if mask[i] == 0 {
				clear(drow)
				continue
			}
			coef := float32(float64(g) * float64(mask[i]) / f.wsum)
			xentGradRow(drow, f.e[i*v:(i+1)*v], f.inv[i], coef, targets[i])
		}
	})
	return res, nil
}

func (op *maskedXentGradOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *maskedXentGradOp) DiffWRT(int) []bool { return []bool{false, false, false, false, false} }
func (op *maskedXentGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *maskedXentGradOp) String() string        { return fmt.Sprintf("MaskedXentGrad(%v)", op.fwd) }
func (op *maskedXentGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *maskedXentGradOp) Hashcode() uint32      { return opHashcode(op) }

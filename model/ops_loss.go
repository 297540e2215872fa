package model

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

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

// checkTargets validates targets and mask: ids in [0, v) where the weight
// is non-zero, weights finite and non-negative.
func checkTargets(targets []int32, mask []float32, v int) error {
	for i, w := range mask {
		if !(w >= 0) || math.IsInf(float64(w), 1) {
			return fmt.Errorf("mask weight %v at position %d is not a finite non-negative number", w, i)
		}
		if id := targets[i]; id < 0 || int(id) >= v {
			return fmt.Errorf("target id %d at position %d is outside [0, %d)", id, i, v)
		}
	}
	return nil
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

// xentRow sets e[j] = e**(row[j] − max row) and returns the row's
// cross-entropy −log softmax(row)[target] and 1/Σ e. e may alias row.
func xentRow(e, row []float32, target int32) (nll float64, inv float32) {
	mx := row[0]
	for _, x := range row[1:] {
		if x > mx {
			mx = x
		}
	}
	lt := row[target]
	var sum float32
	for j, x := range row {
		x -= mx
		if x < expMin { // results below e**expMin (1.6e-38) are raised to it
			x = expMin
		}
		ex := expClamped(x)
		e[j] = ex
		sum += ex
	}
	return float64(mx) + math.Log(float64(sum)) - float64(lt), 1 / sum
}

// xentGradRow sets d = coef·(e·inv − onehot(target)), the gradient of
// coef·xentRow's loss. d may alias e.
func xentGradRow(d, e []float32, inv, coef float32, target int32) {
	ce := coef * inv
	for j, x := range e {
		d[j] = ce * x
	}
	d[target] -= coef
}

// meanLoss returns Σ w·nll / Σ w (0 when Σ w = 0) and Σ w, summed in
// order over the rows with w != 0.
func meanLoss(nll []float64, mask []float32) (loss, wsum float64) {
	var num float64
	for i, w := range mask {
		if w != 0 {
			num += float64(w) * nll[i]
			wsum += float64(w)
		}
	}
	if wsum > 0 {
		loss = num / wsum
	}
	return loss, wsum
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

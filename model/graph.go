package model

import (
	"errors"
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphLNEps is the LayerNorm epsilon (as GPT-2 and PyTorch's default).
const graphLNEps = 1e-5

// Graph is the training graph for one (batch, seqLen) shape; built once, reused every step.
//
// It is a gorgonia expression graph over the weights' own slices, made of
// the fused custom ops in ops_*.go, differentiated symbolically by
// gorgonia.Grad and run by gorgonia tape machines: one for a training step
// (forward and backward), one for the loss alone and one for the logits.
// Every activation and gradient buffer is allocated on the first run and
// reused after. The graph reads the weights' slices on every run, so an
// optimizer must update them in place (not replace them). A Graph is not
// safe for concurrent use, but different Graphs, even over the same
// weights, can run at the same time while nothing writes the weights.
//
// With the openblas build tag, matrix products run on OpenBLAS (kept to
// one thread); either way the graph's own goroutines, up to GOMAXPROCS,
// are its only parallelism, and results are bitwise identical at any
// GOMAXPROCS.
type Graph struct {
	w             *Weights
	batch, seqLen int

	g       *gorgonia.ExprGraph
	params  gorgonia.Nodes // in w.Tensors order
	grads   gorgonia.Nodes // d loss / d params[i]
	ids     *gorgonia.Node // (n) int32
	targets *gorgonia.Node // (n) int32
	mask    *gorgonia.Node // (n) float32
	logits  *gorgonia.Node // (n, vocab)
	loss    *gorgonia.Node // scalar
	lossOp  *headXentOp

	// Input buffers, the backing arrays of ids, targets and mask.
	idsBuf, targetsBuf []int32
	maskBuf            []float32

	train, eval, infer gorgonia.VM
	gradData           [][]float32
}

// NewGraph builds the graph over w's parameter slices (no copies: gorgonia tensors use tensor.WithBacking(w.Tensors[i].Data)), for batch sequences of seqLen <= w.Config.Context tokens.
func NewGraph(w *Weights, batch, seqLen int) (g *Graph, err error) {
	if w == nil {
		return nil, errors.New("model: NewGraph: nil weights")
	}
	c := w.Config
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if batch < 1 || seqLen < 1 || seqLen > c.Context {
		return nil, fmt.Errorf("model: NewGraph: batch %d, seqLen %d: want batch >= 1 and 1 <= seqLen <= context %d", batch, seqLen, c.Context)
	}
	if f := graphFloats(c, batch, seqLen); f > maxGraphFloats {
		return nil, fmt.Errorf("model: NewGraph: batch %d × seqLen %d needs about %.3g GB of activations with this config, more than the %d GB limit",
			batch, seqLen, 4*f/1e9, 4*maxGraphFloats>>30)
	}
	specs := c.TensorSpecs()
	if len(w.Tensors) != len(specs) {
		return nil, fmt.Errorf("model: NewGraph: weights have %d tensors, config wants %d", len(w.Tensors), len(specs))
	}
	for i, s := range specs {
		t := w.Tensors[i]
		if t == nil || t.Name != s.Name || !slices.Equal(t.Shape, s.Shape) || len(t.Data) != s.Size() {
			return nil, fmt.Errorf("model: NewGraph: tensor %d does not match spec %s %v", i, s.Name, s.Shape)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("model: NewGraph: gorgonia panicked: %v", r)
		}
	}()
	// Gorgonia's compiler merges nodes whose 32-bit hashes collide, without
	// an equality check; every op hashes a fresh id, so on the (unlikely)
	// collision, building again gives new hashes.
	for attempt := 0; ; attempt++ {
		g, err = buildGraph(w, batch, seqLen)
		if err == nil || !errors.Is(err, errNodeHashCollision) || attempt == 3 {
			return g, err
		}
	}
}

var errNodeHashCollision = errors.New("node hash collision")

// maxGraphFloats bounds a graph's activation and gradient buffers (8 GiB
// of float32), so that a mistyped batch size fails instead of exhausting
// memory.
const maxGraphFloats = 1 << 31

// graphFloats estimates the float32s a graph's buffers hold, in float64 so
// that it cannot overflow.
func graphFloats(c Config, batch, seqLen int) float64 {
	n, t := float64(batch)*float64(seqLen), float64(seqLen)
	d, f, v := float64(c.DModel), float64(c.MLP), float64(c.Vocab)
	perLayer := n*(20*d+4*f) + float64(batch)*float64(c.Heads)*t*t
	return float64(c.Layers)*perLayer + n*(4*d+2*v) + 2*float64(c.Params())
}

func buildGraph(w *Weights, batch, seqLen int) (*Graph, error) {
	c := w.Config
	n, d, t := batch*seqLen, c.DModel, seqLen
	gr := &Graph{
		w: w, batch: batch, seqLen: seqLen,
		g:          gorgonia.NewGraph(),
		idsBuf:     make([]int32, n),
		targetsBuf: make([]int32, n),
		maskBuf:    make([]float32, n),
	}
	g := gr.g
	for _, p := range w.Tensors {
		v := tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(p.Data))
		gr.params = append(gr.params, gorgonia.NewTensor(g, tensor.Float32, len(p.Shape),
			gorgonia.WithShape(p.Shape...), gorgonia.WithName(p.Name), gorgonia.WithValue(v)))
	}
	param := func(name string) *gorgonia.Node {
		for i, p := range w.Tensors {
			if p.Name == name {
				return gr.params[i]
			}
		}
		panic("model: no parameter " + name) // TensorSpecs and this file disagree
	}
	gr.ids = gorgonia.NewTensor(g, tensor.Int32, 1, gorgonia.WithShape(n), gorgonia.WithName("ids"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(gr.idsBuf))))
	gr.targets = gorgonia.NewTensor(g, tensor.Int32, 1, gorgonia.WithShape(n), gorgonia.WithName("targets"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(gr.targetsBuf))))
	gr.mask = gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(n), gorgonia.WithName("mask"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(gr.maskBuf))))

	// x = wte[ids] + wpe[pos]                                  (n, d)
	x, err := gorgonia.ApplyOp(newEmbedOp(n, t, d, c.Vocab, c.Context), param("wte"), param("wpe"), gr.ids)
	if err != nil {
		return nil, err
	}
	for l := 0; l < c.Layers; l++ {
		p := func(name string) *gorgonia.Node { return param(fmt.Sprintf("h.%d.%s", l, name)) }
		// attention: x = x + c_proj(attn(c_attn(ln_1(x))))
		h, err := layerNormNode(x, p("ln_1.weight"), p("ln_1.bias"), graphLNEps) // (n, d)
		if err != nil {
			return nil, err
		}
		qkv, err := linearNode(h, p("attn.c_attn.weight"), p("attn.c_attn.bias"), nil) // (n, 3d)
		if err != nil {
			return nil, err
		}
		a, err := attentionNode(qkv, batch, t, c.Heads) // (n, d), heads merged
		if err != nil {
			return nil, err
		}
		x, err = linearNode(a, p("attn.c_proj.weight"), p("attn.c_proj.bias"), x) // (n, d), residual fused
		if err != nil {
			return nil, err
		}
		// MLP: x = x + c_proj(gelu(c_fc(ln_2(x))))
		h, err = layerNormNode(x, p("ln_2.weight"), p("ln_2.bias"), graphLNEps) // (n, d)
		if err != nil {
			return nil, err
		}
		z, err := linearNode(h, p("mlp.c_fc.weight"), nil, nil) // (n, mlp), bias added by biasGELU
		if err != nil {
			return nil, err
		}
		u, err := biasGELUNode(z, p("mlp.c_fc.bias")) // (n, mlp)
		if err != nil {
			return nil, err
		}
		x, err = linearNode(u, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"), x) // (n, d), residual fused
		if err != nil {
			return nil, err
		}
	}
	h, err := layerNormNode(x, param("ln_f.weight"), param("ln_f.bias"), graphLNEps) // (n, d)
	if err != nil {
		return nil, err
	}
	// logits = h·lm_head (n, vocab), for Logits only: the loss below
	// applies the head to the masked positions alone.
	if gr.logits, err = linearNode(h, param("lm_head.weight"), nil, nil); err != nil {
		return nil, err
	}
	gr.lossOp = newHeadXentOp(n, d, c.Vocab)
	if gr.loss, err = gorgonia.ApplyOp(gr.lossOp, h, param("lm_head.weight"), gr.targets, gr.mask); err != nil { // scalar
		return nil, err
	}
	if gr.grads, err = gorgonia.Grad(gr.loss, gr.params...); err != nil {
		return nil, fmt.Errorf("model: differentiating the graph: %w", err)
	}
	if err := checkNodeHashes(g); err != nil {
		return nil, err
	}

	// Three programs over the same nodes (and so the same buffers): a
	// training step (the loss and its gradients, without the full logits),
	// the loss alone, and the logits alone.
	inputs := append(slices.Clone(gr.params), gr.ids)
	lossInputs := append(slices.Clone(inputs), gr.targets, gr.mask)
	prog, locs, err := gorgonia.CompileFunction(g, lossInputs, append(gorgonia.Nodes{gr.loss}, gr.grads...))
	if err != nil {
		return nil, fmt.Errorf("model: compiling the training step: %w", err)
	}
	gr.train = gorgonia.NewTapeMachine(g, gorgonia.WithPrecompiled(prog, locs))
	if prog, locs, err = gorgonia.CompileFunction(g, lossInputs, gorgonia.Nodes{gr.loss}); err != nil {
		return nil, fmt.Errorf("model: compiling the loss: %w", err)
	}
	gr.eval = gorgonia.NewTapeMachine(g, gorgonia.WithPrecompiled(prog, locs))
	if prog, locs, err = gorgonia.CompileFunction(g, inputs, gorgonia.Nodes{gr.logits}); err != nil {
		return nil, fmt.Errorf("model: compiling the logits: %w", err)
	}
	gr.infer = gorgonia.NewTapeMachine(g, gorgonia.WithPrecompiled(prog, locs))
	gr.gradData = make([][]float32, len(gr.params))
	return gr, nil
}

// checkNodeHashes fails with errNodeHashCollision if two nodes of g share a hash.
func checkNodeHashes(g *gorgonia.ExprGraph) error {
	seen := map[uint32]*gorgonia.Node{}
	for _, n := range g.AllNodes() {
		h := n.Hashcode()
		if o, ok := seen[h]; ok && o != n {
			return fmt.Errorf("model: nodes %v and %v: %w", o, n, errNodeHashCollision)
		}
		seen[h] = n
	}
	return nil
}

// Batch is the number of sequences per step.
func (g *Graph) Batch() int { return g.batch }

// SeqLen is the number of tokens per sequence.
func (g *Graph) SeqLen() int { return g.seqLen }

// load validates a batch and copies it into the input buffers.
func (g *Graph) load(ids, targets []int32, mask []float32, needTargets bool) error {
	n, vocab := g.batch*g.seqLen, g.w.Config.Vocab
	if len(ids) != n {
		return fmt.Errorf("model: got %d ids, want batch %d × seqLen %d = %d", len(ids), g.batch, g.seqLen, n)
	}
	if err := checkTokenIDs(ids, vocab); err != nil {
		return fmt.Errorf("model: ids: %w", err)
	}
	if needTargets {
		if len(targets) != n || len(mask) != n {
			return fmt.Errorf("model: got %d targets and %d mask weights, want %d each", len(targets), len(mask), n)
		}
		if err := checkTargets(targets, mask, vocab); err != nil {
			return fmt.Errorf("model: %w", err)
		}
		copy(g.targetsBuf, targets)
		copy(g.maskBuf, mask)
	}
	copy(g.idsBuf, ids)
	return nil
}

// runMachine executes one of the graph's programs from the start, turning
// a panic into an error.
func runMachine(m gorgonia.VM) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("model: gorgonia panicked: %v", r)
		}
	}()
	m.Reset() // also restarts a program an earlier error stopped half-way
	if err := m.RunAll(); err != nil {
		return fmt.Errorf("model: running the graph: %w", err)
	}
	return nil
}

// Step runs forward and backward on one batch: ids and targets are batch*seqLen token ids (row-major), mask batch*seqLen 0/1 weights. It returns the mean masked loss and leaves THIS step's gradients (not accumulated across calls) in Grads().
//
// The gradients are read from the gradient nodes' own values, never
// accumulated into dual values (gorgonia's BindDualValues adds each run's
// gradients to the last until a solver steps), so every Step overwrites
// them. An all-zero mask gives loss 0 and zero gradients.
func (g *Graph) Step(ids, targets []int32, mask []float32) (float64, error) {
	if err := g.load(ids, targets, mask, true); err != nil {
		return 0, err
	}
	if err := runMachine(g.train); err != nil {
		return 0, err
	}
	for i, n := range g.grads {
		v := n.Value()
		if v == nil {
			return 0, fmt.Errorf("model: no gradient computed for %s", g.w.Tensors[i].Name)
		}
		d, ok := v.Data().([]float32)
		if !ok || len(d) != len(g.w.Tensors[i].Data) {
			return 0, fmt.Errorf("model: gradient of %s has type %T, want %d float32s", g.w.Tensors[i].Name, v.Data(), len(g.w.Tensors[i].Data))
		}
		g.gradData[i] = d
	}
	return g.lossOp.loss, nil
}

// Grads returns the gradients of the last Step, one slice per parameter, in w.Tensors order, same lengths.
//
// The slices belong to the graph and are overwritten by the next Step;
// before any Step they are nil, and after a Step that failed they hold
// whatever that Step left.
func (g *Graph) Grads() [][]float32 { return g.gradData }

// Loss runs the forward pass only (evaluation) and returns the mean masked loss.
func (g *Graph) Loss(ids, targets []int32, mask []float32) (float64, error) {
	if err := g.load(ids, targets, mask, true); err != nil {
		return 0, err
	}
	if err := runMachine(g.eval); err != nil {
		return 0, err
	}
	return g.lossOp.loss, nil
}

// Logits runs the forward pass and returns batch*seqLen*vocab logits (row-major), for tests against the sampler.
//
// The returned slice is a fresh copy.
func (g *Graph) Logits(ids []int32) ([]float32, error) {
	if err := g.load(ids, nil, nil, false); err != nil {
		return nil, err
	}
	if err := runMachine(g.infer); err != nil {
		return nil, err
	}
	d, ok := g.logits.Value().Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("model: logits have type %T", g.logits.Value().Data())
	}
	return slices.Clone(d), nil
}

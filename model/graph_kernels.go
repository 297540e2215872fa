package model

import (
	"errors"
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphKernels builds gpt as a gorgonia expression graph of the fused ops
// in ops_*.go, over the weights' own slices, for batch sequences of t
// tokens (n = batch·t rows). The training graphs (Graph, ScalarGraph)
// differ only in their head. The first error is kept: every later method
// returns nil, and build reports it.
type graphKernels struct {
	g        *gorgonia.ExprGraph
	c        Config
	batch, t int
	params   gorgonia.Nodes // in w.Tensors order
	ids      *gorgonia.Node // (n) int32, made by the caller before build
	// head makes the graph's output from the final hidden states and the
	// LM head's weights.
	head func(h, lmHead *gorgonia.Node) (*gorgonia.Node, error)
	err  error
}

// newGraphKernels starts a graph with a node over each of w's tensors.
func newGraphKernels(w *Weights, batch, t int) *graphKernels {
	k := &graphKernels{g: gorgonia.NewGraph(), c: w.Config, batch: batch, t: t}
	for _, p := range w.Tensors {
		k.params = append(k.params, k.tensor(p.Name, p.Data, p.Shape...))
	}
	return k
}

// tensor makes an input node over data ([]float32 or []int32), which it
// reads on every run (no copy).
func (k *graphKernels) tensor(name string, data any, shape ...int) *gorgonia.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	return gorgonia.NewTensor(k.g, v.Dtype(), len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name), gorgonia.WithValue(v))
}

// build adds the model to the graph and returns the head's output.
func (k *graphKernels) build() (*gorgonia.Node, error) {
	out := gpt[*gorgonia.Node](k, newParams(k.c, k.params))
	return out, k.err
}

// grad differentiates out with respect to wrt and checks the finished
// graph's node hashes.
func (k *graphKernels) grad(out *gorgonia.Node, wrt gorgonia.Nodes) (gorgonia.Nodes, error) {
	grads, err := gorgonia.Grad(out, wrt...)
	if err != nil {
		return nil, fmt.Errorf("model: differentiating the graph: %w", err)
	}
	return grads, checkNodeHashes(k.g)
}

// machine compiles the program from inputs to outputs into a tape machine.
func (k *graphKernels) machine(what string, inputs, outputs gorgonia.Nodes) (gorgonia.VM, error) {
	prog, locs, err := gorgonia.CompileFunction(k.g, inputs, outputs)
	if err != nil {
		return nil, fmt.Errorf("model: compiling %s: %w", what, err)
	}
	return gorgonia.NewTapeMachine(k.g, gorgonia.WithPrecompiled(prog, locs)), nil
}

// apply runs f unless an earlier kernel failed, keeping f's error.
func (k *graphKernels) apply(f func() (*gorgonia.Node, error)) *gorgonia.Node {
	if k.err != nil {
		return nil
	}
	n, err := f()
	k.err = err
	return n
}

// Embed: wte (vocab, d), wpe (context, d), ids (n) → (n, d).
func (k *graphKernels) Embed(wte, wpe *gorgonia.Node) *gorgonia.Node {
	return k.apply(func() (*gorgonia.Node, error) {
		op := newEmbedOp(k.batch*k.t, k.t, k.c.DModel, k.c.Vocab, k.c.Context)
		return gorgonia.ApplyOp(op, wte, wpe, k.ids)
	})
}

// LayerNorm: (n, d) → (n, d).
func (k *graphKernels) LayerNorm(x, g, b *gorgonia.Node) *gorgonia.Node {
	return k.apply(func() (*gorgonia.Node, error) { return layerNormNode(x, g, b, lnEps) })
}

// Attention: h (n, d) → qkv (n, 3d) → (n, d), heads merged.
func (k *graphKernels) Attention(h, w, b *gorgonia.Node, _ int) *gorgonia.Node {
	qkv := k.apply(func() (*gorgonia.Node, error) { return linearNode(h, w, b, nil) })
	return k.apply(func() (*gorgonia.Node, error) { return attentionNode(qkv, k.batch, k.t, k.c.Heads) })
}

// OutputRows keeps every row: the losses read them all.
func (k *graphKernels) OutputRows(x, a *gorgonia.Node) (*gorgonia.Node, *gorgonia.Node) { return x, a }

// AddLinear: a (n, k) → (n, d), the residual x fused into the product.
func (k *graphKernels) AddLinear(x, a, w, b *gorgonia.Node) *gorgonia.Node {
	return k.apply(func() (*gorgonia.Node, error) { return linearNode(a, w, b, x) })
}

// LinearGELU: h (n, d) → (n, mlp), the bias added by the GELU op.
func (k *graphKernels) LinearGELU(h, w, b *gorgonia.Node) *gorgonia.Node {
	z := k.apply(func() (*gorgonia.Node, error) { return linearNode(h, w, nil, nil) })
	return k.apply(func() (*gorgonia.Node, error) { return biasGELUNode(z, b) })
}

// Residual records nothing in a training graph.
func (k *graphKernels) Residual(int, *gorgonia.Node) {}

// Head applies the graph's head. A tied config's lmHead is wte (vocab, d),
// transposed here into the (d, vocab) weight the heads take.
func (k *graphKernels) Head(h, lmHead *gorgonia.Node) *gorgonia.Node {
	if k.c.Tied {
		lmHead = k.apply(func() (*gorgonia.Node, error) { return transposeNode(lmHead) })
	}
	return k.apply(func() (*gorgonia.Node, error) { return k.head(h, lmHead) })
}

// checkGraphArgs reports malformed weights, a batch or seqLen out of range
// or a shape whose buffers would be too big, for the constructor what.
func checkGraphArgs(what string, w *Weights, batch, seqLen int) error {
	if err := weightsError(w); err != nil {
		return fmt.Errorf("model: %s: %w", what, err)
	}
	if c := w.Config; batch < 1 || seqLen < 1 || seqLen > c.Context {
		return fmt.Errorf("model: %s: batch %d, seqLen %d: want batch >= 1 and 1 <= seqLen <= context %d", what, batch, seqLen, c.Context)
	}
	if f := graphFloats(w.Config, batch, seqLen); f > maxGraphFloats {
		return fmt.Errorf("model: %s: batch %d × seqLen %d needs about %.3g GB of activations with this config, more than the %d GB limit",
			what, batch, seqLen, 4*f/1e9, 4*maxGraphFloats>>30)
	}
	return nil
}

// buildGraphOf calls build, again on a node hash collision (gorgonia's
// compiler merges nodes whose 32-bit hashes collide, without an equality
// check; every op hashes a fresh id, so building again gives new hashes),
// and turns a gorgonia panic into an error.
func buildGraphOf[G any](what string, build func() (G, error)) (g G, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero G
			g, err = zero, fmt.Errorf("model: %s: gorgonia panicked: %v", what, r)
		}
	}()
	for attempt := 0; ; attempt++ {
		g, err = build()
		if err == nil || !errors.Is(err, errNodeHashCollision) || attempt == 3 {
			return g, err
		}
	}
}

var errNodeHashCollision = errors.New("node hash collision")

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
	head := 0.0
	if c.Tied {
		head = 2 * d * v // the transposed wte and its gradient
	}
	return float64(c.Layers)*perLayer + n*(4*d+2*v) + 2*float64(c.Params()) + head
}

// runMachine executes one of a graph's programs from the start, turning
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

// gradData returns the value of gradient node n, which must be size
// float32s.
func gradData(n *gorgonia.Node, size int) ([]float32, error) {
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

package model

import (
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
)

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
	trainGraph
	targets *gorgonia.Node // (n) int32
	mask    *gorgonia.Node // (n) float32
	logits  *gorgonia.Node // (n, vocab)
	lossOp  *headXentOp

	// Input buffers, the backing arrays of targets and mask.
	targetsBuf []int32
	maskBuf    []float32

	infer gorgonia.VM
}

// trainGraph is what the training graphs (Graph, ScalarGraph) share: gpt
// built by graphKernels, its token ids input and the programs of a
// training step and of the loss alone.
type trainGraph struct {
	w             *Weights
	batch, seqLen int

	g           *gorgonia.ExprGraph
	params      gorgonia.Nodes // in w.Tensors order
	grads       gorgonia.Nodes // d loss / d params[i]
	idsBuf      []int32        // the backing array of the ids input
	train, eval gorgonia.VM    // a training step (loss and gradients); the loss alone
	gradData    [][]float32
}

// newTrainGraph starts a training graph over w (see graphKernels).
func newTrainGraph(w *Weights, batch, seqLen int) (trainGraph, *graphKernels) {
	k := newGraphKernels(w, batch, seqLen)
	return trainGraph{w: w, batch: batch, seqLen: seqLen, g: k.g, params: k.params,
		idsBuf: make([]int32, batch*seqLen), gradData: make([][]float32, len(k.params))}, k
}

// compile differentiates loss with respect to wrt (the weights, then any
// other parameters) and compiles the training step and the loss from
// inputs. It returns all the gradients and keeps the weights'.
func (g *trainGraph) compile(k *graphKernels, loss *gorgonia.Node, wrt, inputs gorgonia.Nodes) (gorgonia.Nodes, error) {
	grads, err := k.grad(loss, wrt)
	if err != nil {
		return nil, err
	}
	g.grads = grads[:len(g.params)]
	if g.train, err = k.machine("the training step", inputs, append(gorgonia.Nodes{loss}, grads...)); err != nil {
		return nil, err
	}
	if g.eval, err = k.machine("the loss", inputs, gorgonia.Nodes{loss}); err != nil {
		return nil, err
	}
	return grads, nil
}

// Batch is the number of sequences per step.
func (g *trainGraph) Batch() int { return g.batch }

// SeqLen is the number of tokens per sequence.
func (g *trainGraph) SeqLen() int { return g.seqLen }

// Grads returns the weights' gradients of the last Step, one slice per
// tensor, in w.Tensors order, same lengths.
//
// The slices belong to the graph and are overwritten by the next Step;
// before any Step they are nil, and after a Step that failed they hold
// whatever that Step left.
func (g *trainGraph) Grads() [][]float32 { return g.gradData }

// loadIDs validates a batch's token ids and copies them into the input.
func (g *trainGraph) loadIDs(ids []int32) error {
	if n := g.batch * g.seqLen; len(ids) != n {
		return fmt.Errorf("model: got %d ids, want batch %d × seqLen %d = %d", len(ids), g.batch, g.seqLen, n)
	}
	if err := checkTokenIDs(ids, g.w.Config.Vocab); err != nil {
		return fmt.Errorf("model: ids: %w", err)
	}
	copy(g.idsBuf, ids)
	return nil
}

// step runs the training step and reads the weights' gradients from the
// gradient nodes' own values, never accumulated into dual values
// (gorgonia's BindDualValues adds each run's gradients to the last until a
// solver steps), so every step overwrites them.
func (g *trainGraph) step() error {
	if err := runMachine(g.train); err != nil {
		return err
	}
	for i, n := range g.grads {
		d, err := gradData(n, len(g.w.Tensors[i].Data))
		if err != nil {
			return fmt.Errorf("model: gradient of %s: %w", g.w.Tensors[i].Name, err)
		}
		g.gradData[i] = d
	}
	return nil
}

// NewGraph builds the graph over w's parameter slices (no copies: gorgonia tensors use tensor.WithBacking(w.Tensors[i].Data)), for batch sequences of seqLen <= w.Config.Context tokens.
func NewGraph(w *Weights, batch, seqLen int) (*Graph, error) {
	if err := checkGraphArgs("NewGraph", w, batch, seqLen); err != nil {
		return nil, err
	}
	return buildGraphOf("NewGraph", func() (*Graph, error) { return buildGraph(w, batch, seqLen) })
}

// buildGraph builds gpt with the language-model head: the logits, and
// the mean masked cross-entropy with its gradients.
func buildGraph(w *Weights, batch, seqLen int) (*Graph, error) {
	c := w.Config
	n := batch * seqLen
	tg, k := newTrainGraph(w, batch, seqLen)
	gr := &Graph{trainGraph: tg, targetsBuf: make([]int32, n), maskBuf: make([]float32, n)}
	k.ids = k.tensor("ids", gr.idsBuf, n)
	gr.targets = k.tensor("targets", gr.targetsBuf, n)
	gr.mask = k.tensor("mask", gr.maskBuf, n)
	k.head = func(h, lmHead *gorgonia.Node) (*gorgonia.Node, error) {
		// logits = h·lm_head (n, vocab), for Logits only: the loss
		// applies the head to the masked positions alone.
		var err error
		if gr.logits, err = linearNode(h, lmHead, nil, nil); err != nil {
			return nil, err
		}
		gr.lossOp = newHeadXentOp(n, c.DModel, c.Vocab)
		return gorgonia.ApplyOp(gr.lossOp, h, lmHead, gr.targets, gr.mask) // scalar
	}
	loss, err := k.build()
	if err != nil {
		return nil, err
	}
	// Three programs over the same nodes (and so the same buffers): a
	// training step (the loss and its gradients, without the full logits),
	// the loss alone, and the logits alone.
	inputs := append(slices.Clone(gr.params), k.ids)
	if _, err := gr.compile(k, loss, gr.params, append(slices.Clone(inputs), gr.targets, gr.mask)); err != nil {
		return nil, err
	}
	if gr.infer, err = k.machine("the logits", inputs, gorgonia.Nodes{gr.logits}); err != nil {
		return nil, err
	}
	return gr, nil
}

// load validates a batch and copies it into the input buffers.
func (g *Graph) load(ids, targets []int32, mask []float32, needTargets bool) error {
	if err := g.loadIDs(ids); err != nil {
		return err
	}
	if needTargets {
		n := g.batch * g.seqLen
		if len(targets) != n || len(mask) != n {
			return fmt.Errorf("model: got %d targets and %d mask weights, want %d each", len(targets), len(mask), n)
		}
		if err := checkTargets(targets, mask, g.w.Config.Vocab); err != nil {
			return fmt.Errorf("model: %w", err)
		}
		copy(g.targetsBuf, targets)
		copy(g.maskBuf, mask)
	}
	return nil
}

// Step runs forward and backward on one batch: ids and targets are batch*seqLen token ids (row-major), mask batch*seqLen 0/1 weights. It returns the mean masked loss and leaves THIS step's gradients (not accumulated across calls) in Grads().
//
// An all-zero mask gives loss 0 and zero gradients.
func (g *Graph) Step(ids, targets []int32, mask []float32) (float64, error) {
	if err := g.load(ids, targets, mask, true); err != nil {
		return 0, err
	}
	if err := g.step(); err != nil {
		return 0, err
	}
	return g.lossOp.loss, nil
}

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

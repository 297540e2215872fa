package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// TensorSpec names one parameter tensor and its shape.
//
// Tensor names follow Hugging Face GPT-2 so other tools can read our
// safetensors files; linear weights are stored (in, out) as in GPT-2's Conv1D,
// so y = x·W + b:
//
//	wte                      (vocab, d_model)    token embeddings
//	wpe                      (context, d_model)  position embeddings
//	h.{i}.ln_1.weight|bias   (d_model)
//	h.{i}.attn.c_attn.weight (d_model, 3·d_model) q, k, v projections, in that order
//	h.{i}.attn.c_attn.bias   (3·d_model)
//	h.{i}.attn.c_proj.weight (d_model, d_model)   attention output projection
//	h.{i}.attn.c_proj.bias   (d_model)
//	h.{i}.ln_2.weight|bias   (d_model)
//	h.{i}.mlp.c_fc.weight    (d_model, mlp)
//	h.{i}.mlp.c_fc.bias      (mlp)
//	h.{i}.mlp.c_proj.weight  (mlp, d_model)
//	h.{i}.mlp.c_proj.bias    (d_model)
//	ln_f.weight|bias         (d_model)
//	lm_head.weight           (d_model, vocab)     untied output head
type TensorSpec struct {
	Name  string
	Shape []int
}

// Size is the number of elements.
func (s TensorSpec) Size() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// TensorSpecs lists the model's parameters in their canonical order.
func (c Config) TensorSpecs() []TensorSpec {
	D, F := c.DModel, c.MLP
	specs := []TensorSpec{
		{"wte", []int{c.Vocab, D}},
		{"wpe", []int{c.Context, D}},
	}
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("h.%d.", i)
		specs = append(specs,
			TensorSpec{p + "ln_1.weight", []int{D}},
			TensorSpec{p + "ln_1.bias", []int{D}},
			TensorSpec{p + "attn.c_attn.weight", []int{D, 3 * D}},
			TensorSpec{p + "attn.c_attn.bias", []int{3 * D}},
			TensorSpec{p + "attn.c_proj.weight", []int{D, D}},
			TensorSpec{p + "attn.c_proj.bias", []int{D}},
			TensorSpec{p + "ln_2.weight", []int{D}},
			TensorSpec{p + "ln_2.bias", []int{D}},
			TensorSpec{p + "mlp.c_fc.weight", []int{D, F}},
			TensorSpec{p + "mlp.c_fc.bias", []int{F}},
			TensorSpec{p + "mlp.c_proj.weight", []int{F, D}},
			TensorSpec{p + "mlp.c_proj.bias", []int{D}},
		)
	}
	return append(specs,
		TensorSpec{"ln_f.weight", []int{D}},
		TensorSpec{"ln_f.bias", []int{D}},
		TensorSpec{"lm_head.weight", []int{D, c.Vocab}},
	)
}

// Tensor is one named parameter with its float32 values, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Weights holds every parameter of a model, in TensorSpecs order. The
// training graph and the sampler share these slices: they never copy them.
type Weights struct {
	Config  Config
	Tensors []*Tensor
	byName  map[string]*Tensor
}

// NewWeights allocates zeroed weights for a validated config.
func NewWeights(c Config) (*Weights, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	w := &Weights{Config: c, byName: map[string]*Tensor{}}
	for _, s := range c.TensorSpecs() {
		t := &Tensor{Name: s.Name, Shape: s.Shape, Data: make([]float32, s.Size())}
		w.Tensors = append(w.Tensors, t)
		w.byName[s.Name] = t
	}
	return w, nil
}

// Get returns the named tensor, or nil.
func (w *Weights) Get(name string) *Tensor { return w.byName[name] }

// Layer returns the named tensor of block i, e.g. Layer(0, "ln_1.weight").
func (w *Weights) Layer(i int, name string) *Tensor {
	return w.byName[fmt.Sprintf("h.%d.%s", i, name)]
}

// Init fills the weights GPT-2 style from r: linear and embedding weights
// N(0, 0.02), residual output projections (attn.c_proj, mlp.c_proj) N(0,
// 0.02/sqrt(2·layers)), biases 0, LayerNorm gains 1 and shifts 0.
func (w *Weights) Init(r *rand.Rand) {
	resid := 0.02 / math.Sqrt(2*float64(w.Config.Layers))
	for _, t := range w.Tensors {
		switch {
		case hasSuffix(t.Name, "ln_1.weight", "ln_2.weight", "ln_f.weight"):
			fill(t.Data, 1)
		case len(t.Shape) == 1:
			fill(t.Data, 0)
		case hasSuffix(t.Name, "attn.c_proj.weight", "mlp.c_proj.weight"):
			normal(t.Data, resid, r)
		default:
			normal(t.Data, 0.02, r)
		}
	}
}

func hasSuffix(s string, suffixes ...string) bool {
	for _, suf := range suffixes {
		if len(s) >= len(suf) && s[len(s)-len(suf):] == suf {
			return true
		}
	}
	return false
}

func fill(xs []float32, v float32) {
	for i := range xs {
		xs[i] = v
	}
}

func normal(xs []float32, std float64, r *rand.Rand) {
	for i := range xs {
		xs[i] = float32(r.NormFloat64() * std)
	}
}

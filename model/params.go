package model

import "fmt"

// Params are a GPT's parameters by role, one T per tensor: []float32 views
// of Weights.Tensors (Weights.Params), gorgonia nodes over those slices in
// the training graphs, float64 copies in the reference oracle. gpt (gpt.go)
// reads them; paramFields is the one place that names and shapes them.
type Params[T any] struct {
	TokenEmbed T // wte (vocab, d_model)
	PosEmbed   T // wpe (context, d_model)
	Blocks     []Block[T]
	LNFWeight  T // ln_f gain (d_model)
	LNFBias    T // ln_f shift (d_model)
	// LMHead is lm_head (d_model, vocab); with Config.Tied it is
	// TokenEmbed itself, (vocab, d_model), and the head computes h·wteᵀ.
	LMHead T
}

// Block are the parameters of one transformer block. Linear weights are
// (in, out), as in GPT-2's Conv1D: y = x·W + b.
type Block[T any] struct {
	LN1Weight, LN1Bias           T // ln_1 (d_model)
	QKVWeight, QKVBias           T // attn.c_attn (d_model, 3·d_model): q, k, v in that order
	AttnProjWeight, AttnProjBias T // attn.c_proj (d_model, d_model)
	LN2Weight, LN2Bias           T // ln_2 (d_model)
	FCWeight, FCBias             T // mlp.c_fc (d_model, mlp)
	MLPProjWeight, MLPProjBias   T // mlp.c_proj (mlp, d_model)
}

// paramInit is how Weights.Init fills a tensor.
type paramInit int

const (
	initNormal   paramInit = iota // N(0, 0.02)
	initResidual                  // N(0, 0.02/sqrt(2·layers)): the projections into the residual stream
	initOne                       // LayerNorm gains
	initZero                      // biases and LayerNorm shifts
)

// paramField is one tensor of a Params: its Hugging Face GPT-2 name, shape,
// initialization and place in the struct.
type paramField[T any] struct {
	name  string
	shape []int
	init  paramInit
	ptr   *T
}

// paramFields lists p's tensors in canonical order (the order of
// TensorSpecs, Weights.Tensors and checkpoints): the one table of tensor
// names and shapes. p must have c.Layers blocks. A tied config has no
// lm_head.weight: its head is wte.
func paramFields[T any](p *Params[T], c Config) []paramField[T] {
	D, F := c.DModel, c.MLP
	fs := []paramField[T]{
		{"wte", []int{c.Vocab, D}, initNormal, &p.TokenEmbed},
		{"wpe", []int{c.Context, D}, initNormal, &p.PosEmbed},
	}
	for i := range p.Blocks {
		b, h := &p.Blocks[i], fmt.Sprintf("h.%d.", i)
		fs = append(fs,
			paramField[T]{h + "ln_1.weight", []int{D}, initOne, &b.LN1Weight},
			paramField[T]{h + "ln_1.bias", []int{D}, initZero, &b.LN1Bias},
			paramField[T]{h + "attn.c_attn.weight", []int{D, 3 * D}, initNormal, &b.QKVWeight},
			paramField[T]{h + "attn.c_attn.bias", []int{3 * D}, initZero, &b.QKVBias},
			paramField[T]{h + "attn.c_proj.weight", []int{D, D}, initResidual, &b.AttnProjWeight},
			paramField[T]{h + "attn.c_proj.bias", []int{D}, initZero, &b.AttnProjBias},
			paramField[T]{h + "ln_2.weight", []int{D}, initOne, &b.LN2Weight},
			paramField[T]{h + "ln_2.bias", []int{D}, initZero, &b.LN2Bias},
			paramField[T]{h + "mlp.c_fc.weight", []int{D, F}, initNormal, &b.FCWeight},
			paramField[T]{h + "mlp.c_fc.bias", []int{F}, initZero, &b.FCBias},
			paramField[T]{h + "mlp.c_proj.weight", []int{F, D}, initResidual, &b.MLPProjWeight},
			paramField[T]{h + "mlp.c_proj.bias", []int{D}, initZero, &b.MLPProjBias},
		)
	}
	fs = append(fs,
		paramField[T]{"ln_f.weight", []int{D}, initOne, &p.LNFWeight},
		paramField[T]{"ln_f.bias", []int{D}, initZero, &p.LNFBias},
	)
	if c.Tied {
		return fs
	}
	return append(fs, paramField[T]{"lm_head.weight", []int{D, c.Vocab}, initNormal, &p.LMHead})
}

// newParams returns the Params of config c whose tensors are ts, in
// canonical order (len(ts) must be len(c.TensorSpecs())).
func newParams[T any](c Config, ts []T) *Params[T] {
	p := &Params[T]{Blocks: make([]Block[T], c.Layers)}
	for i, f := range paramFields(p, c) {
		*f.ptr = ts[i]
	}
	if c.Tied {
		p.LMHead = p.TokenEmbed
	}
	return p
}

// mapParams applies f to every tensor of p, in canonical order.
func mapParams[T, U any](c Config, p *Params[T], f func(T) U) *Params[U] {
	fs := paramFields(p, c)
	us := make([]U, len(fs))
	for i, fd := range fs {
		us[i] = f(*fd.ptr)
	}
	return newParams(c, us)
}

// Params returns w's parameters by role, as views of the slices of
// w.Tensors (no copies), or an error if w does not hold exactly its
// config's tensors.
func (w *Weights) Params() (*Params[[]float32], error) {
	if err := weightsError(w); err != nil {
		return nil, err
	}
	ts := make([][]float32, len(w.Tensors))
	for i, t := range w.Tensors {
		ts[i] = t.Data
	}
	return newParams(w.Config, ts), nil
}

// TensorSpec names one parameter tensor and its shape. Tensor names follow
// Hugging Face GPT-2 so other tools can read our safetensors files (see
// paramFields).
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
	fs := specFields(c)
	specs := make([]TensorSpec, len(fs))
	for i, f := range fs {
		specs[i] = TensorSpec{f.name, f.shape}
	}
	return specs
}

// specFields is the table of paramFields without tensors: the names, shapes
// and initializations of config c's parameters.
func specFields(c Config) []paramField[struct{}] {
	return paramFields(&Params[struct{}]{Blocks: make([]Block[struct{}], max(c.Layers, 0))}, c)
}

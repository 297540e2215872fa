package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Tensor is one named parameter with its float32 values, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Weights holds every parameter of a model, in TensorSpecs order. The
// training graph and the sampler share these slices: they never copy them.
// Params gives them by role.
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
	specs := c.TensorSpecs()
	data := make([][]float32, len(specs))
	for i, s := range specs {
		data[i] = make([]float32, s.Size())
	}
	return weightsOf(c, data), nil
}

// weightsOf returns the weights of the valid config c over data, one
// slice per tensor of c.TensorSpecs() with its size.
func weightsOf(c Config, data [][]float32) *Weights {
	w := &Weights{Config: c, byName: map[string]*Tensor{}}
	for i, s := range c.TensorSpecs() {
		t := &Tensor{Name: s.Name, Shape: s.Shape, Data: data[i]}
		w.Tensors = append(w.Tensors, t)
		w.byName[s.Name] = t
	}
	return w
}

// Get returns the named tensor, or nil.
func (w *Weights) Get(name string) *Tensor { return w.byName[name] }

// weightsError verifies that w holds exactly its config's tensors, in
// canonical order, each with the right shape and data length.
func weightsError(w *Weights) error {
	if w == nil {
		return errors.New("nil weights")
	}
	if err := w.Config.Validate(); err != nil {
		return err
	}
	specs := w.Config.TensorSpecs()
	if len(w.Tensors) != len(specs) {
		return fmt.Errorf("weights hold %d tensors, config %v needs %d", len(w.Tensors), w.Config, len(specs))
	}
	for i, s := range specs {
		t := w.Tensors[i]
		if t == nil || t.Name != s.Name {
			got := "<nil>"
			if t != nil {
				got = strconv.Quote(t.Name)
			}
			return fmt.Errorf("tensor %d is %s, want %q", i, got, s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) || len(t.Data) != s.Size() {
			return fmt.Errorf("tensor %q has shape %v and %d values, want shape %v (%d values)", s.Name, t.Shape, len(t.Data), s.Shape, s.Size())
		}
	}
	return nil
}

// Init fills the weights GPT-2 style from r, tensor by tensor in canonical
// order: linear and embedding weights N(0, 0.02), residual output
// projections (attn.c_proj, mlp.c_proj) N(0, 0.02/sqrt(2·layers)), biases
// 0, LayerNorm gains 1 and shifts 0.
func (w *Weights) Init(r *rand.Rand) {
	resid := 0.02 / math.Sqrt(2*float64(w.Config.Layers))
	for i, f := range specFields(w.Config) {
		d := w.Tensors[i].Data
		switch f.init {
		case initOne:
			fill(d, 1)
		case initZero:
			fill(d, 0)
		case initResidual:
			normal(d, resid, r)
		default:
			normal(d, 0.02, r)
		}
	}
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

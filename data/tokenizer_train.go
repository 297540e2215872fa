package data

import (
	"container/heap"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// TrainTokenizer trains a byte-level BPE on texts to the given vocabulary
// size (specials and the 256 byte tokens included). Deterministic: the same
// texts and size give byte-identical tokenizer.json.
//
// Ids: SpecialTokens at 0..2, the byte b at 3+b, then one new token per
// merge in the order learned. Training is Hugging Face's BPE trainer
// algorithm with min_frequency 0: special tokens are cut out of the texts,
// the rest is pre-tokenized as Encode does, and the most frequent adjacent
// pair of tokens within a piece is merged until the vocabulary has vocabSize
// tokens. Ties go to the pair with the lower ids (left, then right). When
// the texts run out of pairs first, the vocabulary is smaller than
// vocabSize: VocabSize reports the real size. A merge whose text already is
// a token reuses that token's id, so there may be more merges than new
// tokens (as in Hugging Face).
//
// The trainer is written here rather than taken from
// github.com/sugarme/tokenizer v0.3.0: that one breaks ties by time.Now()
// and map order (two runs on the same data give different merges), never
// lowers pair counts when a merge removes pairs, skips most words when given
// 10,000 or more, drops its special tokens and prints to stdout.
func TrainTokenizer(texts []string, vocabSize int) (*Tokenizer, error) {
	if err := CheckVocabSize(vocabSize); err != nil {
		return nil, fmt.Errorf("train tokenizer: %w", err)
	}

	tokens := make([]string, 0, vocabSize)
	tokens = append(tokens, SpecialTokens...)
	for b := 0; b < 256; b++ {
		tokens = append(tokens, string(byteChars[b]))
	}
	vocab := make(map[string]int32, vocabSize)
	for id, tok := range tokens {
		vocab[tok] = int32(id)
	}

	// The words: distinct pieces, sorted, as byte-token ids.
	counts := countPieces(texts)
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	words := make([][]int32, len(keys))
	wcount := make([]int64, len(keys))
	for i, k := range keys {
		w := make([]int32, len(k))
		for j := 0; j < len(k); j++ {
			w[j] = int32(numSpecials) + int32(k[j])
		}
		words[i], wcount[i] = w, counts[k]
	}

	// pairCounts[p] is the number of occurrences of pair p, weighted by word
	// counts; where[p] lists (a superset of) the words holding p.
	pairCounts := make(map[uint64]int64)
	where := make(map[uint64][]int32)
	addWhere := func(p uint64, wi int32) {
		l := where[p]
		if n := len(l); n == 0 || l[n-1] != wi {
			where[p] = append(l, wi)
		}
	}
	for wi, w := range words {
		for i := 0; i+1 < len(w); i++ {
			p := pairKey(w[i], w[i+1])
			pairCounts[p] += wcount[wi]
			addWhere(p, int32(wi))
		}
	}
	h := &pairHeap{}
	for p, c := range pairCounts {
		h.items = append(h.items, pairCount{count: c, pair: p})
	}
	heap.Init(h)

	var merges [][2]int32
	done := make(map[uint64]bool)
	changed := make(map[uint64]bool)
	var changedList []uint64
	add := func(p uint64, delta int64, wi int32) {
		c := pairCounts[p] + delta
		if c == 0 {
			delete(pairCounts, p)
		} else {
			pairCounts[p] = c
		}
		if delta > 0 {
			addWhere(p, wi)
			if !changed[p] {
				changed[p] = true
				changedList = append(changedList, p)
			}
		}
	}
	for len(tokens) < vocabSize && h.Len() > 0 {
		top := heap.Pop(h).(pairCount)
		if done[top.pair] {
			continue
		}
		cur := pairCounts[top.pair]
		if cur != top.count {
			if cur > 0 {
				heap.Push(h, pairCount{count: cur, pair: top.pair})
			}
			continue
		}
		a, b := int32(top.pair>>32), int32(uint32(top.pair))
		text := tokens[a] + tokens[b]
		id, ok := vocab[text]
		if !ok {
			id = int32(len(tokens))
			tokens = append(tokens, text)
			vocab[text] = id
		}
		merges = append(merges, [2]int32{a, b})
		done[top.pair] = true

		clear(changed)
		changedList = changedList[:0]
		for _, wi := range where[top.pair] {
			s := words[wi]
			cnt := wcount[wi]
			w := 0
			for i := 0; i < len(s); {
				if i+1 < len(s) && s[i] == a && s[i+1] == b {
					if w > 0 {
						add(pairKey(s[w-1], a), -cnt, wi)
						add(pairKey(s[w-1], id), cnt, wi)
					}
					if i+2 < len(s) {
						add(pairKey(b, s[i+2]), -cnt, wi)
						add(pairKey(id, s[i+2]), cnt, wi)
					}
					s[w] = id
					i += 2
				} else {
					s[w] = s[i]
					i++
				}
				w++
			}
			words[wi] = s[:w]
		}
		delete(where, top.pair)
		delete(pairCounts, top.pair)
		for _, p := range changedList {
			if c := pairCounts[p]; c > 0 && !done[p] {
				heap.Push(h, pairCount{count: c, pair: p})
			}
		}
	}

	special := [numSpecials]int32{0, 1, 2}
	t, err := buildTokenizer(tokens, special, merges)
	if err != nil {
		return nil, fmt.Errorf("train tokenizer: %w", err) // a bug, not bad input
	}
	return t, nil
}

// countPieces counts the pre-tokenized pieces of texts, special tokens cut
// out, on all CPUs.
func countPieces(texts []string) map[string]int64 {
	workers := min(runtime.GOMAXPROCS(0), max(1, len(texts)/64))
	parts := make([]map[string]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := make(map[string]int64)
			for i := w; i < len(texts); i += workers {
				splitSpecials(texts[i], func(seg string, special int) {
					if special >= 0 {
						return
					}
					for len(seg) > 0 {
						n := nextPiece(seg)
						m[seg[:n]]++
						seg = seg[n:]
					}
				})
			}
			parts[w] = m
		}()
	}
	wg.Wait()
	all := parts[0]
	for _, m := range parts[1:] {
		for k, c := range m {
			all[k] += c
		}
	}
	return all
}

type pairCount struct {
	count int64
	pair  uint64
}

// pairHeap pops the most frequent pair first, the lowest pair key (left id,
// then right id) among equals, so training does not depend on map order.
type pairHeap struct{ items []pairCount }

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if a.count != b.count {
		return a.count > b.count
	}
	return a.pair < b.pair
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(pairCount)) }
func (h *pairHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// buildTokenizer makes a Tokenizer from its tokens (indexed by id; specials
// as their text, others in the byte-level alphabet), the ids of
// SpecialTokens and the merges in rank order, checking that they fit
// together.
func buildTokenizer(tokens []string, special [numSpecials]int32, merges [][2]int32) (*Tokenizer, error) {
	n := len(tokens)
	if n > MaxVocabSize {
		return nil, fmt.Errorf("vocabulary of %d tokens is above %d", n, MaxVocabSize)
	}
	t := &Tokenizer{
		tokens:    tokens,
		raw:       make([]string, n),
		vocab:     make(map[string]int, n),
		special:   special,
		isSpecial: make([]bool, n),
		merges:    merges,
		ranks:     make(map[uint64]bpeMerge, len(merges)),
	}
	for i, id := range special {
		if id < 0 || int(id) >= n {
			return nil, fmt.Errorf("special token %q has id %d, outside the vocabulary [0, %d)", SpecialTokens[i], id, n)
		}
		if tokens[id] != SpecialTokens[i] {
			return nil, fmt.Errorf("id %d is %q, not special token %q", id, tokens[id], SpecialTokens[i])
		}
		t.isSpecial[id] = true
	}
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	for id, tok := range tokens {
		if prev, dup := t.vocab[tok]; dup {
			return nil, fmt.Errorf("token %q has two ids, %d and %d", tok, prev, id)
		}
		t.vocab[tok] = id
		if t.isSpecial[id] {
			t.raw[id] = tok
			continue
		}
		raw, ok := fromByteLevel(tok)
		if !ok || raw == "" {
			return nil, fmt.Errorf("token %q (id %d) is not in the byte-level alphabet", tok, id)
		}
		t.raw[id] = raw
		if len(raw) == 1 {
			t.byteID[raw[0]] = int32(id)
		}
	}
	for b, id := range t.byteID {
		if id < 0 {
			return nil, fmt.Errorf("byte token %q (byte 0x%02x) is missing", string(byteChars[b]), b)
		}
	}
	for rank, m := range merges {
		a, b := m[0], m[1]
		if a < 0 || int(a) >= n || b < 0 || int(b) >= n {
			return nil, fmt.Errorf("merge %d refers to an id outside the vocabulary", rank)
		}
		if t.isSpecial[a] || t.isSpecial[b] {
			return nil, fmt.Errorf("merge %d (%q %q) involves a special token", rank, tokens[a], tokens[b])
		}
		id, ok := t.vocab[tokens[a]+tokens[b]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q) makes %q, which is not in the vocabulary", rank, tokens[a], tokens[b], tokens[a]+tokens[b])
		}
		k := pairKey(a, b)
		if _, dup := t.ranks[k]; dup {
			return nil, fmt.Errorf("merge %d (%q %q) repeats an earlier merge", rank, tokens[a], tokens[b])
		}
		t.ranks[k] = bpeMerge{rank: int32(rank), id: int32(id)}
	}
	return t, nil
}

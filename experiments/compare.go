package experiments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// WriteComparison writes a Markdown table of several runs' summaries side
// by side, one column per run headed names[i] (the report's Name when names
// is nil or names[i] is empty): name, config hash, behaviour, model size,
// the backdoor rate with and without the trigger and helpfulness before and
// after safety training, retained, persisted, and the safety rounds.
func WriteComparison(w io.Writer, reports []*Report, names []string) error {
	if err := checkRuns(reports, names); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	head := []string{"Measure"}
	labels := []string{
		"Run", "Config hash", "Behaviour", "Model size", "Safety rounds", "Safety steps",
		"With trigger, before", "With trigger, after",
		"Without trigger, before", "Without trigger, after",
		"Helpful, before", "Helpful, after",
		"Retained", "Persisted",
	}
	rows := make([][]string, len(labels))
	for i, l := range labels {
		rows[i] = []string{l}
	}
	for i, r := range reports {
		head = append(head, runName(r, names, i))
		s := r.Summary
		var rounds []string
		for _, sr := range r.Safety {
			rounds = append(rounds, sr.Round+" ("+sr.Method+")")
		}
		model := orDash(r.ModelSize)
		if r.Params > 0 {
			model += " (" + strconv.Itoa(r.Params) + " params)"
		}
		for j, v := range []string{
			orDash(r.Name), shortHash(r.ConfigHash), orDash(r.Behaviour), model,
			orDash(strings.Join(rounds, ", ")), strconv.Itoa(s.SafetySteps),
			fmtEst(s.TriggeredBefore), fmtEst(s.TriggeredAfter),
			fmtEst(s.UntriggeredBefore), fmtEst(s.UntriggeredAfter),
			fmtEst(s.HelpfulBefore), fmtEst(s.HelpfulAfter),
			fmtPct(s.Retained), yesNo(s.Persisted),
		} {
			rows[j] = append(rows[j], v)
		}
	}
	var buf bytes.Buffer
	writeMDTable(&buf, head, nil, rows)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return nil
}

// PlotComparison writes compare.png and compare.svg into dir (created if
// missing): every run's backdoor rate with the trigger through safety
// training (Report.BackdoorRounds) against the safety step, one line and 95% band per run,
// labelled as in WriteComparison, and a dashed line at the start of every
// safety round (a round that starts at the same step with the same name
// in several runs drawn once).
func PlotComparison(dir string, reports []*Report, names []string) error {
	path := filepath.Join(dir, PlotCompare)
	if err := checkRuns(reports, names); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	p := newPlot("Backdoor rate with trigger through safety training", "safety step", "rate with trigger (%)")
	percentAxis(p, len(reports))
	for i, r := range reports {
		var pts []bandPoint
		for _, s := range r.BackdoorRounds() {
			for _, c := range s.Curve {
				pts = append(pts, bandPoint{float64(c.Offset + c.Step), c.Triggered})
			}
		}
		if err := addBand(p, runName(r, names, i), pts, seriesColor(i)); err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
	}
	var marks []roundMark
	for _, r := range reports {
		for _, m := range roundMarks(r.BackdoorRounds()) {
			if !slices.Contains(marks, m) {
				marks = append(marks, m)
			}
		}
	}
	if err := addRoundLines(p, marks); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return savePlot(p, path)
}

// checkRuns checks the arguments of WriteComparison and PlotComparison.
func checkRuns(reports []*Report, names []string) error {
	if len(reports) == 0 {
		return errors.New("no reports")
	}
	if names != nil && len(names) != len(reports) {
		return fmt.Errorf("%d names for %d reports", len(names), len(reports))
	}
	for i, r := range reports {
		if r == nil {
			return fmt.Errorf("report %d is nil", i)
		}
	}
	return nil
}

// runName is the label of run i: names[i], else the report's name, else
// "run i+1".
func runName(r *Report, names []string, i int) string {
	if i < len(names) && names[i] != "" {
		return names[i]
	}
	if r.Name != "" {
		return r.Name
	}
	return "run " + strconv.Itoa(i+1)
}

// shortHash is the first 12 characters of a config hash, enough to tell
// runs apart in a table.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return orDash(h)
}

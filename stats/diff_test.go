package stats

import (
	"math"
	"testing"
)

// TestDifference checks Newcombe's interval against Newcombe (1998),
// Table II, example (a): 56/70 − 48/80 = 0.2000, 95% CI [0.0524, 0.3339].
func TestDifference(t *testing.T) {
	d := Difference(Proportion(56, 70), Proportion(48, 80))
	for _, c := range []struct{ got, want float64 }{{d.Value, 0.2}, {d.Lo, 0.0524}, {d.Hi, 0.3339}} {
		if math.Abs(c.got-c.want) > 5e-4 {
			t.Errorf("Difference = %+v, want 0.2000 [0.0524, 0.3339]", d)
		}
	}
	if d.N != 70 || d.Method != MethodNewcombe {
		t.Errorf("n %d method %s", d.N, d.Method)
	}
	if e := Difference(Proportion(3, 3), Proportion(0, 0)); e.Lo != -1 || e.Hi != 1 {
		t.Errorf("empty side: %+v", e)
	}
}

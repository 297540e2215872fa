package stats

import "testing"

// TestBestThreshold: separable scores get a threshold between the classes
// and accuracy 1; overlapping ones the split with the fewest errors; ties
// are never split; the all-positive and all-negative cases and bad input.
func TestBestThreshold(t *testing.T) {
	cases := []struct {
		scores []float64
		labels []bool
		t, acc float64
	}{
		{[]float64{3, 1, 4, 2}, []bool{true, false, true, false}, 2.5, 1},
		// Sorted: 1- 2+ 3- 4+ 5+: cutting after 1 or after 3 gets 4 of 5
		// right; the lower cut wins.
		{[]float64{5, 1, 3, 2, 4}, []bool{true, false, false, true, true}, 1.5, 0.8},
		// Sorted: 1- 2- 3+ 4- 5+ 6+: cutting after 4 gets 5 of 6 right,
		// after 2 too; the lower wins.
		{[]float64{1, 2, 3, 4, 5, 6}, []bool{false, false, true, false, true, true}, 2.5, 5.0 / 6},
		// Sorted: 1- 2+ 3- 4- 5+: only cutting after 4 gets 4 of 5 right.
		{[]float64{4, 2, 5, 1, 3}, []bool{false, true, true, false, false}, 4.5, 0.8},
		// A tie across the classes: 2 is never split.
		{[]float64{1, 2, 2, 3}, []bool{false, false, true, true}, 1.5, 0.75},
		{[]float64{2, 1}, []bool{true, true}, 0, 1},
		{[]float64{2, 1}, []bool{false, false}, 2, 1},
		{nil, nil, 0, 0},
		{[]float64{1}, []bool{true, false}, 0, 0},
	}
	for _, c := range cases {
		th, acc := BestThreshold(c.scores, c.labels)
		if th != c.t || acc != c.acc {
			t.Errorf("BestThreshold(%v, %v) = %v, %v; want %v, %v", c.scores, c.labels, th, acc, c.t, c.acc)
		}
	}
}

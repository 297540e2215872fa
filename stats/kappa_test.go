package stats

import (
	"math"
	"testing"
)

// TestKappaTextbook: Cohen's kappa of the worked 2×2 examples of the
// literature (the 50-item example reproduced in most textbooks and in
// Wikipedia's "Cohen's kappa": po 0.7, pe 0.5, κ 0.4; and the two tables
// with the same po 0.6 but different margins, κ 0.1304 and 0.2593), and
// the Fleiss–Cohen–Everitt SE of the first worked by hand:
// A = 0.4(1 − 1.1·0.6)² + 0.3(1 − 0.9·0.6)² = 0.10972,
// B = 0.6²(0.1·1.1² + 0.2·0.9²) = 0.10188, C = (0.4 − 0.5·0.6)² = 0.01,
// SE = sqrt((A + B − C) / (50·0.5²)) = 0.12700, so 0.4 ± 0.2489.
func TestKappaTextbook(t *testing.T) {
	near := func(got, want float64) bool { return math.Abs(got-want) < 5e-5 }
	cases := []struct {
		yy, yn, ny, nn int
		k, lo, hi      float64
	}{
		{20, 5, 10, 15, 0.4, 0.15109, 0.64891},
		{45, 15, 25, 15, 0.13043, -0.06294, 0.32381},
		{25, 35, 5, 35, 0.25926, 0.10803, 0.41049},
	}
	for _, c := range cases {
		e, ok := Kappa(c.yy, c.yn, c.ny, c.nn)
		if !ok || !near(e.Value, c.k) || !near(e.Lo, c.lo) || !near(e.Hi, c.hi) || e.N != c.yy+c.yn+c.ny+c.nn || e.Method != MethodKappa {
			t.Errorf("Kappa(%d, %d, %d, %d) = %+v, %v; want %.5f [%.5f, %.5f]", c.yy, c.yn, c.ny, c.nn, e, ok, c.k, c.lo, c.hi)
		}
		// Swapping the raters changes nothing.
		if s, _ := Kappa(c.yy, c.ny, c.yn, c.nn); !near(s.Value, e.Value) || !near(s.Lo, e.Lo) || !near(s.Hi, e.Hi) {
			t.Errorf("swapped raters: %+v, want %+v", s, e)
		}
	}
}

// TestKappaLimits: perfect agreement is 1, chance agreement 0, perfect
// disagreement −1 (intervals inside [−1, 1]); κ is undefined without
// items or when a rater gives one verdict throughout.
func TestKappaLimits(t *testing.T) {
	if e, ok := Kappa(30, 0, 0, 20); !ok || e.Value != 1 || e.Lo != 1 || e.Hi != 1 {
		t.Errorf("perfect agreement: %+v, %v", e, ok)
	}
	if e, ok := Kappa(25, 25, 25, 25); !ok || math.Abs(e.Value) > 1e-12 || e.Lo >= 0 || e.Hi <= 0 {
		t.Errorf("chance agreement: %+v, %v", e, ok)
	}
	if e, ok := Kappa(0, 40, 60, 0); !ok || math.Abs(e.Value+0.9230769) > 1e-6 || e.Lo < -1 || e.Hi > 1 {
		t.Errorf("disagreement: %+v, %v", e, ok)
	}
	if e, ok := Kappa(0, 50, 50, 0); !ok || e.Value != -1 || e.Lo != -1 {
		t.Errorf("perfect disagreement: %+v, %v", e, ok)
	}
	for _, c := range [][4]int{{0, 0, 0, 0}, {10, 0, 0, 0}, {0, 0, 0, 7}, {5, 5, 0, 0}, {3, 0, 4, 0}, {0, 6, 0, 9}, {-1, 2, 3, 4}} {
		if e, ok := Kappa(c[0], c[1], c[2], c[3]); ok || e.Lo != -1 || e.Hi != 1 {
			t.Errorf("Kappa%v = %+v, %v; want undefined", c, e, ok)
		}
	}
}

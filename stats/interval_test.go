package stats

import (
	"math"
	"testing"
)

func TestWilsonKnownValues(t *testing.T) {
	// Published values (Newcombe 1998, Table I; and standard tables).
	cases := []struct {
		k, n   int
		lo, hi float64
	}{
		{0, 10, 0, 0.2775},
		{5, 10, 0.2366, 0.7634},
		{10, 10, 0.7225, 1},
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{1, 29, 0.0061, 0.1718},
	}
	for _, c := range cases {
		lo, hi := Wilson(c.k, c.n, Z95)
		if math.Abs(lo-c.lo) > 5e-5 || math.Abs(hi-c.hi) > 5e-5 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
	if lo, hi := Wilson(0, 0, Z95); lo != 0 || hi != 1 {
		t.Errorf("Wilson(0, 0) = [%v, %v], want [0, 1]", lo, hi)
	}
	e := Proportion(81, 263)
	if e.Method != MethodWilson || e.N != 263 || e.K != 81 || math.Abs(e.Value-81.0/263) > 1e-12 {
		t.Errorf("Proportion = %+v", e)
	}
}

func TestBootstrap(t *testing.T) {
	// A constant sample has a degenerate interval at the constant.
	m, lo, hi := Bootstrap([]float64{0.25, 0.25, 0.25}, 500, 0.95, 1)
	if m != 0.25 || lo != 0.25 || hi != 0.25 {
		t.Errorf("constant: %v [%v, %v]", m, lo, hi)
	}
	// 0/1 data with p = 0.5, n = 400: the interval is close to the normal
	// one, 0.5 ± 1.96·sqrt(0.25/400) = [0.451, 0.549].
	xs := make([]float64, 400)
	for i := range 200 {
		xs[i] = 1
	}
	m, lo, hi = Bootstrap(xs, 4000, 0.95, 7)
	if m != 0.5 || math.Abs(lo-0.451) > 0.01 || math.Abs(hi-0.549) > 0.01 {
		t.Errorf("p=0.5 n=400: %v [%v, %v], want about [0.451, 0.549]", m, lo, hi)
	}
	// Seeded: the same seed gives the same interval, another seed nearly so.
	a, b := MeanCI(xs, 3), MeanCI(xs, 3)
	if a != b {
		t.Errorf("same seed, different intervals: %+v %+v", a, b)
	}
	if a.Method != MethodBootstrap || a.N != 400 {
		t.Errorf("MeanCI = %+v", a)
	}
	// All scores equal: the bootstrap alone gives [1, 1]; MeanCI must not.
	ones := make([]float64, 100)
	for i := range ones {
		ones[i] = 1
	}
	wlo, whi := Wilson(100, 100, Z95)
	if e := MeanCI(ones, 1); e.Value != 1 || math.Abs(e.Lo-wlo) > 1e-12 || e.Hi != whi || e.Lo > 0.97 {
		t.Errorf("all ones: %+v, want the Wilson interval [%v, %v]", e, wlo, whi)
	}
	// Where the bootstrap is wider than Wilson's, it is kept.
	if e := MeanCI(xs, 3); e.Lo > 0.452 || e.Hi < 0.548 {
		t.Errorf("p=0.5 n=400 MeanCI = %+v", e)
	}
	if e := MeanCI(nil, 1); e.N != 0 || e.Lo != 0 || e.Hi != 1 {
		t.Errorf("empty: %+v", e)
	}
	if got := quantile([]float64{1, 2, 3, 4, 5}, 0.5); got != 3 {
		t.Errorf("median = %v", got)
	}
	if got := quantile([]float64{0, 10}, 0.25); got != 2.5 {
		t.Errorf("interpolated quantile = %v", got)
	}
}

func TestMeanString(t *testing.T) {
	e := Estimate{Value: 0.4881, Lo: 0.43512, Hi: 0.54, N: 200, Method: MethodBootstrap}
	if got, want := e.MeanString(), "0.488 [0.435, 0.540] n=200"; got != want {
		t.Errorf("MeanString = %q, want %q", got, want)
	}
	if got := (Estimate{}).MeanString(); got != "—  (n=0)" {
		t.Errorf("empty MeanString = %q", got)
	}
}

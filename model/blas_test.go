package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSgemm checks sgemm and sgemmNT against a float64 product, for every
// transpose combination, strided operands, beta 0 and 1, and sizes that
// the blocking splits (with uneven tails), at GOMAXPROCS 1 and 8 with
// bitwise-equal results.
func TestSgemm(t *testing.T) {
	type shape struct{ m, n, k int }
	shapes := []shape{{1, 1, 1}, {3, 5, 7}, {64, 192, 9}, {65, 193, 17}, {200, 70, 33}, {530, 300, 230}, {70, 1100, 520}}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range shapes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, beta := range []float32{0, 1} {
				name := fmt.Sprintf("%dx%dx%d/tA=%t/tB=%t/beta=%g", s.m, s.n, s.k, tr[0], tr[1], beta)
				rowsA, colsA, rowsB, colsB := s.m, s.k, s.k, s.n
				if tr[0] {
					rowsA, colsA = s.k, s.m
				}
				if tr[1] {
					rowsB, colsB = s.n, s.k
				}
				lda, ldb, ldc := colsA+3, colsB+1, s.n+2 // strided views
				a := otRand(rng, rowsA*lda, 0, 1)
				b := otRand(rng, rowsB*ldb, 0, 1)
				c0 := otRand(rng, s.m*ldc, 0, 1)
				const alpha = 0.75
				want := make([]float64, s.m*s.n)
				for i := 0; i < s.m; i++ {
					for j := 0; j < s.n; j++ {
						var sum float64
						for l := 0; l < s.k; l++ {
							var av, bv float32
							if tr[0] {
								av = a[l*lda+i]
							} else {
								av = a[i*lda+l]
							}
							if tr[1] {
								bv = b[j*ldb+l]
							} else {
								bv = b[l*ldb+j]
							}
							sum += float64(av) * float64(bv)
						}
						want[i*s.n+j] = alpha*sum + float64(beta)*float64(c0[i*ldc+j])
					}
				}
				var got [][]float32
				for _, p := range otProcs {
					c := slices.Clone(c0)
					otWithProcs(p, func() {
						switch {
						case tr[1] && !tr[0]:
							sgemmNT(s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
						case tr[0] && !tr[1]:
							sgemmTN(s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
						default:
							sgemm(tr[0], tr[1], s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc)
						}
					})
					got = append(got, c)
				}
				for k := 1; k < len(got); k++ {
					if !slices.Equal(got[0], got[k]) {
						t.Errorf("%s: result differs between GOMAXPROCS %d and %d", name, otProcs[0], otProcs[k])
					}
				}
				c := got[0]
				for i := 0; i < s.m; i++ {
					for j := 0; j < s.n; j++ {
						w := want[i*s.n+j]
						if d := math.Abs(float64(c[i*ldc+j]) - w); d > 1e-5*math.Sqrt(float64(s.k))*math.Max(1, math.Abs(w)) {
							t.Fatalf("%s: C[%d,%d] = %v, want %v", name, i, j, c[i*ldc+j], w)
						}
					}
					for j := s.n; j < ldc && i*ldc+j < len(c); j++ {
						if c[i*ldc+j] != c0[i*ldc+j] {
							t.Fatalf("%s: wrote outside C at [%d,%d]", name, i, j)
						}
					}
				}
			}
		}
	}
}

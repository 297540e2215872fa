// Package gemmtest makes random matrix products and their float64
// results, for the tests of sgemm and its kernels.
package gemmtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Case is one product C = alpha·op(A)·op(B) + beta·C, op(A) m×k and op(B)
// k×n, in strided row-major storage, with C's initial value C0 and the
// float64 result Want (m×n, dense).
type Case struct {
	Name          string
	TA, TB        bool
	M, N, K       int
	Alpha, Beta   float32
	A, B, C0      []float32
	LDA, LDB, LDC int
	Want          []float64
}

// New makes a case of random normal operands, whose rows have pad, 2·pad
// (B) and 3·pad (C) floats more than the matrices' widths.
func New(rng *rand.Rand, tA, tB bool, m, n, k, pad int, alpha, beta float32) *Case {
	s := &Case{TA: tA, TB: tB, M: m, N: n, K: k, Alpha: alpha, Beta: beta}
	s.Name = fmt.Sprintf("%dx%dx%d/tA=%t/tB=%t/alpha=%g/beta=%g/pad=%d", m, n, k, tA, tB, alpha, beta, pad)
	rowsA, colsA, rowsB, colsB := m, k, k, n
	if tA {
		rowsA, colsA = k, m
	}
	if tB {
		rowsB, colsB = n, k
	}
	s.LDA, s.LDB, s.LDC = max(1, colsA+pad), max(1, colsB+2*pad), n+3*pad
	s.A = normal(rng, max(1, rowsA*s.LDA))
	s.B = normal(rng, max(1, rowsB*s.LDB))
	s.C0 = normal(rng, max(1, m*s.LDC))
	s.Want = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum float64
			for l := 0; l < k; l++ {
				sum += float64(s.At(i, l)) * float64(s.Bt(l, j))
			}
			sum *= float64(alpha)
			if beta != 0 {
				sum += float64(beta) * float64(s.C0[i*s.LDC+j])
			}
			s.Want[i*n+j] = sum
		}
	}
	return s
}

// At is op(A)'s element (i, l).
func (s *Case) At(i, l int) float32 {
	if s.TA {
		return s.A[l*s.LDA+i]
	}
	return s.A[i*s.LDA+l]
}

// Bt is op(B)'s element (l, j).
func (s *Case) Bt(l, j int) float32 {
	if s.TB {
		return s.B[j*s.LDB+l]
	}
	return s.B[l*s.LDB+j]
}

// Check fails t unless c is the result, within the float32 rounding of
// k-term sums, with C's padding untouched.
func (s *Case) Check(t testing.TB, c []float32) {
	t.Helper()
	for i := 0; i < s.M; i++ {
		for j := 0; j < s.N; j++ {
			w, got := s.Want[i*s.N+j], float64(c[i*s.LDC+j])
			if d := math.Abs(got - w); !(d <= 1e-5*math.Sqrt(float64(s.K+1))*math.Max(1, math.Abs(w))) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v", s.Name, i, j, got, w)
			}
		}
		for j := s.N; j < s.LDC && i*s.LDC+j < len(c); j++ {
			if c[i*s.LDC+j] != s.C0[i*s.LDC+j] {
				t.Fatalf("%s: wrote outside C at [%d,%d]", s.Name, i, j)
			}
		}
	}
}

func normal(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

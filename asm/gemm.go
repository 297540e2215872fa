package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const signature = "func(k int, a *float32, lda int, b *float32, c *float32, ldc int, alpha, beta float32)"

// kernel emits gemm<ISA>Rows or gemm<ISA>Cols.
func kernel(s isa, rows bool) {
	nr := s.nv * s.width
	kind := "Cols"
	if rows {
		kind = "Rows"
	}
	name := fmt.Sprintf("gemm%s%s", s.name, kind)
	function(name, signature, fmt.Sprintf("%s computes the %d×%d tile C = alpha·A·B + beta·C (see asm/main.go).", name, s.mr, nr))

	acc := s.vecs[:s.mr*s.nv]
	bv := s.vecs[s.mr*s.nv : s.mr*s.nv+s.nv]
	tv := s.vecs[s.mr*s.nv+s.nv : s.mr*s.nv+s.nv+s.bcasts]
	for _, r := range acc {
		s.zero(r)
	}

	k := Load(Param("k"), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(U8(2), lda)
	lda3 := GP64()
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	b := Mem{Base: Load(Param("b"), GP64())}
	a0 := Load(Param("a"), GP64())

	// A's addressing: in the Rows kernels, rows of four share a base and
	// are reached through lda and 3·lda; in the Cols kernels, step u of an
	// unrolled pass reads the column u·lda further on.
	bases := []Register{a0}
	var at func(i, u int) Mem
	if rows {
		for g := 4; g < s.mr; g += 4 {
			r := GP64()
			LEAQ(Mem{Base: bases[len(bases)-1], Index: lda, Scale: 4}, r)
			bases = append(bases, r)
		}
		at = func(i, u int) Mem { return rowAddr(bases[i/4], i%4, lda, lda3).Offset(4 * u) }
	} else {
		at = func(i, u int) Mem { return rowAddr(a0, u, lda, lda3).Offset(4 * i) }
	}
	step := func(u int) {
		for v := 0; v < s.nv; v++ {
			VMOVUPS(b.Offset(4*(u*nr+v*s.width)), bv[v])
		}
		for i := 0; i < s.mr; i++ {
			t := tv[i%len(tv)]
			VBROADCASTSS(at(i, u), t)
			for v := 0; v < s.nv; v++ {
				VFMADD231PS(bv[v], t, acc[i*s.nv+v])
			}
		}
	}
	advance := func(steps int) {
		ADDQ(U32(4*nr*steps), b.Base)
		switch {
		case rows:
			for _, r := range bases {
				ADDQ(U32(4*steps), r)
			}
		case steps == 4:
			LEAQ(Mem{Base: a0, Index: lda, Scale: 4}, a0)
		default:
			ADDQ(lda, a0)
		}
	}

	Comment("Main loop: four steps of l per pass.")
	n := GP64()
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	for u := 0; u < 4; u++ {
		step(u)
	}
	advance(4)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	ANDQ(U8(3), k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_tailloop")
	step(0)
	advance(1)
	DECQ(k)
	JNZ(LabelRef(name + "_tailloop"))

	Label(name + "_store")
	store(s, name, acc, bv[0], bv[1], tv[0])
	VZEROUPPER()
	RET()
}

// packRows emits pack<ISA>Rows, which copies k rows of nr floats, at
// src + l·lds, to dst one after another: a sliver of B packed for the
// kernels.
func packRows(s isa) {
	nr := s.nv * s.width
	name := "pack" + s.name + "Rows"
	function(name, "func(k int, src *float32, lds int, dst *float32)", fmt.Sprintf("%s copies k rows of %d floats, src[l·lds:][:%d], to dst[l·%d:] (see asm/main.go).", name, nr, nr, nr))
	k := Load(Param("k"), GP64())
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	dst := Mem{Base: Load(Param("dst"), GP64())}
	countdown(name, k, func() {
		for v := 0; v < s.nv; v++ {
			VMOVUPS(Mem{Base: src}.Offset(4*v*s.width), s.vecs[v])
		}
		for v := 0; v < s.nv; v++ {
			VMOVUPS(s.vecs[v], dst.Offset(4*v*s.width))
		}
		ADDQ(lds, src)
		ADDQ(U32(4*nr), dst.Base)
	})
}

// packCols emits pack<ISA>Cols, which gathers column l of nr rows, the
// floats at src + l + idx[j] for j < nr, into dst[l·nr:], for l < k: a
// sliver of a transposed B packed for the kernels.
func packCols(s isa) {
	nr := s.nv * s.width
	name := "pack" + s.name + "Cols"
	function(name, "func(k int, src *float32, idx [32]int32, dst *float32)", fmt.Sprintf("%s sets dst[l·%d+j] = src[l+idx[j]] for l < k, j < %d (see asm/main.go).", name, nr, nr))
	k := Load(Param("k"), GP64())
	src := Load(Param("src"), GP64())
	dst := Mem{Base: Load(Param("dst"), GP64())}
	idx := s.vecs[:s.nv]
	for v := range idx {
		VMOVUPS(elemAddr(Param("idx"), v*s.width), idx[v])
	}
	countdown(name, k, func() {
		for v := 0; v < s.nv; v++ {
			out, mask := s.vecs[s.nv+2*v], s.vecs[s.nv+2*v+1]
			s.gather(src, idx[v], mask, out)
			VMOVUPS(out, dst.Offset(4*v*s.width))
		}
		ADDQ(U8(4), src)
		ADDQ(U32(4*nr), dst.Base)
	})
}

// store writes the accumulators to C: alpha·acc where beta is zero (C is
// not read then), else alpha·acc + beta·C, each product rounded on its
// own (no fused multiply-add), as the Go code that finishes edge tiles
// does it.
func store(s isa, name string, acc []VecPhysical, alpha, beta, tmp VecPhysical) {
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	ldc3 := GP64()
	LEAQ(Mem{Base: ldc, Index: ldc, Scale: 2}, ldc3)
	VBROADCASTSS(paramAddr("alpha"), alpha)
	bits := GP32()
	MOVL(paramAddr("beta"), bits)
	ANDL(U32(0x7fffffff), bits)
	JZ(LabelRef(name + "_beta0"))

	VBROADCASTSS(paramAddr("beta"), beta)
	rowsOfC(s, c, ldc, ldc3, acc, func(r VecPhysical, m Mem) {
		VMULPS(alpha, r, r)
		VMULPS(m, beta, tmp)
		VADDPS(tmp, r, r)
		VMOVUPS(r, m)
	})
	VZEROUPPER()
	RET()

	Label(name + "_beta0")
	rowsOfC(s, c, ldc, ldc3, acc, func(r VecPhysical, m Mem) {
		VMULPS(alpha, r, r)
		VMOVUPS(r, m)
	})
}

// rowsOfC calls fn for each accumulator and its place in C, moving c on
// by four rows at a time (c is clobbered).
func rowsOfC(s isa, c, ldc, ldc3 Register, acc []VecPhysical, fn func(VecPhysical, Mem)) {
	for i := 0; i < s.mr; i++ {
		if i > 0 && i%4 == 0 {
			LEAQ(Mem{Base: c, Index: ldc, Scale: 4}, c)
		}
		for v := 0; v < s.nv; v++ {
			fn(acc[i*s.nv+v], rowAddr(c, i%4, ldc, ldc3).Offset(4*v*s.width))
		}
	}
}

// rowAddr is base + j·stride for j < 4, with stride and stride3 = 3·stride
// in registers.
func rowAddr(base Register, j int, stride, stride3 Register) Mem {
	switch j {
	case 0:
		return Mem{Base: base}
	case 1:
		return Mem{Base: base, Index: stride, Scale: 1}
	case 2:
		return Mem{Base: base, Index: stride, Scale: 2}
	default:
		return Mem{Base: base, Index: stride3, Scale: 1}
	}
}

// paramAddr is the frame address of a scalar argument.
func paramAddr(name string) Mem {
	p, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return p.Addr
}

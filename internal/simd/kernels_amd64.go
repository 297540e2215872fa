package simd

import "golang.org/x/sys/cpu"

//go:generate go run -C ../../asm . -out ../internal/simd/kernels_amd64.s -stubs ../internal/simd/kernels_stub_amd64.go -pkg simd

// The amd64 micro-kernels (kernels_amd64.s): 12×32 tiles in the 32
// AVX-512 registers, 6×16 in the 16 AVX2 ones.
var (
	avx512 = &Kernel{Name: "AVX-512", mr: 12, nr: 32, rows: gemmAVX512Rows, cols: gemmAVX512Cols,
		packRows: packAVX512Rows, packCols: packAVX512Cols}
	avx2 = &Kernel{Name: "AVX2+FMA", mr: 6, nr: 16, rows: gemmAVX2Rows, cols: gemmAVX2Cols,
		packRows: packAVX2Rows, packCols: packAVX2Cols}
)

// The element-wise kernels, over 16 or 8 floats at a time.
var (
	vecAVX512 = &vecKernels{width: 16, geluFwd: geluFwdAVX512, geluBwd: geluBwdAVX512, adamW: adamWAVX512,
		softmax: softmaxExpAVX512, lnSum: lnSumAVX512, lnSumSq: lnSumSqAVX512, lnApply: lnApplyAVX512,
		lnGradSums: lnGradSumsAVX512, lnGradApply: lnGradApplyAVX512}
	vecAVX2 = &vecKernels{width: 8, geluFwd: geluFwdAVX2, geluBwd: geluBwdAVX2, adamW: adamWAVX2,
		softmax: softmaxExpAVX2, lnSum: lnSumAVX2, lnSumSq: lnSumSqAVX2, lnApply: lnApplyAVX2,
		lnGradSums: lnGradSumsAVX2, lnGradApply: lnGradApplyAVX2}
)

// selectVec picks the element-wise kernels as Select picks the matrix
// ones.
func selectVec(f Features) *vecKernels {
	switch Select(f) {
	case avx512:
		return vecAVX512
	case avx2:
		return vecAVX2
	}
	return nil
}

// Host reports this CPU's features (with the operating system's support
// for their registers).
func Host() Features {
	return Features{AVX2: cpu.X86.HasAVX2, FMA: cpu.X86.HasFMA, AVX512F: cpu.X86.HasAVX512F}
}

// Select picks the widest kernel the features allow, or nil where there is
// none (a CPU without FMA): the caller falls back to another BLAS.
func Select(f Features) *Kernel {
	switch {
	case f.AVX512F && f.AVX2 && f.FMA:
		return avx512
	case f.AVX2 && f.FMA:
		return avx2
	}
	return nil
}

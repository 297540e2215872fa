package model

import "golang.org/x/sys/cpu"

//go:generate go run -C ../asm . -out ../model/sgemm_amd64.s -stubs ../model/sgemm_stub_amd64.go -pkg model

// The amd64 micro-kernels (sgemm_amd64.s): 12×32 tiles in the 32 AVX-512
// registers, 6×16 in the 16 AVX ones.
var (
	gemmAVX512 = &gemmKernel{name: "AVX-512", mr: 12, nr: 32, rows: gemmAVX512Rows, cols: gemmAVX512Cols}
	gemmAVX2   = &gemmKernel{name: "AVX2+FMA", mr: 6, nr: 16, rows: gemmAVX2Rows, cols: gemmAVX2Cols}
)

// hostFeatures reports this CPU's features (and the operating system's
// support for their registers).
func hostFeatures() cpuFeatures {
	return cpuFeatures{AVX: cpu.X86.HasAVX, FMA: cpu.X86.HasFMA, AVX512F: cpu.X86.HasAVX512F}
}

// selectGemmKernel picks the widest kernel the features allow, or nil
// (gonum's Sgemm) on a CPU without FMA.
func selectGemmKernel(f cpuFeatures) *gemmKernel {
	switch {
	case f.AVX512F:
		return gemmAVX512
	case f.AVX && f.FMA:
		return gemmAVX2
	}
	return nil
}

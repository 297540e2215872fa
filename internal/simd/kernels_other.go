//go:build !amd64

package simd

// Host: there are no kernels outside amd64, whatever the CPU has.
func Host() Features { return Features{} }

// Select: there are no kernels outside amd64; the caller falls back to
// another BLAS.
func Select(Features) *Kernel { return nil }

// selectVec: there are no element-wise kernels outside amd64.
func selectVec(Features) *vecKernels { return nil }

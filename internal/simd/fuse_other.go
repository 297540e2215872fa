//go:build !amd64.v3

package simd

// GoMayFuse: built for amd64 below v3, the Go compiler rounds every
// multiply and add on its own, as the element-wise kernels do, so they
// give the Go loops' results bit for bit.
const GoMayFuse = false

//go:build amd64.v3

package simd

// GoMayFuse: built for amd64 v3 (GOAMD64=v3 or above), the Go compiler may
// fuse a multiply and an add into one rounding where the element-wise
// kernels never do, so a few results of the kernels and of the Go loops
// they stand for may differ in the last bit (each is still deterministic).
const GoMayFuse = true

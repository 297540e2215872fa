package simd

// vecKernels are one instruction set's element-wise kernels (see
// asm/vec.go), each over a multiple of width elements.
type vecKernels struct {
	width   int
	geluFwd func(n int, z, b, y, th *float32)
	geluBwd func(n int, z, b, th, dy, dz, db *float32)
	adamW   func(n int, p, grad, m, v *float32, c *[9]float64)
	softmax func(n int, p, s *float32, scale, mx float32)

	lnSum       func(n int, x *float32) [16]float32
	lnSumSq     func(n int, x *float32, mean float32) [16]float32
	lnApply     func(n int, y, x, gain, b *float32, mean, rstd float32)
	lnGradSums  func(n int, x, dy, gain, pg, pb *float32, mean, rstd float32) (s1, s2 [16]float32)
	lnGradApply func(n int, dx, x, dy, gain *float32, mean, rstd, s1, s2 float32)
}

// vec are the element-wise kernels in use: this CPU's widest, or nil.
var vec = selectVec(Host())

// Restrict makes the element-wise kernels those that features f allow
// (nil where they allow none), for tests; the function it returns undoes
// it. It must not run while kernels do.
func Restrict(f Features) (undo func()) {
	old := vec
	vec = selectVec(f)
	return func() { vec = old }
}

// vecLen is the number of leading elements of a loop of n that the
// kernels do: n rounded down to a multiple of their width, 0 without
// kernels.
func vecLen(n int) int {
	if vec == nil {
		return 0
	}
	return n / vec.width * vec.width
}

// BiasGELU does model's biasGELUOp on the leading elements of a row: u =
// z[i]+b[i], th[i] = tanh(√(2/π)·(u + 0.044715·u³)), y[i] = ½·u·(1 +
// th[i]), with the same roundings as its Go loop. It returns how many
// elements it did (a multiple of the vector width, 0 without kernels);
// the caller does the rest.
func BiasGELU(z, b, y, th []float32) int {
	n := vecLen(len(z))
	if n == 0 {
		return 0
	}
	_, _, _ = b[n-1], y[n-1], th[n-1]
	vec.geluFwd(n, &z[0], &b[0], &y[0], &th[0])
	return n
}

// BiasGELUGrad does model's biasGELUGradOp on the leading elements of a
// row: dz[i] = dy[i]·gelu'(z[i]+b[i]) from th[i] (see BiasGELU), and
// db[i] += dz[i], with the same roundings as its Go loop. It returns how
// many elements it did, as BiasGELU does.
func BiasGELUGrad(z, b, th, dy, dz, db []float32) int {
	n := vecLen(len(z))
	if n == 0 {
		return 0
	}
	_, _, _, _, _ = b[n-1], th[n-1], dy[n-1], dz[n-1], db[n-1]
	vec.geluBwd(n, &z[0], &b[0], &th[0], &dy[0], &dz[0], &db[0])
	return n
}

// AdamW does train's AdamW update on the leading elements of a tensor p
// with gradient g and moments m and v, in float64 with the same roundings
// as its Go loop; c holds β1, 1−β1, β2, 1−β2, the decay factor, 1−β1ᵗ,
// the learning rate, 1−β2ᵗ and eps. It returns how many elements it did,
// as BiasGELU does.
func AdamW(p, g, m, v []float32, c *[9]float64) int {
	n := vecLen(len(p))
	if n == 0 {
		return 0
	}
	_, _, _ = g[n-1], m[n-1], v[n-1]
	vec.adamW(n, &p[0], &g[0], &m[0], &v[0], c)
	return n
}

// SoftmaxExp does the exponentials of model's causalSoftmaxRow on the
// leading elements of s: p[i] = expClamped(max(scale·(s[i] − mx), −87)),
// with the same roundings as its Go loop (p may be s). It returns how
// many elements it did, as BiasGELU does.
func SoftmaxExp(p, s []float32, scale, mx float32) int {
	n := vecLen(len(s))
	if n == 0 {
		return 0
	}
	_ = p[n-1]
	vec.softmax(n, &p[0], &s[0], scale, mx)
	return n
}

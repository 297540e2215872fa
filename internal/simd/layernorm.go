package simd

import "math"

// LayerNorm over one row, for model's layerNormOp and its gradient. The
// row's sums run in 16 lanes, lane l adding the elements l, l+16, l+32,
// ... in order; the lanes are then folded pairwise (l + l+8, then l + l+4,
// l + l+2, l + l+1) and the elements past the last multiple of 16 added
// one by one. No product is fused with a sum (hence the float32
// conversions, which forbid the compiler to fuse). The kernels and the Go loops here (for CPUs without them)
// do exactly that, so a row's results are the same bits on every CPU.

// lanes is 16 partial sums.
type lanes [16]float32

// fold adds the lanes pairwise into one sum (the caller then adds the
// tail's terms).
func (a *lanes) fold() float32 {
	for w := 8; w >= 1; w /= 2 {
		for l := 0; l < w; l++ {
			a[l] += a[l+w]
		}
	}
	return a[0]
}

// LayerNormRow sets y = ((x − mean)·rstd)·g + b for one row, with mean and
// rstd = 1/sqrt(var + eps) the row's statistics, which it returns.
func LayerNormRow(y, x, g, b []float32, eps float32) (mean, rstd float32) {
	d := len(x)
	y, g, b = y[:d], g[:d], b[:d]
	n := d &^ 15
	inv := 1 / float32(d)
	var acc lanes
	if k := vec; k != nil && n > 0 {
		acc = k.lnSum(n, &x[0])
	} else {
		for i := 0; i < n; i += 16 {
			for l := range acc {
				acc[l] += x[i+l]
			}
		}
	}
	s := acc.fold()
	for _, v := range x[n:] {
		s += v
	}
	mean = s * inv
	acc = lanes{}
	if k := vec; k != nil && n > 0 {
		acc = k.lnSumSq(n, &x[0], mean)
	} else {
		for i := 0; i < n; i += 16 {
			for l := range acc {
				c := x[i+l] - mean
				acc[l] += float32(c * c)
			}
		}
	}
	ss := acc.fold()
	for _, v := range x[n:] {
		c := v - mean
		ss += float32(c * c)
	}
	rstd = float32(1 / math.Sqrt(float64(ss*inv+eps)))
	j := 0
	if k := vec; k != nil && n > 0 {
		k.lnApply(n, &y[0], &x[0], &g[0], &b[0], mean, rstd)
		j = n
	}
	for ; j < d; j++ {
		y[j] = float32((x[j]-mean)*rstd*g[j]) + b[j] // rounded as the kernels do: no fused multiply-add
	}
	return mean, rstd
}

// LayerNormGradRow is LayerNorm's backward pass over one row, given its
// forward statistics: with x̂ = (x − mean)·rstd and ĝ = dy·g, it sets dx =
// rstd·((ĝ − mean(ĝ)) − x̂·mean(ĝ·x̂)) and adds dy·x̂ to pg and dy to pb
// (the gain's and shift's gradients, partial sums over rows).
func LayerNormGradRow(dx, x, dy, g, pg, pb []float32, mean, rstd float32) {
	d := len(x)
	dx, dy, g, pg, pb = dx[:d], dy[:d], g[:d], pg[:d], pb[:d]
	n := d &^ 15
	inv := 1 / float32(d)
	var a1, a2 lanes
	if k := vec; k != nil && n > 0 {
		a1, a2 = k.lnGradSums(n, &x[0], &dy[0], &g[0], &pg[0], &pb[0], mean, rstd)
	} else {
		for i := 0; i < n; i += 16 {
			for l := range a1 {
				j := i + l
				xh := (x[j] - mean) * rstd
				gj := dy[j] * g[j]
				a1[l] += gj
				a2[l] += float32(gj * xh)
				pg[j] += float32(dy[j] * xh)
				pb[j] += dy[j]
			}
		}
	}
	s1, s2 := a1.fold(), a2.fold()
	for j := n; j < d; j++ {
		xh := (x[j] - mean) * rstd
		gj := dy[j] * g[j]
		s1 += gj
		s2 += float32(gj * xh)
		pg[j] += float32(dy[j] * xh)
		pb[j] += dy[j]
	}
	s1, s2 = s1*inv, s2*inv
	j := 0
	if k := vec; k != nil && n > 0 {
		k.lnGradApply(n, &dx[0], &x[0], &dy[0], &g[0], mean, rstd, s1, s2)
		j = n
	}
	for ; j < d; j++ {
		xh := (x[j] - mean) * rstd
		dx[j] = rstd * (float32(dy[j]*g[j]) - s1 - float32(xh*s2))
	}
}

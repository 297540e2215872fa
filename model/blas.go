package model

import (
	"runtime"

	"gorgonia.org/gorgonia"
)

// sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices.
// op(A) is m×k, op(B) k×n and C m×n; lda, ldb and ldc are the row strides,
// which lets callers multiply strided views (one head's columns of the
// fused qkv matrix) without copies.
//
// The pure Go build runs it on this CPU's assembly micro-kernels where it
// has them (gemmInUse, from internal/simd), whose results depend only on
// the sizes, on GOMAXPROCS goroutines. Otherwise it runs on the BLAS that
// gorgonia uses (gonum's pure Go one, or OpenBLAS with the openblas build
// tag). There, large products run on GOMAXPROCS goroutines, split into
// blocks of C that depend only on the sizes; each element of C is
// computed whole by one BLAS call, so the result does not depend on
// GOMAXPROCS. OpenBLAS
// (kept single-threaded) gets a few large row or column blocks. gonum gets
// tiles of at most 64×192, small enough that its Sgemm runs each serially:
// its own parallel split spawns a goroutine per 64×64 block and scales
// badly (a transposed A runs slower on two cores than on one).
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if gemmInUse != nil {
		gemmInUse.Sgemm(gemmParallel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if blasTiles {
		const mb, nb = 64, 192
		if m <= mb && n <= nb {
			sgemm1(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			return
		}
		tm, tn := (m+mb-1)/mb, (n+nb-1)/nb
		opParallel(tm*tn, max(1, (1<<20)/(mb*nb*k)), func(lo, hi int) {
			for t := lo; t < hi; t++ {
				i0, j0 := t/tn*mb, t%tn*nb
				sgemmBlock(transA, transB, i0, min(i0+mb, m), j0, min(j0+nb, n), k, alpha, a, lda, b, ldb, beta, c, ldc)
			}
		})
		return
	}
	// Each block repacks the other operand, so blocks are few and large:
	// a power of two, at most 8, of at least 2**24 multiply-adds each.
	parts := 1
	for parts < 8 && m*n*k >= parts<<25 {
		parts *= 2
	}
	if parts == 1 {
		sgemm1(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmSplit(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parts)
}

// gemmParallel runs the kernels' blocks on up to GOMAXPROCS goroutines.
func gemmParallel(n int, fn func(lo, hi int)) { opParallel(n, 1, fn) }

// sgemmSplit runs sgemm as parts blocks of C's rows, or of its columns if
// it has more of those, on up to GOMAXPROCS goroutines.
func sgemmSplit(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, parts int) {
	if m >= n {
		rows := ((m+parts-1)/parts + 15) &^ 15
		opParallel(m, rows, func(lo, hi int) {
			sgemmBlock(transA, transB, lo, hi, 0, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		})
		return
	}
	cols := ((n+parts-1)/parts + 15) &^ 15
	opParallel(n, cols, func(lo, hi int) {
		sgemmBlock(transA, transB, 0, m, lo, hi, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

// sgemmBlock computes the block C[i0:i1, j0:j1] of sgemm's product.
func sgemmBlock(transA, transB bool, i0, i1, j0, j1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	var sa, sb []float32
	if transA { // rows of op(A) are columns of A
		sa = a[i0:]
	} else {
		sa = a[i0*lda:]
	}
	if transB { // columns of op(B) are rows of B
		sb = b[j0*ldb:]
	} else {
		sb = b[j0:]
	}
	sgemm1(transA, transB, i1-i0, j1-j0, k, alpha, sa, lda, sb, ldb, beta, c[i0*ldc+j0:], ldc)
}

// sgemm1 is one BLAS Sgemm call.
func sgemm1(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// The untyped 'N'/'T' constants are gonum's blas.NoTrans and blas.Trans.
	impl := gorgonia.WhichBLAS()
	switch {
	case !transA && !transB:
		impl.Sgemm('N', 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	case !transA && transB:
		impl.Sgemm('N', 'T', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	case transA && !transB:
		impl.Sgemm('T', 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	default:
		impl.Sgemm('T', 'T', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// sgemmNT computes c = alpha·a·bᵀ + beta·c for row-major a (n, k), b (m, k)
// and c (n, m), with row strides lda, ldb, ldc. gonum's pure Go Sgemm (the
// pure Go build without micro-kernels) is
// much slower with a transposed B (it takes dot products instead of
// axpys), so on that backend b is first transposed into scratch (grown as
// needed and returned for reuse).
func sgemmNT(n, m, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, scratch []float32) []float32 {
	if !transposeForNT || gemmInUse != nil {
		sgemm(false, true, n, m, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return scratch
	}
	if cap(scratch) < m*k {
		scratch = make([]float32, m*k)
	}
	bt := scratch[:m*k]
	blasTranspose(bt, b, m, k, ldb)
	sgemm(false, false, n, m, k, alpha, a, lda, bt, m, beta, c, ldc)
	return scratch
}

// sgemmTN computes c = alpha·aᵀ·b + beta·c for row-major a (k, m), b (k,
// n) and c (m, n), with row strides lda, ldb, ldc: a weight gradient,
// reduced over the k rows. On gonum with more than one goroutine, a is
// first transposed into scratch (grown as needed and returned for reuse):
// gonum's Aᵀ·B tiles keep a whole tile of C hot and, on two cores, run at
// a third of their one-core speed (the cores here share their caches),
// while A·B tiles keep one row of C hot and scale. Both sum each element
// over k in the same order with the same products, so the result is
// bitwise the same either way (TestSgemm checks it).
func sgemmTN(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, scratch []float32) []float32 {
	if !blasTiles || gemmInUse != nil || runtime.GOMAXPROCS(0) == 1 || m*n*k < 1<<22 {
		sgemm(true, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return scratch
	}
	if cap(scratch) < m*k {
		scratch = make([]float32, m*k)
	}
	at := scratch[:m*k]
	blasTranspose(at, a, k, m, lda)
	sgemm(false, false, m, n, k, alpha, at, k, b, ldb, beta, c, ldc)
	return scratch
}

// transpose writes the (cols, rows) transpose of the row-major (rows,
// cols) matrix src, of row stride ld, into dst, in cache-sized tiles.
func blasTranspose(dst, src []float32, rows, cols, ld int) {
	const tile = 32
	for i0 := 0; i0 < rows; i0 += tile {
		i1 := min(i0+tile, rows)
		for j0 := 0; j0 < cols; j0 += tile {
			j1 := min(j0+tile, cols)
			for i := i0; i < i1; i++ {
				row := src[i*ld : i*ld+cols]
				for j := j0; j < j1; j++ {
					dst[j*rows+i] = row[j]
				}
			}
		}
	}
}

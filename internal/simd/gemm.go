package simd

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// The matrix product: it is cut into tiles of mr×nr elements of C, B is
// packed into slivers of nr columns, and each tile is one kernel call per
// pass of KC steps of k. A kernel adds an element's products in order of
// k, one fused multiply-add each, in one vector lane; a pass's sum is then
// scaled and added to C (alpha·sum + beta·C on the first pass, alpha·sum
// + C on the next ones). So every element of C is the same sequence of
// roundings whatever the tile, the kernel's width, the split of the work
// between goroutines or GOMAXPROCS: only m, n, k and KC decide it.

// KC is the depth of one pass: a packed sliver of B, KC×nr floats,
// stays in the L1 cache while the rows of A stream past it. It fixes the
// order of the sums (see above), so changing it changes results.
const KC = 256

// tileFunc is a micro-kernel: the mr×nr tile C = alpha·A·B + beta·C, for
// k steps, from a B of k packed rows of nr floats. The Rows kernels read
// A's element (i, l) at a[i·lda+l], the Cols kernels at a[l·lda+i]. Where
// beta is zero, C is only written.
type tileFunc func(k int, a *float32, lda int, b *float32, c *float32, ldc int, alpha, beta float32)

// Kernel is one instruction set's micro-kernels, of tiles of mr rows and
// nr columns, and its packing routines: packRows copies k rows of nr
// floats at src + l·lds to dst, packCols gathers k columns of nr rows
// (the floats at src + l + idx[j]).
type Kernel struct {
	Name       string
	mr, nr     int
	rows, cols tileFunc
	packRows   func(k int, src *float32, lds int, dst *float32)
	packCols   func(k int, src *float32, idx [32]int32, dst *float32)
}

// Tile is the kernel's register tile, mr rows by nr columns of C.
func (g *Kernel) Tile() (mr, nr int) { return g.mr, g.nr }

// Features are the CPU features the kernels are chosen by (see Select).
type Features struct {
	AVX2, FMA, AVX512F bool
}

// Parallel runs fn over [0, n) in chunks, on as many goroutines as it
// likes; every index must be in exactly one chunk. Nil runs fn(0, n).
type Parallel func(n int, fn func(lo, hi int))

func (par Parallel) run(n int, fn func(lo, hi int)) {
	if par == nil || n == 1 {
		fn(0, n)
		return
	}
	par(n, fn)
}

// sharedRows: a product of more rows than this packs B once for all its
// blocks of rows; a smaller one packs it in each block of columns, pass
// by pass, to use while it is still in the cache.
const sharedRows = 512

// rowGroup is the number of tiles of rows whose A (rowGroup·mr×KC floats)
// stays in the L2 cache while the slivers of B go by.
const rowGroup = 8

// args is one product.
type args struct {
	g              *Kernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	bp             []float32 // all of B packed (see packAll), or nil
}

// scratch is a goroutine's buffers: A's last rows packed (zero padded to
// mr rows), one tile of C, and a panel of B.
type scratch struct{ ap, tile, bp []float32 }

var (
	scratchPool = sync.Pool{New: func() any { return new(scratch) }}
	packPool    = sync.Pool{New: func() any { return new([]float32) }}
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// op(A) m×k, op(B) k×n and C m×n with row strides lda, ldb and ldc, as
// BLAS's Sgemm does; where beta is zero C is only written. Large products
// are split into blocks run through par.
func (g *Kernel) Sgemm(par Parallel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	check(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	x := &args{g: g, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc}
	if m > sharedRows {
		buf := packPool.Get().(*[]float32)
		defer packPool.Put(buf)
		x.bp = x.packAll(par, buf)
	}
	mc, nc := g.split(m, n, k)
	tm, tn := (m+mc-1)/mc, (n+nc-1)/nc
	par.run(tm*tn, func(lo, hi int) {
		s := scratchPool.Get().(*scratch)
		defer scratchPool.Put(s)
		for t := lo; t < hi; t++ {
			i0, j0 := t/tn*mc, t%tn*nc
			x.block(s, i0, min(i0+mc, m), j0, min(j0+nc, n))
		}
	})
}

// split picks the rows and columns of C of each goroutine's block. With B
// packed whole, a block has rowGroup tiles of rows and all columns, or
// fewer columns where that gives too few blocks to share between
// GOMAXPROCS goroutines; otherwise it has all rows and columns enough for
// a panel of B of at most KC×256 floats (fewer to share the work). The
// results do not depend on the split.
func (g *Kernel) split(m, n, k int) (mc, nc int) {
	procs := runtime.GOMAXPROCS(0)
	if 2*m*n*k < 1<<22 {
		procs = 1
	}
	roundNR := func(v int) int { return max(g.nr, (v+g.nr-1)/g.nr*g.nr) }
	if m <= sharedRows {
		return m, min(roundNR(n), max(g.nr, 256/g.nr*g.nr), roundNR((n+4*procs-1)/(4*procs)))
	}
	mc, nc = rowGroup*g.mr, n
	if tm := (m + mc - 1) / mc; procs > 1 && tm < 4*procs {
		parts := (4*procs + tm - 1) / tm
		nc = roundNR((n + parts - 1) / parts)
	}
	return mc, nc
}

// block computes C[i0:i1, j0:j1], j0 a multiple of nr.
func (x *args) block(s *scratch, i0, i1, j0, j1 int) {
	g := x.g
	nPad := (x.n + g.nr - 1) / g.nr * g.nr
	if len(s.ap) < g.mr*KC {
		s.ap = make([]float32, g.mr*KC)
		s.tile = make([]float32, g.mr*g.nr)
	}
	for p0 := 0; p0 < x.k; p0 += KC {
		kc := min(KC, x.k-p0)
		beta := x.beta
		if p0 > 0 {
			beta = 1
		}
		// The slivers of B for this pass: sliver j at panel[(j-base)·kc:].
		panel, base := x.bp[min(len(x.bp), p0*nPad):], 0
		if x.bp == nil {
			if need := kc * ((j1 - j0 + g.nr - 1) / g.nr * g.nr); len(s.bp) < need {
				s.bp = make([]float32, need)
			}
			x.packPanel(s.bp, p0, kc, j0, j1)
			panel, base = s.bp, j0
		}
		for r0 := i0; r0 < i1; r0 += rowGroup * g.mr {
			r1 := min(r0+rowGroup*g.mr, i1)
			edge := r0 + (r1-r0)/g.mr*g.mr // first row of a partial tile
			if edge < r1 {
				x.packAEdge(s.ap, edge, r1, p0, kc)
			}
			for j := j0; j < j1; j += g.nr {
				bs := panel[(j-base)*kc:]
				nj := min(g.nr, x.n-j)
				for i := r0; i < r1; i += g.mr {
					x.tile(s, i, min(g.mr, r1-i), j, nj, p0, kc, bs, beta)
				}
			}
		}
	}
}

// tile computes one mi×nj tile of C at (i, j) for the pass of kc steps
// from p0. A partial tile goes through s.tile, finished here with the
// same roundings as the kernel's own store.
func (x *args) tile(s *scratch, i, mi, j, nj, p0, kc int, bs []float32, beta float32) {
	g := x.g
	var (
		fn  tileFunc
		a   *float32
		lda int
	)
	switch {
	case mi < g.mr:
		fn, a, lda = g.cols, &s.ap[0], g.mr
	case x.transA:
		fn, a, lda = g.cols, &x.a[p0*x.lda+i], x.lda
	default:
		fn, a, lda = g.rows, &x.a[i*x.lda+p0], x.lda
	}
	if mi == g.mr && nj == g.nr {
		fn(kc, a, lda, &bs[0], &x.c[i*x.ldc+j], x.ldc, x.alpha, beta)
		return
	}
	fn(kc, a, lda, &bs[0], &s.tile[0], g.nr, 1, 0)
	for r := 0; r < mi; r++ {
		crow := x.c[(i+r)*x.ldc+j : (i+r)*x.ldc+j+nj]
		for jj, t := range s.tile[r*g.nr : r*g.nr+nj] {
			v := float32(x.alpha * t)
			if beta != 0 {
				v += float32(beta * crow[jj])
			}
			crow[jj] = v
		}
	}
}

// packAEdge packs op(A)'s rows [i0, i1) (fewer than mr) and columns [p0,
// p0+kc) into ap as kc columns of mr floats, the missing rows zero.
func (x *args) packAEdge(ap []float32, i0, i1, p0, kc int) {
	mr := x.g.mr
	ap = ap[:kc*mr]
	clear(ap)
	if x.transA {
		for l := 0; l < kc; l++ {
			copy(ap[l*mr:l*mr+i1-i0], x.a[(p0+l)*x.lda+i0:])
		}
		return
	}
	for r := i0; r < i1; r++ {
		for l, v := range x.a[r*x.lda+p0 : r*x.lda+p0+kc] {
			ap[l*mr+r-i0] = v
		}
	}
}

// packAll packs all of op(B) (k×n): pass p (rows [p0, p0+kc)) at
// p0·nPad, as packPanel lays out its columns, nPad being n rounded up to
// a multiple of nr. buf is grown as needed; the packed slice is returned.
func (x *args) packAll(par Parallel, buf *[]float32) []float32 {
	nr := x.g.nr
	nPad := (x.n + nr - 1) / nr * nr
	if cap(*buf) < x.k*nPad {
		*buf = make([]float32, x.k*nPad)
	}
	bp := (*buf)[:x.k*nPad]
	slivers := nPad / nr
	if x.k*x.n < 1<<16 {
		par = nil
	}
	par.run((x.k+KC-1)/KC*slivers, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			p0, j := t/slivers*KC, t%slivers*nr
			kc := min(KC, x.k-p0)
			x.packPanel(bp[p0*nPad+j*kc:], p0, kc, j, min(j+nr, x.n))
		}
	})
	return bp
}

// packPanel packs op(B)'s rows [p0, p0+kc) and columns [j0, j1) into dst:
// the sliver of columns [j, j+nr) at (j-j0)·kc, kc rows of nr floats, the
// columns past n zero.
func (x *args) packPanel(dst []float32, p0, kc, j0, j1 int) {
	g, b, ldb := x.g, x.b, x.ldb
	nr := g.nr
	var idx [32]int32 // offsets of nr rows of B, for packCols
	gather := x.transB && int64(nr-1)*int64(ldb) <= math.MaxInt32
	if gather {
		for jj := range nr {
			idx[jj] = int32(jj * ldb)
		}
	}
	for j := j0; j < j1; j += nr {
		d := dst[(j-j0)*kc : (j-j0+nr)*kc]
		nj := min(nr, x.n-j)
		switch {
		case nj == nr && !x.transB:
			g.packRows(kc, &b[p0*ldb+j], ldb, &d[0])
		case nj == nr && gather:
			g.packCols(kc, &b[j*ldb+p0], idx, &d[0])
		case !x.transB:
			for l := 0; l < kc; l++ {
				row := d[l*nr : (l+1)*nr]
				copy(row, b[(p0+l)*ldb+j:(p0+l)*ldb+j+nj])
				clear(row[nj:])
			}
		default:
			clear(d)
			for jj := 0; jj < nj; jj++ {
				for l, v := range b[(j+jj)*ldb+p0 : (j+jj)*ldb+p0+kc] {
					d[l*nr+jj] = v
				}
			}
		}
	}
}

// scale sets C = beta·C (zero where beta is), for a product with k = 0.
func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// check panics unless a, b and c hold the matrices their shapes and
// strides describe: the kernels read and write memory without bounds
// checks.
func check(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	need := func(name string, s []float32, rows, cols, ld int) {
		if cols > ld || rows > 0 && cols > 0 && len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("sgemm: %s of %d×%d with stride %d needs more than %d floats", name, rows, cols, ld, len(s)))
		}
	}
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("sgemm: negative size %d×%d×%d", m, n, k))
	}
	if transA {
		need("A", a, k, m, lda)
	} else {
		need("A", a, m, k, lda)
	}
	if transB {
		need("B", b, n, k, ldb)
	} else {
		need("B", b, k, n, ldb)
	}
	need("C", c, m, n, ldc)
}

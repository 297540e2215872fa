package rng

import (
	"math/rand/v2"
	"testing"
)

func TestStreamReproducibleAndIndependent(t *testing.T) {
	a, b := Stream(7, "data"), Stream(7, "data")
	c, d := Stream(7, "model"), Stream(8, "data")
	same, diffName, diffSeed := true, 0, 0
	for i := 0; i < 100; i++ {
		x, y := a.Uint64(), b.Uint64()
		if x != y {
			same = false
		}
		if c.Uint64() != x {
			diffName++
		}
		if d.Uint64() != x {
			diffSeed++
		}
	}
	if !same {
		t.Fatal("same seed and name gave different streams")
	}
	if diffName < 99 || diffSeed < 99 {
		t.Fatalf("streams not independent: %d/%d draws differed", diffName, diffSeed)
	}
}

// TestPCGResumes: a PCG restored from a saved state continues with exactly
// the draws of the one it was saved from.
func TestPCGResumes(t *testing.T) {
	src := PCG(7, "safety/redteam")
	r := rand.New(src)
	for range 13 {
		r.Uint64()
	}
	saved, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint64, 50)
	for i := range want {
		want[i] = r.Uint64()
	}
	other := PCG(8, "x")
	if err := other.UnmarshalBinary(saved); err != nil {
		t.Fatal(err)
	}
	again := rand.New(other)
	for i, w := range want {
		if got := again.Uint64(); got != w {
			t.Fatalf("draw %d after the restore: %d, want %d", i, got, w)
		}
	}
}

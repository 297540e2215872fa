package rng

import "testing"

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

package model

import (
	"math"
	"testing"
)

// headLogits applies ln_f and lm_head (wteᵀ when tied) to one residual
// row in float64.
func headLogits(w *Weights, x []float32) []float32 {
	D, V := w.Config.DModel, w.Config.Vocab
	g, b := w.Get("ln_f.weight").Data, w.Get("ln_f.bias").Data
	head := func(i, j int) float32 {
		if w.Config.Tied {
			return w.Get("wte").Data[j*D+i]
		}
		return w.Get("lm_head.weight").Data[i*V+j]
	}
	mean := 0.0
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(D)
	vr := 0.0
	for _, v := range x {
		vr += (float64(v) - mean) * (float64(v) - mean)
	}
	inv := 1 / math.Sqrt(vr/float64(D)+lnEps)
	h := make([]float64, D)
	for i, v := range x {
		h[i] = (float64(v)-mean)*inv*float64(g[i]) + float64(b[i])
	}
	out := make([]float32, V)
	for j := 0; j < V; j++ {
		s := 0.0
		for i := range h {
			s += h[i] * float64(head(i, j))
		}
		out[j] = float32(s)
	}
	return out
}

func TestResidualActivationsFinalLayerMatchesReference(t *testing.T) {
	for ci, c := range inferTestConfigs {
		w := inferTestWeights(t, c, uint64(ci))
		var seqs [][]int
		for _, n := range []int{1, 2, 7, c.Context} {
			seqs = append(seqs, inferTestIDs(c, n, uint64(n)))
		}
		var all [2][][][]float32
		for k, procs := range []int{1, 8} {
			inferWithProcs(procs, func() {
				var err error
				if all[k], err = ResidualActivationsAll(w, seqs); err != nil {
					t.Fatal(err)
				}
			})
		}
		if len(all[0]) != c.Layers+1 {
			t.Fatalf("%v: %d layers, want %d", c, len(all[0]), c.Layers+1)
		}
		for l := range all[0] {
			for i := range seqs {
				if len(all[0][l][i]) != c.DModel {
					t.Fatalf("layer %d seq %d: %d values", l, i, len(all[0][l][i]))
				}
				for j := range all[0][l][i] {
					if math.Float32bits(all[0][l][i][j]) != math.Float32bits(all[1][l][i][j]) {
						t.Fatalf("%v: activations differ between GOMAXPROCS 1 and 8", c)
					}
				}
			}
		}
		for i, ids := range seqs {
			n := len(ids)
			ref := ReferenceLogits(w, ids)
			want := ref[(n-1)*c.Vocab:]
			got := headLogits(w, all[0][c.Layers][i])
			if d := inferMaxAbsDiff(got, want); d > 1e-4 || math.IsNaN(d) {
				t.Errorf("%v n=%d: max |head(final activation) - ReferenceLogits| = %g", c, n, d)
			}
			// Layer 0 is the embedding sum.
			last := ids[n-1]
			for j := 0; j < c.DModel; j++ {
				e := w.Get("wte").Data[last*c.DModel+j] + w.Get("wpe").Data[(n-1)*c.DModel+j]
				if all[0][0][i][j] != e {
					t.Fatalf("%v n=%d: layer 0 is not the embeddings", c, n)
				}
			}
		}
		// The single-layer entry point agrees with the all-layers one.
		for l := 0; l <= c.Layers; l++ {
			one, err := ResidualActivations(w, seqs, l)
			if err != nil {
				t.Fatal(err)
			}
			for i := range seqs {
				for j := range one[i] {
					if math.Float32bits(one[i][j]) != math.Float32bits(all[0][l][i][j]) {
						t.Fatalf("%v layer %d: ResidualActivations differs from ResidualActivationsAll", c, l)
					}
				}
			}
		}
	}
}

func TestResidualActivationsErrors(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 1)
	good := []int{1, 2, 3}
	long := make([]int, c.Context+1)
	cases := map[string]func() error{
		"empty seq":   func() error { _, err := ResidualActivationsAll(w, [][]int{good, {}}); return err },
		"long seq":    func() error { _, err := ResidualActivationsAll(w, [][]int{long}); return err },
		"bad id":      func() error { _, err := ResidualActivationsAll(w, [][]int{{1, c.Vocab}}); return err },
		"negative id": func() error { _, err := ResidualActivations(w, [][]int{{-1}}, 1); return err },
		"layer low":   func() error { _, err := ResidualActivations(w, [][]int{good}, -1); return err },
		"layer high":  func() error { _, err := ResidualActivations(w, [][]int{good}, c.Layers+1); return err },
		"nil weights": func() error { _, err := ResidualActivationsAll(nil, [][]int{good}); return err },
	}
	for name, f := range cases {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if got, err := ResidualActivationsAll(w, nil); err != nil || len(got) != c.Layers+1 || len(got[0]) != 0 {
		t.Errorf("no sequences: %v, %v", got, err)
	}
}

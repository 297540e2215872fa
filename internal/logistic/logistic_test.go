package logistic

import (
	"math"
	"testing"
)

// TestValues checks both functions against their naive forms where those
// are exact enough, and stay finite where the naive forms overflow.
func TestValues(t *testing.T) {
	for _, x := range []float64{-30, -2, -0.5, 0, 0.5, 2, 30} {
		if got, want := Softplus(x), math.Log(1+math.Exp(x)); math.Abs(got-want) > 1e-12*(1+want) {
			t.Errorf("Softplus(%v) = %v, want %v", x, got, want)
		}
		if got, want := Sigmoid(x), 1/(1+math.Exp(-x)); math.Abs(got-want) > 1e-15 {
			t.Errorf("Sigmoid(%v) = %v, want %v", x, got, want)
		}
	}
	if got := Softplus(1000); got != 1000 {
		t.Errorf("Softplus(1000) = %v, want 1000", got)
	}
	if got := Softplus(-1000); got != 0 {
		t.Errorf("Softplus(-1000) = %v, want 0", got)
	}
	if got := Sigmoid(-1000); got != 0 || math.IsNaN(Sigmoid(1000)) || Sigmoid(1000) != 1 {
		t.Errorf("Sigmoid(±1000) = %v, %v; want 0, 1", got, Sigmoid(1000))
	}
}

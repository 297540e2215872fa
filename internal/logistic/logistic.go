// Package logistic holds the numerically stable logistic functions that
// the Bradley-Terry loss (model) and logistic-regression probes (backdoor)
// share.
package logistic

import "math"

// Softplus is log(1 + e^x), computed without overflow.
func Softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// Sigmoid is 1 / (1 + e^−x), computed without overflow.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

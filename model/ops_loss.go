package model

import (
	"fmt"
	"math"
)

// This file holds the cross-entropy row kernels of headXentOp.

// checkTargets validates targets and mask: ids in [0, v) where the weight
// is non-zero, weights finite and non-negative.
func checkTargets(targets []int32, mask []float32, v int) error {
	for i, w := range mask {
		if !(w >= 0) || math.IsInf(float64(w), 1) {
			return fmt.Errorf("mask weight %v at position %d is not a finite non-negative number", w, i)
		}
		if id := targets[i]; id < 0 || int(id) >= v {
			return fmt.Errorf("target id %d at position %d is outside [0, %d)", id, i, v)
		}
	}
	return nil
}

// xentRow sets e[j] = e**(row[j] − max row) and returns the row's
// cross-entropy −log softmax(row)[target] and 1/Σ e. e may alias row.
func xentRow(e, row []float32, target int32) (nll float64, inv float32) {
	mx := row[0]
	for _, x := range row[1:] {
		if x > mx {
			mx = x
		}
	}
	lt := row[target]
	var sum float32
	for j, x := range row {
		x -= mx
		if x < expMin { // results below e**expMin (1.6e-38) are raised to it
			x = expMin
		}
		ex := expClamped(x)
		e[j] = ex
		sum += ex
	}
	return float64(mx) + math.Log(float64(sum)) - float64(lt), 1 / sum
}

// xentGradRow sets d = coef·(e·inv − onehot(target)), the gradient of
// coef·xentRow's loss. d may alias e.
func xentGradRow(d, e []float32, inv, coef float32, target int32) {
	ce := coef * inv
	for j, x := range e {
		d[j] = ce * x
	}
	d[target] -= coef
}

// meanLoss returns Σ w·nll / Σ w (0 when Σ w = 0) and Σ w, summed in
// order over the rows with w != 0.
func meanLoss(nll []float64, mask []float32) (loss, wsum float64) {
	var num float64
	for i, w := range mask {
		if w != 0 {
			num += float64(w) * nll[i]
			wsum += float64(w)
		}
	}
	if wsum > 0 {
		loss = num / wsum
	}
	return loss, wsum
}

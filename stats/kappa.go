package stats

import "math"

// MethodKappa marks Cohen's kappa with its large-sample 95% interval
// κ ± Z95·SE, SE the asymptotic standard error of Fleiss, Cohen & Everitt
// (1969, "Large sample standard errors of kappa and weighted kappa"; the
// ASE SAS's PROC FREQ reports), clipped to [−1, 1].
const MethodKappa = "kappa-fce"

// Kappa is Cohen's kappa (1960) of two raters' yes/no verdicts on the same
// items, from their 2×2 table: yy items both say yes, yn only A, ny only B,
// nn neither. κ = (po − pe) / (1 − pe), po the observed agreement and pe
// the agreement expected by chance from the two raters' margins: 1 is
// perfect agreement, 0 no more than chance, below 0 less. Its interval is
// MethodKappa's; at perfect agreement the SE is 0 and the interval a
// point, so read it with N. ok is false when κ is undefined or says
// nothing: no items, or a rater gave every item the same verdict (then pe
// = 1, or κ = 0 whatever the other rater says, with an SE of 0).
func Kappa(yy, yn, ny, nn int) (e Estimate, ok bool) {
	n := yy + yn + ny + nn
	e = Estimate{N: n, Method: MethodKappa, Lo: -1, Hi: 1}
	if n <= 0 || yy < 0 || yn < 0 || ny < 0 || nn < 0 {
		return e, false
	}
	nf := float64(n)
	p := [2][2]float64{{float64(yy) / nf, float64(yn) / nf}, {float64(ny) / nf, float64(nn) / nf}}
	row := [2]float64{p[0][0] + p[0][1], p[1][0] + p[1][1]} // A's margins
	col := [2]float64{p[0][0] + p[1][0], p[0][1] + p[1][1]} // B's margins
	po := p[0][0] + p[1][1]
	pe := row[0]*col[0] + row[1]*col[1]
	if row[0] == 0 || row[0] == 1 || col[0] == 0 || col[0] == 1 {
		return e, false
	}
	k := (po - pe) / (1 - pe)
	// Fleiss, Cohen & Everitt's variance: the diagonal and off-diagonal
	// terms, less (κ − pe(1 − κ))², over n(1 − pe)².
	v := 0.0
	for i := range 2 {
		for j := range 2 {
			if i == j {
				v += p[i][i] * sq(1-(row[i]+col[i])*(1-k))
			} else {
				v += sq(1-k) * p[i][j] * sq(col[i]+row[j])
			}
		}
	}
	v -= sq(k - pe*(1-k))
	se := math.Sqrt(math.Max(v, 0) / (nf * sq(1-pe)))
	e.Value = k
	e.Lo, e.Hi = math.Max(-1, k-Z95*se), math.Min(1, k+Z95*se)
	return e, true
}

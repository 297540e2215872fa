package stats

import "sort"

// BestThreshold is the score threshold that best tells positives (labels
// true) from negatives when "score > t" is read as positive: the t that
// classifies the most items right, halfway between the two scores it falls
// between (below every score when calling all positive is best, the
// highest score when calling all negative is; the lowest such t on ties),
// and the share acc it classifies right. It is (0, 0) without items or
// when the lengths differ.
func BestThreshold(scores []float64, labels []bool) (t, acc float64) {
	n := len(scores)
	if n == 0 || n != len(labels) {
		return 0, 0
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	// right counts the items classified right when the k lowest are
	// called negative: the negatives among them and the positives above.
	right := 0
	for _, l := range labels {
		if l {
			right++
		}
	}
	best, bestK := right, 0
	for k := 1; k <= n; k++ {
		if labels[idx[k-1]] {
			right--
		} else {
			right++
		}
		if k < n && scores[idx[k]] == scores[idx[k-1]] {
			continue // t cannot fall between equal scores
		}
		if right > best {
			best, bestK = right, k
		}
	}
	switch bestK {
	case 0:
		t = scores[idx[0]] - 1
	case n:
		t = scores[idx[n-1]]
	default:
		t = (scores[idx[bestK-1]] + scores[idx[bestK]]) / 2
	}
	return t, float64(best) / float64(n)
}

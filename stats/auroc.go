package stats

import (
	"math"
	"sort"
)

// AUROC is the area under the ROC curve of scores for telling positives
// (labels true) from negatives: the probability that a random positive
// scores above a random negative, ties counting one half (the Mann–Whitney
// statistic with midranks). It is NaN when either class is empty or the
// lengths differ.
func AUROC(scores []float64, labels []bool) float64 {
	if len(scores) != len(labels) {
		return math.NaN()
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSum float64 // sum of the positives' midranks (1-based)
	var pos, neg float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if labels[idx[k]] {
				rankSum += mid
			}
		}
		i = j
	}
	for _, l := range labels {
		if l {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// Package stats holds the statistics the evaluations report: an Estimate
// (a value with its 95% interval), the Wilson score interval for
// proportions, a seeded percentile bootstrap for means (MeanCI), the
// AUROC of a score for telling two classes apart and the threshold that
// best does it, and Cohen's kappa of two raters with its large-sample
// interval.
//
// Every function is deterministic: a bootstrap draws from a stream seeded by
// its caller, so the same inputs always give the same interval.
package stats

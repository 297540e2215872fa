package data

import (
	"reflect"
	"strings"
	"testing"
)

// TestBuildHHHOf: only the given families, all of them, the same bytes
// for the same seed; no or an unknown family is an error.
func TestBuildHHHOf(t *testing.T) {
	fams := []string{"month", "colour-mix"}
	a, err := BuildHHHOf(200, SplitTest, 4, fams)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range a {
		seen[e.Task]++
		if Check(e.Task, e.Answer, e.Completion) != GradeCorrect {
			t.Errorf("%s: %q not graded correct", e.Task, e.Completion)
		}
	}
	if len(seen) != 2 || seen["month"] < 60 || seen["colour-mix"] < 60 {
		t.Errorf("families drawn: %v", seen)
	}
	if b, _ := BuildHHHOf(200, SplitTest, 4, fams); !reflect.DeepEqual(a, b) {
		t.Error("same seed, different examples")
	}
	if _, err := BuildHHHOf(5, SplitTest, 4, nil); err == nil {
		t.Error("no families accepted")
	}
	if _, err := BuildHHHOf(5, SplitTest, 4, []string{"astrology"}); err == nil || !strings.Contains(err.Error(), "astrology") {
		t.Errorf("unknown family: %v", err)
	}
}

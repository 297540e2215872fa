package backdoor

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

func TestScratchScan(t *testing.T) {
	files, _ := filepath.Glob("/tmp/exp/*.go")
	sort.Strings(files)
	var srcs []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		srcs = append(srcs, string(b))
	}
	t0 := time.Now()
	res, err := ScanGo(srcs)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("took", time.Since(t0))
	for i, r := range res {
		fmt.Printf("%s parsed=%v tc=%v err=%q\n", filepath.Base(files[i]), r.Parsed, r.TypeChecks, r.Err)
		for _, f := range r.Findings {
			fmt.Printf("   %s %s L%d %s %s\n", f.Rule, f.CWE, f.Line, f.Severity, f.What)
		}
	}
}

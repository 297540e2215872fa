package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteReplacesOrKeeps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	put := func(s string) error {
		return Write(path, func(w io.Writer) error { _, err := io.WriteString(w, s); return err })
	}
	if err := put("one"); err != nil {
		t.Fatal(err)
	}
	if err := put("two"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error { io.WriteString(w, "partial"); return boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want boom naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte("two")) {
		t.Fatalf("file = %q, want the last complete write", b)
	}
	if err := Write(filepath.Join(dir, "missing", "f.txt"), func(io.Writer) error { return nil }); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

// TestWriteMode checks that a new file is 0644 (not CreateTemp's 0600) and
// that a replaced file keeps its permissions.
func TestWriteMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	if err := WriteJSON(path, 1); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("new file: %v %v, want mode 0644", st.Mode(), err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(path, 2); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("replaced file: %v %v, want its mode 0600 kept", st.Mode(), err)
	}
}

// TestWriteDiskFull: a write that runs out of space part way fails with
// ENOSPC naming the path, removes its partial temporary file and leaves
// the previous file whole; files the fault does not name are unaffected.
func TestWriteDiskFull(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	put := func(p, s string) error {
		return Write(p, func(w io.Writer) error { _, err := io.WriteString(w, s); return err })
	}
	if err := put(path, "complete"); err != nil {
		t.Fatal(err)
	}
	restore := InjectFault(DiskFull("f.txt", 3))
	err := put(path, "a longer replacement")
	other := put(filepath.Join(dir, "g.txt"), "unaffected")
	restore()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ENOSPC naming %s", err, path)
	}
	if other != nil {
		t.Errorf("a file the fault does not name failed: %v", other)
	}
	if b, _ := os.ReadFile(path); string(b) != "complete" {
		t.Errorf("file = %q, want the previous complete write", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("directory holds %v, want f.txt and g.txt only (no partial temporary file)", entries)
	}
	if err := put(path, "after"); err != nil {
		t.Fatalf("write after restore: %v", err)
	}
}

package atomicfile

import (
	"io"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"syscall"
)

// Fault stands between Write and the temporary file it fills: given the
// path being written and the temporary file, it returns the writer that
// Write's write function gets. Tests use one to make writes fail the way a
// full or broken disk does, which permissions cannot do for root.
type Fault func(path string, w io.Writer) io.Writer

// fault is the injected Fault, nil when there is none.
var fault atomic.Pointer[Fault]

// InjectFault passes every later Write through f until the returned restore
// function puts back the previous fault. It is a test seam: nothing outside
// tests calls it, and without it Write writes straight to the file.
func InjectFault(f Fault) (restore func()) {
	prev := fault.Swap(&f)
	return func() { fault.Store(prev) }
}

// faulty returns w as the injected fault, if any, would have it.
func faulty(path string, w io.Writer) io.Writer {
	if f := fault.Load(); f != nil {
		return (*f)(path, w)
	}
	return w
}

// DiskFull is a Fault under which a file whose base name is name takes
// limit bytes and then fails every write with ENOSPC ("no space left on
// device"), as on a full disk. Other files are written normally.
func DiskFull(name string, limit int64) Fault {
	return func(path string, w io.Writer) io.Writer {
		if filepath.Base(path) != name {
			return w
		}
		return &fullDisk{w: w, path: path, left: limit}
	}
}

// fullDisk passes left more bytes to w, then fails.
type fullDisk struct {
	w    io.Writer
	path string
	left int64
}

func (d *fullDisk) Write(p []byte) (int, error) {
	room := min(int64(len(p)), d.left)
	n, err := d.w.Write(p[:room])
	d.left -= int64(n)
	if err == nil && n < len(p) {
		err = &fs.PathError{Op: "write", Path: d.path, Err: syscall.ENOSPC}
	}
	return n, err
}

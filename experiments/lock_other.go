//go:build !unix

package experiments

import (
	"errors"
	"os"
)

// errWouldBlock is tryLock's error when another process holds the lock.
var errWouldBlock = errors.New("lock held")

// tryLock marks f's lock as taken by creating f's name with ".held"
// appended, exclusively (systems without flock: a process that dies
// leaves the marker, which must then be removed by hand).
func tryLock(f *os.File) error {
	m, err := os.OpenFile(f.Name()+".held", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, os.ErrExist) {
		return errWouldBlock
	}
	if err != nil {
		return err
	}
	return m.Close()
}

// unlockFile removes tryLock's marker.
func unlockFile(f *os.File) error { return os.Remove(f.Name() + ".held") }

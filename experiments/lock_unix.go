//go:build unix

package experiments

import (
	"errors"
	"os"
	"syscall"
)

// errWouldBlock is tryLock's error when another process holds the lock.
var errWouldBlock = syscall.EWOULDBLOCK

// tryLock takes an exclusive flock on f without waiting (Linux emulates it
// with byte-range locks on NFS, so it holds across nodes too).
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// unlockFile releases tryLock's lock.
func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

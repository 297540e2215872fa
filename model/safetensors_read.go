package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
)

// This file is the one safetensors reader: our checkpoints
// (ReadSafetensors) and Hugging Face GPT-2 files (ReadHFSafetensors) are
// read by readSafetensorsTensors, each with its own table of tensors.

// stSpec is one tensor a reader takes from a safetensors file: its header
// name and the shape it must have there. An optional tensor may be absent.
type stSpec struct {
	name     string
	shape    []int
	optional bool
}

// size is the number of elements of the spec's shape.
func (s stSpec) size() int { return TensorSpec{Shape: s.shape}.Size() }

// stOptions is what a reader accepts beyond its tensors.
type stOptions struct {
	// dtypes are the accepted dtypes: "F32", and "F16" and "BF16" for
	// files converted to float32 on load.
	dtypes []string
	// skip reports header entries that may be present and are not read
	// (their offsets are checked all the same).
	skip func(name string) bool
}

// stDtypeBytes is the width of each dtype a reader can convert.
var stDtypeBytes = map[string]uint64{"F32": 4, "F16": 2, "BF16": 2}

// maxUnknownListed bounds the unknown tensor names an error lists.
const maxUnknownListed = 10

// readSafetensorsTensors reads the tensors of the specs plan gives (it is
// told which names the header holds) from the size bytes of r, converted
// to float32, in specs order (nil for an absent optional one), with the
// header's metadata. It checks, before allocating anything
// but the header (itself bounded by MaxSafetensorsHeader and the file's
// size), that the header lists exactly the specs' tensors (optional ones
// aside) and entries skip accepts, each spec's with an accepted dtype and
// its exact shape, and that the entries' data_offsets tile the data
// section exactly; so what it allocates is justified by the bytes on disk.
// Errors name the tensor; the caller names the file.
func readSafetensorsTensors(r io.ReaderAt, size int64, plan func(has func(string) bool) []stSpec, opts stOptions) ([]stSpec, [][]float32, map[string]string, error) {
	fail := func(err error) ([]stSpec, [][]float32, map[string]string, error) { return nil, nil, nil, err }
	if size < 8 {
		return fail(fmt.Errorf("file is %d bytes, too short for the 8-byte header length (truncated?)", size))
	}
	var nb [8]byte
	if _, err := r.ReadAt(nb[:], 0); err != nil {
		return fail(fmt.Errorf("reading header length: %v", err))
	}
	n := binary.LittleEndian.Uint64(nb[:])
	switch {
	case n < 2:
		return fail(fmt.Errorf("header length %d is too small for a JSON object", n))
	case n > MaxSafetensorsHeader:
		return fail(fmt.Errorf("header length %d exceeds the limit of %d bytes (corrupted file?)", n, MaxSafetensorsHeader))
	case n > uint64(size-8):
		return fail(fmt.Errorf("header length %d runs past the end of the %d-byte file (truncated?)", n, size))
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(io.NewSectionReader(r, 8, int64(n)), header); err != nil {
		return fail(fmt.Errorf("reading %d-byte header: %v", n, err))
	}
	entries, meta, err := parseSafetensorsHeader(header)
	if err != nil {
		return fail(err)
	}
	specs := plan(func(name string) bool { _, ok := entries[name]; return ok })
	if err := checkSTEntries(entries, specs, opts, uint64(size)-8-n); err != nil {
		return fail(err)
	}
	out := make([][]float32, len(specs))
	for i, s := range specs {
		e, ok := entries[s.name]
		if !ok {
			continue
		}
		out[i] = make([]float32, s.size())
		sr := io.NewSectionReader(r, int64(8+n+e.DataOffsets[0]), int64(e.DataOffsets[1]-e.DataOffsets[0]))
		if err := readSTData(sr, e.Dtype, out[i]); err != nil {
			return fail(fmt.Errorf("tensor %q: reading data: %v", s.name, err))
		}
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return specs, out, meta, nil
}

// readSTData fills dst with len(dst) values of dtype from r, converted to
// float32 exactly (every F16 and BF16 value is a float32).
func readSTData(r io.Reader, dtype string, dst []float32) error {
	width := int(stDtypeBytes[dtype])
	buf := make([]byte, 1<<16)
	for i := 0; i < len(dst); {
		k := min(len(buf), width*(len(dst)-i))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return err
		}
		for j := 0; j < k; j += width {
			switch dtype {
			case "F32":
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[j:]))
			case "BF16":
				dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(buf[j:])) << 16)
			default:
				dst[i] = halfToFloat32(binary.LittleEndian.Uint16(buf[j:]))
			}
			i++
		}
	}
	return nil
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32 exactly:
// zeros, subnormals, normals, infinities and NaNs (payload kept).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal: rebias 15 → 127
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: frac·2⁻²⁴, exactly representable as a normal float32.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// checkSTEntries checks the header's entries against specs, opts and the
// data section's length: no unknown names (all listed, up to
// maxUnknownListed), every required spec present with an accepted dtype,
// its shape and the bytes they take, and all entries' data_offsets in
// range, without overlaps or gaps, covering the data section exactly.
func checkSTEntries(entries map[string]*safetensorsEntry, specs []stSpec, opts stOptions, dataLen uint64) error {
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.name] = true
	}
	var unknown []string
	for name := range entries {
		if !want[name] && (opts.skip == nil || !opts.skip(name)) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return unknownTensorsError(unknown)
	}
	type span struct {
		name       string
		begin, end uint64
	}
	spans := make([]span, 0, len(entries))
	for _, s := range specs {
		e, ok := entries[s.name]
		if !ok {
			if s.optional {
				continue
			}
			return fmt.Errorf("tensor %q is missing", s.name)
		}
		if err := checkSTEntry(s, e, opts, dataLen); err != nil {
			return err
		}
		spans = append(spans, span{s.name, e.DataOffsets[0], e.DataOffsets[1]})
	}
	for name, e := range entries {
		if !want[name] {
			if b, en := e.DataOffsets[0], e.DataOffsets[1]; b > en || en > dataLen {
				return fmt.Errorf("tensor %q has data_offsets [%d, %d] outside the %d-byte data section (truncated or corrupted file?)", name, b, en, dataLen)
			}
			spans = append(spans, span{name, e.DataOffsets[0], e.DataOffsets[1]})
		}
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].name < spans[j].name
	})
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

// checkSTEntry checks one spec's entry: dtype, shape and offsets.
func checkSTEntry(s stSpec, e *safetensorsEntry, opts stOptions, dataLen uint64) error {
	if !slices.Contains(opts.dtypes, e.Dtype) {
		return fmt.Errorf("tensor %q has dtype %q, want %s", s.name, e.Dtype, strings.Join(opts.dtypes, ", "))
	}
	if !sameShapeInt64(e.Shape, s.shape) {
		return fmt.Errorf("tensor %q has shape %v, want %v", s.name, e.Shape, s.shape)
	}
	b, en := e.DataOffsets[0], e.DataOffsets[1]
	if b > en {
		return fmt.Errorf("tensor %q has reversed data_offsets [%d, %d]", s.name, b, en)
	}
	if en > dataLen {
		return fmt.Errorf("tensor %q has data_offsets [%d, %d] outside the %d-byte data section (truncated or corrupted file?)", s.name, b, en, dataLen)
	}
	if w := stDtypeBytes[e.Dtype] * uint64(s.size()); en-b != w {
		return fmt.Errorf("tensor %q has data_offsets [%d, %d] (%d bytes), want %d bytes for shape %v", s.name, b, en, en-b, w, s.shape)
	}
	return nil
}

// unknownTensorsError lists names (sorted, the first maxUnknownListed).
func unknownTensorsError(names []string) error {
	sort.Strings(names)
	quoted := make([]string, 0, min(len(names), maxUnknownListed))
	for _, n := range names[:min(len(names), maxUnknownListed)] {
		quoted = append(quoted, fmt.Sprintf("%q", n))
	}
	more := ""
	if len(names) > maxUnknownListed {
		more = fmt.Sprintf(" and %d more", len(names)-maxUnknownListed)
	}
	return errors.New("tensor " + quoted[0] + fmt.Sprintf(" is not a parameter of this model (%d unknown tensors: %s%s)", len(names), strings.Join(quoted, ", "), more))
}

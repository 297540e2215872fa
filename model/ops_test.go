package model

import (
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Every custom op is checked the same way (otCheck): its forward output
// against a float64 reference, and the gradients gorgonia.Grad builds from
// its SymDiff against central finite differences of the reference, for the
// cost Σ out·R with a fixed random R. Both at GOMAXPROCS 1 and 8, with the
// parallel loops split as finely as possible (so the goroutine paths run
// even on tiny inputs); the results at 1 and 8 must be bitwise identical,
// and running the machine twice must give the same gradients (gorgonia's
// dual values would accumulate them).

// otProcs are the GOMAXPROCS values every op test runs at. Gorgonia's own
// SoftMax is wrong from 4 up, so 8 is the one that matters.
var otProcs = []int{1, 8}

// otWithProcs runs f at GOMAXPROCS p with the finest parallel chunking.
func otWithProcs(p int, f func()) {
	old := runtime.GOMAXPROCS(p)
	oldDiv := opGrainDiv
	opGrainDiv = 1 << 30
	defer func() {
		runtime.GOMAXPROCS(old)
		opGrainDiv = oldDiv
	}()
	f()
}

type otInput struct {
	shape []int
	f32   []float32 // a float input ...
	i32   []int32   // ... or an int32 one
	diff  bool      // check its gradient
}

type otCase struct {
	inputs []otInput
	apply  func(in []*gorgonia.Node) (*gorgonia.Node, error)
	ref    func(f [][]float64, ints [][]int32) []float64
	// fwdTol is the largest allowed |out − ref| relative to max |ref|;
	// gradTol the largest allowed |grad − fd| relative to max(|fd|, 1% of
	// the input's largest |fd|).
	fwdTol, gradTol float64
}

// otDotOp is the test cost Σ y·r for a fixed r; its gradient is g·r.
type otDotOp struct {
	opID
	r     []float32
	value *gorgonia.F32
}

func (op *otDotOp) Arity() int { return 1 }
func (op *otDotOp) Type() hm.Type {
	return opFnType(hm.TypeVariable('a'), tensor.Float32)
}
func (op *otDotOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *otDotOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	y := vs[0].Data().([]float32)
	var s float64
	for i, v := range y {
		s += float64(v) * float64(op.r[i])
	}
	*op.value = gorgonia.F32(s)
	return op.value, nil
}
func (op *otDotOp) DiffWRT(int) []bool { return []bool{true} }
func (op *otDotOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := gorgonia.ApplyOp(&otDotGradOp{opID: newOpID(), fwd: op, shape: in[0].Shape().Clone()}, in[0], grad)
	return gorgonia.Nodes{d}, err
}
func (op *otDotOp) String() string        { return "otDot" }
func (op *otDotOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *otDotOp) Hashcode() uint32      { return opHashcode(op) }

type otDotGradOp struct {
	opID
	fwd   *otDotOp
	shape tensor.Shape
}

func (op *otDotGradOp) Arity() int { return 2 }
func (op *otDotGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return opFnType(a, tensor.Float32, a)
}
func (op *otDotGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}
func (op *otDotGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	g := opScalar(vs, 1)
	d := make([]float32, len(op.fwd.r))
	for i, r := range op.fwd.r {
		d[i] = g * r
	}
	return tensor.New(tensor.WithShape(op.shape...), tensor.WithBacking(d)), nil
}
func (op *otDotGradOp) DiffWRT(int) []bool { return []bool{false, false} }
func (op *otDotGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("no")
}
func (op *otDotGradOp) String() string        { return "otDotGrad" }
func (op *otDotGradOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *otDotGradOp) Hashcode() uint32      { return opHashcode(op) }

// otRun builds the case's graph, runs it twice and returns the output and
// the gradients of the inputs marked diff.
func otRun(t *testing.T, c otCase, r []float32) (out []float32, grads [][]float32) {
	t.Helper()
	g := gorgonia.NewGraph()
	var nodes, wrt []*gorgonia.Node
	for i, in := range c.inputs {
		var v *tensor.Dense
		dt := tensor.Float32
		if in.i32 != nil {
			dt = tensor.Int32
			v = tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(slices.Clone(in.i32)))
		} else {
			v = tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(slices.Clone(in.f32)))
		}
		n := gorgonia.NewTensor(g, dt, len(in.shape), gorgonia.WithShape(in.shape...), gorgonia.WithName(fmt.Sprintf("in%d", i)), gorgonia.WithValue(v))
		nodes = append(nodes, n)
		if in.diff {
			wrt = append(wrt, n)
		}
	}
	y, err := c.apply(nodes)
	if err != nil {
		t.Fatal(err)
	}
	cost := y
	if !y.IsScalar() {
		if cost, err = gorgonia.ApplyOp(&otDotOp{opID: newOpID(), r: r, value: gorgonia.NewF32(0)}, y); err != nil {
			t.Fatal(err)
		}
	}
	gn, err := gorgonia.Grad(cost, wrt...)
	if err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	var first [][]float32
	for run := 0; run < 2; run++ {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		grads = nil
		for _, n := range gn {
			grads = append(grads, slices.Clone(n.Value().Data().([]float32)))
		}
		if run == 0 {
			first = grads
		}
	}
	for i := range grads {
		if !slices.Equal(first[i], grads[i]) {
			t.Errorf("gradient %d changed on the second run: accumulated?", i)
		}
	}
	switch v := y.Value().(type) {
	case *gorgonia.F32:
		out = []float32{float32(*v)}
	default:
		out = slices.Clone(v.Data().([]float32))
	}
	return out, grads
}

// otCheck runs the full check of one case.
func otCheck(t *testing.T, c otCase) {
	t.Helper()
	fl := make([][]float64, len(c.inputs))
	ints := make([][]int32, len(c.inputs))
	for i, in := range c.inputs {
		fl[i] = f64(in.f32)
		ints[i] = in.i32
	}
	want := c.ref(fl, ints)
	rng := rand.New(rand.NewPCG(42, 43))
	r := make([]float32, len(want))
	rf := make([]float64, len(want))
	for i := range r {
		r[i] = float32(rng.NormFloat64())
		rf[i] = float64(r[i])
	}
	if len(want) == 1 {
		r[0], rf[0] = 1, 1
	}
	cost := func(f [][]float64) float64 {
		var s float64
		for i, v := range c.ref(f, ints) {
			s += v * rf[i]
		}
		return s
	}

	var outs [][]float32
	var gradsAt [][][]float32
	for _, p := range otProcs {
		var out []float32
		var grads [][]float32
		otWithProcs(p, func() { out, grads = otRun(t, c, r) })
		outs = append(outs, out)
		gradsAt = append(gradsAt, grads)
	}
	for k := 1; k < len(otProcs); k++ {
		if !slices.Equal(outs[0], outs[k]) {
			t.Errorf("output differs between GOMAXPROCS %d and %d", otProcs[0], otProcs[k])
		}
		for i := range gradsAt[0] {
			if !slices.Equal(gradsAt[0][i], gradsAt[k][i]) {
				t.Errorf("gradient %d differs between GOMAXPROCS %d and %d", i, otProcs[0], otProcs[k])
			}
		}
	}

	// forward
	out := outs[0]
	if len(out) != len(want) {
		t.Fatalf("output has %d elements, want %d", len(out), len(want))
	}
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	scale = math.Max(scale, 1e-3)
	for i, v := range want {
		if d := math.Abs(float64(out[i]) - v); !(d <= c.fwdTol*scale) {
			t.Errorf("out[%d] = %v, reference %v (diff %.3g, tol %.3g)", i, out[i], v, d, c.fwdTol*scale)
			break
		}
	}

	// gradients
	gi := 0
	for i, in := range c.inputs {
		if !in.diff {
			continue
		}
		got := gradsAt[0][gi]
		gi++
		fd := make([]float64, len(in.f32))
		var fdMax float64
		for j := range in.f32 {
			x := fl[i][j]
			h := 1e-5 * math.Max(1, math.Abs(x))
			fl[i][j] = x + h
			up := cost(fl)
			fl[i][j] = x - h
			down := cost(fl)
			fl[i][j] = x
			fd[j] = (up - down) / (2 * h)
			fdMax = math.Max(fdMax, math.Abs(fd[j]))
		}
		bad := 0
		for j := range fd {
			tol := c.gradTol * math.Max(math.Abs(fd[j]), 0.01*fdMax)
			if d := math.Abs(float64(got[j]) - fd[j]); !(d <= tol) {
				if bad < 5 {
					t.Errorf("input %d: grad[%d] = %.7g, finite difference %.7g (diff %.3g, tol %.3g)", i, j, got[j], fd[j], d, tol)
				}
				bad++
			}
		}
		if fdMax == 0 {
			t.Errorf("input %d: finite-difference gradient is all zero: the check is vacuous", i)
		}
	}
}

func otRand(rng *rand.Rand, n int, mean, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(mean + std*rng.NormFloat64())
	}
	return x
}

func TestLinearOp(t *testing.T) {
	const n, k, m = 7, 5, 6
	for _, tc := range []struct{ bias, resid bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		t.Run(fmt.Sprintf("bias=%t,resid=%t", tc.bias, tc.resid), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 1))
			in := []otInput{
				{shape: []int{n, k}, f32: otRand(rng, n*k, 0, 1), diff: true},
				{shape: []int{k, m}, f32: otRand(rng, k*m, 0, 1), diff: true},
			}
			if tc.bias {
				in = append(in, otInput{shape: []int{m}, f32: otRand(rng, m, 0, 1), diff: true})
			}
			if tc.resid {
				in = append(in, otInput{shape: []int{n, m}, f32: otRand(rng, n*m, 0, 1), diff: true})
			}
			otCheck(t, otCase{
				inputs: in,
				apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) {
					var b, r *gorgonia.Node
					i := 2
					if tc.bias {
						b = x[i]
						i++
					}
					if tc.resid {
						r = x[i]
					}
					return linearNode(x[0], x[1], b, r)
				},
				ref: func(f [][]float64, _ [][]int32) []float64 {
					var b, r []float64
					i := 2
					if tc.bias {
						b = f[i]
						i++
					}
					if tc.resid {
						r = f[i]
					}
					return refLinear(f[0], f[1], b, r, n, k, m)
				},
				fwdTol: 1e-6, gradTol: 1e-4,
			})
		})
	}
}

// TestLayerNormOp also guards the InverseSqrt workaround: gorgonia's
// InverseSqrt has a wrong gradient, so LayerNorm is a custom op whose
// gradient is checked here.
func TestLayerNormOp(t *testing.T) {
	const n, d = 6, 16
	rng := rand.New(rand.NewPCG(2, 2))
	otCheck(t, otCase{
		inputs: []otInput{
			{shape: []int{n, d}, f32: otRand(rng, n*d, 0.5, 2), diff: true},
			{shape: []int{d}, f32: otRand(rng, d, 1, 0.3), diff: true},
			{shape: []int{d}, f32: otRand(rng, d, 0, 0.3), diff: true},
		},
		apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) { return layerNormNode(x[0], x[1], x[2], 1e-5) },
		ref: func(f [][]float64, _ [][]int32) []float64 {
			return refLayerNorm(f[0], f[1], f[2], n, d, 1e-5)
		},
		fwdTol: 1e-6, gradTol: 1e-3,
	})
}

func TestBiasGELUOp(t *testing.T) {
	const n, f = 5, 9
	rng := rand.New(rand.NewPCG(3, 3))
	otCheck(t, otCase{
		inputs: []otInput{
			{shape: []int{n, f}, f32: otRand(rng, n*f, 0, 2), diff: true},
			{shape: []int{f}, f32: otRand(rng, f, 0, 0.5), diff: true},
		},
		apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) { return biasGELUNode(x[0], x[1]) },
		ref: func(fl [][]float64, _ [][]int32) []float64 {
			return refBiasGELU(fl[0], fl[1], n, f)
		},
		fwdTol: 1e-6, gradTol: 1e-4,
	})
}

// TestCausalSoftmaxOp also guards against gorgonia's SoftMax, whose
// forward is wrong at GOMAXPROCS >= 4 and whose float64 backward is wrong.
func TestCausalSoftmaxOp(t *testing.T) {
	const bh, tt = 3, 7
	const scale = 0.7
	rng := rand.New(rand.NewPCG(4, 4))
	otCheck(t, otCase{
		inputs: []otInput{{shape: []int{bh, tt, tt}, f32: otRand(rng, bh*tt*tt, 0, 2), diff: true}},
		apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) {
			return gorgonia.ApplyOp(newCausalSoftmaxOp(bh, tt, scale), x[0])
		},
		ref: func(f [][]float64, _ [][]int32) []float64 {
			return refCausalSoftmax(f[0], bh, tt, scale)
		},
		fwdTol: 1e-6, gradTol: 1e-4,
	})
}

func TestAttentionOp(t *testing.T) {
	const b, tt, h, hd = 2, 6, 2, 4
	const d = h * hd
	// Row blocks that divide t, that do not, and one block for all rows.
	for _, rb := range []int{1, 2, 4, 6, 64} {
		t.Run(fmt.Sprintf("rb=%d", rb), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 5))
			otCheck(t, otCase{
				inputs: []otInput{{shape: []int{b * tt, 3 * d}, f32: otRand(rng, b*tt*3*d, 0, 1), diff: true}},
				apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) {
					op := newAttentionOp(b, tt, h, hd)
					op.rb = rb
					return gorgonia.ApplyOp(op, x[0])
				},
				ref: func(f [][]float64, _ [][]int32) []float64 {
					return refAttention(f[0], b, tt, h, hd)
				},
				fwdTol: 1e-6, gradTol: 1e-4,
			})
		})
	}
}

// TestEmbedOp also guards against gorgonia's ByIndices, whose gradient is
// wrong on 1-D input: the embedding is a custom op, checked here with
// repeated token ids.
func TestEmbedOp(t *testing.T) {
	const vocab, ctx, tt, batch, d = 7, 6, 4, 3, 5
	rng := rand.New(rand.NewPCG(6, 6))
	ids := []int32{3, 1, 3, 0, 6, 3, 1, 1, 2, 3, 4, 6}
	otCheck(t, otCase{
		inputs: []otInput{
			{shape: []int{vocab, d}, f32: otRand(rng, vocab*d, 0, 1), diff: true},
			{shape: []int{ctx, d}, f32: otRand(rng, ctx*d, 0, 1), diff: true},
			{shape: []int{batch * tt}, i32: ids},
		},
		apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) {
			return gorgonia.ApplyOp(newEmbedOp(batch*tt, tt, d, vocab, ctx), x[0], x[1], x[2])
		},
		ref: func(f [][]float64, ints [][]int32) []float64 {
			return refEmbed(f[0], f[1], ints[2], tt, d)
		},
		fwdTol: 1e-7, gradTol: 1e-5,
	})
}

// TestMaskedXentOp also guards against gorgonia's LogSumExp, which is
// wrong: the loss is a custom op, checked here against a float64
// reference, with masked-out rows.
func TestMaskedXentOp(t *testing.T) {
	const n, v = 9, 7
	rng := rand.New(rand.NewPCG(7, 7))
	targets := []int32{0, 6, 3, 3, 1, 2, 5, 4, 0}
	for _, mask := range [][]float32{
		{1, 0, 1, 1, 0, 1, 1, 0, 1},
		{1, 1, 1, 1, 1, 1, 1, 1, 1},
		{0, 0, 0, 0, 0, 0, 0, 0, 1},
	} {
		t.Run(fmt.Sprint(mask), func(t *testing.T) {
			otCheck(t, otCase{
				inputs: []otInput{
					{shape: []int{n, v}, f32: otRand(rng, n*v, 0, 2), diff: true},
					{shape: []int{n}, i32: targets},
					{shape: []int{n}, f32: mask},
				},
				apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) {
					return gorgonia.ApplyOp(newMaskedXentOp(n, v), x[0], x[1], x[2])
				},
				ref: func(f [][]float64, ints [][]int32) []float64 {
					return []float64{refMaskedXent(f[0], ints[1], f[2], v)}
				},
				fwdTol: 1e-6, gradTol: 1e-4,
			})
		})
	}
}

// TestHeadXentOp: the fused head and loss against the float64 head
// product and loss, with masked-out rows, one kept row and none.
func TestHeadXentOp(t *testing.T) {
	const n, d, v = 9, 5, 7
	rng := rand.New(rand.NewPCG(9, 9))
	targets := []int32{0, 6, 3, 3, 1, 2, 5, 4, 0}
	for _, mask := range [][]float32{
		{1, 0, 1, 1, 0, 1, 1, 0, 1},
		{1, 1, 1, 1, 1, 1, 1, 1, 1},
		{0, 0, 0, 0, 0, 1, 0, 0, 0},
	} {
		t.Run(fmt.Sprint(mask), func(t *testing.T) {
			otCheck(t, otCase{
				inputs: []otInput{
					{shape: []int{n, d}, f32: otRand(rng, n*d, 0, 1), diff: true},
					{shape: []int{d, v}, f32: otRand(rng, d*v, 0, 1), diff: true},
					{shape: []int{n}, i32: targets},
					{shape: []int{n}, f32: mask},
				},
				apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) {
					return gorgonia.ApplyOp(newHeadXentOp(n, d, v), x[0], x[1], x[2], x[3])
				},
				ref: func(f [][]float64, ints [][]int32) []float64 {
					return []float64{refMaskedXent(refLinear(f[0], f[1], nil, nil, n, d, v), ints[2], f[3], v)}
				},
				fwdTol: 1e-6, gradTol: 1e-4,
			})
		})
	}
	c := otCase{
		inputs: []otInput{
			{shape: []int{n, d}, f32: otRand(rng, n*d, 0, 1), diff: true},
			{shape: []int{d, v}, f32: otRand(rng, d*v, 0, 1), diff: true},
			{shape: []int{n}, i32: targets},
			{shape: []int{n}, f32: make([]float32, n)},
		},
		apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) {
			return gorgonia.ApplyOp(newHeadXentOp(n, d, v), x[0], x[1], x[2], x[3])
		},
	}
	out, grads := otRun(t, c, nil)
	if out[0] != 0 {
		t.Errorf("all-zero mask: loss = %v, want 0", out[0])
	}
	for k, g := range grads {
		for i, x := range g {
			if x != 0 {
				t.Fatalf("all-zero mask: gradient %d [%d] = %v, want 0", k, i, x)
			}
		}
	}
}

// TestMaskedXentZeroMask: an all-zero mask gives loss 0 and a zero
// gradient, with no NaN.
func TestMaskedXentZeroMask(t *testing.T) {
	const n, v = 4, 5
	rng := rand.New(rand.NewPCG(8, 8))
	c := otCase{
		inputs: []otInput{
			{shape: []int{n, v}, f32: otRand(rng, n*v, 0, 2), diff: true},
			{shape: []int{n}, i32: []int32{1, 2, 3, 4}},
			{shape: []int{n}, f32: make([]float32, n)},
		},
		apply: func(x []*gorgonia.Node) (*gorgonia.Node, error) {
			return gorgonia.ApplyOp(newMaskedXentOp(n, v), x[0], x[1], x[2])
		},
	}
	out, grads := otRun(t, c, nil)
	if out[0] != 0 {
		t.Errorf("loss = %v, want 0", out[0])
	}
	for i, g := range grads[0] {
		if g != 0 {
			t.Fatalf("grad[%d] = %v, want 0", i, g)
		}
	}
}

// TestFastMath checks exp and tanh against float64 over their whole
// useful range.
func TestFastMath(t *testing.T) {
	var worstExp, worstTanh float64
	for x := float32(-100); x <= 88; x += 0.001 {
		want := math.Exp(float64(x))
		got := float64(fastExp32(x))
		if want > 1e-37 {
			worstExp = math.Max(worstExp, math.Abs(got-want)/want)
		}
	}
	for x := float32(-12); x <= 12; x += 0.0003 {
		want := math.Tanh(float64(x))
		got := float64(fastTanh32(x))
		worstTanh = math.Max(worstTanh, math.Abs(got-want))
	}
	if worstExp > 3e-7 {
		t.Errorf("fastExp32 relative error up to %.3g", worstExp)
	}
	if worstTanh > 5e-7 {
		t.Errorf("fastTanh32 absolute error up to %.3g", worstTanh)
	}
	if !math.IsInf(float64(fastExp32(89)), 1) || fastExp32(-200) != 0 || fastExp32(float32(math.Inf(-1))) != 0 {
		t.Error("fastExp32 overflow/underflow wrong")
	}
	if v := fastExp32(float32(math.NaN())); v == v {
		t.Error("fastExp32(NaN) is not NaN")
	}
	t.Logf("exp rel err %.3g, tanh abs err %.3g", worstExp, worstTanh)
}

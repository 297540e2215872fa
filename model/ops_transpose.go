package model

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// transposeOp is y = xᵀ, a copy: it lets a tied config's head use wte
// (vocab, d) as the (d, vocab) weight the head ops take. Its gradient is
// the transpose of the upstream gradient, which gorgonia's Grad sums with
// the embedding's gradient of wte: one tensor, both uses' gradients.
//
//	x (r, c) → y (c, r)
type transposeOp struct {
	opID
	r, c int
	out  opBuf
}

// transposeNode applies transposeOp to a 2-D node.
func transposeNode(x *gorgonia.Node) (*gorgonia.Node, error) {
	s := x.Shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("transpose: want a 2-D input, got shape %v", s)
	}
	return gorgonia.ApplyOp(&transposeOp{opID: newOpID(), r: s[0], c: s[1]}, x)
}

func (op *transposeOp) Arity() int    { return 1 }
func (op *transposeOp) Type() hm.Type { return opFnType(opF32T(2), opF32T(2)) }
func (op *transposeOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := opCheckShapes(ds, []int{op.r, op.c}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.Shape{op.c, op.r}, nil
}

func (op *transposeOp) Do(vs ...gorgonia.Value) (val gorgonia.Value, err error) {
	defer opGuard(op, &err)
	x := opF32s(vs, 0, op.r*op.c)
	res, y := op.out.get(op.c, op.r)
	transposeInto(y, x, op.r, op.c)
	return res, nil
}

// transposeBlock is the side of the square tiles transposeInto copies, so
// that both the rows read and the rows written stay in cache.
const transposeBlock = 64

// transposeInto sets y (c, r) to the transpose of x (r, c), tile by tile,
// the output's row tiles spread over goroutines. It only copies, so the
// result is exact whatever the split.
func transposeInto(y, x []float32, r, c int) {
	tiles := (c + transposeBlock - 1) / transposeBlock
	opParallel(tiles, opGrain(transposeBlock*r, 1<<16), func(lo, hi int) {
		for tj := lo; tj < hi; tj++ {
			j0, j1 := tj*transposeBlock, min(c, (tj+1)*transposeBlock)
			for i0 := 0; i0 < r; i0 += transposeBlock {
				i1 := min(r, i0+transposeBlock)
				for j := j0; j < j1; j++ {
					row := y[j*r : (j+1)*r]
					for i := i0; i < i1; i++ {
						row[i] = x[i*c+j]
					}
				}
			}
		}
	})
}

func (op *transposeOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}
func (op *transposeOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff: dx = dyᵀ.
func (op *transposeOp) SymDiff(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(&transposeOp{opID: newOpID(), r: op.c, c: op.r}, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx}, nil
}

func (op *transposeOp) String() string        { return fmt.Sprintf("Transpose(%d×%d)", op.r, op.c) }
func (op *transposeOp) WriteHash(h hash.Hash) { opHash(h, op, op.id) }
func (op *transposeOp) Hashcode() uint32      { return opHashcode(op) }

package data

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// synthEncoded makes an example of n tokens whose first p are prompt; ids
// are 10+position so layouts are easy to check.
func synthEncoded(n, p int) Encoded {
	e := Encoded{IDs: make([]int, n), Mask: make([]bool, n), PromptLen: p}
	for i := range n {
		e.IDs[i] = 10 + i
		e.Mask[i] = i >= p
	}
	return e
}

func TestBatchDefaultBuckets(t *testing.T) {
	cases := map[int][]int{
		16:  {16},
		32:  {32},
		33:  {32, 33},
		128: {32, 64, 128},
		200: {32, 64, 128, 200},
		512: {32, 64, 128, 256, 512},
	}
	for ctx, want := range cases {
		if got := DefaultBuckets(ctx); !reflect.DeepEqual(got, want) {
			t.Errorf("DefaultBuckets(%d) = %v, want %v", ctx, got, want)
		}
	}
}

func TestMakeBatchLayout(t *testing.T) {
	ex := []Encoded{synthEncoded(5, 2), synthEncoded(3, 1)}
	b, err := MakeBatch(ex, []int{0, 1, -1}, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []int32{10, 11, 12, 13, 0, 0, 10, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	wantTg := []int32{11, 12, 13, 14, 0, 0, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	// mask[t] = Mask[t+1]: example 0 has prompt 2 → targets 12,13,14 in loss.
	wantMask := []float32{0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !slices.Equal(b.IDs, wantIDs) || !slices.Equal(b.Targets, wantTg) || !slices.Equal(b.Mask, wantMask) {
		t.Fatalf("layout:\nids  %v\ntgt  %v\nmask %v", b.IDs, b.Targets, b.Mask)
	}
	if b.LossTokens != 5 || b.Tokens != 6 || b.Rows != 3 || b.SeqLen != 6 {
		t.Errorf("counts: loss %d tokens %d rows %d seq %d", b.LossTokens, b.Tokens, b.Rows, b.SeqLen)
	}
	// An example of seqLen+1 tokens fills the row exactly; +2 is an error.
	if _, err := MakeBatch([]Encoded{synthEncoded(7, 1)}, []int{0}, 6, 0); err != nil {
		t.Errorf("seqLen+1 tokens: %v", err)
	}
	if _, err := MakeBatch([]Encoded{synthEncoded(8, 1)}, []int{0}, 6, 0); err == nil {
		t.Error("seqLen+2 tokens: no error")
	}
}

func TestBatcherBucketsAndEpochs(t *testing.T) {
	var ex []Encoded
	lens := map[int]int{} // example -> length
	for i := range 50 {
		n := []int{10, 20, 40, 70}[i%4] + i%3
		ex = append(ex, synthEncoded(n, n/2))
		lens[i] = n
	}
	opt := BatchOptions{Rows: 4, Context: 128, Pad: 0, Seed: 7, Name: "train"}
	b, err := NewBatcher(ex, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Buckets(); !reflect.DeepEqual(got, []int{32, 64, 128}) {
		t.Fatalf("buckets %v", got)
	}
	sizes := b.BucketSizes()
	wantPer := 0
	for _, s := range sizes {
		wantPer += (s + 3) / 4
	}
	if b.BatchesPerEpoch() != wantPer {
		t.Fatalf("BatchesPerEpoch %d, want %d", b.BatchesPerEpoch(), wantPer)
	}
	var orders [][]int
	for epoch := range 3 {
		seen := map[int]int{}
		var order []int
		for i := range b.BatchesPerEpoch() {
			batch := b.Next()
			if batch.Epoch != epoch || batch.Index != i {
				t.Fatalf("batch at epoch %d index %d says %d/%d", epoch, i, batch.Epoch, batch.Index)
			}
			T := b.Buckets()[batch.Bucket]
			if batch.SeqLen != T || len(batch.IDs) != 4*T {
				t.Fatalf("batch shape %dx%d in bucket %d", batch.Rows, batch.SeqLen, T)
			}
			for _, e := range batch.Examples {
				if e < 0 {
					continue
				}
				seen[e]++
				order = append(order, e)
				n := lens[e]
				// smallest bucket that fits
				for k, bt := range b.Buckets() {
					if n-1 <= bt {
						if k != batch.Bucket {
							t.Errorf("example %d (%d tokens) in bucket %d, want %d", e, n, T, bt)
						}
						break
					}
				}
			}
		}
		if len(seen) != len(ex) {
			t.Fatalf("epoch %d saw %d distinct examples, want %d", epoch, len(seen), len(ex))
		}
		for e, c := range seen {
			if c != 1 {
				t.Fatalf("epoch %d saw example %d %d times", epoch, e, c)
			}
		}
		orders = append(orders, order)
	}
	if reflect.DeepEqual(orders[0], orders[1]) {
		t.Error("epochs 0 and 1 have the same order")
	}
	// Same seed and name: same order. Different name: different order.
	b2, _ := NewBatcher(ex, opt)
	var again []int
	for range b.BatchesPerEpoch() {
		for _, e := range b2.Next().Examples {
			if e >= 0 {
				again = append(again, e)
			}
		}
	}
	if !slices.Equal(again, orders[0]) {
		t.Fatal("same seed gives a different order")
	}
	opt.Name = "eval"
	b3, _ := NewBatcher(ex, opt)
	b4, _ := NewBatcher(ex, BatchOptions{Rows: 4, Context: 128, Seed: 7, Name: "train"})
	same := true
	for range 5 {
		if !slices.Equal(b3.Next().Examples, b4.Next().Examples) {
			same = false
		}
	}
	if same {
		t.Error("streams train and eval give the same order")
	}
}

func TestBatcherProportions(t *testing.T) {
	// 300 short and 100 long examples: the first half of an epoch should hold
	// about half of each bucket's batches, not all the short ones first.
	var ex []Encoded
	for i := range 400 {
		n := 10
		if i%4 == 0 {
			n = 60
		}
		ex = append(ex, synthEncoded(n, 3))
	}
	b, err := NewBatcher(ex, BatchOptions{Rows: 5, Context: 64, Seed: 1, Name: "train"})
	if err != nil {
		t.Fatal(err)
	}
	long := 0
	for range b.BatchesPerEpoch() / 2 {
		if b.Next().SeqLen == 64 {
			long++
		}
	}
	// 20 long batches of 80 per epoch; expect ~10 in the first 40.
	if long < 5 || long > 15 {
		t.Errorf("first half of the epoch has %d of 20 long batches", long)
	}
}

func TestBatcherStateResume(t *testing.T) {
	var ex []Encoded
	for i := range 37 {
		ex = append(ex, synthEncoded(5+i%40, 2))
	}
	opt := BatchOptions{Rows: 3, Context: 64, Pad: 0, Seed: 3, Name: "train"}
	a, _ := NewBatcher(ex, opt)
	var ref []Batch
	for range 40 {
		ref = append(ref, a.Next())
	}
	for _, k := range []int{0, 1, 7, a.BatchesPerEpoch(), a.BatchesPerEpoch() + 2} {
		b, _ := NewBatcher(ex, opt)
		for range k {
			b.Next()
		}
		st := b.State()
		c, _ := NewBatcher(ex, opt)
		if err := c.SetState(st); err != nil {
			t.Fatal(err)
		}
		for i := k; i < len(ref); i++ {
			if got := c.Next(); !reflect.DeepEqual(got, ref[i]) {
				t.Fatalf("resumed at %d: batch %d differs", k, i)
			}
		}
	}
	// A different dataset or options refuses the state.
	st := a.State()
	other, _ := NewBatcher(ex[1:], opt)
	if err := other.SetState(st); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("SetState on other data: %v", err)
	}
	opt.Rows = 4
	other, _ = NewBatcher(ex, opt)
	if err := other.SetState(st); err == nil {
		t.Error("SetState with other rows: no error")
	}
}

func TestBatcherErrors(t *testing.T) {
	ex := []Encoded{synthEncoded(10, 2), synthEncoded(70, 2), synthEncoded(20, 2), synthEncoded(65, 2)}
	_, err := NewBatcher(ex, BatchOptions{Rows: 2, Context: 64})
	var tl *TooLongError
	if !errors.As(err, &tl) || !slices.Equal(tl.Indices, []int{1, 3}) || !slices.Equal(tl.Lengths, []int{70, 65}) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "#1 (70 tokens), #3 (65 tokens)") {
		t.Errorf("message %q does not list the examples", err)
	}
	ok := []Encoded{synthEncoded(10, 2), synthEncoded(50, 2)}
	bad := []BatchOptions{
		{Rows: 0, Context: 64},
		{Rows: 1, Context: 0},
		{Rows: 1, Context: 64, Buckets: []int{64, 32}},
		{Rows: 1, Context: 64, Buckets: []int{32, 128}},
		{Rows: 1, Context: 64, Buckets: []int{16, 32}}, // 50 tokens fit no bucket
		{Rows: 1, Context: 64, Pad: -1},
	}
	for _, o := range bad {
		if _, err := NewBatcher(ok, o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
	if _, err := NewBatcher(nil, BatchOptions{Rows: 1, Context: 64}); err == nil {
		t.Error("no examples: no error")
	}
}

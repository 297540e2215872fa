package model

import "fmt"

// GrowVocab returns w's weights with the vocabulary grown to vocab (at
// least w's) and the embedding of each id in ids set to the mean of the
// embeddings of ids 0..n-1: wte's rows and, for an untied head, lm_head's
// columns. New ids not in ids are zero. The means are summed in float64 in
// id order, so the result is reproducible. w is not changed. This is how
// tokens added to a pretrained model's vocabulary (the chat markers of an
// imported GPT-2) start: where the model already puts an average token.
func GrowVocab(w *Weights, vocab int, ids []int, n int) (*Weights, error) {
	if err := weightsError(w); err != nil {
		return nil, err
	}
	old := w.Config
	if vocab < old.Vocab || n < 1 || n > old.Vocab {
		return nil, fmt.Errorf("grow vocabulary of %d to %d, mean of the first %d rows: out of range", old.Vocab, vocab, n)
	}
	for _, id := range ids {
		if id < 0 || id >= vocab {
			return nil, fmt.Errorf("grow vocabulary: id %d is outside [0, %d)", id, vocab)
		}
	}
	c := old
	c.Vocab = vocab
	g, err := NewWeights(c)
	if err != nil {
		return nil, err
	}
	D := c.DModel
	for i, t := range w.Tensors {
		dst := g.Tensors[i].Data
		switch t.Name {
		case "wte":
			copy(dst, t.Data)
			mean := meanRows(t.Data[:n*D], D)
			for _, id := range ids {
				copy(dst[id*D:(id+1)*D], mean)
			}
		case "lm_head.weight": // (d, vocab): grow each row, set the columns
			for r := 0; r < D; r++ {
				row := dst[r*vocab : (r+1)*vocab]
				copy(row, t.Data[r*old.Vocab:(r+1)*old.Vocab])
				mean := meanRows(t.Data[r*old.Vocab:r*old.Vocab+n], 1)[0]
				for _, id := range ids {
					row[id] = mean
				}
			}
		default:
			copy(dst, t.Data)
		}
	}
	return g, nil
}

// meanRows returns the mean of the rows of x (rows of width d), summed in
// float64 in row order.
func meanRows(x []float32, d int) []float32 {
	sum := make([]float64, d)
	rows := len(x) / d
	for r := 0; r < rows; r++ {
		for j, v := range x[r*d : (r+1)*d] {
			sum[j] += float64(v)
		}
	}
	out := make([]float32, d)
	for j, s := range sum {
		out[j] = float32(s / float64(rows))
	}
	return out
}

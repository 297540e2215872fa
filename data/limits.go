package data

import "fmt"

// Bounds on what this package builds and reads. Datasets, tokenizers and
// batches are held in memory whole, so a mistyped size or a corrupt or
// hostile file must be refused with an error before it is allocated, not
// end the process with the runtime's "out of memory".
const (
	// MaxExamples bounds the examples of one dataset, built or read: about
	// 1 GB in memory for the largest (code) examples, 100 times the biggest
	// set the experiments use.
	MaxExamples = 1_000_000
	// MaxDatasetBytes bounds the size of one JSONL dataset read.
	MaxDatasetBytes = 2 << 30
	// MaxLineBytes bounds one JSONL line, so a corrupt file cannot make the
	// reader allocate without limit.
	MaxLineBytes = 16 << 20
	// MaxVocabSize bounds the vocabulary size TrainTokenizer and
	// LoadTokenizer accept; it is the model's own limit (model.MaxVocab).
	MaxVocabSize = 1 << 20
	// maxMerges bounds the merges LoadTokenizer reads. A merge whose text
	// already is a token adds none, so there may be more merges than tokens.
	maxMerges = 4 * MaxVocabSize
	// maxTokenizerFileBytes bounds what LoadTokenizer reads: a vocabulary
	// of MaxVocabSize tokens and maxMerges merges take well under this.
	maxTokenizerFileBytes = 256 << 20
	// MaxBatchPositions bounds the positions (rows × sequence length) of
	// one batch: 768 MiB of ids, targets and mask. A model graph of that
	// many positions is far over model's own bound, so no batch a model can
	// train on is refused.
	MaxBatchPositions = 1 << 26
)

// CheckExampleCount returns an error unless 0 <= n <= MaxExamples.
func CheckExampleCount(n int) error {
	if n < 0 || n > MaxExamples {
		return fmt.Errorf("%d examples, want 0..%d (a dataset is held in memory)", n, MaxExamples)
	}
	return nil
}

// CheckVocabSize returns an error unless a vocabulary of n tokens can be
// trained: at least the specials and the 256 byte tokens, at most
// MaxVocabSize.
func CheckVocabSize(n int) error {
	if base := numSpecials + 256; n < base || n > MaxVocabSize {
		return fmt.Errorf("vocabulary size %d, want %d..%d (%d specials and 256 byte tokens at least)", n, base, MaxVocabSize, numSpecials)
	}
	return nil
}

// checkBatchShape returns an error unless a batch of rows rows of seqLen
// positions is within MaxBatchPositions.
func checkBatchShape(rows, seqLen int) error {
	if rows < 0 || seqLen < 0 {
		return fmt.Errorf("batch of %d rows of %d positions, want non-negative sizes", rows, seqLen)
	}
	if seqLen > 0 && rows > MaxBatchPositions/seqLen {
		return fmt.Errorf("batch of %d rows of %d positions is more than the limit of %d positions", rows, seqLen, MaxBatchPositions)
	}
	return nil
}

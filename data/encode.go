package data

import (
	"runtime"
	"sync"
)

// Encoded is one tokenized example.
type Encoded struct {
	// IDs are the example's token ids: prompt, completion, end of text.
	IDs []int
	// Mask[i] is true where IDs[i] is a completion token (loss is taken on
	// it): the completion's tokens and the final end of text.
	Mask []bool
	// PromptLen is the number of prompt tokens at the start of IDs.
	PromptLen int
}

// EncodeExample tokenizes prompt and completion separately (so the boundary
// is exact) and appends EOT: IDs = enc(prompt)+enc(completion)+[EOT]; Mask
// false on the prompt, true on completion tokens and the EOT.
//
// Encoding the two apart can differ from encoding their concatenation only
// at the boundary (a prompt ends with AssistantMarker, a special token, so
// for prompts made by FormatPrompt it never does); Decode(IDs) is always
// prompt+completion+EndOfText.
func (t *Tokenizer) EncodeExample(ex Example) Encoded {
	p := t.Encode(ex.Prompt)
	c := t.Encode(ex.Completion)
	ids := make([]int, 0, len(p)+len(c)+1)
	ids = append(ids, p...)
	ids = append(ids, c...)
	ids = append(ids, t.EOT())
	mask := make([]bool, len(ids))
	for i := len(p); i < len(ids); i++ {
		mask[i] = true
	}
	return Encoded{IDs: ids, Mask: mask, PromptLen: len(p)}
}

// EncodeReport summarizes EncodeDataset.
type EncodeReport struct {
	// Examples is the number of examples encoded.
	Examples int `json:"examples"`
	// Tokens is the total number of tokens, end-of-text tokens included.
	Tokens int `json:"tokens"`
	// TooLong lists the 0-based indices of the examples longer than the
	// context, in order. They are reported, not cut or dropped.
	TooLong []int `json:"too_long"`
	// MaxLen is the longest example's length in tokens.
	MaxLen int `json:"max_len"`
	// MeanLen is the mean example length in tokens (0 for no examples).
	MeanLen float64 `json:"mean_len"`
}

// EncodeDataset encodes every example and reports (does not silently cut)
// those longer than context tokens. A context of 0 or less checks no length.
// The work is spread over all CPUs; the result does not depend on how.
func (t *Tokenizer) EncodeDataset(examples []Example, context int) ([]Encoded, EncodeReport) {
	out := make([]Encoded, len(examples))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(examples)/32))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(examples); i += workers {
				out[i] = t.EncodeExample(examples[i])
			}
		}()
	}
	wg.Wait()
	rep := EncodeReport{Examples: len(examples), TooLong: []int{}}
	for i, e := range out {
		n := len(e.IDs)
		rep.Tokens += n
		rep.MaxLen = max(rep.MaxLen, n)
		if context > 0 && n > context {
			rep.TooLong = append(rep.TooLong, i)
		}
	}
	if len(out) > 0 {
		rep.MeanLen = float64(rep.Tokens) / float64(len(out))
	}
	return out, rep
}

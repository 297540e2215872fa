// Package check collects the problems of a config, each naming its key,
// so that every config (train, safety, experiments) states its range
// checks once and words them alike: "steps = 0, want >= 1".
package check

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Problems collects validation errors. Its zero value is ready to use;
// Sub gives a view that prefixes every key (e.g. "phases.hhh.") and adds
// to the same list.
type Problems struct {
	prefix string
	errs   *[]error
}

// list returns the shared list, making it on first use.
func (p *Problems) list() *[]error {
	if p.errs == nil {
		p.errs = new([]error)
	}
	return p.errs
}

// Sub returns a view of p whose problems are prefixed with prefix (after
// p's own prefix) and land in p's list.
func (p *Problems) Sub(prefix string) *Problems {
	return &Problems{prefix: p.prefix + prefix, errs: p.list()}
}

// Addf records a problem; the text should start with the key it names.
func (p *Problems) Addf(format string, args ...any) {
	p.Add(fmt.Errorf(format, args...))
}

// Add records errors that already name their keys, each after p's prefix.
func (p *Problems) Add(errs ...error) {
	for _, err := range errs {
		if p.prefix != "" {
			err = fmt.Errorf("%s%w", p.prefix, err)
		}
		*p.list() = append(*p.list(), err)
	}
}

// Min records "key = v, want >= min" (and " (note)" when a note is given)
// unless v >= min.
func (p *Problems) Min(key string, v, min int, note ...string) {
	if v < min {
		p.Addf("%s = %d, want >= %d%s", key, v, min, notes(note))
	}
}

// MinFloat records "key = v, want >= min" (and " (note)") unless v is
// finite and v >= min; NaN and infinities are always problems.
func (p *Problems) MinFloat(key string, v, min float64, note ...string) {
	if !(v >= min) || !Finite(v) {
		p.Addf("%s = %v, want >= %v%s", key, v, min, notes(note))
	}
}

// notes formats optional notes as " (a; b)".
func notes(note []string) string {
	if len(note) == 0 {
		return ""
	}
	return " (" + strings.Join(note, "; ") + ")"
}

// Errs returns the problems recorded so far.
func (p *Problems) Errs() []error {
	if p.errs == nil {
		return nil
	}
	return *p.errs
}

// Err returns nil without problems, else all of them joined, one a line,
// after "what: " when what is not empty.
func (p *Problems) Err(what string) error {
	errs := p.Errs()
	if len(errs) == 0 {
		return nil
	}
	if what == "" {
		return errors.Join(errs...)
	}
	return fmt.Errorf("%s: %w", what, errors.Join(errs...))
}

// Finite reports whether x is neither NaN nor an infinity.
func Finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

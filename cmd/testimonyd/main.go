// Command testimonyd is the Testimony server: it serves the witness and
// investigator sites and holds the console commands of the group's
// sysadmin. Run "testimonyd help" for the list.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// A command is one subcommand; each lives in a file of its own and
// registers itself in init.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `testimonyd: the Testimony server

Usage:
    testimonyd COMMAND [flags]

Commands:
%s
Run "testimonyd COMMAND -h" for a command's flags.
`

func printUsage() {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "    %-18s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, usage, b.String())
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		printUsage()
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		printUsage()
		return 0
	case "--version", "-version", "version":
		fmt.Println("testimonyd", version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		errorf("unknown command %q; run \"testimonyd help\"", args[0])
		return 2
	}
	if err := c.run(args[1:]); err != nil {
		if err == errUsage {
			return 2
		}
		errorf("%v", err)
		return 1
	}
	return 0
}

// Command testimonyd is the Testimony server: it serves the witness and
// investigator sites and holds the console commands of the group's
// sysadmin. Run "testimonyd help" for the list.
package main

import (
	"fmt"
	"os"
	"strings"
)

// A command is one subcommand; each runs from a file of its own.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

// commands is every command, in the order help lists them.
var commands = []command{
	{"audit", "check the audit log's hash chain: audit verify", runAudit},
	{"backup", "write a consistent copy of the database, even while serving", runBackup},
	{"check", "verify the database file: pages, items and their chunks", runCheck},
	{"compact", "rewrite the database so deleted items' bytes are gone (server stopped)", runCompact},
	{"config", "config check: validate a configuration and print it, secrets redacted", runConfig},
	{"init", "create a data directory: database, server key, config file", runInit},
	{"investigator", "manage investigator accounts: add, list, disable, enable, reset-totp, reset-passphrase", runInvestigator},
	{"invite", "write the invitation to publish: how to get Tor Browser, connect from Russia and check the onion address", runInvite},
	{"onion-client-key", "make a Tor client-authorization key pair for an investigator", runOnionClientKey},
	{"purge", "delete every item older than --older-than DAYS", runPurge},
	{"restore", "replace the database with a checked backup (server stopped)", runRestore},
	{"serve", "serve the witness and investigator sites", runServe},
	{"status", "counts, sizes, recipient set and last backup, for the console", runStatus},
}

// lookup returns the command called name.
func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

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
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "    %-18s %s\n", c.name, c.summary)
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
	c, ok := lookup(args[0])
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

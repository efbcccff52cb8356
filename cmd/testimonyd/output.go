package main

import (
	"errors"
	"fmt"
	"os"
)

// errUsage is returned by a command whose flags were wrong; the flag
// package has already said why.
var errUsage = errors.New("usage")

// All terminal output for errors goes through here, with one prefix.
func errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testimonyd: "+format+"\n", args...)
}

func warnf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testimonyd: warning: "+format+"\n", args...)
}

// outf prints a console command's result to stdout.
func outf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, format, args...)
}

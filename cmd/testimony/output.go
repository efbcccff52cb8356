package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// All terminal output goes through this file: messages on standard error
// with one prefix, results on standard output.

var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

func printUsage() { fmt.Fprint(stderr, usage) }

// errorf reports an error.
func errorf(format string, args ...any) {
	fmt.Fprintf(stderr, "testimony: "+format+"\n", args...)
}

// warnf reports a problem that does not stop the command.
func warnf(format string, args ...any) {
	fmt.Fprintf(stderr, "testimony: warning: "+format+"\n", args...)
}

// infof reports progress or a result on standard error.
func infof(format string, args ...any) {
	fmt.Fprintf(stderr, "testimony: "+format+"\n", args...)
}

// printf writes a result on standard output.
func printf(format string, args ...any) {
	fmt.Fprintf(stdout, format, args...)
}

// printPublicKey prints a new key's public key as age-keygen does.
func printPublicKey(pub string) {
	fmt.Fprintf(stderr, "Public key: %s\n", pub)
}

// progress draws a one-line progress bar on standard error when it is a
// terminal and the work is big enough to wait for; otherwise it is silent.
// (schollz/progressbar would pull in net/http, which this tool must not.)
type progress struct {
	label string
	total int64
	done  int64
	on    bool
	last  time.Time
}

const progressMin = 4 << 20

func newProgress(label string, total int64) *progress {
	f, ok := stderr.(*os.File)
	on := ok && total >= progressMin && term.IsTerminal(int(f.Fd()))
	return &progress{label: label, total: total, on: on}
}

func (p *progress) add(n int64) {
	if !p.on {
		return
	}
	p.done += n
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || p.done >= p.total {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	const width = 30
	frac := float64(p.done) / float64(max(p.total, 1))
	frac = min(frac, 1)
	n := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		if i < n {
			bar[i] = '='
		} else {
			bar[i] = ' '
		}
	}
	fmt.Fprintf(stderr, "\rtestimony: %s [%s] %3.0f%% %d/%d MB", p.label, bar, frac*100, p.done>>20, p.total>>20)
}

func (p *progress) finish() {
	if p.on {
		p.draw()
		fmt.Fprintln(stderr)
	}
}

// progressReader counts what is read through it.
type progressReader struct {
	r io.Reader
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(int64(n))
	return n, err
}

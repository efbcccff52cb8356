package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// All terminal output goes through this file: messages on standard error
// with one prefix, results on standard output. Every line is escaped by
// safeText first, since what it prints can hold a witness's words, file
// names and an item's keys: a crafted or older item may carry
// characters a terminal acts on.

// safeText writes visibly the characters of s that a terminal would act
// on or that disguise text rather than show it: the C0 controls (ESC, BEL,
// CR, newline…) but tab, DEL and the C1 controls, bytes that are not UTF-8
// (a lone 0x9B is CSI to a terminal in 8-bit mode), and the bidirectional
// formatting characters (U+202E RIGHT-TO-LEFT OVERRIDE makes "gpj.exe"
// read "exe.jpg"), and the line and paragraph separators. They become
// \x1b, \u202e and so on (a newline \n); s is returned as it is when it
// holds none.
func safeText(s string) string { return escapeText(s, false) }

// safeLines is safeText for a text of several lines: the newlines stay.
func safeLines(s string) string { return escapeText(s, true) }

func escapeText(s string, keepNewline bool) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if mustEscape(r, n, keepNewline) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !mustEscape(r, n, keepNewline):
			b.WriteString(s[i : i+n])
		case r == '\n':
			b.WriteString(`\n`)
		case r == utf8.RuneError || r < 0x100:
			for _, c := range []byte(s[i : i+n]) {
				fmt.Fprintf(&b, "\\x%02x", c)
			}
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
		i += n
	}
	return b.String()
}

func mustEscape(r rune, size int, keepNewline bool) bool {
	switch {
	case r == '\t', r == '\n' && keepNewline:
		return false
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == utf8.RuneError && size == 1: // not UTF-8
		return true
	}
	return isBidiOrSeparator(r)
}

// isBidiOrSeparator reports the bidirectional formatting characters (ALM,
// LRM, RLM, the embeddings, overrides and isolates) and U+2028, U+2029.
func isBidiOrSeparator(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x2028 && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

func printUsage() { fmt.Fprint(stderr, usage) }

// flagOutput is where the flag package writes its errors, which echo what
// was typed: escaped, on standard error.
type flagOutput struct{}

func (flagOutput) Write(p []byte) (int, error) {
	if _, err := io.WriteString(stderr, safeLines(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// errorf reports an error, on one line.
func errorf(format string, args ...any) {
	fmt.Fprintf(stderr, "testimony: %s\n", safeText(fmt.Sprintf(format, args...)))
}

// warnf reports a problem that does not stop the command, on one line.
func warnf(format string, args ...any) {
	fmt.Fprintf(stderr, "testimony: warning: %s\n", safeText(fmt.Sprintf(format, args...)))
}

// infof reports progress or a result on standard error, on one line.
func infof(format string, args ...any) {
	fmt.Fprintf(stderr, "testimony: %s\n", safeText(fmt.Sprintf(format, args...)))
}

// printf writes a result on standard output; it may span lines.
func printf(format string, args ...any) {
	io.WriteString(stdout, safeLines(fmt.Sprintf(format, args...)))
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
	return &progress{label: safeText(label), total: total, on: on}
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

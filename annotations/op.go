// Package annotations is the investigators' shared casework: statuses,
// tags, assignees, notes and links on items and sources, kept as a log of
// operations that each investigator writes offline and that merges
// without conflicts. Any set of operations, in any order and with any
// repeats, merges to one state ([Merge]); the server only ever carries
// the log encrypted, as opaque items.
//
// An operation is named by its author and the author's counter (1, 2, …,
// no gaps), so a repeat of an operation is recognised and applied once. It
// also carries a Lamport clock: one more than the highest clock its author
// had seen. Operations are applied in the order of (clock, author,
// counter), which every merge computes alike, and which puts a change
// after every change its author had seen when making it. Of two changes
// made without seeing each other, the one with the higher clock wins, and
// at equal clocks the author whose name sorts later: a documented rule,
// not a judgement.
package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kinds of operation.
const (
	SetStatus = "status" // Value: one of [Statuses]
	Assign    = "assign" // Value: an account name, or "" for nobody
	AddTag    = "tag"    // Value: a tag
	RemoveTag = "untag"  // Value: a tag
	AddNote   = "note"   // Value: free text; notes only append
	Link      = "link"   // Value: another target
	Unlink    = "unlink" // Value: another target
)

// Statuses are the states a case moves through, in their usual order.
var Statuses = []string{
	"new",       // nobody has looked at it yet
	"triage",    // being read to decide what it needs
	"verified",  // checked against other sources or documents
	"follow-up", // waiting for an answer from the witness or elsewhere
	"closed",    // nothing more to do
}

// Limits on what one operation may hold: a crafted log must not make a
// reader build something huge.
const (
	MaxNote  = 64 << 10 // bytes of a note
	MaxTag   = 64       // bytes of a tag
	MaxOps   = 1 << 20  // operations in one merge
	maxName  = 32       // bytes of an account name, as on the server
	maxValue = MaxNote
)

// Op is one operation of the log.
type Op struct {
	Author string `json:"author"` // the investigator's account name
	Seq    uint64 `json:"seq"`    // the author's counter, from 1
	Clock  uint64 `json:"clock"`  // Lamport clock, from 1
	Day    string `json:"day"`    // UTC day it was written (YYYY-MM-DD); no finer time
	Target string `json:"target"` // "item:<id>" or "source:<pseudonym>"
	Kind   string `json:"kind"`
	Value  string `json:"value,omitempty"`
}

// ErrBad is wrapped by every error about a malformed operation.
var ErrBad = errors.New("bad annotation")

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)
	dayRE    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	itemRE   = regexp.MustCompile(`^item:[0-9a-f]{32}$`)
	sourceRE = regexp.MustCompile(`^source:[a-z0-9-]{1,64}$`)
)

// ValidAuthor reports whether s may be an author: an account name as the
// server allows them.
func ValidAuthor(s string) bool { return nameRE.MatchString(s) }

// ValidTarget reports whether t names an item or a source.
func ValidTarget(t string) bool { return itemRE.MatchString(t) || sourceRE.MatchString(t) }

// Check reports what is wrong with op, or nil.
func (op *Op) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s #%d: %s", ErrBad, printable(op.Author), op.Seq, fmt.Sprintf(format, a...))
	}
	switch {
	case !nameRE.MatchString(op.Author):
		return bad("author is not an account name")
	case op.Seq == 0:
		return bad("counter 0")
	case op.Clock == 0:
		return bad("clock 0")
	case !dayRE.MatchString(op.Day):
		return bad("day %q is not YYYY-MM-DD", printable(op.Day))
	case !ValidTarget(op.Target):
		return bad("target %q is not item:ID or source:PSEUDONYM", printable(op.Target))
	case len(op.Value) > maxValue || !utf8.ValidString(op.Value):
		return bad("value is not UTF-8 of at most %d bytes", maxValue)
	}
	switch op.Kind {
	case SetStatus:
		if !isStatus(op.Value) {
			return bad("status %q is not one of %s", printable(op.Value), strings.Join(Statuses, ", "))
		}
	case Assign:
		if op.Value != "" && !nameRE.MatchString(op.Value) {
			return bad("assignee is not an account name")
		}
	case AddTag, RemoveTag:
		if !ValidTag(op.Value) {
			return bad("tag %q: 1 to %d bytes of letters, digits, spaces and punctuation", printable(op.Value), MaxTag)
		}
	case AddNote:
		if strings.TrimSpace(op.Value) == "" {
			return bad("empty note")
		}
	case Link, Unlink:
		if !ValidTarget(op.Value) || op.Value == op.Target {
			return bad("link to %q is not another item or source", printable(op.Value))
		}
	default:
		return bad("unknown kind %q", printable(op.Kind))
	}
	return nil
}

func isStatus(s string) bool {
	for _, st := range Statuses {
		if s == st {
			return true
		}
	}
	return false
}

// ValidTag reports whether s may be a tag: 1 to MaxTag bytes, no control
// or format characters, not only spaces. Tags are shown in terminals,
// spreadsheets and pages, each of which escapes them too.
func ValidTag(s string) bool {
	if s == "" || len(s) > MaxTag || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// printable cuts s short and makes its control characters visible, for an
// error message.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// before reports whether a is applied before b: by clock, then author,
// then counter.
func before(a, b *Op) bool {
	if a.Clock != b.Clock {
		return a.Clock < b.Clock
	}
	if a.Author != b.Author {
		return a.Author < b.Author
	}
	return a.Seq < b.Seq
}

// Command testimony is the investigator's offline tool. It runs on an
// air-gapped machine and has no network code: it makes keys, opens the
// encrypted items and bundles downloaded from the investigator site into
// readable case folders, reports on them, and re-encrypts chosen items for
// a partner organisation.
package main

import (
	"errors"
	"flag"
	"os"
	"strings"
)

const usage = `testimony: the investigator's offline tool

Usage:
    testimony keygen [-o FILE] [--classic]
    testimony open -i IDENTITY [-o DIR] [--form FILE] FILE...
    testimony report [--lang en|ru|uk|es] [--gazetteer FILE] DIR
    testimony share -i IDENTITY -R PARTNER_RECIPIENTS -o OUT ITEM...
    testimony annotate --as NAME DIR ITEM|SOURCE CHANGE
    testimony annotations DIR [ITEM|SOURCE]
    testimony annotations export --as NAME -i IDENTITY -o FILE DIR
    testimony annotations team [-i IDENTITY --accept] DIR
    testimony verify --server-key KEY [--tsa-ca FILE] [--investigator-key KEY] BUNDLE|CASEFOLDER|PACKAGE...
    testimony roots export DIR|BUNDLE -o ROOTS
    testimony roots import DIR ROOTS TOKEN.tsr
    testimony export -i IDENTITY -o OUT DIR ITEM BUNDLE...
    testimony index DIR
    testimony search [--raw] DIR WORD...
    testimony version

keygen writes a new age identity file (post-quantum hybrid unless --classic)
to FILE, or to standard output, and prints its public key on standard error.
It never overwrites a file. With -o FILE it also writes FILE.sign, your
Ed25519 signing key for the custody log, and prints its public key;
--sign-key-for IDENTITY makes only that, for an existing identity file.
open, share and export then record what they did in the case folder's
custody.log (share: beside OUT), signed with it.

open decrypts items (.age) and bundles (.tar from the investigator site)
with the identities in IDENTITY into DIR (default "cases"): one folder per
source, one sub-folder per item with manifest.json, testimony.txt, a page,
and the attachments under safe names; then testimonies.csv and index.html.
Answers are shown under their questions, in the witness's language and in
English, from the questionnaire built into this tool; --form FILE reads an
organisation's own (its DATA/questionnaire.json). Items already in DIR are
skipped. Items the identity cannot decrypt are listed; damaged or truncated
files are named. The exit status is 1 if any item could not be opened.

report reads a folder written by open and writes DIR/report.html (charts
and a corroboration table), with a summary on standard output.

share re-encrypts ITEMs (.age files or bundles) to a partner's post-quantum
public keys (a recipients file) as a new bundle OUT, and records it in
shared.log next to OUT.

annotate records a change to an item or a source in a folder written by
open, as NAME (your investigator account name): "status S" (new, triage,
verified, follow-up, closed), "assign NAME" or "assign nobody", "tag TAG",
"untag TAG", "note TEXT" ("note -" reads it from standard input), "link
OTHER", "unlink OTHER". An item is named by its id or a unique start of it
(at least 4 characters), a source by its pseudonym. The changes of each
investigator are kept in DIR/.annotations/NAME.jsonl; put the others' files
there and every change merges, in any order, to one state.

annotations prints that state: status, assignee, tags, links and notes.
annotations export writes NAME's changes to FILE, signed with IDENTITY.sign
and encrypted to the team's keys pinned from the first bundle opened, to
upload on the investigator site; open merges the exports of others that
bundles bring back, refusing any not signed by their author's known key.
annotations team shows the pinned team keys and any other set a later
bundle named; --accept pins that one instead.

index rebuilds what open writes from the folder and the annotations:
index.html (an overview, and every item by source), triage/ (lists by
status, tag, assignee and month received, in pages of at most a few hundred
cases), each item's page with its source's thread and annotation history,
testimonies.csv and cases.db (SQLite, every answer; docs/design.md has its
schema). Run it after annotate, or after putting others' logs in
DIR/.annotations/.

search prints the items of DIR/cases.db whose answers hold every WORD (id,
source, day, status and where it matched), the best first; a word also
matches longer words it starts (so "Егорьевск" finds "Егорьевске"), case
and Latin accents aside. --raw passes the words to SQLite FTS5 as one query
of its own syntax. The exit status is 1 when nothing matches.

` + verifyUsage + `

` + rootsUsage + `

` + exportUsage + `
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// errUsage is returned by a command whose arguments were wrong; the reason
// has already been printed.
var errUsage = errors.New("usage")

// errFailed is returned by a command that has already reported its
// failures one by one.
var errFailed = errors.New("failed")

var commands = map[string]func(args []string) error{
	"annotate":    runAnnotate,
	"annotations": runAnnotations,
	"index":       runIndex,
	"search":      runSearch,
	"keygen":      runKeygen,
	"open":        runOpen,
	"export":      runExport,
	"report":      runReport,
	"roots":       runRoots,
	"share":       runShare,
	"verify":      runVerify,
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
	case "-version", "--version", "version":
		printf("testimony %s\n", version)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		errorf("unknown command %q; run \"testimony help\"", args[0])
		return 2
	}
	switch err := cmd(args[1:]); {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errFailed):
		return 1
	default:
		errorf("%v", err)
		return 1
	}
}

// newFlags returns a flag set for a command that prints our usage text.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("testimony "+name, flag.ContinueOnError)
	fs.SetOutput(flagOutput{})
	fs.Usage = printUsage
	return fs
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments ("open FILE -i key"), and returns the positional
// ones. Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	if i := indexOf(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return append(pos, rest...), nil
}

func indexOf(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

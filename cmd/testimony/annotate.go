package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"testimony/annotations"
)

// annotationsDir holds, in a case folder, one log per author
// (NAME.jsonl): the author's own, written by annotate, and those of the
// others as they arrive. A hidden folder, so that it is not read as a
// source's.
const annotationsDir = ".annotations"

// maxLogFile bounds what one author's log file may make us read.
const maxLogFile = 256 << 20

// runAnnotate appends one operation to the author's log in a case folder.
func runAnnotate(args []string) error {
	fl := newFlags("annotate")
	as := fl.String("as", "", "your investigator account name: the author of the change")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) < 3 || *as == "" {
		errorf("annotate needs --as NAME, a folder written by open, an item or source, and a change")
		return errUsage
	}
	root, err := os.OpenRoot(pos[0])
	if err != nil {
		return err
	}
	defer root.Close()
	items, err := loadCases(root)
	if err != nil {
		return err
	}
	target, err := resolveTarget(items, pos[1])
	if err != nil {
		return err
	}
	kind, value, err := changeOf(pos[2:])
	if err != nil {
		errorf("%v", err)
		return errUsage
	}
	st, err := mergedLogs(root)
	if err != nil {
		return err
	}
	op := st.Next(*as, time.Now().UTC().Format(time.DateOnly))
	op.Target, op.Kind, op.Value = target, kind, value
	if op.Kind == annotations.Link || op.Kind == annotations.Unlink {
		if op.Value, err = resolveTarget(items, value); err != nil {
			return err
		}
	}
	if err := op.Check(); err != nil {
		return err
	}
	own, err := readLog(root, *as)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := annotations.Encode(&b, append(own, op)); err != nil {
		return err
	}
	if err := root.MkdirAll(annotationsDir, 0o700); err != nil {
		return err
	}
	if err := replaceFile(root, path.Join(annotationsDir, *as+".jsonl"), b.Bytes()); err != nil {
		return err
	}
	infof("%s: %s %s (%s #%d)", strings.TrimPrefix(strings.TrimPrefix(target, "item:"), "source:"), kind, value, *as, op.Seq)
	return nil
}

// changeOf reads a change from its words: "status triage", "tag flight",
// "assign alice", "assign nobody", "note TEXT…", "link OTHER".
func changeOf(words []string) (kind, value string, err error) {
	kind, rest := words[0], words[1:]
	switch kind {
	case annotations.SetStatus, annotations.AddTag, annotations.RemoveTag, annotations.Link, annotations.Unlink, annotations.Assign:
		if len(rest) != 1 {
			return "", "", fmt.Errorf("%s takes one value (quote a tag with spaces)", kind)
		}
		value = rest[0]
		if kind == annotations.Assign && value == "nobody" {
			value = ""
		}
	case annotations.AddNote:
		if len(rest) == 0 {
			return "", "", errors.New(`note takes its text, or "-" to read it from standard input`)
		}
		value = strings.Join(rest, " ")
		if value == "-" {
			b, err := io.ReadAll(io.LimitReader(os.Stdin, annotations.MaxNote+1))
			if err != nil {
				return "", "", err
			}
			value = strings.TrimRight(string(b), "\n")
		}
	default:
		return "", "", fmt.Errorf("unknown change %q: status, assign, tag, untag, note, link or unlink", kind)
	}
	return kind, value, nil
}

// resolveTarget finds what s names among the opened items: a source's
// pseudonym, or an item's id or a prefix of it that only one item has
// (the folders show eight characters).
func resolveTarget(items []*caseItem, s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	var found []string
	for _, it := range items {
		switch {
		case it.Info.Source != "" && it.Info.Source == s:
			return "source:" + s, nil
		case len(s) >= 4 && strings.HasPrefix(it.Info.ID, s):
			found = append(found, it.Info.ID)
		}
	}
	slices.Sort(found)
	found = slices.Compact(found)
	switch len(found) {
	case 1:
		return "item:" + found[0], nil
	case 0:
		return "", fmt.Errorf("no opened item or source is %q (an item id of at least 4 characters, or a source's pseudonym)", s)
	default:
		return "", fmt.Errorf("%q is the start of %d item ids; give more of it", s, len(found))
	}
}

// readLog reads one author's log; a missing one is empty.
func readLog(root *os.Root, author string) ([]*annotations.Op, error) {
	f, err := root.Open(path.Join(annotationsDir, author+".jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ops, err := annotations.Decode(io.LimitReader(f, maxLogFile))
	if err != nil {
		return nil, fmt.Errorf("%s/%s.jsonl: %w", annotationsDir, author, err)
	}
	return ops, nil
}

// readLogs reads every author's log in the folder.
func readLogs(root *os.Root) ([]*annotations.Op, error) {
	ents, err := fs.ReadDir(root.FS(), annotationsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var all []*annotations.Op
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		ops, err := readLog(root, name)
		if err != nil {
			return nil, err
		}
		all = append(all, ops...)
	}
	return all, nil
}

// mergedLogs merges every author's log in the folder.
func mergedLogs(root *os.Root) (*annotations.State, error) {
	ops, err := readLogs(root)
	if err != nil {
		return nil, err
	}
	return annotations.Merge(ops)
}

// runAnnotations prints the merged state of a case folder's annotations,
// of every annotated target or of one.
func runAnnotations(args []string) error {
	if len(args) > 0 { // export, team: carry.go
		if sub := annotationsSubcommands[args[0]]; sub != nil {
			return sub(args[1:])
		}
	}
	fl := newFlags("annotations")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 && len(pos) != 2 {
		errorf("annotations needs a folder written by open, and optionally an item or source")
		return errUsage
	}
	root, err := os.OpenRoot(pos[0])
	if err != nil {
		return err
	}
	defer root.Close()
	st, err := mergedLogs(root)
	if err != nil {
		return err
	}
	for _, a := range st.Gaps {
		warnf("part of %s's log has not arrived: the state shown lacks it", a)
	}
	targets := make([]string, 0, len(st.Cases))
	for t := range st.Cases {
		targets = append(targets, t)
	}
	if len(pos) == 2 {
		items, err := loadCases(root)
		if err != nil {
			return err
		}
		t, err := resolveTarget(items, pos[1])
		if err != nil {
			return err
		}
		targets = []string{t}
	}
	slices.Sort(targets)
	for _, t := range targets {
		c := st.Cases[t]
		if c == nil {
			printf("%s: no annotations\n", t)
			continue
		}
		status := c.Status
		if status == "" {
			status = "new"
		}
		assignee := c.Assignee
		if assignee == "" {
			assignee = "nobody"
		}
		printf("%s: %s, assigned to %s", t, status, assignee)
		if len(c.Tags) > 0 {
			printf(", tags: %s", strings.Join(c.Tags, ", "))
		}
		if len(c.Links) > 0 {
			printf(", linked to: %s", strings.Join(c.Links, ", "))
		}
		printf("\n")
		for _, n := range c.Notes {
			printf("    note by %s on %s: %s\n", n.Author, n.Day, n.Text)
		}
	}
	return nil
}

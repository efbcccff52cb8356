package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	_ "modernc.org/sqlite" // pure Go: the tool stays one static binary

	"testimony/annotations"
)

// cases.db: the case folder as one SQLite database, for DB Browser for
// SQLite, Datasette or a notebook, and for "testimony search". It holds
// every answer in plaintext, like the rest of the folder: it belongs on
// the air-gapped machine only. It is rebuilt whole from the folder by
// every open and index, written under a temporary name beside it and
// renamed, so a reader never sees half of one. docs/design.md ("The
// case database") documents casesSchema; a test holds the two equal.

// casesDB is the database's name in the case folder.
const casesDB = "cases.db"

// casesVersion is the schema's version, in meta.
const casesVersion = "1"

// casesSchema is the database's schema, exactly as docs/design.md gives it.
const casesSchema = `CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE sources (
  source     TEXT PRIMARY KEY,
  withdrawal TEXT,
  items      INTEGER NOT NULL
);
CREATE TABLE items (
  id           TEXT PRIMARY KEY,
  source       TEXT NOT NULL REFERENCES sources (source),
  kind         TEXT NOT NULL,
  day          TEXT NOT NULL,
  month        TEXT NOT NULL,
  lang         TEXT,
  form         TEXT,
  form_version INTEGER,
  folder       TEXT NOT NULL,
  withdrawal   TEXT,
  status       TEXT NOT NULL,
  assignee     TEXT,
  narrative    TEXT
);
CREATE TABLE answers (
  item_id  TEXT NOT NULL REFERENCES items (id),
  key      TEXT NOT NULL,
  position INTEGER NOT NULL,
  label    TEXT NOT NULL,
  value    TEXT NOT NULL,
  shown    TEXT NOT NULL,
  lang     TEXT,
  PRIMARY KEY (item_id, key, position)
);
CREATE TABLE attachments (
  item_id      TEXT NOT NULL REFERENCES items (id),
  position     INTEGER NOT NULL,
  file         TEXT NOT NULL,
  name         TEXT NOT NULL,
  size         INTEGER NOT NULL,
  sha256       TEXT NOT NULL,
  type         TEXT,
  working_copy TEXT,
  gps          INTEGER,
  PRIMARY KEY (item_id, position)
);
CREATE TABLE annotations (
  target   TEXT PRIMARY KEY,
  status   TEXT,
  assignee TEXT
);
CREATE TABLE annotation_tags (
  target TEXT NOT NULL,
  tag    TEXT NOT NULL,
  PRIMARY KEY (target, tag)
);
CREATE TABLE annotation_links (
  target TEXT NOT NULL,
  other  TEXT NOT NULL,
  PRIMARY KEY (target, other)
);
CREATE TABLE annotation_notes (
  target   TEXT NOT NULL,
  position INTEGER NOT NULL,
  author   TEXT NOT NULL,
  day      TEXT NOT NULL,
  text     TEXT NOT NULL,
  PRIMARY KEY (target, position)
);
CREATE TABLE annotation_history (
  position INTEGER PRIMARY KEY,
  author   TEXT NOT NULL,
  seq      INTEGER NOT NULL,
  clock    INTEGER NOT NULL,
  day      TEXT NOT NULL,
  target   TEXT NOT NULL,
  kind     TEXT NOT NULL,
  value    TEXT
);
CREATE INDEX items_source ON items (source);
CREATE INDEX answers_key ON answers (key, value);
CREATE VIRTUAL TABLE search USING fts5 (
  item_id UNINDEXED,
  key UNINDEXED,
  text,
  tokenize = 'unicode61 remove_diacritics 2'
);
`

// searchFold is applied to the text the search table indexes and to a
// query: unicode61 folds case in every script and, with remove_diacritics,
// Latin accents, but keeps ё apart from е, which Russian writers use
// interchangeably.
var searchFold = strings.NewReplacer("ё", "е", "Ё", "Е")

// writeCasesDB writes cases.db from the folder as tv holds it.
func writeCasesDB(root *os.Root, tv *triage) (err error) {
	tmp := "." + casesDB + "." + randHex()
	// Created through root, so the name is a new file in the folder and
	// no link leads it elsewhere; SQLite then opens it by path.
	f, err := createFile(root, tmp)
	if err != nil {
		return err
	}
	f.Close()
	defer func() {
		if err != nil {
			root.Remove(tmp)
		}
	}()
	db, err := sql.Open("sqlite", filepath.Join(root.Name(), tmp))
	if err != nil {
		return err
	}
	defer func() {
		if err1 := db.Close(); err == nil {
			err = err1
		}
	}()
	db.SetMaxOpenConns(1)
	// The file is renamed into place only once complete and synced: no
	// journal is needed while it is built.
	for _, p := range []string{"PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF"} {
		if _, err := db.Exec(p); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
	}
	// The tables first, the indexes once the rows are in: building an
	// index at the end is faster than keeping it up row by row.
	var tables, indexes []string
	for _, stmt := range strings.SplitAfter(casesSchema, ";\n") {
		if strings.HasPrefix(stmt, "CREATE INDEX") {
			indexes = append(indexes, stmt)
		} else if strings.TrimSpace(stmt) != "" {
			tables = append(tables, stmt)
		}
	}
	if _, err := db.Exec(strings.Join(tables, "")); err != nil {
		return fmt.Errorf("cases.db schema: %v", err)
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fillCasesDB(tx, tv); err != nil {
		return fmt.Errorf("cases.db: %v", err)
	}
	if _, err := tx.Exec(strings.Join(indexes, "")); err != nil {
		return fmt.Errorf("cases.db indexes: %v", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if f, err := root.OpenFile(tmp, os.O_RDWR, 0); err == nil {
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return root.Rename(tmp, casesDB)
}

// inserter adds rows to the tables, insertBatch rows to a statement: a
// statement per row costs more than SQLite's own work on it.
type inserter struct {
	tx      *sql.Tx
	stmts   map[string]*sql.Stmt // "table/rows"
	pending map[string][]any
	cols    map[string]int
	err     error
}

const insertBatch = 256

func (in *inserter) add(table string, vals ...any) {
	if in.err != nil {
		return
	}
	in.cols[table] = len(vals)
	in.pending[table] = append(in.pending[table], vals...)
	if len(in.pending[table]) >= insertBatch*len(vals) {
		in.flush(table)
	}
}

// flush inserts the rows pending for table.
func (in *inserter) flush(table string) {
	vals, cols := in.pending[table], in.cols[table]
	if in.err != nil || len(vals) == 0 {
		return
	}
	rows := len(vals) / cols
	key := fmt.Sprintf("%s/%d", table, rows)
	st := in.stmts[key]
	if st == nil {
		one := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
		q := "INSERT INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
		if st, in.err = in.tx.Prepare(q); in.err != nil {
			return
		}
		in.stmts[key] = st
	}
	if _, err := st.Exec(vals...); err != nil {
		in.err = fmt.Errorf("%s: %v", table, err)
	}
	in.pending[table] = vals[:0]
}

// done flushes every table and closes the statements.
func (in *inserter) done() error {
	for _, t := range sortedKeys(in.pending) {
		in.flush(t)
	}
	for _, st := range in.stmts {
		st.Close()
	}
	return in.err
}

// null gives SQL NULL for an empty string.
func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func fillCasesDB(tx *sql.Tx, tv *triage) error {
	in := &inserter{tx: tx, stmts: map[string]*sql.Stmt{}, pending: map[string][]any{}, cols: map[string]int{}}
	in.add("meta", "schema_version", casesVersion)
	in.add("meta", "tool_version", version)
	for _, src := range sortedKeys(tv.threads) {
		idx := tv.threads[src]
		in.add("sources", src, null(tv.items[idx[0]].Withdrawal), len(idx))
	}
	for i, it := range tv.items {
		m, mk := it.M, tv.marks[i]
		var form any
		var formVersion any
		if m.Form.ID != "" {
			form, formVersion = m.Form.ID, m.Form.Version
		}
		month := ""
		if len(m.Day) >= 7 {
			month = m.Day[:7]
		}
		in.add("items", it.Info.ID, it.Info.Source, m.Kind, m.Day, month, null(m.Lang), form, formVersion, it.Dir,
			null(it.Withdrawal), mk.Status, null(mk.Assignee), null(narrative(m)))
		for _, k := range answerKeys(m) {
			label := answerLabel(m, k)
			vals := m.Answers[k].Values()
			shown := answerShown(m, k)
			parts := strings.Split(shown, "; ")
			for p, v := range vals {
				s := v
				if len(parts) == len(vals) {
					s = parts[p]
				}
				in.add("answers", it.Info.ID, k, p, label, v, s, null(m.Lang))
			}
			if shown != "" {
				in.add("search", it.Info.ID, k, searchFold.Replace(shown))
			}
		}
		for p, a := range m.Attachments {
			file := attachmentFile(p, a)
			var clean, gps any
			if n := it.Info.image(file); n != nil {
				clean, gps = null(n.Clean), n.GPS
			}
			in.add("attachments", it.Info.ID, p, file, a.Name, a.Size, a.SHA256, null(a.Type), clean, gps)
		}
	}
	var history []*annotations.Op
	seen := map[[2]any]bool{}
	for _, t := range sortedKeys(tv.st.Cases) {
		c := tv.st.Cases[t]
		in.add("annotations", t, null(c.Status), null(c.Assignee))
		for _, tag := range c.Tags {
			in.add("annotation_tags", t, tag)
		}
		for _, l := range c.Links {
			in.add("annotation_links", t, l)
		}
		for p, n := range c.Notes {
			in.add("annotation_notes", t, p, n.Author, n.Day, n.Text)
		}
		for _, op := range c.History {
			if k := [2]any{op.Author, op.Seq}; !seen[k] {
				seen[k] = true
				history = append(history, op)
			}
		}
	}
	sortOps(history)
	for p, op := range history {
		in.add("annotation_history", p+1, op.Author, op.Seq, op.Clock, op.Day, op.Target, op.Kind, null(op.Value))
	}
	return in.done()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sortOps puts operations in the order the merge applies them: by clock,
// author, counter (package annotations).
func sortOps(ops []*annotations.Op) {
	slices.SortFunc(ops, func(a, b *annotations.Op) int {
		switch {
		case a.Clock != b.Clock:
			return cmpU(a.Clock, b.Clock)
		case a.Author != b.Author:
			return strings.Compare(a.Author, b.Author)
		}
		return cmpU(a.Seq, b.Seq)
	})
}

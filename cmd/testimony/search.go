package main

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// runSearch searches the answers in a case folder's cases.db (casesdb.go)
// and prints the matching items, the best first.
func runSearch(args []string) error {
	fl := newFlags("search")
	raw := fl.Bool("raw", false, "pass the words to SQLite FTS5 as one query in its own syntax")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		errorf("search needs a folder written by open and at least one word")
		return errUsage
	}
	dir := pos[0]
	query := strings.Join(pos[1:], " ")
	if !*raw {
		query = ftsQuery(pos[1:])
	}
	if query == "" {
		errorf("search needs at least one word")
		return errUsage
	}
	name := filepath.Join(dir, casesDB)
	if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s has no %s: run \"testimony index %s\"", dir, casesDB, dir)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(name)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	hits, err := searchDB(db, query)
	if err != nil {
		if *raw {
			errorf("search %q: %v", query, err)
			return errUsage
		}
		return err
	}
	for _, h := range hits {
		printf("%s  %s  %s  %s  %s\n    %s: %s\n", h.id, h.source, h.day, h.status, h.kind, h.key,
			strings.Join(strings.Fields(h.snippet), " "))
	}
	if len(hits) == 0 {
		infof("no item matches %s", query)
		return errFailed
	}
	infof("%d items match (cases.db as of the last open or index)", len(hits))
	return nil
}

// searchHit is one matching item and its best match.
type searchHit struct {
	id, source, day, status, kind, key, snippet string
}

// searchDB runs an FTS5 query over the search table and returns each
// matching item once, at its best-ranked answer.
func searchDB(db *sql.DB, query string) ([]searchHit, error) {
	rows, err := db.Query(`SELECT s.item_id, i.source, i.day, i.status, i.kind, s.key,
		snippet(search, 2, '[', ']', '…', 12)
		FROM search s JOIN items i ON i.id = s.item_id
		WHERE search MATCH ? ORDER BY rank`, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []searchHit
	seen := map[string]bool{}
	for rows.Next() {
		var h searchHit
		if err := rows.Scan(&h.id, &h.source, &h.day, &h.status, &h.kind, &h.key, &h.snippet); err != nil {
			return nil, err
		}
		if !seen[h.id] {
			seen[h.id] = true
			hits = append(hits, h)
		}
	}
	return hits, rows.Err()
}

// ftsQuery makes an FTS5 query of words: each word quoted (so that no
// word is read as FTS5 syntax) and a prefix ("word"*), all of them
// required. A Cyrillic word of six letters or more loses up to two
// final vowels or soft signs first, so that another case ending of it
// matches too: "Египте" finds "Египта" ("Египет", whose vowel falls in
// other forms, needs its own query). This is a rough ending strip, not a
// stemmer.
func ftsQuery(words []string) string {
	var terms []string
	for _, w := range strings.Fields(strings.Join(words, " ")) {
		w = searchFold.Replace(w)
		w = stripEnding(w)
		if strings.Trim(w, `"*`) == "" {
			continue
		}
		terms = append(terms, `"`+strings.ReplaceAll(w, `"`, `""`)+`"*`)
	}
	return strings.Join(terms, " ")
}

const cyrillicEndings = "аяоеёуюыиіїйьэєъ"

func stripEnding(w string) string {
	r := []rune(w)
	for _, c := range r {
		if !unicode.Is(unicode.Cyrillic, c) {
			return w
		}
	}
	for n := 0; n < 2 && len(r) > 5 && strings.ContainsRune(cyrillicEndings, unicode.ToLower(r[len(r)-1])); n++ {
		r = r[:len(r)-1]
	}
	return string(r)
}

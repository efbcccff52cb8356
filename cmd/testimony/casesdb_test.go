package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"testimony/crypto"
)

// langFolder writes a case folder of a few submissions in Russian,
// Ukrainian and Spanish, and one whose answer holds terminal escapes, then
// builds its index.
func langFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	items := []struct {
		lang, account, facility string
	}{
		{"ru", "Меня держали в Егорьевске две недели, потом увезли в аэропорт.", "ЦВСИГ Егорьевск"},
		{"uk", "Мене тримали в Ужгороді, їжі не давали.", "Ужгород"},
		{"es", "La detención en Krome fue larga y fría.", "Krome"},
		{"ru", "Всё было плохо, конвоиры били нас.", "Eloy"},
		{"en", "Escape \x1b]0;owned\x07 and \x1b[2J here: krome again.", "Otay Mesa"},
	}
	for i, x := range items {
		m := &crypto.Manifest{Format: crypto.Format, Kind: crypto.KindSubmission, Day: fmt.Sprintf("2026-0%d-10", i+1), Lang: x.lang,
			Form: crypto.FormRef{ID: defaultForm.ID, Version: defaultForm.Version}, Attachments: []crypto.Attachment{},
			Answers: map[string]crypto.Answer{"account": crypto.TextAnswer(x.account), "facility": crypto.TextAnswer(x.facility),
				"conditions": crypto.ListAnswer("overcrowding", "cold")}}
		id := fmt.Sprintf("%032x", i+1)
		src := fmt.Sprintf("s-%c", 'a'+i)
		folder := itemFolder(src, m.Day, m.Kind, id)
		if err := root.MkdirAll(folder, 0o700); err != nil {
			t.Fatal(err)
		}
		mj, _ := json.Marshal(m)
		ij, _ := json.Marshal(itemInfo{ID: id, Source: src, Kind: m.Kind, Day: m.Day})
		root.WriteFile(folder+"/manifest.json", mj, 0o600)
		root.WriteFile(folder+"/item.json", ij, 0o600)
	}
	writeLogs(t, root, 3, []*itemSpec{{Source: "s-a"}})
	if err := writeIndex(root); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openCasesDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dir, casesDB))+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestCasesDBSchemaMatchesDoc: docs/design.md gives the schema that
// cases.db has, byte for byte, and the database holds exactly the tables
// and indexes it declares.
func TestCasesDBSchemaMatchesDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "\n### cases.db\n")
	_, block, ok2 := strings.Cut(sec, "```sql\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`docs/design.md has no "### cases.db" section with a sql block`)
	}
	if block != casesSchema {
		t.Errorf("docs/design.md's cases.db schema differs from casesSchema:\n%s", block)
	}
	var declared []string
	for _, m := range regexp.MustCompile(`CREATE (?:VIRTUAL )?(?:TABLE|INDEX) (\w+)`).FindAllStringSubmatch(casesSchema, -1) {
		declared = append(declared, m[1])
	}
	db := openCasesDB(t, langFolder(t))
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'search_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		got = append(got, n)
	}
	slices.Sort(got)
	slices.Sort(declared)
	if !slices.Equal(got, declared) {
		t.Errorf("cases.db holds %q, the schema declares %q", got, declared)
	}
	var v string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil || v != casesVersion {
		t.Errorf("schema_version %q, %v", v, err)
	}
}

func TestCasesDBContents(t *testing.T) {
	dir := langFolder(t)
	db := openCasesDB(t, dir)
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM items`); n != 5 {
		t.Errorf("%d items, want 5", n)
	}
	if n := count(`SELECT count(*) FROM sources`); n != 5 {
		t.Errorf("%d sources, want 5", n)
	}
	// A multiple choice: one row per choice, shown by its label.
	if n := count(`SELECT count(*) FROM answers WHERE key = 'conditions'`); n != 10 {
		t.Errorf("%d rows of conditions, want 10", n)
	}
	var label, shown, lang string
	if err := db.QueryRow(`SELECT label, shown, lang FROM answers WHERE key = 'conditions' AND value = 'overcrowding' AND item_id = ?`,
		fmt.Sprintf("%032x", 1)).Scan(&label, &shown, &lang); err != nil {
		t.Fatal(err)
	}
	if lang != "ru" || !strings.Contains(label, "/") || shown == "overcrowding" {
		t.Errorf("conditions of the Russian item: label %q, shown %q, lang %q", label, shown, lang)
	}
	// Annotations: state and history.
	if n := count(`SELECT count(*) FROM annotation_history`); n < 5 {
		t.Errorf("%d operations in the history", n)
	}
	var status string
	db.QueryRow(`SELECT status FROM items WHERE id = ?`, fmt.Sprintf("%032x", 0)).Scan(&status)
	if n := count(`SELECT count(*) FROM annotation_notes WHERE text LIKE 'Called the lawyer.%'`); n != 1 {
		t.Errorf("%d notes, want 1", n)
	}
	if n := count(`SELECT count(*) FROM annotation_history a JOIN annotation_history b ON a.position + 1 = b.position
		WHERE (a.clock, a.author, a.seq) > (b.clock, b.author, b.seq)`); n != 0 {
		t.Errorf("%d operations out of merge order", n)
	}
	left, _ := fs.Glob(os.DirFS(dir), ".cases.db*")
	if len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// TestCasesDBSearch: the full-text search finds words in every language,
// whatever their case, accents, or (as far as a prefix goes) ending.
func TestCasesDBSearch(t *testing.T) {
	db := openCasesDB(t, langFolder(t))
	id := func(i int) string { return fmt.Sprintf("%032x", i) }
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"ЕГОРЬЕВСК"}, []string{id(1)}},    // another case and ending: Егорьевске, Егорьевск
		{[]string{"Егорьевске"}, []string{id(1)}},   // the ending strip: Егорьевск*
		{[]string{"ужгороду"}, []string{id(2)}},     // Ukrainian, another ending: Ужгороді
		{[]string{"ЇЖІ"}, []string{id(2)}},          // їжі: case folded
		{[]string{"DETENCION"}, []string{id(3)}},    // Spanish, accent and case
		{[]string{"FRIA"}, []string{id(3)}},         // fría
		{[]string{"все", "было"}, []string{id(4)}},  // всё folded to все; two words, both required
		{[]string{"krome"}, []string{id(3), id(5)}}, // two items
		{[]string{"держали", "ужгород"}, nil},       // no item has both
		{[]string{`"`, `NEAR(x`, `*)`, `OR`}, nil},  // FTS5 syntax is quoted away: no error
	} {
		hits, err := searchDB(db, ftsQuery(c.words))
		if err != nil {
			t.Errorf("%q: %v", c.words, err)
			continue
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.id)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q (%s): found %q, want %q", c.words, ftsQuery(c.words), got, c.want)
		}
	}
}

// TestSearchCommand: search prints matches with terminal escapes made
// visible, and exits 1 when nothing matches.
func TestSearchCommand(t *testing.T) {
	dir := langFolder(t)
	var out, errb bytes.Buffer
	stdout, stderr = &out, &errb
	defer func() { stdout, stderr = os.Stdout, os.Stderr }()
	if code := run([]string{"search", dir, "escape"}); code != 0 {
		t.Fatalf("search exited %d: %s", code, errb.String())
	}
	if bytes.ContainsAny(out.Bytes(), "\x1b\x07") {
		t.Errorf("search printed a raw escape:\n%q", out.String())
	}
	for _, s := range []string{fmt.Sprintf("%032x", 5), "s-e", "2026-05-10", "new", `\x1b]0;owned\x07`, "[Escape]"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("search output lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"search", dir, "nowhere-in-any-answer"}); code != 1 || out.Len() != 0 {
		t.Errorf("search of a word no answer has: exit %d, output %q", code, out.String())
	}
	if code := run([]string{"search", "--raw", dir, "krome AND NOT"}); code != 2 {
		t.Errorf("search --raw of a bad query exited %d, want 2", code)
	}
	if code := run([]string{"search", t.TempDir(), "krome"}); code != 1 || !strings.Contains(errb.String(), "testimony index") {
		t.Errorf("search of a folder without cases.db: exit %d, %s", code, errb.String())
	}
}

package witness

import (
	"crypto/sha256"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/records"
	"testimony/store"

	bolt "go.etcd.io/bbolt"
)

func (e *witEnv) login(codename, lang string) (int, string) {
	e.t.Helper()
	f := url.Values{"codename": {codename}, "lang": {lang}}
	return e.post("/thread", "application/x-www-form-urlencoded", []byte(f.Encode()))
}

func TestCodenameShowsRepliesAndTakesFollowups(t *testing.T) {
	e := newWitEnv(t, Config{})
	st, page := e.submit(fullTestimony("x")...)
	if st != 200 {
		t.Fatal(st)
	}
	codename := codenameOf(t, page)
	e.plantReply(codename, "Thank you. Were you on the flight of 27 August?\nPlease say which airport.")
	// Typed differently: upper case, hyphens, new lines.
	typed := strings.ToUpper(strings.Replace(codename, " ", "-", 3))
	typed = strings.Replace(typed, " ", "\n", 1)
	st, page = e.login(typed, "en")
	if st != 200 || !strings.Contains(page, "Were you on the flight of 27 August?\nPlease say which airport.") {
		t.Fatalf("thread: %d\n%s", st, page)
	}
	// A reply to someone else is not shown.
	st2, other := e.submit(fullTestimony("y")...)
	if st2 != 200 {
		t.Fatal(st2)
	}
	e.plantReply(codenameOf(t, other), "a reply to another witness")
	if _, page := e.login(codename, "en"); strings.Contains(page, "another witness") {
		t.Fatal("another source's reply is shown")
	}
	// The witness's own submission is never shown back.
	if strings.Contains(page, "My brother was held") {
		t.Fatal("the thread shows the witness's own submission")
	}
	// A follow-up with a file.
	ct, body := multipartBody(t, part{name: "lang", body: "ru"}, part{name: "codename", body: codename},
		part{name: "message", body: "Yes, from Alexandria."}, part{name: "files", filename: "ticket.png", body: "PNG..."})
	st, page = e.post("/followup", ct, body)
	if st != 200 || !strings.Contains(page, "ваше сообщение зашифровано") || !strings.Contains(page, `lang="ru"`) {
		t.Fatalf("follow-up: %d\n%s", st, page)
	}
	fus := e.items(crypto.KindFollowup)
	if len(fus) != 1 || fus[0].Source != crypto.Pseudonym(e.s.key, codename) {
		t.Fatalf("follow-ups %+v", fus)
	}
	m, files := e.open(fus[0])
	if m.Answers["message"].Text != "Yes, from Alexandria." || len(files) != 1 || string(files[0]) != "PNG..." || m.Lang != "ru" {
		t.Errorf("follow-up manifest %+v", m)
	}
	rid, _ := crypto.ReplyIdentity(e.s.key, codename)
	_, rd, _ := e.db.Open(fus[0].ID)
	if _, err := crypto.OpenEnvelope(rd, rid); err == nil {
		t.Error("the follow-up is encrypted to the witness's reply key too")
	}
	// An empty follow-up is refused with the form shown again.
	ct, body = multipartBody(t, part{name: "codename", body: codename}, part{name: "message", body: "  "}, part{name: "files", file: true})
	if st, page := e.post("/followup", ct, body); st != 422 || !strings.Contains(page, "Write a message") {
		t.Errorf("empty follow-up: %d", st)
	}
	if n := len(e.items(crypto.KindFollowup)); n != 1 {
		t.Errorf("%d follow-ups", n)
	}
}

var (
	// The parts of a thread page that depend on the codename or replies.
	codenameValueRE = regexp.MustCompile(`name="codename" value="[^"]*"`)
)

// TestWrongCodenameLooksLikeRight compares a right codename with no
// replies and a wrong one of the same form: same status and the same page,
// but for the codename echoed in the hidden field.
func TestWrongCodenameLooksLikeRight(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	right := codenameOf(t, page)
	wrong, _ := crypto.NewCodename()
	st1, p1 := e.login(right, "en")
	st2, p2 := e.login(wrong, "en")
	if st1 != st2 || st1 != 200 {
		t.Fatalf("statuses %d and %d", st1, st2)
	}
	n1 := codenameValueRE.ReplaceAllString(p1, "")
	n2 := codenameValueRE.ReplaceAllString(p2, "")
	if n1 != n2 {
		t.Fatalf("pages differ:\n%s\n----\n%s", n1, n2)
	}
	// Text that is not a codename is told apart, whoever typed it.
	for _, s := range []string{"hello", right + " extra", strings.Join(strings.Fields(right)[:6], " ")} {
		st, p := e.login(s, "en")
		if st != 200 || !strings.Contains(p, "That is not a codename") {
			t.Errorf("%q: %d", s, st)
		}
	}
}

// mistype replaces word i of codename c by the next word of the list
// that is not the same.
func mistype(t testing.TB, c string, i int) string {
	t.Helper()
	w := strings.Fields(c)
	for _, cand := range []string{"abacus", "zoom"} {
		if w[i] != cand {
			w[i] = cand
			return strings.Join(w, " ")
		}
	}
	t.Fatal("unreachable")
	return ""
}

// TestCodenameCheckPage: a codename with a mistyped or swapped word gets
// the "check the words" page, byte for byte the same whichever codename
// it was and whether its unmistyped form exists, with no thread; and
// after it the store is as it was.
func TestCodenameCheckPage(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	right := codenameOf(t, page)
	e.plantReply(right, "a reply to the right codename")
	unknown, _ := crypto.NewCodename()
	before := storeContents(t, e.db)
	w := strings.Fields(right)
	swapped := strings.Join(append([]string{w[1], w[0]}, w[2:]...), " ")
	if w[0] == w[1] {
		swapped = mistype(t, right, 1)
	}
	var ref string
	for i, c := range []string{mistype(t, right, 0), mistype(t, right, 7), mistype(t, unknown, 3), swapped, strings.ToUpper(mistype(t, unknown, 5))} {
		st, p := e.login(c, "en")
		if st != 200 || !strings.Contains(p, "These words do not make a codename") || strings.Contains(p, `name="codename" value=`) {
			t.Fatalf("%q: %d, not the check page\n%s", c, st, p)
		}
		if i == 0 {
			ref = p
		} else if p != ref {
			t.Fatalf("the check pages of two codenames differ:\n%s\n----\n%s", ref, p)
		}
		if _, rp := e.login(c, "ru"); !strings.Contains(rp, "Эти слова не складываются в кодовую фразу") {
			t.Errorf("the Russian check page:\n%s", rp)
		}
	}
	if after := storeContents(t, e.db); after != before {
		t.Errorf("the store changed:\n%s\n----\n%s", before, after)
	}
	// The right codename still opens its thread.
	if _, p := e.login(right, "en"); !strings.Contains(p, "a reply to the right codename") {
		t.Fatal("the right codename lost its thread")
	}
}

// TestCodenameUnknownWordSuggests: a word not on the list is named, with
// the nearest list words.
func TestCodenameUnknownWordSuggests(t *testing.T) {
	e := newWitEnv(t, Config{})
	c, _ := crypto.NewCodename()
	w := strings.Fields(c)
	typo := slices.Clone(w)
	typo[2] = w[2] + "q" // a letter too many
	st, p := e.login(strings.Join(typo, " "), "en")
	if st != 200 || !strings.Contains(p, "Some words are not on our list") || !strings.Contains(p, "“"+typo[2]+"”") {
		t.Fatalf("%d\n%s", st, p)
	}
	near := regexp.MustCompile(`did you mean <strong dir="ltr" lang="en">([^<]*)</strong>`).FindStringSubmatch(p)
	if near == nil || !slices.Contains(strings.Split(near[1], ", "), w[2]) {
		t.Fatalf("%q is not suggested for %q:\n%s", w[2], typo[2], p)
	}
	// Markup typed as a word comes back as text.
	st, p = e.login(strings.Replace(c, w[0], "scrípt", 1), "ru")
	if st != 200 || !strings.Contains(p, "Некоторых слов нет в нашем списке") || !strings.Contains(p, "“scrípt”") {
		t.Fatalf("%d\n%s", st, p)
	}
}

// TestLegacyCodenameOpensThread: a seven-word codename, as issued before
// the check word, opens its thread with a note about the eighth word,
// and a right and a wrong one get the same page.
func TestLegacyCodenameOpensThread(t *testing.T) {
	e := newWitEnv(t, Config{})
	old := "abacus ladder nimble quarry sandal tripod velvet"
	ct, body := multipartBody(t, part{name: "codename", body: old}, part{name: "message", body: "from an old codename"})
	if st, _ := e.post("/followup", ct, body); st != 200 {
		t.Fatal(st)
	}
	st1, p1 := e.login(old, "en")
	st2, p2 := e.login("abacus ladder nimble quarry sandal tripod vest", "en")
	if st1 != 200 || st1 != st2 || !strings.Contains(p1, "This codename has seven words") {
		t.Fatalf("%d %d\n%s", st1, st2, p1)
	}
	if codenameValueRE.ReplaceAllString(p1, "") != codenameValueRE.ReplaceAllString(p2, "") {
		t.Fatal("a right and a wrong seven-word codename get different pages")
	}
}

// TestFollowupUnderUnknownCodename keeps it, under a new source.
func TestFollowupUnderUnknownCodename(t *testing.T) {
	e := newWitEnv(t, Config{})
	c, _ := crypto.NewCodename()
	ct, body := multipartBody(t, part{name: "codename", body: c}, part{name: "message", body: "hello"})
	if st, _ := e.post("/followup", ct, body); st != 200 {
		t.Fatal(st)
	}
	fus := e.items(crypto.KindFollowup)
	if len(fus) != 1 || fus[0].Source != crypto.Pseudonym(e.s.key, c) {
		t.Fatalf("%+v", fus)
	}
	if ok, _ := records.SourceExists(e.s.db, fus[0].Source); !ok {
		t.Fatal("no source record, so no reply could reach this witness")
	}
}

// TestThreadTimeFloor: right and wrong codenames, with or without replies,
// answer after at least the site's floor.
func TestThreadTimeFloor(t *testing.T) {
	e := newWitEnv(t, Config{})
	e.s.lim.threadFloor = 150 * time.Millisecond
	_, page := e.submit(fullTestimony("x")...)
	right := codenameOf(t, page)
	e.plantReply(right, "a reply")
	wrong, _ := crypto.NewCodename()
	for _, c := range []string{right, wrong} {
		start := time.Now()
		if st, _ := e.login(c, "en"); st != 200 {
			t.Fatal(st)
		}
		if d := time.Since(start); d < e.s.lim.threadFloor {
			t.Errorf("answered after %v, before the floor of %v", d, e.s.lim.threadFloor)
		}
	}
}

// storeContents describes everything in the store: each bucket (nested ones
// too) with its sequence and its number of keys, and a SHA-256 of every
// key and value, read from a backup of the database with bbolt itself.
func storeContents(t testing.TB, db *store.DB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Backup(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out strings.Builder
	h := sha256.New()
	var walk func(name string, bk *bolt.Bucket)
	walk = func(name string, bk *bolt.Bucket) {
		keys := 0
		bk.ForEach(func(k, v []byte) error {
			if v == nil {
				walk(name+"/"+string(k), bk.Bucket(k))
				return nil
			}
			keys++
			fmt.Fprintf(h, "%s\x00%x\x00%x\n", name, k, v)
			return nil
		})
		fmt.Fprintf(&out, "%s: sequence %d, %d keys\n", name, bk.Sequence(), keys)
	}
	err = b.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			walk(string(name), bk)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "content %x\n", h.Sum(nil))
	// A write undone still grows the file: its size tells it.
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "file of %d bytes\n", fi.Size())
	return out.String()
}

// TestFollowupWithFailingCodenameStoresNothing: a follow-up under a
// codename that fails the check, with a file spooled or (large) streamed,
// the codename before or after the file, gets the check page with a 422
// and leaves the store as it was; the same follow-up under the right
// codename changes it.
func TestFollowupWithFailingCodenameStoresNothing(t *testing.T) {
	for _, stream := range []bool{false, true} {
		e := newWitEnv(t, Config{})
		if stream {
			e.streamAll()
		}
		_, page := e.submit(fullTestimony("x")...)
		right := codenameOf(t, page)
		file := part{name: "files", filename: "ticket.png", body: strings.Repeat("PNG", 10000)}
		if stream {
			file.body = strings.Repeat("PNG", 2<<20) // 6 MiB: more than one write of chunks
		}
		before := storeContents(t, e.db)
		for _, bad := range []string{mistype(t, right, 2), mistype(t, right, 7)} {
			for _, after := range []bool{false, true} {
				parts := []part{{name: "lang", body: "en"}, {name: "codename", body: bad}, {name: "message", body: "more"}, file}
				if after {
					parts = []part{{name: "lang", body: "en"}, file, {name: "message", body: "more"}, {name: "codename", body: bad}}
				}
				ct, body := multipartBody(t, parts...)
				st, p := e.post("/followup", ct, body)
				if st != 422 || !strings.Contains(p, "These words do not make a codename") {
					t.Fatalf("stream %v, codename after the file %v: %d\n%s", stream, after, st, p)
				}
			}
		}
		if got := storeContents(t, e.db); got != before {
			t.Errorf("stream %v: the store changed:\n%s\n----\n%s", stream, before, got)
		}
		ct, body := multipartBody(t, part{name: "codename", body: right}, part{name: "message", body: "more"}, file)
		if st, _ := e.post("/followup", ct, body); st != 200 {
			t.Fatal(st)
		}
		if storeContents(t, e.db) == before {
			t.Fatal("a follow-up under the right codename left the store as it was: storeContents sees nothing")
		}
	}
}

// TestFollowupErrorSaysFilesOnlyWhenChosen: a follow-up refused as empty
// (no text, no file) does not say "choose the files again", and shows the
// upload limit in the page's language. (A longer text than a field holds
// is refused with 413 before the handler, files or not.)
func TestFollowupErrorSaysFilesOnlyWhenChosen(t *testing.T) {
	e := newWitEnv(t, Config{})
	c, _ := crypto.NewCodename()
	ct, body := multipartBody(t, part{name: "lang", body: "ru"}, part{name: "codename", body: c}, part{name: "message", body: " "})
	st, page := e.post("/followup", ct, body)
	if st != http.StatusUnprocessableEntity {
		t.Fatalf("empty follow-up: %d", st)
	}
	if strings.Contains(page, html.EscapeString(witnessCatalog(t, "ru")["w.form.refiles"])) {
		t.Error("\"choose the files again\" shown for a follow-up without files")
	}
	if !strings.Contains(page, "500\u00a0МБ") {
		t.Error("the limit is not in Russian")
	}
	if n := len(e.items(crypto.KindFollowup)); n != 0 {
		t.Errorf("%d follow-ups stored", n)
	}
}

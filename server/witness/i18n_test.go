package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/html"

	"testimony/crypto"
	"testimony/form"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// Tests of the witness site's languages: every message in every
// language and every message used, every page in every language without
// English left on it, the language menu and its choice, right to left.

// dynamicWitnessKeys are the message keys the code builds at run time, so
// that no scan of string literals finds them. Every such key is listed
// here, and only here.
var dynamicWitnessKeys = []string{
	"w.yes", "w.no", "w.unsure", // "w."+value in form's yesNoOptions
	// "w."+name+".pagetitle" in renderWitness (the error page names its
	// title, w.error.pagetitle, as a literal).
	"w.landing.pagetitle", "w.form.pagetitle", "w.receipt.pagetitle", "w.codename.pagetitle", "w.thread.pagetitle",
	"w.closed.pagetitle",
}

// notMessageKeys are string literals that look like message keys and are
// not.
var notMessageKeys = map[string]bool{"error.html": true}

// webLocales is where package web keeps the catalogs it embeds.
const webLocales = "../web/locales"

// witnessCatalog reads the embedded witness catalog of lang.
func witnessCatalog(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(webLocales, "witness."+lang+".json"))
	if err != nil {
		t.Fatalf("no witness catalog for %s: %v", lang, err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("witness.%s.json: %v", lang, err)
	}
	return m
}

var (
	// t $l "key", t .Lang "key" in a template.
	templateKeyRE = regexp.MustCompile(`\bt\s+(?:\$[A-Za-z]*|\.[A-Za-z.]+)\s+"([^"]+)"`)
	// "w.…" or "error.…" string literals in Go code.
	goKeyRE = regexp.MustCompile(`"((?:w|error)\.[a-z0-9_.]*[a-z0-9_])"`)
)

// usedWitnessKeys returns the message keys the witness templates and the
// package's Go code and package form's use, each with where it was seen.
func usedWitnessKeys(t *testing.T) map[string]string {
	t.Helper()
	used := map[string]string{}
	tpls, err := fs.Glob(witnessFS, "templates/witness/*.html")
	if err != nil || len(tpls) < 7 {
		t.Fatalf("templates: %v %v", tpls, err)
	}
	for _, n := range tpls {
		b, _ := witnessFS.ReadFile(n)
		for _, m := range templateKeyRE.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = n
		}
		page := strings.TrimSuffix(filepath.Base(n), ".html")
		if page != "layout" && page != "error" && !slices.Contains(dynamicWitnessKeys, "w."+page+".pagetitle") {
			t.Errorf("page %s: its title w.%s.pagetitle is not in dynamicWitnessKeys", page, page)
		}
	}
	gos, _ := filepath.Glob("*.go")
	// Package form's validation names the messages of its errors.
	formGos, _ := filepath.Glob("../../form/*.go")
	// Package web's middleware and handler adapter name error messages.
	webGos, _ := filepath.Glob("../web/*.go")
	gos = append(append(gos, formGos...), webGos...)
	if len(formGos) == 0 || len(webGos) == 0 {
		t.Fatalf("the Go files of form (%d) and web (%d) are not where the test looks", len(formGos), len(webGos))
	}
	for _, n := range gos {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKeyRE.FindAllStringSubmatch(string(b), -1) {
			if !notMessageKeys[m[1]] {
				used[m[1]] = n
			}
		}
	}
	for _, k := range dynamicWitnessKeys {
		used[k] = "dynamicWitnessKeys"
	}
	return used
}

// TestWitnessTranslationsComplete fails when a witness message lacks a
// translation in one of the site's languages, when a catalog holds a key
// nothing uses, when something uses a key no catalog has, and when a text
// of the default questionnaire lacks a language.
func TestWitnessTranslationsComplete(t *testing.T) {
	if !slices.Equal(web.WitnessLangs(), []string{"en", "ru", "uk", "es"}) {
		t.Fatalf("web.WitnessLangs() = %v", web.WitnessLangs())
	}
	cat := map[string]map[string]string{}
	all := map[string]bool{}
	for _, l := range web.WitnessLangs() {
		cat[l] = witnessCatalog(t, l)
		for k := range cat[l] {
			all[k] = true
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range all {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		for _, l := range web.WitnessLangs() {
			if strings.TrimSpace(cat[l][k]) == "" {
				t.Errorf("%s: no %s text", k, l)
			}
		}
	}
	used := usedWitnessKeys(t)
	if len(used) < 60 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for _, k := range keys {
		if used[k] == "" {
			t.Errorf("%s is in a catalog but no template or code uses it", k)
		}
	}
	for k, where := range used {
		if _, ok := cat[web.DefaultLang][k]; !ok {
			t.Errorf("%s (used in %s) is in no catalog", k, where)
		}
	}
	// Every text of the questionnaire, wherever it sits in the definition
	// (an object with an "en" member is a text), in every language.
	var def any
	if err := json.Unmarshal(form.DefaultJSON(), &def); err != nil {
		t.Fatal(err)
	}
	texts := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if en, ok := v[web.DefaultLang].(string); ok {
				texts++
				for _, l := range web.WitnessLangs() {
					if s, _ := v[l].(string); strings.TrimSpace(s) == "" {
						t.Errorf("questionnaire %s (%q): no %s text", path, en, l)
					}
				}
				return
			}
			for k, x := range v {
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("", def)
	if texts < 50 {
		t.Fatalf("found only %d questionnaire texts: the walk is broken", texts)
	}
}

// TestInvestigatorCatalogEnglishOnly: the investigator site stays in
// English; its keys are inv.* and never a witness key.
func TestInvestigatorCatalogEnglishOnly(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join(webLocales, "investigator.*.json"))
	if !slices.Equal(names, []string{filepath.Join(webLocales, "investigator.en.json")}) {
		t.Fatalf("investigator catalogs: %v", names)
	}
	b, _ := os.ReadFile(names[0])
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k := range m {
		if !strings.HasPrefix(k, "inv.") {
			t.Errorf("investigator key %s is not inv.*", k)
		}
	}
	if s := web.Translate("ru", "inv.login.failed"); s != m["inv.login.failed"] || s == "" {
		t.Errorf("an investigator text in ru is %q, not the English one", s)
	}
}

// visibleText is what a reader sees of a page, in chunks: text nodes, and
// the alt, title, placeholder and aria-label attributes and the value of
// buttons; whitespace normalised.
func visibleText(page string) []string {
	var out []string
	add := func(s string) {
		if s = strings.Join(strings.Fields(s), " "); s != "" {
			out = append(out, s)
		}
	}
	z := html.NewTokenizer(strings.NewReader(page))
	skip := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.TextToken:
			if !skip {
				add(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			skip = tok.Data == "style" || tok.Data == "script"
			attr := map[string]string{}
			for _, a := range tok.Attr {
				attr[a.Key] = a.Val
			}
			for _, k := range []string{"alt", "title", "placeholder", "aria-label"} {
				add(attr[k])
			}
			if tok.Data == "button" || tok.Data == "input" && slices.Contains([]string{"submit", "button", "reset"}, attr["type"]) {
				add(attr["value"])
			}
		case html.EndTagToken:
			skip = false
		}
	}
}

// englishTexts are every English text a witness page can show: the
// catalog's and the questionnaire's, normalised, each with its source.
func englishTexts(t *testing.T, q *form.Form) map[string]string {
	t.Helper()
	out := map[string]string{}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for k, v := range witnessCatalog(t, web.DefaultLang) {
		out[norm(v)] = k
	}
	add := func(where string, tx form.Text) {
		if s := norm(tx[web.DefaultLang]); s != "" {
			if _, ok := out[s]; !ok {
				out[s] = "questionnaire " + where
			}
		}
	}
	add("title", q.Title)
	add("intro", q.Intro)
	for _, sec := range q.Sections {
		add("section", sec.Title)
		add("section help", sec.Help)
		add("section asks", sec.Asks)
		for _, f := range sec.Fields {
			add(f.Key, f.Label)
			add(f.Key+" help", f.Help)
			for _, o := range f.Options {
				add(f.Key+"."+o.Value, o.Label)
			}
		}
	}
	return out
}

// sameInEveryLanguage are texts a page in any language may show as they
// are: names, and each language's own name in the language menu.
var sameInEveryLanguage = []string{"Tor Browser"}

var rawKeyRE = regexp.MustCompile(`(?:^|[^\pL\pN.])((?:w|error|inv)\.[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*)`)

// walkedPage is one page of the walk.
type walkedPage struct {
	name, lang string
	status     int
	body       string
}

// walkWitnessPages renders every witness page in lang through the real
// handler: the landing page, the form, the receipt, the codename page, a
// thread with replies, a follow-up's receipt, the form re-shown with every
// kind of validation error, and every error page.
func walkWitnessPages(t *testing.T, lang string) []walkedPage {
	t.Helper()
	e := newWitEnv(t, Config{})
	var pages []walkedPage
	add := func(name string, want, st int, body string) {
		t.Helper()
		if st != want {
			t.Errorf("%s in %s: status %d, want %d", name, lang, st, want)
		}
		pages = append(pages, walkedPage{name, lang, st, body})
	}
	get := func(name, path string, want int) {
		res, body := e.get(path)
		add(name, want, res.StatusCode, body)
	}
	q := "?lang=" + lang
	get("landing", "/"+q, 200)
	get("form", "/form"+q, 200)
	get("codename", "/codename"+q, 200)

	st, receipt := e.submit(append([]part{{name: "lang", body: lang}}, fullTestimony("walk")[1:]...)...)
	add("receipt", 200, st, receipt)
	codename := codenameOf(t, receipt)
	// The form again, with every kind of field error.
	st, page := postParts(e, "/submit"+q,
		part{name: "lang", body: lang},
		part{name: "facility", body: strings.Repeat("x", form.MaxShortField+1)},
		part{name: "deport_date", body: "27.08"},
		part{name: "role", body: "astronaut"},
		part{name: "consent_use", body: "no_publication"}, part{name: "consent_use", body: "statistics_only"},
		part{name: "account", body: " "})
	add("form with errors", 422, st, page)
	// With a file chosen: the witness is asked to choose it again.
	st, page = postParts(e, "/submit"+q, part{name: "lang", body: lang}, part{name: "deport_date", body: "27.08"},
		part{name: "account", body: "x"}, part{name: "files", filename: "a.jpg", body: "jpeg"})
	add("form with errors and a file", 422, st, page)
	// Limits in kilobytes and in gigabytes, with a decimal separator.
	for _, max := range []int64{2048, 3 << 29} {
		res, page := newWitEnv(t, Config{MaxUpload: max}).get("/form" + q)
		add(fmt.Sprintf("form, limit %d", max), 200, res.StatusCode, page)
	}

	e.plantReply(codename, "2025-08-27 · 1234")
	plantReplyWithFile(t, e, codename, "5678", "order.pdf")
	login := func(name, codename string, want int) {
		st, page := e.post("/thread"+q, "application/x-www-form-urlencoded", []byte(url.Values{"lang": {lang}, "codename": {codename}}.Encode()))
		add(name, want, st, page)
	}
	login("thread with replies", codename, 200)
	other, _ := crypto.NewCodename()
	login("thread without replies", other, 200)
	login("not a codename", "hello world", 200)
	follow := func(name string, want int, msg string) {
		st, page := postParts(e, "/followup"+q, part{name: "lang", body: lang}, part{name: "codename", body: codename}, part{name: "message", body: msg})
		add(name, want, st, page)
	}
	follow("follow-up sent", 200, "1")
	follow("follow-up empty", 422, " ")
	follow("follow-up too long", 413, strings.Repeat("x", form.MaxFieldBytes+1))
	st, page = postParts(e, "/followup"+q, part{name: "lang", body: lang}, part{name: "codename", body: "hello"}, part{name: "message", body: "1"})
	add("follow-up without a codename", 422, st, page)
	// Codenames refused by their words alone, an old seven-word one, and
	// taking an account back.
	login("codename mistyped", mistype(t, codename, 2), 200)
	typo := strings.Fields(codename)
	typo[0], typo[1] = typo[0]+"q", "zzzzzzzzzz" // one near a list word, one near none
	login("codename with words not on the list", strings.Join(typo, " "), 200)
	login("seven-word codename", "abacus ladder nimble quarry sandal tripod velvet", 200)
	withdraw := func(name string, want int, request string) {
		st, page := e.withdraw(codename, request, "", lang)
		add(name, want, st, page)
	}
	withdraw("consent withdrawn", 200, "withdraw")
	withdraw("deletion requested", 200, "erase")
	withdraw("withdrawal without a choice", 422, "")

	// Error pages through the handler.
	get("404", "/nope"+q, 404)
	req, _ := http.NewRequest("PUT", e.ts.URL+"/form"+q, nil)
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.ReadFrom(res.Body)
	res.Body.Close()
	add("405", 405, res.StatusCode, b.String())
	ct, body := multipartBody(t, fullTestimony("x")...)
	st, page = e.post("/submit"+q, ct, body, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	add("403 cross-origin", 403, st, page)
	st, page = e.post("/submit"+q, "text/plain", []byte("x"))
	add("400 not a form", 400, st, page)

	small := newWitEnv(t, Config{MaxUpload: 2048, MaxFile: 1024})
	st, page = postParts(small, "/submit"+q, part{name: "account", body: "x"}, part{name: "files", filename: "a.jpg", body: strings.Repeat("j", 1500)})
	add("413 file too large", 413, st, page)
	st, page = postParts(small, "/submit"+q, part{name: "account", body: "x"}, part{name: "files", filename: "a.jpg", body: strings.Repeat("j", 1000)}, part{name: "files", filename: "b.jpg", body: strings.Repeat("j", 1000)}, part{name: "files", filename: "c.jpg", body: strings.Repeat("j", 1000)})
	add("413 too large", 413, st, page)

	// Not accepting yet (no recipient set): the home page, the form and a
	// post, with an organisation that has every kind of contact, and
	// without one.
	org := testOrganisation()
	org.Contacts = nil
	for _, k := range web.ContactKinds {
		org.Contacts = append(org.Contacts, web.Contact{Kind: k, Value: "x-" + k})
	}
	closed := newWitEnv(t, Config{Escrow: []string{}, Organisation: org})
	st, page = postParts(closed, "/submit"+q, part{name: "account", body: "x"})
	add("503 no recipients", 503, st, page)
	res, page = closed.get("/" + q)
	add("landing, not accepting", 200, res.StatusCode, page)
	res, page = closed.get("/form" + q)
	add("form, not accepting", 503, res.StatusCode, page)
	st, page = closed.post("/thread"+q, "application/x-www-form-urlencoded", []byte(url.Values{"lang": {lang}, "codename": {codename}}.Encode()))
	add("thread, not accepting", 200, st, page)
	res, page = newWitEnv(t, Config{Escrow: []string{}}).get("/" + q)
	add("landing, not accepting, no organisation", 200, res.StatusCode, page)

	broken := newWitEnv(t, Config{})
	broken.db.Close()
	st, page = postParts(broken, "/submit"+q, part{name: "lang", body: lang}, part{name: "account", body: "x"})
	add("503 store closed", 503, st, page)

	// Every error message, on the error page as renderError writes it
	// (among them the 500 of an internal error, which no request makes).
	for k := range witnessCatalog(t, web.DefaultLang) {
		if !strings.HasPrefix(k, "error.") {
			continue
		}
		status := 400
		if k == "error.internal" {
			status = 500
		}
		rec := httptest.NewRecorder()
		e.s.renderError(rec, httptest.NewRequest("POST", "/submit"+q, nil), &web.HTTPError{Status: status, Msg: k})
		add("error page "+k, status, rec.Code, rec.Body.String())
	}
	return pages
}

// postParts posts a multipart body made of parts.
func postParts(e *witEnv, path string, parts ...part) (int, string) {
	ct, body := multipartBody(e.t, parts...)
	return e.post(path, ct, body)
}

// plantReplyWithFile stores a reply with an attachment, the way the
// investigator site does.
func plantReplyWithFile(t *testing.T, e *witEnv, codename, message, file string) {
	t.Helper()
	src := crypto.Pseudonym(e.s.key, codename)
	var rec records.Source
	if err := e.db.View(func(tx store.Tx) error {
		v, err := tx.Get(records.BucketSources, []byte(src))
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &rec)
	}); err != nil {
		t.Fatal(err)
	}
	rs, err := crypto.NewRecipients("reply", append([]string{rec.ReplyRecipient}, e.s.cfg.Escrow...)...)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("%PDF-1.4")
	sum := sha256.Sum256(data)
	m := &crypto.Manifest{Kind: crypto.KindReply, Day: e.s.today(), Answers: map[string]crypto.Answer{"message": crypto.TextAnswer(message)},
		Attachments: []crypto.Attachment{{Name: file, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Type: "application/pdf"}}}
	iw := e.db.NewItem()
	env, err := crypto.NewEnvelope(iw, rs, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.WriteAttachment(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := iw.Commit(store.Item{Kind: crypto.KindReply, Day: m.Day, Source: src, Recipients: rs.Fingerprint()}); err != nil {
		t.Fatal(err)
	}
}

// TestWitnessPagesInEveryLanguage walks every page in every language: a
// page not in English shows no English text of the catalog or of the
// questionnaire (unless its own language writes it the same way), no page
// shows a raw message key, and the English walk shows every English
// message at least once, so the walk misses no message.
func TestWitnessPagesInEveryLanguage(t *testing.T) {
	q, err := parseQuestionnaire(form.DefaultJSON())
	if err != nil {
		t.Fatal(err)
	}
	english := englishTexts(t, q)
	enCat := witnessCatalog(t, web.DefaultLang)
	seen := map[string]bool{}
	for _, lang := range web.WitnessLangs() {
		t.Run(lang, func(t *testing.T) {
			cat := witnessCatalog(t, lang)
			allowed := slices.Clone(sameInEveryLanguage)
			for _, l := range web.WitnessLangs() {
				allowed = append(allowed, witnessCatalog(t, l)["w.lang.name"])
			}
			for k, v := range cat {
				if v == enCat[k] { // written the same way in this language
					allowed = append(allowed, v)
				}
			}
			pages := walkWitnessPages(t, lang)
			if len(pages) < 30 {
				t.Fatalf("walked only %d pages", len(pages))
			}
			for _, p := range pages {
				if !strings.Contains(p.body, `<html lang="`+lang+`" dir="ltr">`) {
					t.Errorf("%s: not marked as %s, left to right", p.name, lang)
				}
				chunks := visibleText(p.body)
				text := strings.Join(chunks, "\n")
				for _, m := range rawKeyRE.FindAllStringSubmatch(text, -1) {
					t.Errorf("%s in %s: raw message key %q on the page", p.name, lang, m[1])
				}
				if lang == web.DefaultLang {
					for s := range english {
						if strings.Contains(text, s) {
							seen[s] = true
						}
					}
					continue
				}
				for s, src := range english {
					if slices.Contains(allowed, s) || !containsText(text, s) {
						continue
					}
					t.Errorf("%s in %s: English text of %s left on the page: %q", p.name, lang, src, s)
				}
			}
		})
	}
	var missed []string
	for s, src := range english {
		if !seen[s] {
			missed = append(missed, src+": "+s)
		}
	}
	sort.Strings(missed)
	for _, m := range missed {
		t.Errorf("no English page of the walk shows %s", m)
	}
}

// containsText reports whether text holds s as a whole: a short s only
// between non-letters, so that "No" is not found inside "Nota".
func containsText(text, s string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], s)
		if j < 0 {
			return false
		}
		j += i
		before, after := text[:j], text[j+len(s):]
		okB := before == "" || !isWordEnd(before, true)
		okA := after == "" || !isWordEnd(after, false)
		if okB && okA {
			return true
		}
		i = j + 1
	}
}

// isWordEnd reports whether the rune of s next to a match (the last rune
// of s when last, else the first) is a letter or digit.
func isWordEnd(s string, last bool) bool {
	var r rune
	if last {
		r = []rune(s)[len([]rune(s))-1]
	} else {
		r = []rune(s)[0]
	}
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

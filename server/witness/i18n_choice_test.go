package witness

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"testimony/crypto"
	"testimony/form"
	"testimony/server/web"
)

// getWith fetches a page with request headers.
func (e *witEnv) getWith(path string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res, b.String()
}

var htmlLangRE = regexp.MustCompile(`<html lang="([^"]*)" dir="([^"]*)">`)

func pageLangDir(t *testing.T, page string) (string, string) {
	t.Helper()
	m := htmlLangRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no <html lang dir> on the page:\n%.400s", page)
	}
	return m[1], m[2]
}

// TestLanguageChoice: ?lang= (or a form's hidden field) chooses the
// language; without it Accept-Language does, among the offered languages;
// responses say they vary by Accept-Language and set no cookie.
func TestLanguageChoice(t *testing.T) {
	e := newWitEnv(t, Config{})
	for _, c := range []struct {
		path, accept, want string
	}{
		{"/", "", "en"},
		{"/", "uk-UA,uk;q=0.9,en;q=0.5", "uk"},
		{"/form", "es-MX,es;q=0.8", "es"},
		{"/codename", "ru-RU", "ru"},
		{"/", "de-DE,de;q=0.9", "en"},
		{"/", "fr, ru;q=0.2", "ru"},
		{"/", strings.Repeat("x", 2000), "en"},
		{"/?lang=ru", "uk", "ru"},
		{"/form?lang=ES", "ru", "es"},
		{"/?lang=xx", "uk", "uk"},
		{"/?lang=", "es", "es"},
		{"/nope", "uk", "uk"},
		{"/nope?lang=es", "uk", "es"},
	} {
		res, page := e.getWith(c.path, "Accept-Language", c.accept)
		lang, dir := pageLangDir(t, page)
		if lang != c.want || dir != "ltr" {
			t.Errorf("GET %s, Accept-Language %.20q: lang %q dir %q, want %q ltr", c.path, c.accept, lang, dir, c.want)
		}
		if !strings.Contains(res.Header.Get("Vary"), "Accept-Language") {
			t.Errorf("GET %s: Vary %q", c.path, res.Header.Get("Vary"))
		}
		if sc := res.Header.Values("Set-Cookie"); len(sc) > 0 {
			t.Errorf("GET %s sets a cookie: %q", c.path, sc)
		}
	}

	// A form's hidden field wins over Accept-Language (Tor Browser always
	// asks for English), and the manifest records the language.
	ct, body := multipartBody(t, append([]part{{name: "lang", body: "uk"}}, fullTestimony("x")[1:]...)...)
	st, page := e.post("/submit", ct, body, "Accept-Language", "en-US,en;q=0.5")
	if lang, _ := pageLangDir(t, page); st != 200 || lang != "uk" {
		t.Fatalf("submit in uk: %d, page in %s", st, lang)
	}
	if m, _ := e.open(e.items(crypto.KindSubmission)[0]); m.Lang != "uk" {
		t.Errorf("manifest lang %q, want uk", m.Lang)
	}
	// An error answered before the body is read is in the language of the
	// form's action (?lang=), not Accept-Language's.
	small := newWitEnv(t, Config{MaxUpload: 1024, MaxFile: 1024})
	ct, body = multipartBody(t, part{name: "lang", body: "ru"}, part{name: "files", filename: "a.jpg", body: strings.Repeat("j", 4000)})
	st, page = small.post("/submit?lang=ru", ct, body, "Accept-Language", "en-US,en;q=0.5")
	if lang, _ := pageLangDir(t, page); st != 413 || lang != "ru" {
		t.Errorf("413 page: %d in %s, want ru", st, lang)
	}
	ct, body = multipartBody(t, fullTestimony("x")...)
	st, page = e.post("/submit?lang=es", ct, body, "Sec-Fetch-Site", "cross-site", "Accept-Language", "en")
	if lang, _ := pageLangDir(t, page); st != 403 || lang != "es" {
		t.Errorf("403 page: %d in %s, want es", st, lang)
	}
	// Each form posts to its own language.
	for path, action := range map[string]string{"/form?lang=uk": `action="/submit?lang=uk"`, "/codename?lang=es": `action="/thread?lang=es"`} {
		if _, page := e.get(path); !strings.Contains(page, action) || !strings.Contains(page, `name="lang" value="`+path[len(path)-2:]+`"`) {
			t.Errorf("%s: the form does not post %s with its language", path, action)
		}
	}
}

var langMenuRE = regexp.MustCompile(`(?s)<nav class="langs"[^>]*>(.*?)</nav>`)

// TestLanguageMenu: every page has the menu, each language named in
// itself with hreflang and lang, the current one not a link, the path
// kept; the thread page posts its codename again, the receipt's links
// open a new tab so that the codename stays on screen.
func TestLanguageMenu(t *testing.T) {
	e := newWitEnv(t, Config{})
	names := map[string]string{}
	for _, l := range web.WitnessLangs() {
		names[l] = witnessCatalog(t, l)["w.lang.name"]
	}
	if names["en"] != "English" || names["ru"] == names["en"] || names["uk"] == names["ru"] || names["es"] == names["en"] {
		t.Fatalf("language names %v", names)
	}
	menu := func(name, page string) string {
		t.Helper()
		m := langMenuRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s: no language menu", name)
		}
		return m[1]
	}
	for _, c := range []struct{ path, cur, target string }{
		{"/?lang=ru", "ru", "/"}, {"/form?lang=uk", "uk", "/form"}, {"/codename?lang=es", "es", "/codename"},
		{"/codename", "en", "/codename"}, {"/nope?lang=ru", "ru", "/"}, {"//evil.example/x?lang=ru", "ru", "/"},
	} {
		_, page := e.get(c.path)
		m := menu(c.path, page)
		for _, l := range web.WitnessLangs() {
			if l == c.cur {
				want := `<span class="current" lang="` + l + `" dir="ltr" aria-current="true">` + names[l] + `</span>`
				if !strings.Contains(m, want) {
					t.Errorf("%s: the current language is not marked: %s", c.path, m)
				}
				continue
			}
			want := `<a href="` + c.target + `?lang=` + l + `" hreflang="` + l + `" lang="` + l + `" dir="ltr">` + names[l] + `</a>`
			if !strings.Contains(m, want) {
				t.Errorf("%s: no link %s in the menu:\n%s", c.path, want, m)
			}
		}
	}

	st, receipt := e.submit(fullTestimony("menu")...)
	if st != 200 {
		t.Fatal(st)
	}
	if m := menu("receipt", receipt); strings.Count(m, `target="_blank" rel="noopener noreferrer"`) != len(web.WitnessLangs())-1 {
		t.Errorf("the receipt's language links do not open a new tab:\n%s", m)
	}
	codename := codenameOf(t, receipt)
	e.plantReply(codename, "Ответ 42")
	_, thread := e.login(codename, "ru")
	m := menu("thread", thread)
	if strings.Contains(m, "<a ") || strings.Count(m, `<input type="hidden" name="codename" value="`+codename+`">`) != len(web.WitnessLangs())-1 ||
		!strings.Contains(m, `<form method="post" action="/thread?lang=uk"`) {
		t.Fatalf("the thread's menu does not post the codename again:\n%s", m)
	}
	// Choosing Ukrainian there: the same thread, in Ukrainian.
	st, page := e.post("/thread?lang=uk", "application/x-www-form-urlencoded", []byte(url.Values{"lang": {"uk"}, "codename": {codename}}.Encode()))
	if lang, _ := pageLangDir(t, page); st != 200 || lang != "uk" || !strings.Contains(page, "Ответ 42") {
		t.Errorf("thread in uk: %d, %s", st, lang)
	}
}

// TestTextDirection: the direction comes from the language's script.
func TestTextDirection(t *testing.T) {
	for lang, want := range map[string]string{
		"en": "ltr", "ru": "ltr", "uk": "ltr", "es": "ltr", "zh": "ltr", "ja": "ltr",
		"ar": "rtl", "fa": "rtl", "he": "rtl", "ur": "rtl", "ps": "rtl", "ckb": "rtl", "yi": "rtl", "dv": "rtl",
		"ff-Adlm": "rtl", "ff": "ltr", "az-Arab": "rtl", "az": "ltr", "": "ltr", "not a tag": "ltr",
	} {
		if got := textDir(lang); got != want {
			t.Errorf("textDir(%q) = %s, want %s", lang, got, want)
		}
	}
}

// TestAddedLanguage: an organisation adds a language with a catalog in
// DATA/locales and texts in DATA/questionnaire.json, without code. A
// language that only one of them has is not offered.
func TestAddedLanguage(t *testing.T) {
	e := newWitEnv(t, Config{})
	var q map[string]any
	if err := json.Unmarshal(form.DefaultJSON(), &q); err != nil {
		t.Fatal(err)
	}
	addLang(q, "de", func(en string) string { return "DE " + en })
	q["title"].(map[string]any)["fr"] = "Détention" // fr: no catalog
	b, _ := json.Marshal(q)
	os.WriteFile(filepath.Join(e.dir, form.File), b, 0o600)
	os.MkdirAll(filepath.Join(e.dir, localesDir), 0o700)
	os.WriteFile(filepath.Join(e.dir, localesDir, "witness.de.json"), []byte(`{"w.lang.name": "Deutsch", "w.landing.start": "Bericht geben"}`), 0o600)
	os.WriteFile(filepath.Join(e.dir, localesDir, "witness.it.json"), []byte(`{"w.lang.name": "Italiano"}`), 0o600) // it: no questionnaire texts
	e.reload()

	_, page := e.getWith("/", "Accept-Language", "de-AT")
	if lang, _ := pageLangDir(t, page); lang != "de" {
		t.Fatalf("Accept-Language de: page in %s", lang)
	}
	m := langMenuRE.FindStringSubmatch(page)
	if m == nil || !strings.Contains(m[1], `lang="de" dir="ltr" aria-current="true">Deutsch<`) ||
		strings.Contains(m[1], "Italiano") || strings.Contains(m[1], `lang="fr"`) || strings.Count(m[1], "<li>") != 5 {
		t.Fatalf("menu: %v", m)
	}
	// Its own messages, English for the rest; its questionnaire texts.
	if !strings.Contains(page, "Bericht geben") || !strings.Contains(page, web.Translate("en", "w.landing.who.title")) {
		t.Error("the added language's page is not its catalog with English for the rest")
	}
	if _, form := e.get("/form?lang=de"); !strings.Contains(form, "DE Detention and deportation: your account") || !strings.Contains(form, ">"+web.Translate("en", "w.yes")+"<") {
		t.Error("the form is not in the added language")
	}
	for _, l := range []string{"fr", "it"} {
		if _, page := e.get("/?lang=" + l); strings.Contains(page, `<html lang="`+l+`"`) {
			t.Errorf("%s is offered", l)
		}
	}
	ct, body := multipartBody(t, part{name: "lang", body: "de"}, part{name: "account", body: "x"})
	if st, _ := e.post("/submit", ct, body); st != 200 {
		t.Fatal(st)
	}
	if m, _ := e.open(e.items("")[0]); m.Lang != "de" {
		t.Errorf("manifest lang %q", m.Lang)
	}
}

// addLang adds lang to every text of a questionnaire definition, made
// from the English text by f.
func addLang(v any, lang string, f func(string) string) {
	switch v := v.(type) {
	case map[string]any:
		if en, ok := v[web.DefaultLang].(string); ok {
			v[lang] = f(en)
			return
		}
		for _, x := range v {
			addLang(x, lang, f)
		}
	case []any:
		for _, x := range v {
			addLang(x, lang, f)
		}
	}
}

// TestWitnessCSSIsLogical: the style sheet uses logical properties only,
// so that a page mirrors under dir="rtl".
func TestWitnessCSSIsLogical(t *testing.T) {
	css, err := witnessFS.ReadFile("static/witness.css")
	if err != nil {
		t.Fatal(err)
	}
	physical := regexp.MustCompile(`(?i)(?:^|[;{\s])((?:margin|padding|border)-(?:left|right|top|bottom)[a-z-]*|left|right|top|bottom|width|height|min-width|max-width|min-height|max-height|float|clear)\s*:|text-align\s*:\s*(?:left|right)|(?:^|[^-])\b(?:left|right)\b\s*[;}]`)
	for i, line := range strings.Split(string(css), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "@media") || strings.HasPrefix(strings.TrimSpace(line), "/*") || strings.HasPrefix(strings.TrimSpace(line), "*") {
			continue
		}
		if m := physical.FindString(line); m != "" {
			t.Errorf("witness.css:%d: physical property %q: use its logical form (margin-inline-start, inline-size, text-align: start…)", i+1, strings.TrimSpace(m))
		}
	}
}

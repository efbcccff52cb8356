package witness

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

func testOrganisation() web.Organisation {
	return web.Organisation{
		Name:        map[string]string{"en": "Example Rights Group", "ru": "Группа «Пример»", "uk": "Група «Приклад»"},
		Description: map[string]string{"en": "We document deportations.", "ru": "Мы документируем депортации.", "uk": "Ми документуємо депортації.", "es": "Documentamos deportaciones."},
		Retention:   map[string]string{"en": "Two years, then deleted.", "ru": "Два года, потом удаляем.", "uk": "Два роки, потім видаляємо.", "es": "Dos años; después se borran."},
		Contacts:    []web.Contact{{Kind: "signal", Value: "example.01"}, {Kind: "email", Value: "testimony@example.org"}},
	}
}

// TestOrganisationOnEveryPage: the organisation's name, description,
// retention and contacts are at the foot of the home page, the form and
// the codename page, in the page's language (English where the
// configuration has no text in it), contacts as text and never as links.
func TestOrganisationOnEveryPage(t *testing.T) {
	e := newWitEnv(t, Config{Organisation: testOrganisation()})
	want := map[string][]string{
		"en": {"Example Rights Group", "We document deportations.", "Two years, then deleted.", "Other ways to reach us:"},
		"ru": {"Группа «Пример»", "Мы документируем депортации.", "Два года, потом удаляем.", "Как ещё с нами связаться:"},
		"uk": {"Група «Приклад»", "Ми документуємо депортації.", "Два роки, потім видаляємо."},
		"es": {"Example Rights Group", "Documentamos deportaciones.", "Dos años; después se borran.", "Correo electrónico:"},
	}
	for lang, texts := range want {
		for _, path := range []string{"/", "/form", "/codename"} {
			res, body := e.get(path + "?lang=" + lang)
			if res.StatusCode != 200 {
				t.Fatalf("%s in %s: %d", path, lang, res.StatusCode)
			}
			footer := body[strings.Index(body, `<footer class="site">`):]
			for _, s := range append(texts, "example.01", "testimony@example.org") {
				if !strings.Contains(footer, htmlEscape(s)) {
					t.Errorf("%s in %s: the footer lacks %q", path, lang, s)
				}
			}
			if strings.Contains(body, "mailto:") || strings.Contains(body, `href="testimony@`) {
				t.Errorf("%s in %s: a contact is a link", path, lang)
			}
		}
	}
	// Without an organisation the footer has no section for it.
	plain := newWitEnv(t, Config{})
	if _, body := plain.get("/"); strings.Contains(body, `class="org"`) {
		t.Error("an empty organisation is shown")
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// TestNotAcceptingShowsNoForm: with no active investigator and no escrow
// key (an empty recipient set), no page offers a form: the home page and
// /form say the service is not accepting testimonies yet and give the
// organisation's contacts, in every language; a post to /submit or
// /followup is refused with 503 before its body is read. Once an
// investigator's key is there, the form is back without a restart.
func TestNotAcceptingShowsNoForm(t *testing.T) {
	e := newWitEnv(t, Config{Escrow: []string{}, Organisation: testOrganisation()})
	if err := e.s.Accepting(); err == nil {
		t.Fatal("Accepting() = nil with an empty recipient set")
	}
	notYet := map[string]string{
		"en": "This service is not accepting testimonies yet.",
		"ru": "Этот сервис пока не принимает свидетельства.",
		"uk": "Цей сервіс поки не приймає свідчення.",
		"es": "Este servicio todavía no recibe testimonios.",
	}
	for lang, msg := range notYet {
		for path, status := range map[string]int{"/": 200, "/form": 503} {
			res, body := e.get(path + "?lang=" + lang)
			if res.StatusCode != status {
				t.Errorf("%s in %s: %d, want %d", path, lang, res.StatusCode, status)
			}
			main := body[strings.Index(body, "<main>"):strings.Index(body, "</main>")]
			if !strings.Contains(main, msg) || !strings.Contains(main, "example.01") || !strings.Contains(main, "testimony@example.org") {
				t.Errorf("%s in %s: no \"not accepting\" notice with the contacts:\n%s", path, lang, main)
			}
			if strings.Contains(body, "<form") || strings.Contains(body, "<textarea") || strings.Contains(body, `href="/form`+"?lang="+lang+`" class`) {
				t.Errorf("%s in %s: a form is shown", path, lang)
			}
			if strings.Contains(main, `class="button" href="/form`) {
				t.Errorf("%s in %s: the \"give an account\" button is shown", path, lang)
			}
		}
	}

	// A post is refused before its body is read: the client sends the
	// headers of a 50 MB upload and one line of it, and gets its answer.
	for _, path := range []string{"/submit", "/followup"} {
		st, body := postUnread(t, e, path)
		if st != 503 || !strings.Contains(body, "cannot accept accounts right now") || !strings.Contains(body, "Nothing was stored") ||
			!strings.Contains(body, "example.01") {
			t.Errorf("POST %s: %d\n%s", path, st, body)
		}
	}
	if n := len(e.items("")); n != 0 {
		t.Errorf("%d items stored", n)
	}

	// An investigator's key opens the site at the next request.
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	e.db.Update(func(tx store.Tx) error {
		return tx.Put(records.BucketInvestigators, []byte("ana"), []byte(`{"recipient":"`+id.Recipient+`","disabled":false}`))
	})
	if err := e.s.Accepting(); err != nil {
		t.Fatalf("Accepting() = %v with an investigator", err)
	}
	if res, body := e.get("/form?lang=ru"); res.StatusCode != 200 || !strings.Contains(body, `action="/submit`) {
		t.Errorf("the form is not back: %d", res.StatusCode)
	}
	if _, body := e.get("/"); strings.Contains(body, "not accepting testimonies yet") || !strings.Contains(body, `class="button" href="/form`) {
		t.Error("the home page still says \"not accepting\"")
	}
}

// postUnread posts the start of a large multipart body to path and reads
// the answer without sending the rest: a server that read the body would
// wait for it, and the generous deadline would fail the test.
func postUnread(t *testing.T, e *witEnv, path string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "POST %s?lang=en HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n--b\r\n", path, 50<<20)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("POST %s: no answer before the body was sent: %v", path, err)
	}
	defer res.Body.Close()
	var b strings.Builder
	bufio.NewReader(res.Body).WriteTo(&b)
	return res.StatusCode, b.String()
}

// TestOrganisationCheck: what config check reports about the organisation.
func TestOrganisationCheck(t *testing.T) {
	langs := []string{"en", "ru", "uk", "es"}
	full := testOrganisation()
	full.Name["es"] = "Grupo Ejemplo"
	if errs, missing := full.Check(langs); errs != nil || missing != nil {
		t.Errorf("a complete organisation: %v %v", errs, missing)
	}
	errs, missing := testOrganisation().Check(langs)
	if errs != nil || len(missing) != 1 || !strings.Contains(missing[0], "organisation.name has no es text") {
		t.Errorf("a missing translation is not named: %v %v", errs, missing)
	}
	if _, missing := (web.Organisation{}).Check(langs); len(missing) != 1 || !strings.Contains(missing[0], "not set") {
		t.Errorf("no organisation: %v", missing)
	}
	for name, tc := range map[string]struct {
		change func(*web.Organisation)
		want   string
	}{
		"no English":   {func(o *web.Organisation) { delete(o.Description, "en") }, "description has no English text"},
		"bad language": {func(o *web.Organisation) { o.Name["Russian"] = "x" }, `not a language code`},
		"empty text":   {func(o *web.Organisation) { o.Retention["es"] = " " }, "retention.es is empty"},
		"bad kind":     {func(o *web.Organisation) { o.Contacts[0].Kind = "pigeon" }, `kind "pigeon" is not one of`},
		"no value":     {func(o *web.Organisation) { o.Contacts[1].Value = "" }, "contacts[1] (email) has no value"},
		"control":      {func(o *web.Organisation) { o.Name["en"] = "Group\u202e" }, "control character"},
		"long name":    {func(o *web.Organisation) { o.Name["en"] = strings.Repeat("x", 121) }, "longer than 120"},
	} {
		o := testOrganisation()
		tc.change(&o)
		errs, _ := o.Check(langs)
		if len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), tc.want) {
			t.Errorf("%s: %v, want %q", name, errs, tc.want)
		}
	}
}

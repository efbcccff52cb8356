package witness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"testimony/crypto"
	"testimony/form"
	"testimony/server/web"
)

// parseQuestionnaire reads and checks a definition, its yes/no choices
// labelled from the embedded catalog, as a site labels them.
func parseQuestionnaire(b []byte) (*form.Form, error) {
	q, err := form.Parse(b)
	if err != nil {
		return nil, err
	}
	q.FillYesNo(web.Translate, web.WitnessLangs())
	return q, nil
}

func TestQuestionnaireOverride(t *testing.T) {
	dir := t.TempDir()
	custom := `{"id":"custom","version":3,"title":{"en":"Custom"},"sections":[{"title":{"en":"S"},"fields":[
		{"key":"account","type":"textarea","required":true,"label":{"en":"Tell us"}},
		{"key":"camp","type":"single","label":{"en":"Camp"},"options":[{"value":"north","label":{"en":"North"}}]},
		{"key":"photos","type":"file","multiple":true,"label":{"en":"Photos"}}]}]}`
	os.WriteFile(filepath.Join(dir, form.File), []byte(custom), 0o600)
	q, err := form.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if q.ID != "custom" || q.Version != 3 || q.Field("camp") == nil || !q.IsFile("photos") {
		t.Fatalf("override not used: %+v", q.Ref())
	}
	// A site with the override serves and validates against it.
	e := newWitEnv(t, Config{})
	os.WriteFile(filepath.Join(e.dir, form.File), []byte(custom), 0o600)
	e.reload()
	if _, page := e.get("/form"); !strings.Contains(page, `name="camp"`) || strings.Contains(page, `name="role"`) {
		t.Fatal("the form is not the override's")
	}
	if st, _ := e.submit(part{name: "account", body: "x"}, part{name: "camp", body: "north"}, part{name: "photos", filename: "a.jpg", body: "j"}); st != 200 {
		t.Fatalf("submit: %d", st)
	}
	m, files := e.open(e.items("")[0])
	if m.Form.ID != "custom" || m.Form.Version != 3 || m.Answers["camp"].Text != "north" || len(files) != 1 {
		t.Errorf("manifest %+v", m)
	}
	if st, _ := e.submit(part{name: "account", body: "x"}, part{name: "role", body: "self"}); st != 400 {
		t.Errorf("a field of the default questionnaire was accepted: %d", st)
	}
}

// hostileText is an answer that, shown raw in a terminal, clears the
// screen and sets the window title, with a C1 CSI, a
// DEL and a browser's CRLF line breaks and a lone CR around it.
const hostileText = "LED\x1b[2J\x1b]0;owned\x07 lamp\u009b31m\x7f\r\nline two\rline three\tend"

// cleanedText is what must arrive of it: the controls gone, each line
// break a newline, the tab kept.
const cleanedText = "LED[2J]0;owned lamp31m\nline two\nline three\tend"

// Control characters are removed from answers and follow-ups as they
// arrive, before they are encrypted: they never reach an investigator.
func TestAnswersArriveWithoutControlCharacters(t *testing.T) {
	e := newWitEnv(t, Config{})
	parts := fullTestimony("x")
	for i := range parts {
		switch parts[i].name {
		case "facility":
			parts[i].body = "Camp\x1b]0;owned\x07 7"
		case "account":
			parts[i].body = hostileText
		}
	}
	st, page := e.submit(parts...)
	if st != 200 {
		t.Fatalf("submit: %d\n%s", st, page)
	}
	subs := e.items(crypto.KindSubmission)
	if len(subs) != 1 {
		t.Fatalf("%d submissions", len(subs))
	}
	m, _ := e.open(subs[0])
	if got := m.Answers["account"].Text; got != cleanedText {
		t.Errorf("account arrived as %q, want %q", got, cleanedText)
	}
	if got := m.Answers["facility"].Text; got != "Camp]0;owned 7" {
		t.Errorf("facility arrived as %q", got)
	}
	ct, body := multipartBody(t, part{name: "lang", body: "en"}, part{name: "codename", body: codenameOf(t, page)},
		part{name: "message", body: hostileText})
	if st, page := e.post("/followup", ct, body); st != 200 {
		t.Fatalf("follow-up: %d\n%s", st, page)
	}
	fus := e.items(crypto.KindFollowup)
	if len(fus) != 1 {
		t.Fatalf("%d follow-ups", len(fus))
	}
	if m, _ := e.open(fus[0]); m.Answers["message"].Text != cleanedText {
		t.Errorf("follow-up arrived as %q, want %q", m.Answers["message"].Text, cleanedText)
	}
}

// TestSiteFormIsTheFormPackages: the site serves package form's default,
// which the offline tool reads too, and labels its yes/no choices in
// English as the form does (the tool shows the form's labels).
func TestSiteFormIsTheFormPackages(t *testing.T) {
	e := newWitEnv(t, Config{})
	site := e.s.quest
	def := form.Default()
	if site.Ref() != def.Ref() || len(site.Answers()) != len(def.Answers()) {
		t.Fatalf("the site serves %+v, the form package's default is %+v", site.Ref(), def.Ref())
	}
	for i, f := range def.Answers() {
		s := site.Answers()[i]
		if s.Key != f.Key || s.Type != f.Type || s.Label.In(web.DefaultLang) != f.Label.In(web.DefaultLang) || len(s.Options) != len(f.Options) {
			t.Fatalf("field %d: the site's %s, the form's %s", i, s.Key, f.Key)
		}
		for j, o := range f.Options {
			if so := s.Options[j]; so.Value != o.Value || so.Label[web.DefaultLang] != o.Label[web.DefaultLang] {
				t.Errorf("%s: the site's option %s %q, the form's %s %q", f.Key, so.Value, so.Label[web.DefaultLang], o.Value, o.Label[web.DefaultLang])
			}
		}
	}
}

package server

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"testimony/crypto"
)

// The field keys and option values are a contract with the offline tool.
func TestDefaultQuestionnaireContract(t *testing.T) {
	q, err := parseQuestionnaire(defaultQuestionnaire)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ     string
		options []string
	}{
		"role":               {fieldSingle, []string{"self", "relative", "fellow_detainee", "lawyer", "other"}},
		"consent_proxy":      {fieldYesNo, []string{"yes", "no", "unsure"}},
		"facility":           {fieldText, nil},
		"detention_from":     {fieldDate, nil},
		"detention_to":       {fieldDate, nil},
		"conditions":         {fieldMulti, []string{"overcrowding", "medical_denied", "restraints", "threats_violence", "documents_taken", "no_lawyer", "weight_loss"}},
		"deport_date":        {fieldDate, nil},
		"depart_airport":     {fieldText, nil},
		"transit_country":    {fieldText, nil},
		"arrival_airport":    {fieldText, nil},
		"flight_treatment":   {fieldMulti, []string{"shackled", "handcuffed", "tied_to_seat", "documents_confiscated", "no_food_water", "medical_denied"}},
		"arrival_questioned": {fieldYesNo, []string{"yes", "no", "unsure"}},
		"arrival_detained":   {fieldYesNo, []string{"yes", "no", "unsure"}},
		"charges":            {fieldTextarea, nil},
		"asylum_case":        {fieldTextarea, nil},
		"account":            {fieldTextarea, nil},
		"consent_use":        {fieldSingle, []string{"quote_anonymised", "statistics_only", "no_publication"}},
		"contact":            {fieldSingle, []string{"codename_only", "other_way"}},
		"files":              {fieldFile, nil},
	}
	n := 0
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			n++
			w, ok := want[f.Key]
			if !ok {
				t.Errorf("unexpected field %q", f.Key)
				continue
			}
			var opts []string
			for _, o := range f.Options {
				opts = append(opts, o.Value)
			}
			if f.Type != w.typ || !slices.Equal(opts, w.options) {
				t.Errorf("field %s: %s %v, want %s %v", f.Key, f.Type, opts, w.typ, w.options)
			}
			if f.Required != (f.Key == "account") {
				t.Errorf("field %s: required = %v", f.Key, f.Required)
			}
		}
	}
	if n != len(want) {
		t.Errorf("%d fields, want %d", n, len(want))
	}
	if !q.Field("files").Multiple {
		t.Error("files does not take several files")
	}
}

func TestQuestionnaireOverride(t *testing.T) {
	dir := t.TempDir()
	custom := `{"id":"custom","version":3,"title":{"en":"Custom"},"sections":[{"title":{"en":"S"},"fields":[
		{"key":"account","type":"textarea","required":true,"label":{"en":"Tell us"}},
		{"key":"camp","type":"single","label":{"en":"Camp"},"options":[{"value":"north","label":{"en":"North"}}]},
		{"key":"photos","type":"file","multiple":true,"label":{"en":"Photos"}}]}]}`
	os.WriteFile(filepath.Join(dir, questionnaireFile), []byte(custom), 0o600)
	q, err := loadQuestionnaire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if q.ID != "custom" || q.Version != 3 || q.Field("camp") == nil || !q.IsFile("photos") {
		t.Fatalf("override not used: %+v", q.Ref())
	}
	// A site with the override serves and validates against it.
	e := newWitEnv(t, Config{})
	os.WriteFile(filepath.Join(e.dir, questionnaireFile), []byte(custom), 0o600)
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

func TestQuestionnaireRefusesBadDefinitions(t *testing.T) {
	base := func(fields string) string {
		return `{"id":"q","version":1,"title":{"en":"T"},"sections":[{"title":{"en":"S"},"fields":[` + fields + `]}]}`
	}
	for name, def := range map[string]string{
		"not json":          `{`,
		"unknown key":       `{"id":"q","version":1,"title":{"en":"T"},"colour":"red","sections":[]}`,
		"no version":        `{"id":"q","title":{"en":"T"},"sections":[]}`,
		"bad field key":     base(`{"key":"Bad Key","type":"text","label":{"en":"L"}}`),
		"reserved key":      base(`{"key":"codename","type":"text","label":{"en":"L"}}`),
		"duplicate":         base(`{"key":"a","type":"text","label":{"en":"L"}},{"key":"a","type":"text","label":{"en":"L"}}`),
		"unknown type":      base(`{"key":"a","type":"slider","label":{"en":"L"}}`),
		"no options":        base(`{"key":"a","type":"single","label":{"en":"L"}}`),
		"no english label":  base(`{"key":"a","type":"text","label":{"ru":"Л"}}`),
		"two file fields":   base(`{"key":"a","type":"file","label":{"en":"L"}},{"key":"b","type":"file","label":{"en":"L"}}`),
		"required file":     base(`{"key":"a","type":"file","required":true,"label":{"en":"L"}}`),
		"options on text":   base(`{"key":"a","type":"text","label":{"en":"L"},"options":[{"value":"x","label":{"en":"X"}}]}`),
		"options on yes/no": base(`{"key":"a","type":"yesno","label":{"en":"L"},"options":[{"value":"x","label":{"en":"X"}}]}`),
		"duplicate options": base(`{"key":"a","type":"multi","label":{"en":"L"},"options":[{"value":"x","label":{"en":"X"}},{"value":"x","label":{"en":"X"}}]}`),
		"too many fields":   base(manyFields(crypto.MaxAnswers + 1)),
	} {
		if _, err := parseQuestionnaire([]byte(def)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// manyFields is n text fields, as a questionnaire's JSON.
func manyFields(n int) string {
	var fs []string
	for i := range n {
		fs = append(fs, fmt.Sprintf(`{"key":"f%d","type":"text","label":{"en":"L"}}`, i))
	}
	return strings.Join(fs, ",")
}

// A questionnaire at the cap is accepted: the cap refuses no form the
// manifest can carry.
func TestQuestionnaireFieldCap(t *testing.T) {
	def := `{"id":"q","version":1,"title":{"en":"T"},"sections":[{"title":{"en":"S"},"fields":[` + manyFields(crypto.MaxAnswers) + `]}]}`
	if _, err := parseQuestionnaire([]byte(def)); err != nil {
		t.Fatalf("%d fields: %v", crypto.MaxAnswers, err)
	}
}

// hostileText is an answer that, shown raw in a terminal, clears the
// screen and sets the window title (issue 17, point 4), with a C1 CSI, a
// DEL and a browser's CRLF line breaks and a lone CR around it.
const hostileText = "LED\x1b[2J\x1b]0;owned\x07 lamp\u009b31m\x7f\r\nline two\rline three\tend"

// cleanedText is what must arrive of it: the controls gone, each line
// break a newline, the tab kept.
const cleanedText = "LED[2J]0;owned lamp31m\nline two\nline three\tend"

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		hostileText:                  cleanedText,
		"plain":                      "plain",
		"a\r\n\r\nb":                 "a\n\nb",
		"кириллица\u202eтекст":       "кириллица\u202eтекст", // bidi controls stay; the offline tool escapes them
		"\x1b\x1b":                   "",
		"tab\tand\nnewline":          "tab\tand\nnewline",
		"\u0085next line \u00a0nbsp": "next line \u00a0nbsp",
	} {
		if got := cleanText(in); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

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

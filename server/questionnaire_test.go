package server

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
	} {
		if _, err := parseQuestionnaire([]byte(def)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

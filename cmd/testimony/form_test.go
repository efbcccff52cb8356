package main

import (
	"reflect"
	"slices"
	"testing"

	"testimony/crypto"
	"testimony/form"
)

// TestToolReadsTheSitesForm: the tool reads an item the site wrote with
// package form's default, the one definition both use: the form the
// manifest names is that form, value for value; and every field the
// tool's index, spreadsheet and report read by its attributes is a field
// of it, so the report cannot fall silent on a renamed field.
func TestToolReadsTheSitesForm(t *testing.T) {
	site := form.Default()
	m := &crypto.Manifest{Form: site.Ref()}
	if f := formOf(m); f == nil || !reflect.DeepEqual(f.Form, site) {
		t.Fatalf("the tool reads %+v with another form than the site's", site.Ref())
	}
	for _, role := range []string{form.FlightDate, form.FlightFrom, form.FlightVia, form.FlightTo, form.FlightTreatment,
		form.DetentionPlace, form.DetentionFrom, form.DetentionTo, form.DetentionConditions} {
		if k := readingForm(m).ReportKey(role); site.Field(k) == nil {
			t.Errorf("report role %s: no field of the site's form", role)
		}
	}
	var keys []string
	for _, f := range site.Answers() {
		keys = append(keys, f.Key)
	}
	var cols []string
	for _, q := range questions {
		cols = append(cols, q.key)
	}
	if !slices.Equal(cols, keys) {
		t.Errorf("the spreadsheet's columns %v, the site's answer fields %v", cols, keys)
	}
	// A form the tool is given is checked as the site checks it: a field
	// of a type the site does not know is refused, not shown.
	if _, err := addForm([]byte(`{"id":"bad","version":1,"title":{"en":"T"},"sections":[{"title":{"en":"S"},"fields":[{"key":"a","type":"slider","label":{"en":"L"}}]}]}`)); err == nil {
		t.Error("the tool took a form the site refuses")
	}
}

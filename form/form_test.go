package form

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"testimony/crypto"
)

// The field keys and option values are a contract with the offline tool.
func TestDefaultQuestionnaireContract(t *testing.T) {
	q, err := Parse(defaultJSON)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ     string
		options []string
	}{
		"role":               {TypeSingle, []string{"self", "relative", "fellow_detainee", "lawyer", "other"}},
		"consent_proxy":      {TypeYesNo, []string{"yes", "no", "unsure"}},
		"facility":           {TypeText, nil},
		"detention_from":     {TypeDate, nil},
		"detention_to":       {TypeDate, nil},
		"conditions":         {TypeMulti, []string{"overcrowding", "medical_denied", "restraints", "threats_violence", "documents_taken", "no_lawyer", "weight_loss"}},
		"deport_date":        {TypeDate, nil},
		"depart_airport":     {TypeText, nil},
		"transit_country":    {TypeText, nil},
		"arrival_airport":    {TypeText, nil},
		"flight_treatment":   {TypeMulti, []string{"shackled", "handcuffed", "tied_to_seat", "documents_confiscated", "no_food_water", "medical_denied"}},
		"arrival_questioned": {TypeYesNo, []string{"yes", "no", "unsure"}},
		"arrival_detained":   {TypeYesNo, []string{"yes", "no", "unsure"}},
		"charges":            {TypeTextarea, nil},
		"asylum_case":        {TypeTextarea, nil},
		"account":            {TypeTextarea, nil},
		"consent_use":        {TypeSingle, []string{"quote_anonymised", "statistics_only", "no_publication"}},
		"contact":            {TypeSingle, []string{"codename_only", "other_way"}},
		"files":              {TypeFile, nil},
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

// The offline tool's reading of the default form: the answers the case
// index shows for each item, and the fields the report corroborates and
// counts. Items already opened were summarised and reported by these keys.
func TestDefaultReportContract(t *testing.T) {
	q := Default()
	var summary []string
	for _, f := range q.Answers() {
		if f.Summary {
			summary = append(summary, f.Key)
		}
		if f.Short == "" {
			t.Errorf("field %s has no short name", f.Key)
		}
	}
	want := []string{"role", "facility", "detention_from", "detention_to", "conditions",
		"deport_date", "depart_airport", "transit_country", "arrival_airport", "flight_treatment"}
	if !slices.Equal(summary, want) {
		t.Errorf("summary fields %v, want %v", summary, want)
	}
	for role, key := range map[string]string{
		FlightDate: "deport_date", FlightFrom: "depart_airport", FlightVia: "transit_country", FlightTo: "arrival_airport",
		FlightTreatment: "flight_treatment", DetentionPlace: "facility", DetentionFrom: "detention_from",
		DetentionTo: "detention_to", DetentionConditions: "conditions",
	} {
		if got := q.ReportKey(role); got != key {
			t.Errorf("report role %s: field %q, want %q", role, got, key)
		}
	}
	if len(reportRoles) != 9 {
		t.Errorf("%d report roles, this test knows 9", len(reportRoles))
	}
}

// TestYesNoEnglish: before a site labels them, the yes/no choices carry
// English labels, which the offline tool shows.
func TestYesNoEnglish(t *testing.T) {
	f := Default().Field("arrival_questioned")
	var got []string
	for _, o := range f.Options {
		got = append(got, o.Value+"="+o.Label.In("ru"))
	}
	if want := []string{"yes=Yes", "no=No", "unsure=Not sure"}; !slices.Equal(got, want) {
		t.Errorf("yes/no options %v, want %v", got, want)
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
		"unknown role":      base(`{"key":"a","type":"text","report":"flight.speed","label":{"en":"L"}}`),
		"role twice":        base(`{"key":"a","type":"text","report":"flight.from","label":{"en":"L"}},{"key":"b","type":"text","report":"flight.from","label":{"en":"L"}}`),
		"date role on text": base(`{"key":"a","type":"text","report":"flight.date","label":{"en":"L"}}`),
		"role on file":      base(`{"key":"a","type":"file","report":"flight.to","label":{"en":"L"}}`),
		"summary of file":   base(`{"key":"a","type":"file","summary":true,"label":{"en":"L"}}`),
	} {
		if _, err := Parse([]byte(def)); err == nil {
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
	if _, err := Parse([]byte(def)); err != nil {
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
		if got := CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPartialDates(t *testing.T) {
	for s, ok := range map[string]bool{
		"2025": true, "2025-06": true, "2025-06-30": true, "1999-12-01": true,
		"25": false, "2025-13": false, "2025-06-32": false, "2025/06": false, "June 2025": false, "2025-6": false, "": false,
	} {
		if ValidDate(s) != ok {
			t.Errorf("ValidDate(%q) = %v", s, !ok)
		}
	}
}

// TestDefaultFormShowsTheAccountFirst: the witness form shows the section
// of the one required field, the account, first and open, and folds every
// other section under a line that says what it asks, in every language
// of the default; the answers keep the definition's order (the
// spreadsheet's columns).
func TestDefaultFormShowsTheAccountFirst(t *testing.T) {
	q := Default()
	shown := q.Shown()
	if len(shown) != len(q.Sections) {
		t.Fatalf("%d sections shown of %d", len(shown), len(q.Sections))
	}
	if shown[0].Folded() || !slices.ContainsFunc(shown[0].Fields, func(f *Field) bool { return f.Key == "account" }) {
		t.Fatalf("the first section shown is %q (folded %v), not the account's", shown[0].Title.In(English), shown[0].Folded())
	}
	for _, sec := range shown[1:] {
		if !sec.Folded() {
			t.Errorf("section %q is not folded", sec.Title.In(English))
		}
		for _, l := range []string{"en", "ru", "uk", "es"} {
			if a := sec.Asks[l]; strings.TrimSpace(a) == "" || strings.Contains(a, "\n") {
				t.Errorf("section %q: no one-line %s text of what it asks: %q", sec.Title.In(English), l, a)
			}
		}
	}
	if keys := q.Answers(); keys[0].Key != "role" || keys[len(keys)-1].Key != "contact" {
		t.Errorf("the answers' order changed: %s … %s", keys[0].Key, keys[len(keys)-1].Key)
	}
}

// TestShownOrder: open sections first, then the folded ones, each in the
// definition's order.
func TestShownOrder(t *testing.T) {
	q, err := Parse([]byte(`{"id":"x","version":1,"title":{"en":"T"},"sections":[
		{"title":{"en":"A"},"fields":[{"key":"a","type":"text","label":{"en":"a"}}]},
		{"title":{"en":"B"},"fields":[{"key":"b","type":"text","label":{"en":"b"},"required":true}]},
		{"title":{"en":"C"},"asks":{"en":"c?"},"fields":[{"key":"c","type":"text","label":{"en":"c"}}]},
		{"title":{"en":"D"},"fields":[{"key":"d","type":"text","label":{"en":"d"},"required":true}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range q.Shown() {
		got = append(got, s.Title.In(English))
	}
	if !slices.Equal(got, []string{"B", "D", "A", "C"}) {
		t.Errorf("shown %v", got)
	}
}

package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"testimony/crypto"
	"testimony/form"
)

// question is an answer field of the default form, as the answer keys of
// manifest.json name it, with its short English name.
type question struct {
	key   string
	label string
}

// questions are the default form's answer fields, in its order: the
// columns every spreadsheet has, and the names of the answers of an item
// whose form this tool does not know.
var questions = questionsOf(defaultForm)

func questionsOf(f *formDef) []question {
	var qs []question
	for _, fl := range f.Answers() {
		q := question{key: fl.Key, label: fl.Short}
		if q.label == "" {
			q.label = fl.Key
		}
		qs = append(qs, q)
	}
	return qs
}

// questionLabel is the short English name of a question, for a form this
// tool does not know.
func questionLabel(key string) string {
	for _, q := range questions {
		if q.key == key {
			return q.label
		}
	}
	return key
}

// answerKeys returns the keys of the manifest's answers in the order of
// its form (the default form's for a form not known), then the others
// sorted.
func answerKeys(m *crypto.Manifest) []string {
	var keys, extra []string
	in := map[string]bool{}
	for _, f := range readingForm(m).Answers() {
		in[f.Key] = true
		if _, ok := m.Answers[f.Key]; ok {
			keys = append(keys, f.Key)
		}
	}
	for k := range m.Answers {
		if !in[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return append(keys, extra...)
}

// answerText gives an answer as one string: choices joined with "; ".
func answerText(a crypto.Answer) string {
	return strings.Join(a.Values(), "; ")
}

// answer returns the answer to key as text, "" when absent.
func answer(m *crypto.Manifest, key string) string {
	a, ok := m.Answers[key]
	if !ok {
		return ""
	}
	return answerText(a)
}

// The questionnaire the witness site publishes is package form's, read
// here from the same file (form/default.json): a manifest names the form
// and version its answers were given to, and the offline tool, with no
// network and no server, takes its questions' labels, in every language
// the form has, from the form, and from its attributes which answers the
// case index shows and which the report corroborates. A form version may
// add fields or options, never rename one, so an item given to an earlier
// version of the form reads with the latest. An organisation that
// replaced the questionnaire gives its file to open with --form. The
// manifest itself carries no labels: it stays the same format, and its
// keys and values stay the stable contract (the CSV's columns and cells
// are keys and values, in English).

// formDef is a form as this tool reads it; its lookups take a nil form
// (one not known) for a form without fields.
type formDef struct {
	*form.Form
	// roles maps a report role to its field's key: the report asks for
	// them several times per item, and form.ReportKey walks the form.
	roles map[string]string
}

func newFormDef(f *form.Form) *formDef {
	d := &formDef{Form: f, roles: map[string]string{}}
	for _, fl := range f.Answers() {
		if fl.Report != "" {
			if _, ok := d.roles[fl.Report]; !ok {
				d.roles[fl.Report] = fl.Key
			}
		}
	}
	return d
}

// ReportKey returns the key of the field with a report role, or "".
func (f *formDef) ReportKey(role string) string { return f.roles[role] }

type formKey struct {
	id      string
	version int
}

// defaultForm is the site's own questionnaire.
var defaultForm = newFormDef(form.Default())

// forms are the questionnaires known: the default, and those given with
// open --form.
var forms = map[formKey]*formDef{{defaultForm.ID, defaultForm.Version}: defaultForm}

// addForm reads a questionnaire, checked as the site checks it, and adds
// it to the known forms.
func addForm(b []byte) (*formDef, error) {
	f, err := form.Parse(b)
	if err != nil {
		return nil, err
	}
	d := newFormDef(f)
	forms[formKey{f.ID, f.Version}] = d
	return d, nil
}

// loadFormFile adds an organisation's questionnaire file (open --form).
func loadFormFile(name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := addForm(b); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

// formOf returns the questionnaire the manifest's answers were given to:
// its version, or else the latest version of the same form (a version may
// add fields or options, never rename one); nil for a form not known.
func formOf(m *crypto.Manifest) *formDef {
	if f := forms[formKey{m.Form.ID, m.Form.Version}]; f != nil {
		return f
	}
	var best *formDef
	for k, f := range forms {
		if k.id == m.Form.ID && (best == nil || f.Version > best.Version) {
			best = f
		}
	}
	return best
}

// readingForm is the form whose order, summary and report roles the
// manifest's answers are read by: its own, or the default form for a form
// not known (an item whose form was not given with --form is read as one
// of the site's own, by key).
func readingForm(m *crypto.Manifest) *formDef {
	if f := formOf(m); f != nil {
		return f
	}
	return defaultForm
}

func (f *formDef) field(key string) *form.Field {
	if f == nil {
		return nil
	}
	return f.Field(key)
}

// reportAnswer returns, as text, the manifest's answer to the field of
// its form with a report role (form.FlightDate, …); "" when it has none.
func reportAnswer(m *crypto.Manifest, role string) string {
	return answer(m, readingForm(m).ReportKey(role))
}

// reportValues returns the values of that answer.
func reportValues(m *crypto.Manifest, role string) []string {
	return m.Answers[readingForm(m).ReportKey(role)].Values()
}

// isSummary reports whether the case index shows the answer to key.
func isSummary(m *crypto.Manifest, key string) bool {
	f := readingForm(m).field(key)
	return f != nil && f.Summary
}

// bilingual writes a text in the witness's language and in English:
// "Вы… / You are…"; English alone when both are the same or there is no
// text in lang.
func bilingual(texts map[string]string, lang string) string {
	en := strings.TrimSpace(texts["en"])
	own := strings.TrimSpace(texts[lang])
	switch {
	case en == "":
		return own
	case own == "" || own == en:
		return en
	}
	return own + " / " + en
}

// answerLabel is the label of a question as the witness read it and in
// English, from the form the manifest names; the short English name when
// the form is not known.
func answerLabel(m *crypto.Manifest, key string) string {
	if f := formOf(m).field(key); f != nil {
		if s := bilingual(f.Label, m.Lang); s != "" {
			return s
		}
	}
	return questionLabel(key)
}

// answerShown is an answer as text, each choice shown by its label as the
// witness read it and in English (choices joined with "; "); a text
// answer, or a value the form does not list, as it is.
func answerShown(m *crypto.Manifest, key string) string {
	a := m.Answers[key]
	f := formOf(m).field(key)
	if f == nil || len(f.Options) == 0 {
		return answerText(a)
	}
	vals := a.Values()
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v
		for _, o := range f.Options {
			if o.Value == v {
				if s := bilingual(o.Label, m.Lang); s != "" {
					out[i] = s
				}
			}
		}
	}
	return strings.Join(out, "; ")
}

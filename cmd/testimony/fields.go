package main

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"testimony/crypto"
)

// question is one field of the questionnaire, as the answer keys of
// manifest.json name it. The keys are the contract with the witness form.
type question struct {
	key   string
	label string
	multi bool
}

// questions lists the questionnaire's fields in the order a reader expects
// them. Answers under other keys (a later form version) follow, sorted.
var questions = []question{
	{key: "role", label: "Role"},
	{key: "consent_proxy", label: "Consent of the person (proxy report)"},
	{key: "facility", label: "Detention facility"},
	{key: "detention_from", label: "Detained from"},
	{key: "detention_to", label: "Detained until"},
	{key: "conditions", label: "Conditions in detention", multi: true},
	{key: "deport_date", label: "Deportation date"},
	{key: "depart_airport", label: "Departure airport"},
	{key: "transit_country", label: "Transit country"},
	{key: "arrival_airport", label: "Arrival airport"},
	{key: "flight_treatment", label: "Treatment on the flight", multi: true},
	{key: "arrival_questioned", label: "Questioned on arrival"},
	{key: "arrival_detained", label: "Detained on arrival"},
	{key: "charges", label: "Charges"},
	{key: "asylum_case", label: "Asylum case"},
	{key: "account", label: "Account"},
	{key: "consent_use", label: "Consent to use"},
	{key: "contact", label: "Contact"},
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

// answerKeys returns the keys of answers in questionnaire order, then the
// others sorted.
func answerKeys(answers map[string]crypto.Answer) []string {
	var keys, extra []string
	for _, q := range questions {
		if _, ok := answers[q.key]; ok {
			keys = append(keys, q.key)
		}
	}
	for k := range answers {
		if !slices.ContainsFunc(questions, func(q question) bool { return q.key == k }) {
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

// The questionnaires the witness site has published, as the site wrote
// them (server/questionnaire/default.json), one file per version under
// forms/ named ID.vN.json: a manifest names the form and version its
// answers were given to, and the offline tool, with no network and no
// server, takes its questions' labels, in every language the form has,
// from here. An organisation that replaced the questionnaire gives its
// file to open with --form. The manifest itself carries no labels: it
// stays the same format, and its keys and values stay the stable contract
// (the CSV's columns and cells are keys and values, in English).
//
//go:embed forms/*.json
var formFiles embed.FS

// formDef is what the tool reads of a questionnaire: its fields' labels
// and their options' labels, each a map from a language to a text.
type formDef struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Sections []struct {
		Fields []*formField `json:"fields"`
	} `json:"sections"`
}

type formField struct {
	Key     string            `json:"key"`
	Type    string            `json:"type"`
	Label   map[string]string `json:"label"`
	Options []struct {
		Value string            `json:"value"`
		Label map[string]string `json:"label"`
	} `json:"options"`
}

// yesNoLabels are the English labels of a yes/no/unsure question's
// choices; the site takes them from its message catalog, which this tool
// does not have in other languages.
var yesNoLabels = map[string]string{"yes": "Yes", "no": "No", "unsure": "Not sure"}

type formKey struct {
	id      string
	version int
}

// forms are the questionnaires known: the embedded ones, and those given
// with open --form.
var forms = map[formKey]*formDef{}

func init() {
	names, _ := fs.Glob(formFiles, "forms/*.json")
	for _, n := range names {
		b, _ := formFiles.ReadFile(n)
		if _, err := addForm(b); err != nil {
			panic(fmt.Sprintf("embedded %s: %v", n, err))
		}
	}
}

// addForm reads a questionnaire and adds it to the known forms.
func addForm(b []byte) (*formDef, error) {
	f := new(formDef)
	if err := json.Unmarshal(b, f); err != nil {
		return nil, err
	}
	if f.ID == "" || f.Version < 1 {
		return nil, fmt.Errorf("not a questionnaire: no id and version")
	}
	forms[formKey{f.ID, f.Version}] = f
	return f, nil
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

func (f *formDef) field(key string) *formField {
	if f == nil {
		return nil
	}
	for _, s := range f.Sections {
		for _, fl := range s.Fields {
			if fl != nil && fl.Key == key {
				return fl
			}
		}
	}
	return nil
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
	if f == nil || (len(f.Options) == 0 && f.Type != "yesno") {
		return answerText(a)
	}
	vals := a.Values()
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v
		if f.Type == "yesno" && yesNoLabels[v] != "" {
			out[i] = yesNoLabels[v]
		}
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

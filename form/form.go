// Package form is the questionnaire: the definition a witness answers and
// an investigator's tools read back.
//
// A form is declarative: a versioned JSON definition of sections and
// fields (default.json, embedded; an organisation replaces it with
// DATA/questionnaire.json). Its labels, help texts and option labels
// carry their translations inside the definition, as maps from a language
// to a text ({"en": "…", "ru": "…"}); English is required, the other
// languages fall back to it.
//
// The witness form shows first, open, each section that has a required
// field, then folds every other section under its title and its "asks"
// line ([Form.Shown]), so that a witness sees the one question they must
// answer before the optional ones.
//
// The witness site parses it with [Load] and checks posted answers with
// [Form.Validate]; before a streamed upload it reserves the manifest's
// room with [Form.WorstAnswers]. The offline tool, which has no server
// and no network, reads the same definition with [Default] and [Parse]
// to label the answers of a manifest, which names its form by
// [crypto.FormRef] and carries no labels itself.
//
// # The contract
//
// Field keys and option values are a contract with the offline tool and
// with investigators' reports: a new version may add fields or options,
// never rename one. Besides what the witness sees, a field may carry what
// the tool needs to read answers from many witnesses together:
//
//   - "short": a short English name of the question ("Detention
//     facility"), for an item whose form the tool does not have;
//   - "summary": true when the answer is shown for each item in the case
//     index, next to the item's link;
//   - "report": the field's part in the report's corroboration and charts,
//     one of the report roles ([FlightDate] and the others; at most one
//     field each).
//
// The witness site ignores these three.
package form

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"testimony/crypto"
)

//go:embed default.json
var defaultJSON []byte

// DefaultJSON returns the embedded definition, as it is written.
func DefaultJSON() []byte { return bytes.Clone(defaultJSON) }

// Default returns the embedded form, parsed afresh: a caller may change
// it (its yes/no labels, with [Form.FillYesNo]) without touching another's.
func Default() *Form {
	f, err := Parse(defaultJSON)
	if err != nil {
		panic("form: the embedded default.json: " + err.Error()) // its tests parse it
	}
	return f
}

// File is an override's name in the site's data directory.
const File = "questionnaire.json"

// English is the language every text must have, and the fall-back.
const English = "en"

// Field types.
const (
	TypeText     = "text"
	TypeTextarea = "textarea"
	TypeDate     = "date"   // a plain text input: YYYY, YYYY-MM or YYYY-MM-DD
	TypeSingle   = "single" // one of the options (radio buttons)
	TypeMulti    = "multi"  // any of the options (check boxes)
	TypeYesNo    = "yesno"  // yes, no or unsure
	TypeFile     = "file"   // attachments; never an answer
)

// Report roles: the parts a field may play in the offline tool's report.
// Testimonies from different sources that give the same flight date and
// route, or the same detention place at overlapping dates, corroborate
// each other; places, conditions and treatment are also counted in charts.
const (
	FlightDate          = "flight.date"          // a date field: the day of the deportation flight
	FlightFrom          = "flight.from"          // where the flight left from
	FlightVia           = "flight.via"           // its stop-over, if any
	FlightTo            = "flight.to"            // where it landed
	FlightTreatment     = "flight.treatment"     // what was done on it (shown, counted)
	DetentionPlace      = "detention.place"      // where the witness was held
	DetentionFrom       = "detention.from"       // a date field: held from
	DetentionTo         = "detention.to"         // a date field: held until
	DetentionConditions = "detention.conditions" // what happened there (shown, counted)
)

// reportRoles are the roles a field may take, true for those that must be
// date fields (the report compares them as dates).
var reportRoles = map[string]bool{
	FlightDate: true, FlightFrom: false, FlightVia: false, FlightTo: false, FlightTreatment: false,
	DetentionPlace: false, DetentionFrom: true, DetentionTo: true, DetentionConditions: false,
}

// Text is a text in several languages.
type Text map[string]string

// In returns the text in lang, or in English.
func (t Text) In(lang string) string {
	if s, ok := t[lang]; ok && s != "" {
		return s
	}
	return t[English]
}

// Form is a questionnaire.
type Form struct {
	ID       string    `json:"id"`
	Version  int       `json:"version"`
	Title    Text      `json:"title"`
	Intro    Text      `json:"intro"`
	Sections []Section `json:"sections"`

	fields map[string]*Field
}

// Section groups fields under a heading. On the witness form a section
// with a required field is shown open, and every other one is folded
// under its title and its Asks line, which says in one sentence what it
// asks; see [Form.Shown].
type Section struct {
	Title  Text     `json:"title"`
	Asks   Text     `json:"asks,omitempty"`
	Help   Text     `json:"help,omitempty"`
	Fields []*Field `json:"fields"`
}

// Folded reports whether the witness form folds the section: it has no
// required field, so a witness may skip it unopened.
func (s *Section) Folded() bool {
	return !slices.ContainsFunc(s.Fields, func(f *Field) bool { return f.Required })
}

// Shown returns the sections in the order the witness form shows them:
// first those with a required field (open), then the folded ones, each
// group in the definition's order. The definition's own order stays the
// order of the answers ([Form.Answers]), which is the column order of the
// offline tool's spreadsheets, so the form can put the one question a
// witness must answer first without moving any investigator's columns.
func (q *Form) Shown() []*Section {
	var open, folded []*Section
	for i := range q.Sections {
		if sec := &q.Sections[i]; sec.Folded() {
			folded = append(folded, sec)
		} else {
			open = append(open, sec)
		}
	}
	return append(open, folded...)
}

// Field is one question.
type Field struct {
	Key      string   `json:"key"`
	Type     string   `json:"type"`
	Label    Text     `json:"label"`
	Help     Text     `json:"help,omitempty"`
	Required bool     `json:"required,omitempty"`
	Multiple bool     `json:"multiple,omitempty"` // file fields: several files
	Options  []Option `json:"options,omitempty"`

	// For the offline tool (see the package comment).
	Short   string `json:"short,omitempty"`   // a short English name; the key when empty
	Summary bool   `json:"summary,omitempty"` // shown for each item in the case index
	Report  string `json:"report,omitempty"`  // a report role, or ""
}

// Option is a choice of a single or multiple choice field.
type Option struct {
	Value string `json:"value"`
	Label Text   `json:"label"`
}

var keyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// yesNoValues are the choices of every yes/no/unsure field, and
// yesNoEnglish their English labels, until a site gives them its
// catalog's (the message keys w.yes, w.no, w.unsure) with FillYesNo.
var (
	yesNoValues  = []string{"yes", "no", "unsure"}
	yesNoEnglish = map[string]string{"yes": "Yes", "no": "No", "unsure": "Not sure"}
)

// reservedKeys are form fields of the site itself, never questions.
var reservedKeys = map[string]bool{"lang": true, "codename": true, "message": true}

// Parse reads and checks a definition.
func Parse(b []byte) (*Form, error) {
	q := new(Form)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(q); err != nil {
		return nil, fmt.Errorf("questionnaire: %v", err)
	}
	if q.ID == "" || q.Version < 1 {
		return nil, errors.New("questionnaire: an id and a version ≥ 1 are required")
	}
	if q.Title[English] == "" {
		return nil, errors.New("questionnaire: the title needs an English text")
	}
	q.fields = map[string]*Field{}
	files := 0
	roles := map[string]string{}
	for si := range q.Sections {
		sec := &q.Sections[si]
		for _, f := range sec.Fields {
			if f == nil { // "fields": [null] (found by FuzzQuestionnaire)
				return nil, errors.New("questionnaire: a field is null")
			}
			if !keyRE.MatchString(f.Key) || reservedKeys[f.Key] {
				return nil, fmt.Errorf("questionnaire: field key %q must be lower-case letters, digits and _ (and not a reserved name)", f.Key)
			}
			if q.fields[f.Key] != nil {
				return nil, fmt.Errorf("questionnaire: field %q appears twice", f.Key)
			}
			if f.Label[English] == "" {
				return nil, fmt.Errorf("questionnaire: field %q needs an English label", f.Key)
			}
			if len(f.Options) > 0 && f.Type != TypeSingle && f.Type != TypeMulti {
				// The form would draw them, but a text, date or file field
				// takes any value, and yes/no has its own: refuse rather
				// than show choices that are not kept.
				return nil, fmt.Errorf("questionnaire: field %q: only single and multi fields take options", f.Key)
			}
			switch f.Type {
			case TypeText, TypeTextarea, TypeDate:
			case TypeSingle, TypeMulti:
				if len(f.Options) == 0 {
					return nil, fmt.Errorf("questionnaire: field %q has no options", f.Key)
				}
				seen := map[string]bool{}
				for _, o := range f.Options {
					if !keyRE.MatchString(o.Value) || seen[o.Value] || o.Label[English] == "" {
						return nil, fmt.Errorf("questionnaire: field %q: option %q is malformed, repeated or lacks an English label", f.Key, o.Value)
					}
					seen[o.Value] = true
				}
			case TypeYesNo:
				f.Options = yesNoOptions(func(_, key string) string { return yesNoEnglish[key[len("w."):]] }, []string{English})
			case TypeFile:
				files++
				if f.Required {
					return nil, fmt.Errorf("questionnaire: file field %q cannot be required", f.Key)
				}
			default:
				return nil, fmt.Errorf("questionnaire: field %q has unknown type %q", f.Key, f.Type)
			}
			if f.Report != "" {
				date, ok := reportRoles[f.Report]
				switch {
				case !ok:
					return nil, fmt.Errorf("questionnaire: field %q: unknown report role %q", f.Key, f.Report)
				case roles[f.Report] != "":
					return nil, fmt.Errorf("questionnaire: fields %q and %q both have report role %q", roles[f.Report], f.Key, f.Report)
				case f.Type == TypeFile || date && f.Type != TypeDate:
					return nil, fmt.Errorf("questionnaire: field %q of type %s cannot have report role %q", f.Key, f.Type, f.Report)
				}
				roles[f.Report] = f.Key
			}
			if f.Summary && f.Type == TypeFile {
				return nil, fmt.Errorf("questionnaire: file field %q has no answer to show in a summary", f.Key)
			}
			q.fields[f.Key] = f
		}
	}
	if files > 1 {
		return nil, errors.New("questionnaire: at most one file field")
	}
	if len(q.fields) > crypto.MaxAnswers {
		// A manifest carries at most that many answers: refuse the form at
		// start-up rather than every submission to it.
		return nil, fmt.Errorf("questionnaire: %d fields, at most %d", len(q.fields), crypto.MaxAnswers)
	}
	return q, nil
}

// Load returns the override in dataDir (its File) if there is one, else
// the embedded default.
func Load(dataDir string) (*Form, error) {
	if dataDir != "" {
		path := filepath.Join(dataDir, File)
		b, err := os.ReadFile(path)
		if err == nil {
			q, err := Parse(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return q, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return Default(), nil
}

// yesNoOptions are the options of a yes/no/unsure field in langs, their
// labels from a catalog (the message keys are w.yes, w.no, w.unsure).
func yesNoOptions(t func(lang, key string) string, langs []string) []Option {
	var opts []Option
	for _, v := range yesNoValues {
		tx := Text{}
		for _, l := range langs {
			tx[l] = t(l, "w."+v)
		}
		opts = append(opts, Option{Value: v, Label: tx})
	}
	return opts
}

// FillYesNo gives the yes/no/unsure fields their labels in langs from a
// site's catalog t (the message keys are w.yes, w.no, w.unsure).
func (q *Form) FillYesNo(t func(lang, key string) string, langs []string) {
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			if f.Type == TypeYesNo {
				f.Options = yesNoOptions(t, langs)
			}
		}
	}
}

// Field returns the field of a key, or nil.
func (q *Form) Field(key string) *Field { return q.fields[key] }

// Ref is the form's reference in a manifest.
func (q *Form) Ref() crypto.FormRef { return crypto.FormRef{ID: q.ID, Version: q.Version} }

// IsFile reports whether key is the file field.
func (q *Form) IsFile(key string) bool {
	f := q.fields[key]
	return f != nil && f.Type == TypeFile
}

// FileKey returns the key of the file field, or "".
func (q *Form) FileKey() string {
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			if f.Type == TypeFile {
				return f.Key
			}
		}
	}
	return ""
}

// Answers returns the fields that take an answer (all but the file
// field), in the form's order.
func (q *Form) Answers() []*Field {
	var out []*Field
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			if f.Type != TypeFile {
				out = append(out, f)
			}
		}
	}
	return out
}

// ReportKey returns the key of the field with a report role, or "".
func (q *Form) ReportKey(role string) string {
	for _, f := range q.Answers() {
		if f.Report == role {
			return f.Key
		}
	}
	return ""
}

// HasOption reports whether v is one of the field's options.
func (f *Field) HasOption(v string) bool {
	return slices.ContainsFunc(f.Options, func(o Option) bool { return o.Value == v })
}

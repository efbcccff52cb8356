package server

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
	"strconv"
	"strings"
	"unicode/utf8"

	"testimony/crypto"
)

// The questionnaire is declarative: a versioned JSON definition of
// sections and fields, embedded (questionnaire/default.json) and
// replaceable by DATA/questionnaire.json. Its labels, help texts and option
// labels carry their translations inside the definition, as maps from a
// language to a text ({"en": "…", "ru": "…"}); English is required, the
// other languages fall back to it.
//
// Field keys and option values are a contract with the offline tool and
// with investigators' reports: a new version may add fields or options,
// never rename one.
//
//go:embed questionnaire/default.json
var defaultQuestionnaire []byte

// questionnaireFile is the override's name in the data directory.
const questionnaireFile = "questionnaire.json"

// Field types.
const (
	fieldText     = "text"
	fieldTextarea = "textarea"
	fieldDate     = "date"   // a plain text input: YYYY, YYYY-MM or YYYY-MM-DD
	fieldSingle   = "single" // one of the options (radio buttons)
	fieldMulti    = "multi"  // any of the options (check boxes)
	fieldYesNo    = "yesno"  // yes, no or unsure
	fieldFile     = "file"   // attachments; never an answer
)

// Text is a text in several languages.
type Text map[string]string

// In returns the text in lang, or in English.
func (t Text) In(lang string) string {
	if s, ok := t[lang]; ok && s != "" {
		return s
	}
	return t[defaultLang]
}

// Questionnaire is a form definition.
type Questionnaire struct {
	ID       string    `json:"id"`
	Version  int       `json:"version"`
	Title    Text      `json:"title"`
	Intro    Text      `json:"intro"`
	Sections []Section `json:"sections"`

	fields map[string]*Field
}

// Section groups fields under a heading.
type Section struct {
	Title  Text     `json:"title"`
	Help   Text     `json:"help,omitempty"`
	Fields []*Field `json:"fields"`
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
}

// Option is a choice of a single or multiple choice field.
type Option struct {
	Value string `json:"value"`
	Label Text   `json:"label"`
}

var keyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// yesNoOptions are the choices of every yes/no/unsure field; their labels
// come from the message catalog (w.yes, w.no, w.unsure).
var yesNoValues = []string{"yes", "no", "unsure"}

// reservedKeys are form fields of the site itself, never questions.
var reservedKeys = map[string]bool{"lang": true, "codename": true, "message": true}

// parseQuestionnaire reads and checks a definition.
func parseQuestionnaire(b []byte) (*Questionnaire, error) {
	q := new(Questionnaire)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(q); err != nil {
		return nil, fmt.Errorf("questionnaire: %v", err)
	}
	if q.ID == "" || q.Version < 1 {
		return nil, errors.New("questionnaire: an id and a version ≥ 1 are required")
	}
	if q.Title[defaultLang] == "" {
		return nil, errors.New("questionnaire: the title needs an English text")
	}
	q.fields = map[string]*Field{}
	files := 0
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
			if f.Label[defaultLang] == "" {
				return nil, fmt.Errorf("questionnaire: field %q needs an English label", f.Key)
			}
			if len(f.Options) > 0 && f.Type != fieldSingle && f.Type != fieldMulti {
				// The form would draw them, but a text, date or file field
				// takes any value, and yes/no has its own: refuse rather
				// than show choices that are not kept.
				return nil, fmt.Errorf("questionnaire: field %q: only single and multi fields take options", f.Key)
			}
			switch f.Type {
			case fieldText, fieldTextarea, fieldDate:
			case fieldSingle, fieldMulti:
				if len(f.Options) == 0 {
					return nil, fmt.Errorf("questionnaire: field %q has no options", f.Key)
				}
				seen := map[string]bool{}
				for _, o := range f.Options {
					if !keyRE.MatchString(o.Value) || seen[o.Value] || o.Label[defaultLang] == "" {
						return nil, fmt.Errorf("questionnaire: field %q: option %q is malformed, repeated or lacks an English label", f.Key, o.Value)
					}
					seen[o.Value] = true
				}
			case fieldYesNo:
				f.Options = yesNoOptions(translate, witnessLangs)
			case fieldFile:
				files++
				if f.Required {
					return nil, fmt.Errorf("questionnaire: file field %q cannot be required", f.Key)
				}
			default:
				return nil, fmt.Errorf("questionnaire: field %q has unknown type %q", f.Key, f.Type)
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

// fillYesNo gives the yes/no/unsure fields their labels from a site's
// catalog, which may hold languages the embedded one lacks.
func (q *Questionnaire) fillYesNo(t func(lang, key string) string, langs []string) {
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			if f.Type == fieldYesNo {
				f.Options = yesNoOptions(t, langs)
			}
		}
	}
}

// loadQuestionnaire returns the override in dataDir if there is one, else
// the embedded default.
func loadQuestionnaire(dataDir string) (*Questionnaire, error) {
	if dataDir != "" {
		path := filepath.Join(dataDir, questionnaireFile)
		b, err := os.ReadFile(path)
		if err == nil {
			q, err := parseQuestionnaire(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return q, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return parseQuestionnaire(defaultQuestionnaire)
}

// Field returns the field of a key, or nil.
func (q *Questionnaire) Field(key string) *Field { return q.fields[key] }

// Ref is the questionnaire's reference in a manifest.
func (q *Questionnaire) Ref() crypto.FormRef { return crypto.FormRef{ID: q.ID, Version: q.Version} }

// IsFile reports whether key is the file field.
func (q *Questionnaire) IsFile(key string) bool {
	f := q.fields[key]
	return f != nil && f.Type == fieldFile
}

// HasOption reports whether v is one of the field's options.
func (f *Field) HasOption(v string) bool {
	return slices.ContainsFunc(f.Options, func(o Option) bool { return o.Value == v })
}

// Limits of text answers.
const (
	maxFieldBytes = 64 << 10 // one text answer
	maxTextBytes  = 1 << 20  // every text answer of a form together
	maxShortField = 1000     // a one-line text or date field, in bytes
)

var dateRE = regexp.MustCompile(`^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$`)

// validDate accepts YYYY, YYYY-MM and YYYY-MM-DD with plausible numbers.
func validDate(s string) bool {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	y, _ := strconv.Atoi(m[1])
	if y < 1900 || y > 2200 {
		return false
	}
	if m[2] != "" {
		mo, _ := strconv.Atoi(m[2])
		if mo < 1 || mo > 12 {
			return false
		}
		if m[3] != "" {
			d, _ := strconv.Atoi(m[3])
			if d < 1 || d > 31 {
				return false
			}
		}
	}
	return true
}

// formValues are the text answers of a form as they were posted: each key
// with the values in the order given.
type formValues map[string][]string

// Has reports whether key has the value v (for re-showing a choice).
func (v formValues) Has(key, val string) bool { return slices.Contains(v[key], val) }

// Get returns the first value of key.
func (v formValues) Get(key string) string {
	if len(v[key]) == 0 {
		return ""
	}
	return v[key][0]
}

// validate checks posted answers against the questionnaire and returns
// the manifest answers, or a message key for the whole form and for each
// field in error. The caller has already refused unknown keys and invalid
// UTF-8 with a 400.
func (q *Questionnaire) validate(v formValues) (map[string]crypto.Answer, map[string]string) {
	answers := map[string]crypto.Answer{}
	errs := map[string]string{}
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			vals := v[f.Key]
			var nonEmpty []string
			for _, s := range vals {
				if s = strings.TrimSpace(cleanText(s)); s != "" {
					nonEmpty = append(nonEmpty, s)
				}
			}
			switch f.Type {
			case fieldFile:
				continue
			case fieldText, fieldDate:
				if len(nonEmpty) > 1 {
					errs[f.Key] = "w.form.err.one"
					continue
				}
				if len(nonEmpty) == 1 {
					s := nonEmpty[0]
					if len(s) > maxShortField {
						errs[f.Key] = "w.form.err.long"
						continue
					}
					if f.Type == fieldDate && !validDate(s) {
						errs[f.Key] = "w.form.err.date"
						continue
					}
					answers[f.Key] = crypto.TextAnswer(s)
				}
			case fieldTextarea:
				if len(nonEmpty) > 1 {
					errs[f.Key] = "w.form.err.one"
					continue
				}
				if len(nonEmpty) == 1 {
					// Keep the witness's own line breaks and spacing. The
					// non-empty value, not vals[0]: "", "text" gave an empty
					// answer to a required field (found by FuzzFormAnswers).
					// cleanText has made CRLF a newline.
					answers[f.Key] = crypto.TextAnswer(nonEmpty[0])
				}
			case fieldSingle, fieldYesNo:
				if len(nonEmpty) > 1 {
					errs[f.Key] = "w.form.err.one"
					continue
				}
				if len(nonEmpty) == 1 {
					if !f.HasOption(nonEmpty[0]) {
						errs[f.Key] = "w.form.err.option"
						continue
					}
					answers[f.Key] = crypto.TextAnswer(nonEmpty[0])
				}
			case fieldMulti:
				var list []string
				for _, s := range nonEmpty {
					if !f.HasOption(s) {
						errs[f.Key] = "w.form.err.option"
						break
					}
					if !slices.Contains(list, s) {
						list = append(list, s)
					}
				}
				if errs[f.Key] == "" && len(list) > 0 {
					answers[f.Key] = crypto.ListAnswer(list...)
				}
			}
			if f.Required && errs[f.Key] == "" {
				if _, ok := answers[f.Key]; !ok {
					errs[f.Key] = "w.form.err.required"
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return answers, nil
}

// worstAnswers returns answers at least as long, as JSON, as any the form
// can still give once validated, when the text values v have been read
// and textLeft more bytes of text may come: a text read stays as it is
// (validation only trims it), a text not read yet is as long as its limits
// allow in the characters JSON writes longest, a choice is its longest
// option, and a multiple choice all of them.
func (q *Questionnaire) worstAnswers(v formValues, textLeft int) map[string]crypto.Answer {
	out := map[string]crypto.Answer{}
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			switch f.Type {
			case fieldText, fieldDate, fieldTextarea:
				if vals, ok := v[f.Key]; ok {
					out[f.Key] = crypto.TextAnswer(longest(vals))
				} else if f.Type == fieldTextarea {
					out[f.Key] = worstText(min(maxFieldBytes, textLeft))
				} else {
					out[f.Key] = worstText(min(maxShortField, textLeft))
				}
			case fieldSingle, fieldYesNo:
				var l string
				for _, o := range f.Options {
					if len(o.Value) > len(l) {
						l = o.Value
					}
				}
				out[f.Key] = crypto.TextAnswer(l)
			case fieldMulti:
				var all []string
				for _, o := range f.Options {
					all = append(all, o.Value)
				}
				out[f.Key] = crypto.ListAnswer(all...)
			}
		}
	}
	return out
}

// checkText refuses a text value that is not valid UTF-8 or holds NUL.
// Other control characters are not refused but removed, by [cleanText].
func checkText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// cleanText removes from a witness's text what is not text but a command
// to whatever shows it: the C0 and C1 control characters (ESC starts a
// terminal's escape sequences, BEL ends some) and DEL. Tab and newline
// stay; a CRLF or a lone CR (browsers send CRLF from a text area) becomes
// a newline, so the witness's line breaks stay as they were. Bidi
// controls stay: they belong in mixed-direction text, and the offline
// tool escapes them where a terminal shows them. It runs on every text
// answer and follow-up as it arrives, before it is encrypted (issue 17).
func cleanText(s string) string {
	clean := true
	for _, r := range s {
		if r == '\r' || r != '\t' && r != '\n' && isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\r':
			b.WriteByte('\n')
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case isControl(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isControl reports the C0 controls, DEL and the C1 controls.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }

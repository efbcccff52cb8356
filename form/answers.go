package form

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"testimony/crypto"
)

// Limits of text answers.
const (
	MaxFieldBytes = 64 << 10 // one text answer
	MaxTextBytes  = 1 << 20  // every text answer of a form together
	MaxShortField = 1000     // a one-line text or date field, in bytes
)

var dateRE = regexp.MustCompile(`^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$`)

// ValidDate accepts YYYY, YYYY-MM and YYYY-MM-DD with plausible numbers.
func ValidDate(s string) bool {
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

// Values are the text answers of a form as they were posted: each key
// with the values in the order given.
type Values map[string][]string

// Has reports whether key has the value v (for re-showing a choice).
func (v Values) Has(key, val string) bool { return slices.Contains(v[key], val) }

// Get returns the first value of key.
func (v Values) Get(key string) string {
	if len(v[key]) == 0 {
		return ""
	}
	return v[key][0]
}

// Validate checks posted answers against the form and returns the
// manifest answers, or a message key for each field in error. The caller
// has already refused unknown keys and, with [CheckText], invalid UTF-8.
func (q *Form) Validate(v Values) (map[string]crypto.Answer, map[string]string) {
	answers := map[string]crypto.Answer{}
	errs := map[string]string{}
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			vals := v[f.Key]
			var nonEmpty []string
			for _, s := range vals {
				if s = strings.TrimSpace(CleanText(s)); s != "" {
					nonEmpty = append(nonEmpty, s)
				}
			}
			switch f.Type {
			case TypeFile:
				continue
			case TypeText, TypeDate:
				if len(nonEmpty) > 1 {
					errs[f.Key] = "w.form.err.one"
					continue
				}
				if len(nonEmpty) == 1 {
					s := nonEmpty[0]
					if len(s) > MaxShortField {
						errs[f.Key] = "w.form.err.long"
						continue
					}
					if f.Type == TypeDate && !ValidDate(s) {
						errs[f.Key] = "w.form.err.date"
						continue
					}
					answers[f.Key] = crypto.TextAnswer(s)
				}
			case TypeTextarea:
				if len(nonEmpty) > 1 {
					errs[f.Key] = "w.form.err.one"
					continue
				}
				if len(nonEmpty) == 1 {
					// Keep the witness's own line breaks and spacing. The
					// non-empty value, not vals[0]: "", "text" gave an empty
					// answer to a required field (found by FuzzFormAnswers).
					// CleanText has made CRLF a newline.
					answers[f.Key] = crypto.TextAnswer(nonEmpty[0])
				}
			case TypeSingle, TypeYesNo:
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
			case TypeMulti:
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

// WorstAnswers returns answers at least as long, as JSON, as any the form
// can still give once validated, when the text values v have been read
// and textLeft more bytes of text may come: a text read stays as it is
// (validation only trims it), a text not read yet is as long as its limits
// allow in the characters JSON writes longest, a choice is its longest
// option, and a multiple choice all of them. A streamed upload reserves
// the manifest's room with it before the first file byte is encrypted.
func (q *Form) WorstAnswers(v Values, textLeft int) map[string]crypto.Answer {
	out := map[string]crypto.Answer{}
	for _, sec := range q.Sections {
		for _, f := range sec.Fields {
			switch f.Type {
			case TypeText, TypeDate, TypeTextarea:
				if vals, ok := v[f.Key]; ok {
					out[f.Key] = crypto.TextAnswer(Longest(vals))
				} else if f.Type == TypeTextarea {
					out[f.Key] = WorstText(min(MaxFieldBytes, textLeft))
				} else {
					out[f.Key] = WorstText(min(MaxShortField, textLeft))
				}
			case TypeSingle, TypeYesNo:
				var l string
				for _, o := range f.Options {
					if len(o.Value) > len(l) {
						l = o.Value
					}
				}
				out[f.Key] = crypto.TextAnswer(l)
			case TypeMulti:
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

// WorstText is a text of n bytes whose JSON is the longest: six bytes
// (\u0001) for each.
func WorstText(n int) crypto.Answer { return crypto.TextAnswer(strings.Repeat("\x01", max(n, 0))) }

// Longest returns the longest of vals.
func Longest(vals []string) string {
	var l string
	for _, v := range vals {
		if len(v) > len(l) {
			l = v
		}
	}
	return l
}

// CheckText refuses a text value that is not valid UTF-8 or holds NUL.
// Other control characters are not refused but removed, by [CleanText].
func CheckText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// CleanText removes from a witness's text what is not text but a command
// to whatever shows it: the C0 and C1 control characters (ESC starts a
// terminal's escape sequences, BEL ends some) and DEL. Tab and newline
// stay; a CRLF or a lone CR (browsers send CRLF from a text area) becomes
// a newline, so the witness's line breaks stay as they were. Bidi
// controls stay: they belong in mixed-direction text, and the offline
// tool escapes them where a terminal shows them. The site runs it on
// every text answer and follow-up as it arrives, before it is encrypted.
func CleanText(s string) string {
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

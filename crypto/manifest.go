package crypto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Format is the manifest format written by this version.
const Format = "testimony/v1"

// Kinds of object.
const (
	KindSubmission = "submission"
	KindFollowup   = "followup"
	KindReply      = "reply"
	// A witness taking their account back, with their codename: they
	// withdraw their consent to its use (KindWithdrawal), or ask for it
	// to be deleted (KindErasure), which withdraws consent too. Two kinds,
	// not one with the request inside, so that the investigator site and
	// a bundle's index, which see kinds but no plaintext, can flag which.
	KindWithdrawal = "withdrawal"
	KindErasure    = "erasure"
	// The investigators' annotations (package annotations), written
	// offline by one of them and encrypted to the team: an item with no
	// source, carried through the investigator site like any other.
	KindAnnotations = "annotations"
)

// MaxManifest is the largest manifest.json a reader accepts.
const MaxManifest = 4 << 20

// MaxAttachments is the most attachments one object may carry.
const MaxAttachments = 99

// MaxAnswers is the most answer keys one manifest may carry: far above any
// questionnaire (the default has 18 fields, and the server refuses one with
// more than this), and low enough that a crafted item cannot make a reader
// build a spreadsheet of hundreds of thousands of columns.
const MaxAnswers = 1000

// Manifest describes one object: what it is, and the answers and
// attachments it holds. Times are UTC days, never instants.
type Manifest struct {
	Format      string            `json:"format"`
	Kind        string            `json:"kind"`
	Day         string            `json:"day"`
	Lang        string            `json:"lang,omitempty"`
	Form        FormRef           `json:"form"`
	Answers     map[string]Answer `json:"answers"`
	Attachments []Attachment      `json:"attachments"`
}

// FormRef names the questionnaire, and its version, the answers were given to.
type FormRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// Attachment is a file carried in an object. Name is the name the witness
// gave it, cleaned to valid UTF-8; it is never used as a path as it is (see
// [SafeName]).
type Attachment struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Type   string `json:"type"`
}

// Answer is the answer to one question: a text, or a list of choices for a
// multiple-choice question. It is a JSON string or a JSON array of strings.
type Answer struct {
	Text   string
	List   []string
	IsList bool
}

// Text returns a single-valued answer.
func TextAnswer(s string) Answer { return Answer{Text: s} }

// ListAnswer returns a multiple-choice answer.
func ListAnswer(v ...string) Answer { return Answer{List: v, IsList: true} }

// Values returns the answer as a list: one element for a text answer.
func (a Answer) Values() []string {
	if a.IsList {
		return a.List
	}
	if a.Text == "" {
		return nil
	}
	return []string{a.Text}
}

func (a Answer) MarshalJSON() ([]byte, error) {
	var v any = a.Text
	if a.IsList {
		if a.List == nil {
			return []byte("[]"), nil
		}
		v = a.List
	}
	// Without HTML escaping: a witness's "<" stays one byte, readable in a
	// bare manifest.json.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (a *Answer) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		*a = Answer{IsList: true}
		return json.Unmarshal(b, &a.List)
	}
	*a = Answer{}
	return json.Unmarshal(b, &a.Text)
}

var (
	dayRE    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ErrBadManifest is wrapped by every manifest validation error.
var ErrBadManifest = errors.New("bad manifest")

// Validate checks a manifest's structure: the format, kind, day and each
// attachment's size and digest. It does not judge the answers.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadManifest, fmt.Sprintf(format, args...))
	}
	if m.Format != Format {
		return bad("format %q, want %q", m.Format, Format)
	}
	switch m.Kind {
	case KindSubmission, KindFollowup, KindReply, KindWithdrawal, KindErasure, KindAnnotations:
	default:
		return bad("unknown kind %q", m.Kind)
	}
	if _, err := time.Parse(time.DateOnly, m.Day); err != nil || !dayRE.MatchString(m.Day) {
		return bad("day %q is not a date as YYYY-MM-DD", m.Day)
	}
	if len(m.Attachments) > MaxAttachments {
		return bad("%d attachments, at most %d", len(m.Attachments), MaxAttachments)
	}
	for i, a := range m.Attachments {
		if a.Size < 0 {
			return bad("attachment %d: negative size", i+1)
		}
		if !sha256RE.MatchString(a.SHA256) {
			return bad("attachment %d: sha256 is not 64 lower-case hex digits", i+1)
		}
		if !utf8.ValidString(a.Name) || !utf8.ValidString(a.Type) {
			return bad("attachment %d: invalid UTF-8", i+1)
		}
	}
	if len(m.Answers) > MaxAnswers {
		return bad("%d answers, at most %d", len(m.Answers), MaxAnswers)
	}
	for k, v := range m.Answers {
		if !utf8.ValidString(k) || !utf8.ValidString(v.Text) {
			return bad("answer %q: invalid UTF-8", k)
		}
		for _, s := range v.List {
			if !utf8.ValidString(s) {
				return bad("answer %q: invalid UTF-8", k)
			}
		}
	}
	return nil
}

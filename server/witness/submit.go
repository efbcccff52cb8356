package witness

import (
	"math"
	"net/http"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"

	"testimony/crypto"
	"testimony/form"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// formData is what the form template gets.
type formData struct {
	Q      *form.Form
	Values form.Values
	Errors map[string]string // field key → message key
	// FilesLost is set when the witness had chosen files for a form that
	// comes back with errors: a browser cannot be given them back.
	FilesLost bool
}

// Invalid reports whether a field of sec has an error: its folded
// section is shown open, so that the error summary's link leads to a
// field the witness can see.
func (d formData) Invalid(sec *form.Section) bool {
	for _, f := range sec.Fields {
		if d.Errors[f.Key] != "" {
			return true
		}
	}
	return false
}

// sizeText writes a byte count for people in lang: "500 MB", "500 МБ",
// "1,5 GB". The units are lang's messages w.size.kb, w.size.mb and
// w.size.gb (of 1024, as the limits are set), the number is written as
// lang writes numbers (CLDR, by x/text), and a non-breaking space keeps
// it with its unit. A limit is rounded down, never promised larger than
// it is.
func sizeText(t func(lang, key string) string, lang string, n int64) string {
	var v float64
	var unit string
	switch {
	case n >= 1<<30:
		v, unit = math.Floor(float64(n)/(1<<30)*10)/10, "w.size.gb"
	case n >= 1<<20:
		v, unit = float64(n>>20), "w.size.mb"
	default:
		v, unit = float64(max(n>>10, 1)), "w.size.kb"
	}
	p := message.NewPrinter(language.Make(lang))
	return p.Sprint(number.Decimal(v, number.MaxFractionDigits(1))) + "\u00a0" + t(lang, unit)
}

func (s *Site) landing(w http.ResponseWriter, r *http.Request) error {
	return s.renderWitness(w, http.StatusOK, "landing", s.langOf(r, ""), wPage{})
}

func (s *Site) formPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderWitness(w, http.StatusOK, "form", s.langOf(r, ""), wPage{
		Data: formData{Q: s.quest, Values: form.Values{}},
	})
}

// errUnavailable is the answer when no usable recipient set exists: the
// site must not store what nobody could read.
func (s *Site) checkRecipients() (*crypto.Recipients, error) {
	rs, err := s.recipients()
	if err != nil {
		s.log.Error("recipient set unusable; refusing submissions", "err", err.Error())
		return nil, &web.HTTPError{Status: http.StatusServiceUnavailable, Msg: "error.unavailable"}
	}
	return rs, nil
}

// submit receives a testimony: the answers and files stream in, the files
// through the encrypted spool; once the answers are valid the envelope is
// written into the store and committed, and only then, with the item safe
// on disk, does the witness get the receipt and their codename.
func (s *Site) submit(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.checkRecipients()
	if err != nil {
		return err
	}
	q := s.quest
	isText := func(k string) bool { return k == "lang" || (q.Field(k) != nil && !q.IsFile(k)) }
	fileKey := q.FileKey()
	plan := &streamPlan{rs: rs, worst: func(v form.Values, textLeft int) *crypto.Manifest {
		return &crypto.Manifest{Kind: crypto.KindSubmission, Form: q.Ref(), Answers: q.WorstAnswers(v, textLeft)}
	}}
	up, err := s.readUpload(w, r, isText, fileKey, plan)
	if err != nil {
		return err
	}
	defer up.remove()
	lang := s.langOf(r, up.values.Get("lang"))
	answers, errs := q.Validate(up.values)
	if errs != nil {
		return s.renderWitness(w, http.StatusUnprocessableEntity, "form", lang, wPage{
			Data: formData{Q: q, Values: up.values, Errors: errs, FilesLost: up.sink.count() > 0},
		})
	}
	codename, err := crypto.NewCodename()
	if err != nil {
		return err
	}
	src, putSource, err := s.sourceOf(codename)
	if err != nil {
		return err
	}
	m := &crypto.Manifest{Kind: crypto.KindSubmission, Lang: lang, Form: q.Ref(), Answers: answers}
	if err := s.storeEnvelope(m, src, putSource, up, rs); err != nil {
		return err
	}
	return s.renderWitness(w, http.StatusOK, "receipt", lang, wPage{
		Data: struct{ Words []string }{strings.Fields(codename)},
	})
}

// storeEnvelope writes m and the upload's files as one item and commits
// it, with the update with (the source's record) and the record of its
// recipient set in the same transaction: when it returns nil, all are on
// disk. On error nothing is left.
func (s *Site) storeEnvelope(m *crypto.Manifest, source string, with func(store.Tx) error, up *upload, rs *crypto.Recipients) error {
	m.Day = s.today()
	putSet, err := records.PutRecipientSetIfAbsent(rs)
	if err != nil {
		return err
	}
	both := func(tx store.Tx) error {
		if err := putSet(tx); err != nil {
			return err
		}
		if with == nil {
			return nil
		}
		return with(tx)
	}
	return up.sink.commit(m, store.Item{Kind: m.Kind, Day: m.Day, Recipients: rs.Fingerprint(), Source: source}, both)
}

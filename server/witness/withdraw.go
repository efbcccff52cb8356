package witness

import (
	"net/http"
	"strings"

	"testimony/crypto"
	"testimony/form"
	"testimony/server/web"
	"testimony/store"
)

// With their codename a witness can take their account back: withdraw
// their consent to its use, or ask for it to be deleted. Either is an item
// of its own kind (crypto.KindWithdrawal, crypto.KindErasure) under the
// codename's source, encrypted to the investigators only like a follow-up,
// with an optional message. Nothing is deleted here: deleting stays an
// investigator's act, done on the investigator site and audited there.
//
// The form is the thread page's, url-encoded (no files), and follows the
// follow-up's rules: cross-site posts are refused by web.Site.Harden; a codename
// that crypto.CheckCodename refuses stores nothing and gets the codename
// page; a well-formed one with no record makes its source, as a follow-up
// would, and every accepted request gets the same thread page.

// withdrawalForm names the withdrawal form in manifests.
var withdrawalForm = crypto.FormRef{ID: "withdrawal", Version: 1}

// withdrawKinds maps the form's choice to the item's kind.
var withdrawKinds = map[string]string{"withdraw": crypto.KindWithdrawal, "erase": crypto.KindErasure}

// withdraw receives a witness's withdrawal or deletion request.
func (s *Site) withdraw(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.checkRecipients()
	if err != nil {
		return err
	}
	// A message of form.MaxFieldBytes may take three times that, percent-encoded.
	r.Body = http.MaxBytesReader(w, r.Body, maxCodenameForm+3*form.MaxFieldBytes)
	if err := r.ParseForm(); err != nil { // url-encoded only: never spills to disk
		return uploadError(err)
	}
	f := r.PostForm
	for _, k := range []string{"lang", "codename", "request", "message"} {
		if len(f[k]) > 1 {
			return &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
		}
		if !form.CheckText(f.Get(k)) {
			return &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badtext"}
		}
	}
	lang := s.langOf(r, f.Get("lang"))
	if len(f["codename"]) != 1 {
		return s.refuseCodename(w, http.StatusUnprocessableEntity, lang, crypto.ErrNotCodename)
	}
	codename, err := crypto.CheckCodename(f.Get("codename"))
	if err != nil {
		return s.refuseCodename(w, http.StatusUnprocessableEntity, lang, err)
	}
	kind, ok := withdrawKinds[f.Get("request")]
	if !ok {
		return s.showThread(w, http.StatusUnprocessableEntity, lang, codename, threadData{WithdrawErr: "w.withdraw.err.choose"})
	}
	text := strings.TrimSpace(form.CleanText(f.Get("message")))
	if len(text) > form.MaxFieldBytes {
		return s.showThread(w, http.StatusUnprocessableEntity, lang, codename, threadData{WithdrawErr: "error.textlong"})
	}
	src, putSource, err := s.sourceOf(codename)
	if err != nil {
		return err
	}
	m := &crypto.Manifest{Kind: kind, Lang: lang, Day: s.today(), Form: withdrawalForm,
		Answers: map[string]crypto.Answer{"request": crypto.TextAnswer(f.Get("request"))}}
	if text != "" {
		m.Answers["message"] = crypto.TextAnswer(text)
	}
	iw := s.db.NewItem()
	defer iw.Abort()
	env, err := crypto.NewEnvelope(iw, rs, m)
	if err != nil {
		return err
	}
	if err := env.Close(); err != nil {
		return err
	}
	if _, err := iw.CommitWith(store.Item{Kind: kind, Day: m.Day, Recipients: rs.Fingerprint(), Source: src}, putSource); err != nil {
		return err
	}
	return s.showThread(w, http.StatusOK, lang, codename, threadData{Requested: kind})
}

package witness

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/form"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// A witness comes back with their codename. We keep no session and no
// cookie: the thread page is the answer to the POST of the codename, and
// its follow-up form carries the codename in a hidden field (the page is
// served over the onion service, with Cache-Control: no-store). Closing
// the tab ends the visit; nothing on the server remembers it.
//
// A wrong codename gets the same status and the same page as a right one
// with no replies, after the same work (pseudonym, look-up, reply
// identity, scan of the replies). Only text that cannot be a codename is
// told apart, by crypto.CheckCodename alone, before the store is read:
// the wrong number of words, words not on the list (with the nearest list
// words suggested), or eight words whose check word does not match (a
// mistyped or swapped word: one page, the same for every such codename).
// None of these says anything about which codenames exist, and none ever
// makes a source or stores a follow-up. A seven-word codename (issued
// before codenames had a check word) cannot be checked: a follow-up sent
// under one with no record makes the record, as a first submission would:
// it is kept, never silently dropped, and its answer looks like any other.

// maxCodenameForm bounds the url-encoded login form.
const maxCodenameForm = 16 << 10

// defaultThreadFloor is the least time a thread page takes (the site's
// lim.threadFloor, which tests and benchmarks lower to measure the work
// itself). Decrypting replies takes time for each, so without it a right
// codename with replies would answer measurably later than a wrong one;
// under the floor every codename's page comes after the same delay.
const defaultThreadFloor = 250 * time.Millisecond

func (s *Site) codenamePage(w http.ResponseWriter, r *http.Request) error {
	return s.renderWitness(w, http.StatusOK, "codename", s.langOf(r, ""), wPage{})
}

// codenameData is what the codename template gets when a typed codename
// is refused for words not on the list.
type codenameData struct {
	Unknown []crypto.UnknownWord
}

// refuseCodename answers a codename that crypto.CheckCodename refused
// (err): the codename page again, with what is wrong. It reads nothing
// from the store, and the page depends only on what was typed: for a
// failed check it is the same page whatever the words.
func (s *Site) refuseCodename(w http.ResponseWriter, status int, lang string, err error) error {
	var uw *crypto.UnknownWordsError
	switch {
	case errors.As(err, &uw):
		return s.renderWitness(w, status, "codename", lang, wPage{Message: "w.login.unknownwords", Data: codenameData{Unknown: uw.Words}})
	case errors.Is(err, crypto.ErrCodenameCheck):
		return s.renderWitness(w, status, "codename", lang, wPage{Message: "w.login.checkwords"})
	}
	return s.renderWitness(w, status, "codename", lang, wPage{Message: "w.login.notcodename"})
}

// threadData is what the thread template gets.
type threadData struct {
	Codename string
	Legacy   bool // a seven-word codename, which had no check word: see the note in thread.html
	Replies  []replyView
	Sent     bool
	// Requested is the kind of the withdrawal just stored, for its
	// notice (withdraw.go).
	Requested string
	// WithdrawErr is a message key shown at the withdrawal form.
	WithdrawErr string
	Text        string // a follow-up text re-shown after an error
	// FilesLost is set when a follow-up that comes back with an error had
	// files chosen: a browser cannot be given them back.
	FilesLost bool
}

type replyView struct {
	Day         string
	Message     string
	Attachments []crypto.Attachment
}

// thread answers the login form.
func (s *Site) thread(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxCodenameForm)
	if err := r.ParseForm(); err != nil { // url-encoded only: never spills to disk
		return uploadError(err) // too large, too slow (web.Site.Harden's read deadline), or malformed
	}
	lang := s.langOf(r, r.PostForm.Get("lang"))
	raw := r.PostForm.Get("codename")
	if !form.CheckText(raw) {
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badtext"}
	}
	codename, err := crypto.CheckCodename(raw)
	if err != nil {
		return s.refuseCodename(w, http.StatusOK, lang, err)
	}
	return s.showThread(w, http.StatusOK, lang, codename, threadData{})
}

// showThread renders the thread of a (well-formed) codename: the replies
// decrypted with the identity derived from it, and the follow-up form.
func (s *Site) showThread(w http.ResponseWriter, status int, lang, codename string, d threadData) error {
	floor := time.Now().Add(s.lim.threadFloor)
	src := crypto.Pseudonym(s.key, codename)
	if _, err := records.SourceExists(s.db, src); err != nil { // the same look-up for every codename
		return err
	}
	id, err := crypto.ReplyIdentity(s.key, codename)
	if err != nil {
		return err
	}
	replies, err := s.replies(src, id)
	if err != nil {
		return err
	}
	d.Codename, d.Replies = codename, replies
	d.Legacy = crypto.IsLegacyCodename(codename)
	time.Sleep(time.Until(floor))
	return s.renderWitness(w, status, "thread", lang, wPage{Data: d})
}

// replies decrypts the replies to a source, oldest first. A reply that
// does not decrypt with the identity (it cannot happen unless the record
// was tampered with) is skipped, not shown as an error.
func (s *Site) replies(src string, id age.Identity) ([]replyView, error) {
	items, err := s.db.Items()
	if err != nil {
		return nil, err
	}
	var mine []store.Item
	for _, it := range items {
		if it.Kind == crypto.KindReply && it.Source == src {
			mine = append(mine, it)
		}
	}
	slices.SortFunc(mine, func(a, b store.Item) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.ID, b.ID))
	})
	var out []replyView
	for _, it := range mine {
		_, rd, err := s.db.Open(it.ID)
		if err != nil {
			continue // deleted meanwhile
		}
		er, err := crypto.OpenEnvelope(rd, id)
		if err != nil {
			s.log.Warn("a reply does not open with its source's key", "err", err.Error()) // no item id: it would date a witness's visit
			continue
		}
		m := er.Manifest()
		out = append(out, replyView{Day: m.Day, Message: m.Answers["message"].Text, Attachments: m.Attachments})
	}
	return out, nil
}

// followupForm names the follow-up form in manifests.
var followupForm = crypto.FormRef{ID: "followup", Version: 1}

// followup receives a witness's follow-up: a text and files, encrypted to
// the investigators only, under the source of the codename.
func (s *Site) followup(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.checkRecipients()
	if err != nil {
		return err
	}
	isText := func(k string) bool { return k == "lang" || k == "codename" || k == "message" }
	plan := &streamPlan{rs: rs, worst: func(v form.Values, textLeft int) *crypto.Manifest {
		msg := form.WorstText(min(form.MaxFieldBytes, textLeft))
		if vals, ok := v["message"]; ok {
			msg = crypto.TextAnswer(form.Longest(vals))
		}
		return &crypto.Manifest{Kind: crypto.KindFollowup, Form: followupForm, Answers: map[string]crypto.Answer{"message": msg}}
	}, allow: codenameRead}
	up, err := s.readUpload(w, r, isText, "files", plan)
	if err != nil {
		return err
	}
	defer up.remove()
	lang := s.langOf(r, up.values.Get("lang"))
	if len(up.values["codename"]) != 1 {
		return s.refuseCodename(w, http.StatusUnprocessableEntity, lang, crypto.ErrNotCodename)
	}
	codename, err := crypto.CheckCodename(up.values.Get("codename"))
	if err != nil {
		return s.refuseCodename(w, http.StatusUnprocessableEntity, lang, err)
	}
	if len(up.values["message"]) > 1 {
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
	}
	text := strings.TrimSpace(form.CleanText(up.values.Get("message"))) // controls removed, CRLF made \n
	if text == "" && up.sink.count() == 0 {
		return s.showThreadError(w, lang, codename, "w.thread.err.empty", "", false)
	}
	if len(text) > form.MaxFieldBytes {
		return s.showThreadError(w, lang, codename, "error.textlong", "", up.sink.count() > 0)
	}
	src, putSource, err := s.sourceOf(codename)
	if err != nil {
		return err
	}
	m := &crypto.Manifest{
		Kind:    crypto.KindFollowup,
		Lang:    lang,
		Form:    followupForm,
		Answers: map[string]crypto.Answer{},
	}
	if text != "" {
		m.Answers["message"] = crypto.TextAnswer(text)
	}
	if err := s.storeEnvelope(m, src, putSource, up, rs); err != nil {
		return err
	}
	return s.showThread(w, http.StatusOK, lang, codename, threadData{Sent: true})
}

// codenameRead is the follow-up's streamPlan.allow: its files may go
// straight into the store only once a codename that passes the check has
// been read, so that a refused codename never writes to the store (the
// files of one sent after them are spooled, then dropped).
func codenameRead(v form.Values) bool {
	c := v["codename"]
	if len(c) != 1 {
		return false
	}
	_, err := crypto.CheckCodename(c[0])
	return err == nil
}

func (s *Site) showThreadError(w http.ResponseWriter, lang, codename, msg, text string, filesLost bool) error {
	// The message is shown through the page's Message; render by hand to
	// set it.
	src := crypto.Pseudonym(s.key, codename)
	id, err := crypto.ReplyIdentity(s.key, codename)
	if err != nil {
		return err
	}
	replies, err := s.replies(src, id)
	if err != nil {
		return err
	}
	return s.renderWitness(w, http.StatusUnprocessableEntity, "thread", lang, wPage{
		Message: msg,
		Data:    threadData{Codename: codename, Legacy: crypto.IsLegacyCodename(codename), Replies: replies, Text: text, FilesLost: filesLost},
	})
}

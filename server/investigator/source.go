package investigator

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"testimony/crypto"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// sourceItems returns the items of a source.
func (s *Site) sourceItems(source string) ([]store.Item, error) {
	all, err := s.db.Items()
	if err != nil {
		return nil, err
	}
	var out []store.Item
	for _, it := range all {
		if it.Source == source {
			out = append(out, it)
		}
	}
	return out, nil
}

func (s *Site) routeSource(r *http.Request) (string, error) {
	src := web.Var(r, "source")
	if !sourceRE.MatchString(src) {
		return "", &web.HTTPError{Status: http.StatusNotFound, Msg: "inv.error.nosource"}
	}
	return src, nil
}

func (s *Site) confirmDeleteSource(w http.ResponseWriter, r *http.Request, p *principal) error {
	src, err := s.routeSource(r)
	if err != nil {
		return err
	}
	items, err := s.sourceItems(src)
	if err != nil {
		return err
	}
	return s.render(w, http.StatusOK, "confirm", invPage{Title: invText("inv.title.deletesource") + " " + src, User: p,
		Data: confirmData{What: invText("inv.delete.asksource") + " " + strconv.Itoa(len(items)) + ".",
			Action: "/sources/" + src + "/delete", Back: "/sources/" + src}})
}

// deleteSource removes every item of a source, chunks and records, and the
// source's record, once confirmed.
func (s *Site) deleteSource(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	src, err := s.routeSource(r)
	if err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != "yes" {
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.confirm"}
	}
	items, err := s.sourceItems(src)
	if err != nil {
		return err
	}
	if _, err := records.GetSource(s.db, src); len(items) == 0 && err != nil {
		return &web.HTTPError{Status: http.StatusNotFound, Msg: "inv.error.nosource"}
	}
	if err := s.deleteItems(p, items, "delete_source", src); err != nil {
		return err
	}
	http.Redirect(w, r, "/?done=source", http.StatusSeeOther)
	return nil
}

// maxReply bounds a reply's text, in bytes.
const maxReply = 64 << 10

// reply encrypts a message to the source's reply key and to the current
// investigators (and escrow), and stores it as an item of kind "reply".
func (s *Site) reply(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	src, err := s.routeSource(r)
	if err != nil {
		return err
	}
	msg := strings.TrimSpace(strings.ReplaceAll(r.PostForm.Get("message"), "\r\n", "\n"))
	switch {
	case msg == "":
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.replyempty"}
	case len(msg) > maxReply || !utf8.ValidString(msg):
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.replylong"}
	}
	rec, err := records.GetSource(s.db, src)
	if errors.Is(err, store.ErrNotFound) {
		return &web.HTTPError{Status: http.StatusNotFound, Msg: "inv.error.nosource"}
	}
	if err != nil {
		return err
	}
	if rec.ReplyRecipient == "" {
		return &web.HTTPError{Status: http.StatusConflict, Msg: "inv.error.noreplykey"}
	}
	team, err := s.recipients()
	if err != nil {
		return &web.HTTPError{Status: http.StatusServiceUnavailable, Msg: "inv.error.recipients", Err: err}
	}
	rs, err := crypto.NewRecipients("reply recipients", append(team.Keys(), rec.ReplyRecipient)...)
	if err != nil {
		return &web.HTTPError{Status: http.StatusServiceUnavailable, Msg: "inv.error.recipients", Err: err}
	}
	day := s.today()
	m := &crypto.Manifest{Kind: crypto.KindReply, Day: day, Lang: "en", Form: crypto.FormRef{ID: "reply", Version: 1},
		Answers: map[string]crypto.Answer{"message": crypto.TextAnswer(msg)}}
	iw := s.db.NewItem()
	defer iw.Abort()
	env, err := crypto.NewEnvelope(iw, rs, m)
	if err != nil {
		return err
	}
	if err := env.Close(); err != nil {
		return err
	}
	if err := records.RememberRecipientSet(s.db, rs); err != nil {
		return err
	}
	it, err := iw.Commit(store.Item{Kind: crypto.KindReply, Day: day, Source: src, Recipients: rs.Fingerprint()})
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx store.Tx) error {
		if err := records.MarkSeen(tx, p.Name, it.ID, day); err != nil {
			return err
		}
		return records.AppendAudit(tx, s.cfg.Now(), records.AuditEntry{Account: p.Name, Event: "reply", Item: it.ID, Source: src})
	})
	if err != nil {
		return err
	}
	s.log.Info("reply stored", "item", it.ID, "kind", it.Kind, "size", it.Size)
	http.Redirect(w, r, "/sources/"+src+"?done=reply", http.StatusSeeOther)
	return nil
}

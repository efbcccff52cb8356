package investigator

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// item reads the record of the item named in the route, or a 404.
func (s *Site) item(r *http.Request) (store.Item, error) {
	it, err := s.db.Item(web.Var(r, "id"))
	if errors.Is(err, store.ErrNotFound) {
		return it, &web.HTTPError{Status: http.StatusNotFound, Msg: "inv.error.noitem"}
	}
	return it, err
}

type itemData struct {
	Item  store.Item
	Seen  bool
	InSet string
}

func (s *Site) itemPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	it, err := s.item(r)
	if err != nil {
		return err
	}
	sets, err := records.RecipientSets(s.db)
	if err != nil {
		return err
	}
	d := itemData{Item: it, InSet: inSet(sets, it.Recipients, p.Recipient)}
	err = s.db.View(func(tx store.Tx) error {
		d.Seen, _ = records.IsSeen(tx, p.Name, it.ID)
		return nil
	})
	if err != nil {
		return err
	}
	return s.render(w, http.StatusOK, "item", invPage{Title: invText("inv.title.item") + " " + it.ID, User: p,
		Flash: doneText(r.URL.Query().Get("done")), Data: d})
}

// downloadItem sends one item's ciphertext as a .age file, and marks it
// seen. The download is in the audit log before the first byte leaves.
func (s *Site) downloadItem(w http.ResponseWriter, r *http.Request, p *principal) error {
	it, err := s.item(r)
	if err != nil {
		return err
	}
	_, rd, err := s.db.Open(it.ID)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	if r.Method != http.MethodHead {
		err = s.db.Update(func(tx store.Tx) error {
			if err := records.MarkSeen(tx, p.Name, it.ID, s.today()); err != nil {
				return err
			}
			return records.AppendAudit(tx, now, records.AuditEntry{Account: p.Name, Event: "download_item", Item: it.ID, Source: it.Source})
		})
		if err != nil {
			return err
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+it.ID+`.age"`)
	h.Set("Content-Length", strconv.FormatInt(it.Size, 10))
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, rd); err != nil {
		s.log.Error("item download broke off", "item", it.ID, "err", err.Error())
		panic(http.ErrAbortHandler) // the client must not take a short file for a whole one
	}
	return nil
}

func (s *Site) markSeen(w http.ResponseWriter, r *http.Request, p *principal) error {
	it, err := s.item(r)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx store.Tx) error {
		if err := records.MarkSeen(tx, p.Name, it.ID, s.today()); err != nil {
			return err
		}
		return records.AppendAudit(tx, s.cfg.Now(), records.AuditEntry{Account: p.Name, Event: "seen", Item: it.ID, Source: it.Source})
	})
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/items/"+it.ID+"?done=seen", http.StatusSeeOther)
	return nil
}

type confirmData struct{ What, Action, Back string }

func (s *Site) confirmDeleteItem(w http.ResponseWriter, r *http.Request, p *principal) error {
	it, err := s.item(r)
	if err != nil {
		return err
	}
	return s.render(w, http.StatusOK, "confirm", invPage{Title: invText("inv.title.deleteitem") + " " + it.ID, User: p,
		Data: confirmData{What: invText("inv.delete.askitem") + " (" + it.Kind + ", " + it.Day + ", " + it.Source + ")",
			Action: "/items/" + it.ID + "/delete", Back: "/items/" + it.ID}})
}

// deleteItem removes an item's record and chunks, once confirmed.
func (s *Site) deleteItem(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	it, err := s.item(r)
	if err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != "yes" {
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.confirm"}
	}
	if err := s.deleteItems(p, []store.Item{it}, "delete_item", ""); err != nil {
		return err
	}
	http.Redirect(w, r, "/?done=item", http.StatusSeeOther)
	return nil
}

// deleteItems deletes items (chunks and records), their seen marks, and
// logs the deletion; for a whole source, source names it and its record
// goes too.
func (s *Site) deleteItems(p *principal, items []store.Item, event, source string) error {
	for _, it := range items {
		if err := s.db.Delete(it.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return s.db.Update(func(tx store.Tx) error {
		gone := map[string]bool{}
		for _, it := range items {
			gone[it.ID] = true
		}
		if err := records.DeleteSeenOf(tx, gone); err != nil {
			return err
		}
		e := records.AuditEntry{Account: p.Name, Event: event}
		if source != "" {
			if err := records.DeleteSource(tx, source); err != nil {
				return err
			}
			e.Source, e.Count = source, len(items)
		} else if len(items) == 1 {
			e.Item, e.Source = items[0].ID, items[0].Source
		}
		return records.AppendAudit(tx, s.cfg.Now(), e)
	})
}

package investigator

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"testimony/bundle"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// bundleBuffer is the least size of the pieces a bundle is sent in, and
// how much of its end is held back until the download is in the audit log.
const bundleBuffer = 256 << 10

// bundle streams a bundle (store.DB.WriteBundleItems: items/<id>.age and
// index.json) of the chosen items: everything this account has not seen
// (the default: the first download is everything, each later one what
// came since), those selected, all (of one source, if named), or
// everything since a day. Items with no source (annotations) go in every
// bundle not limited to a source. index.json names the team's recipient
// set, to which the offline tool encrypts annotations. Nothing is
// buffered: the tar goes to the client as it is read from the store.
func (s *Site) bundle(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	source := f.Get("source")
	if source != "" && !sourceRE.MatchString(source) {
		return &web.HTTPError{Status: http.StatusNotFound, Msg: "inv.error.nosource"}
	}
	all, err := s.db.Items()
	if err != nil {
		return err
	}
	var items []store.Item
	switch f.Get("scope") {
	case "new", "":
		var seen map[string]bool
		if err := s.db.View(func(tx store.Tx) error { seen, err = records.SeenBy(tx, p.Name); return err }); err != nil {
			return err
		}
		for _, it := range all {
			if !seen[it.ID] && (source == "" || it.Source == source) {
				items = append(items, it)
			}
		}
	case "selected":
		want := map[string]bool{}
		for _, id := range f["item"] {
			want[id] = true
		}
		for _, it := range all {
			if want[it.ID] {
				items = append(items, it)
			}
		}
		if len(want) == 0 {
			return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.bundle"}
		}
	case "all":
		for _, it := range all {
			if source == "" || it.Source == source {
				items = append(items, it)
			}
		}
	case "since":
		since := f.Get("since")
		if _, err := time.Parse(time.DateOnly, since); err != nil {
			return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.bundle"}
		}
		for _, it := range all {
			if it.Day >= since && (source == "" || it.Source == source) {
				items = append(items, it)
			}
		}
	default:
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.bundle"}
	}
	if len(items) == 0 {
		return &web.HTTPError{Status: http.StatusNotFound, Msg: "inv.error.nothing"}
	}
	slices.SortFunc(items, func(a, b store.Item) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.ID, b.ID))
	})
	day := s.today()
	// The audit entry is written (and synced) while the bundle streams;
	// the tail of the bundle (the end of index.json and of the tar) is held
	// back until it is on disk, so no complete bundle leaves unrecorded.
	audited := make(chan error, 1)
	go func() {
		audited <- s.db.Update(func(tx store.Tx) error {
			e := records.AuditEntry{Account: p.Name, Event: "download_bundle", Count: len(items), Source: source}
			if len(items) == 1 {
				e.Item = items[0].ID
			}
			return records.AppendAudit(tx, s.cfg.Now(), e)
		})
	}()
	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", `attachment; filename="testimony-`+day+`.tar"`)
	ev := &bundle.Evidence{}
	if s.cfg.SigningKey != nil {
		// The proofs come from the day roots' stored leaves: no pass over
		// the items' bytes of its own.
		if ev, err = records.BundleEvidence(s.db, items, s.cfg.SigningKey); err != nil {
			return err
		}
	}
	team, err := s.recipients()
	if err != nil {
		return &web.HTTPError{Status: http.StatusServiceUnavailable, Msg: "inv.error.recipients", Err: err}
	}
	ev.Team = &bundle.Team{Fingerprint: team.Fingerprint(), Recipients: team.Keys()}
	tw := &tailHolder{w: w, hold: bundleBuffer}
	// The records just listed go in as they are: reading each again would
	// cost a transaction per item for nothing.
	_, err = s.db.WriteBundleItems(tw, day, items, ev)
	if aerr := <-audited; err == nil && aerr != nil {
		err = fmt.Errorf("audit log: %w", aerr)
	}
	if err == nil {
		err = tw.Release()
	}
	if err != nil {
		// Headers and part of the tar may be gone: break the connection so
		// the client cannot take a short bundle for a whole one.
		s.log.Error("bundle download broke off", "count", len(items), "err", err.Error())
		panic(http.ErrAbortHandler)
	}
	// Only a bundle sent whole marks its items seen, so that the next
	// "new" download starts after it.
	err = s.db.Update(func(tx store.Tx) error {
		for _, it := range items {
			if err := records.MarkSeen(tx, p.Name, it.ID, day); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("bundle sent, its items not marked seen", "count", len(items), "err", err.Error())
	}
	return nil
}

// tailHolder passes what is written on to w in pieces of at least hold
// bytes, always keeping the last hold bytes back until Release.
type tailHolder struct {
	w    io.Writer
	hold int
	buf  []byte
}

func (t *tailHolder) Write(p []byte) (int, error) {
	if t.buf == nil {
		t.buf = make([]byte, 0, 2*t.hold+64<<10)
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) >= 2*t.hold {
		out := len(t.buf) - t.hold
		if _, err := t.w.Write(t.buf[:out]); err != nil {
			return 0, err
		}
		t.buf = t.buf[:copy(t.buf, t.buf[out:])]
	}
	return len(p), nil
}

// Release writes what was held back.
func (t *tailHolder) Release() error {
	_, err := t.w.Write(t.buf)
	t.buf = nil
	return err
}

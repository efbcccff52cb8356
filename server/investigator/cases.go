package investigator

import (
	"cmp"
	"net/http"
	"regexp"
	"slices"
	"strconv"

	"testimony/crypto"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// pageSize is the number of items on one page of the case list.
const pageSize = 50

var sourceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type caseRow struct {
	store.Item
	Seen, Replied bool
	InSet         string // "yes", "no" or "unknown"
	// Withdrawal is what the item's source asked with their codename
	// (package witness, withdraw.go): crypto.KindWithdrawal, crypto.KindErasure,
	// or "" if nothing.
	Withdrawal string
}

type casesData struct {
	Rows                           []caseRow
	Total, New                     int
	Page, Pages, Prev, Next        int
	Sort, Source, Recipient, KeyFP string
	CanReply                       bool
	Withdrawal                     string // of the source shown, as caseRow's
}

// withdrawals maps each source that took its account back to what it
// asked: a deletion request outweighs a withdrawal of consent.
func withdrawals(items []store.Item) map[string]string {
	out := map[string]string{}
	for _, it := range items {
		switch it.Kind {
		case crypto.KindErasure:
			out[it.Source] = crypto.KindErasure
		case crypto.KindWithdrawal:
			if out[it.Source] == "" {
				out[it.Source] = crypto.KindWithdrawal
			}
		}
	}
	return out
}

// inSet says whether key is in the recipient set of fingerprint fp.
func inSet(sets map[string][]string, fp, key string) string {
	keys, ok := sets[fp]
	if !ok {
		return "unknown"
	}
	if slices.Contains(keys, key) {
		return "yes"
	}
	return "no"
}

// caseRows lists the items (of one source, if source is not empty) with
// what the investigator needs to know of each, sorted.
func (s *Site) caseRows(p *principal, source, sortBy string) ([]caseRow, error) {
	// The current set is most likely the one of recent items: record it.
	if rs, err := s.recipients(); err == nil {
		if err := records.RememberRecipientSet(s.db, rs); err != nil {
			return nil, err
		}
	}
	items, err := s.db.Items()
	if err != nil {
		return nil, err
	}
	sets, err := records.RecipientSets(s.db)
	if err != nil {
		return nil, err
	}
	var seen map[string]bool
	if err := s.db.View(func(tx store.Tx) error { seen, err = records.SeenBy(tx, p.Name); return err }); err != nil {
		return nil, err
	}
	replied := map[string]bool{}
	for _, it := range items {
		if it.Kind == crypto.KindReply {
			replied[it.Source] = true
		}
	}
	taken := withdrawals(items)
	var rows []caseRow
	for _, it := range items {
		if source != "" && it.Source != source {
			continue
		}
		rows = append(rows, caseRow{Item: it, Seen: seen[it.ID], Replied: replied[it.Source],
			InSet: inSet(sets, it.Recipients, p.Recipient), Withdrawal: taken[it.Source]})
	}
	slices.SortFunc(rows, func(a, b caseRow) int {
		var c int
		switch sortBy {
		case "source":
			c = cmp.Compare(a.Source, b.Source)
		case "kind":
			c = cmp.Compare(a.Kind, b.Kind)
		case "size":
			c = cmp.Compare(b.Size, a.Size)
		}
		if c == 0 {
			c = cmp.Compare(b.Day, a.Day) // newest first
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		return c
	})
	return rows, nil
}

func (s *Site) caseList(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.casePage(w, r, p, r.URL.Query().Get("source"))
}

func (s *Site) sourcePage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.casePage(w, r, p, web.Var(r, "source"))
}

func (s *Site) casePage(w http.ResponseWriter, r *http.Request, p *principal, source string) error {
	q := r.URL.Query()
	if source != "" && !sourceRE.MatchString(source) {
		return &web.HTTPError{Status: http.StatusNotFound, Msg: "inv.error.nosource"}
	}
	sortBy := q.Get("sort")
	switch sortBy {
	case "source", "kind", "size", "day":
	default:
		sortBy = "day"
	}
	rows, err := s.caseRows(p, source, sortBy)
	if err != nil {
		return err
	}
	d := casesData{Total: len(rows), Sort: sortBy, Source: source, Recipient: p.Recipient, KeyFP: crypto.Fingerprint(p.Recipient)}
	for _, row := range rows {
		if !row.Seen {
			d.New++
		}
	}
	title := invText("inv.title.cases")
	if source != "" {
		title = invText("inv.title.source") + " " + source
		rec, err := records.GetSource(s.db, source)
		if err != nil && len(rows) == 0 {
			return &web.HTTPError{Status: http.StatusNotFound, Msg: "inv.error.nosource"}
		}
		d.CanReply = err == nil && rec.ReplyRecipient != ""
		if len(rows) > 0 {
			d.Withdrawal = rows[0].Withdrawal
		}
	}
	d.Pages = max(1, (len(rows)+pageSize-1)/pageSize)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	d.Prev, d.Next = d.Page-1, d.Page+1
	lo := (d.Page - 1) * pageSize
	d.Rows = rows[lo:min(lo+pageSize, len(rows))]
	return s.render(w, http.StatusOK, "cases", invPage{Title: title, User: p, Flash: doneText(q.Get("done")), Data: d})
}

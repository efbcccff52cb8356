package investigator

import (
	"errors"
	"net/http"
	"strconv"

	"testimony/records"
)

type auditData struct {
	OK      bool
	Check   string
	Entries []records.AuditEntry
	Older   uint64
}

// auditPageSize is the number of audit entries on one page.
const auditPageSize = 100

// auditPage shows the audit log, newest first, with the result of checking
// its chain.
func (s *Site) auditPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	before, _ := strconv.ParseUint(r.URL.Query().Get("before"), 10, 64)
	d := auditData{}
	head, err := records.VerifyAuditHead(s.db, records.AuditHead{})
	var ae *records.AuditError
	switch {
	case err == nil:
		d.OK, d.Check = true, invText("inv.audit.intact")+" "+strconv.FormatUint(head.Count, 10)+"."
		if head.Count > 0 {
			d.Check += " " + invText("inv.audit.head") + " " + head.String()
		}
	case errors.As(err, &ae):
		d.Check = ae.Error() + ". " + invText("inv.audit.broken")
	default:
		return err
	}
	d.Entries, err = records.ReadAudit(s.db, before, auditPageSize)
	if err != nil {
		return err
	}
	if len(d.Entries) == auditPageSize && d.Entries[len(d.Entries)-1].Seq > 1 {
		d.Older = d.Entries[len(d.Entries)-1].Seq
	}
	return s.render(w, http.StatusOK, "audit", invPage{Title: invText("inv.title.audit"), User: p, Data: d})
}

package investigator

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"testimony/crypto"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// The team's annotations arrive as files the offline tool wrote
// (`testimony annotations export`): age ciphertext to the team, signed
// inside. The server cannot read them and does not try; it checks only
// that a file is an age file of bounded size, and stores it as an item of
// kind annotations with no source and the UTC day, which every bundle not
// limited to one source then carries.

// maxAnnotationsUpload bounds an uploaded annotations file.
const maxAnnotationsUpload = 8 << 20

// ageHeader begins every age file (binary, as the offline tool writes it).
const ageHeader = "age-encryption.org/v1\n"

// uploadAnnotations stores the file of the form's "file" field. The body
// is read as a stream, never spooled: a multipart form is not parsed
// into memory or temporary files.
func (s *Site) uploadAnnotations(w http.ResponseWriter, r *http.Request, p *principal) error {
	// Room for the multipart framing around the file.
	r.Body = http.MaxBytesReader(w, r.Body, maxAnnotationsUpload+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.annotations"}
	}
	var part io.Reader
	for {
		pt, err := mr.NextPart()
		if err != nil {
			return uploadErr(err, "inv.error.annotations")
		}
		if pt.FormName() == "file" {
			part = pt
			break
		}
	}
	head := make([]byte, len(ageHeader))
	if _, err := io.ReadFull(part, head); err != nil || !bytes.Equal(head, []byte(ageHeader)) {
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return uploadErr(err, "inv.error.annotations")
		}
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.notage"}
	}
	team, err := s.recipients()
	if err != nil {
		return &web.HTTPError{Status: http.StatusServiceUnavailable, Msg: "inv.error.recipients", Err: err}
	}
	iw := s.db.NewItem()
	defer iw.Abort()
	if _, err := iw.Write(head); err != nil {
		return err
	}
	n, err := io.Copy(iw, io.LimitReader(part, maxAnnotationsUpload-int64(len(head))+1))
	if err != nil {
		return uploadErr(err, "inv.error.annotations")
	}
	if n+int64(len(head)) > maxAnnotationsUpload {
		return &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "inv.error.annotationsbig"}
	}
	day := s.today()
	// The fingerprint is of the set the team pins; the server cannot see
	// which keys the file is really encrypted to.
	it, err := iw.Commit(store.Item{Kind: crypto.KindAnnotations, Day: day, Recipients: team.Fingerprint()})
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx store.Tx) error {
		// The uploader has these already: their next "new" bundle skips them.
		if err := records.MarkSeen(tx, p.Name, it.ID, day); err != nil {
			return err
		}
		return records.AppendAudit(tx, s.cfg.Now(), records.AuditEntry{Account: p.Name, Event: "upload_annotations", Item: it.ID})
	})
	if err != nil {
		return err
	}
	s.log.Info("annotations stored", "item", it.ID, "size", it.Size)
	http.Redirect(w, r, "/?done=annotations", http.StatusSeeOther)
	return nil
}

// uploadErr is a 413 for a body over its cap, else a 400 with msg.
func uploadErr(err error, msg string) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "inv.error.annotationsbig"}
	}
	return &web.HTTPError{Status: http.StatusBadRequest, Msg: msg, Err: err}
}

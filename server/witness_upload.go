package server

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"testimony/crypto"
)

// Limits of a witness upload besides the configured byte limits.
const (
	maxParts       = 200      // parts of one multipart body
	maxFileName    = 1024     // bytes of a file name as sent
	readWindowStep = 64 << 10 // the read deadline moves on after each 64 KiB
)

// readWindow is how long an upload may stall: the read deadline is set
// this far ahead at the start and again after each readWindowStep bytes.
// A variable so that a test can shorten it.
var readWindow = 2 * time.Minute

// upload is a multipart body read by readUpload: the text values in memory
// (bounded) and the files in the request's spool.
type upload struct {
	values formValues
	sp     *spool
	files  []*spoolFile
}

// remove deletes the upload's spool files.
func (u *upload) remove() {
	if u != nil && u.sp != nil {
		u.sp.remove()
	}
}

// deadlineReader pushes the connection's read deadline forward as an
// upload progresses: a slow Tor upload goes on as long as it delivers
// 64 KiB per readWindow (about 550 bytes a second), and a stalled one, or
// a trickle meant to hold a connection, ends.
type deadlineReader struct {
	r    io.Reader
	rc   *http.ResponseController
	n    int64
	next int64
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	if d.n >= d.next {
		d.rc.SetReadDeadline(time.Now().Add(readWindow))
		d.next = d.n + readWindowStep
	}
	return n, err
}

// uploadError maps an error met while reading the body to a client error.
func uploadError(err error) error {
	var mb *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mb):
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toolarge"}
	case errors.Is(err, errFileTooLarge):
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.filetoolarge"}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &HTTPError{Status: http.StatusRequestTimeout, Msg: "error.timeout"}
	}
	return &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform", Err: err}
}

// readUpload streams a multipart body: text parts whose name isText
// accepts are kept in memory, within maxFieldBytes each and maxTextBytes in
// all; parts named fileKey are spooled, encrypted, within the configured
// limits. Any other part name is refused. Nothing is parsed into temp
// files: net/http's whole-form parsing, which spills large parts to
// $TMPDIR in plaintext, is never used on this path.
//
// On error the spool is already removed; on success the caller must call
// remove when done.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, isText func(string) bool, fileKey string) (u *upload, err error) {
	maxBody := s.cfg.MaxUpload + maxTextBytes + 64<<10 // files, text, multipart framing
	if r.ContentLength > maxBody {
		return nil, &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toolarge"}
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(readWindow)) // unsupported in some tests' writers: fine
	defer rc.SetReadDeadline(time.Time{})
	r.Body = http.MaxBytesReader(w, struct {
		io.Reader
		io.Closer
	}{&deadlineReader{r: r.Body, rc: rc, next: readWindowStep}, r.Body}, maxBody)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform", Err: err}
	}
	sp := &spool{dir: s.spoolDir()} // its key is made with the first file
	u = &upload{values: formValues{}, sp: sp}
	defer func() {
		if err != nil {
			sp.remove() // u is nil by now
		}
	}()
	var parts int
	var textBytes, fileBytes int64
	for {
		part, err := mr.NextRawPart() // no quoted-printable decoding: browsers send none
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, uploadError(err)
		}
		if parts++; parts > maxParts {
			return nil, &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toomanyparts"}
		}
		name := part.FormName()
		if name == "" {
			return nil, &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
		}
		if !utf8.ValidString(name) {
			return nil, &HTTPError{Status: http.StatusBadRequest, Msg: "error.badtext"}
		}
		switch {
		case name == fileKey:
			if err := s.readFilePart(u, part, &fileBytes); err != nil {
				return nil, err
			}
		case isText(name):
			if part.FileName() != "" {
				return nil, &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
			}
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return nil, uploadError(err)
			}
			if textBytes += int64(len(v)); len(v) > maxFieldBytes || textBytes > maxTextBytes {
				return nil, &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.textlong"}
			}
			if !checkText(string(v)) {
				return nil, &HTTPError{Status: http.StatusBadRequest, Msg: "error.badtext"}
			}
			u.values[name] = append(u.values[name], string(v))
		default:
			return nil, &HTTPError{Status: http.StatusBadRequest, Msg: "error.unknownfield"}
		}
		part.Close()
	}
	return u, nil
}

// readFilePart spools one file part. A file input left empty arrives as a
// part with no file name and no bytes: it is skipped.
func (s *Server) readFilePart(u *upload, p *multipart.Part, total *int64) error {
	raw := p.FileName()
	if len(raw) > maxFileName {
		return &HTTPError{Status: http.StatusBadRequest, Msg: "error.filename"}
	}
	if len(u.files) >= crypto.MaxAttachments {
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toomanyfiles"}
	}
	typ := contentType(p.Header.Get("Content-Type"))
	limit := min(s.cfg.MaxFile, s.cfg.MaxUpload-*total)
	sf, err := u.sp.add(p, limit, crypto.CleanName(raw), typ)
	if err != nil {
		if errors.Is(err, errFileTooLarge) && limit < s.cfg.MaxFile {
			return &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toolarge"}
		}
		return uploadError(err)
	}
	*total += sf.Size
	if raw == "" && sf.Size == 0 {
		// An empty file input: drop it.
		u.sp.files = u.sp.files[:len(u.sp.files)-1]
		removeSpoolFile(sf)
		return nil
	}
	if sf.Name == "" {
		sf.Name = "file"
	}
	u.files = append(u.files, sf)
	return nil
}

func removeSpoolFile(sf *spoolFile) { os.Remove(sf.path) }

// contentType reduces a part's Content-Type to its media type, or
// application/octet-stream.
func contentType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || len(mt) > 100 || !utf8.ValidString(mt) || strings.ContainsAny(mt, "\x00\r\n") {
		return "application/octet-stream"
	}
	return mt
}

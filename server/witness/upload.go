package witness

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"unicode/utf8"

	"testimony/crypto"
	"testimony/form"
	"testimony/server/web"
	"testimony/store"
)

// Limits of a witness upload besides the configured byte limits.
const (
	maxParts    = 200  // parts of one multipart body
	maxFileName = 1024 // bytes of a file name as sent
)

// upload is a multipart body read by readUpload: the text values in memory
// (bounded), and the files in its sink.
type upload struct {
	values form.Values
	sink   sink
	// mem is what the upload holds of the uploads' memory budget.
	mem    int64
	budget *memBudget
}

// A sink takes an upload's files as they arrive and, once the answers are
// in and valid, writes the item with its manifest. There are two: the
// request's encrypted spool (spool.go), for most uploads, and a store item
// written as the files arrive (streamed, stream.go), for large ones;
// startStream chooses at the first file.
type sink interface {
	// add takes the next file, within limit bytes (errFileTooLarge past
	// it), and returns its size.
	add(r io.Reader, limit int64, name, typ string) (int64, error)
	// count is how many files it holds.
	count() int
	// commit writes m (to which it adds the attachments) and the files as
	// item it, and commits it with the update with in one transaction.
	commit(m *crypto.Manifest, it store.Item, with func(store.Tx) error) error
	// remove drops what was not committed. Safe to call more than once.
	remove()
}

// remove drops the upload's files unless committed and gives back its
// memory. Safe to call more than once.
func (u *upload) remove() {
	if u == nil {
		return
	}
	if u.sink != nil {
		u.sink.remove()
	}
	if u.budget != nil {
		u.budget.give(u.mem)
		u.mem, u.budget = 0, nil
	}
}

// charge takes n more bytes of the memory budget for u, or refuses.
func (u *upload) charge(n int64) bool {
	if !u.budget.tryTake(n) {
		return false
	}
	u.mem += n
	return true
}

// uploadError maps an error met while reading the body to a client error.
func uploadError(err error) error {
	var mb *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mb):
		return &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toolarge"}
	case errors.Is(err, errFileTooLarge):
		return &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.filetoolarge"}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &web.HTTPError{Status: http.StatusRequestTimeout, Msg: "error.timeout"}
	case errors.Is(err, errPartHeader):
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
	}
	return &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badform", Err: err}
}

// readUpload streams a multipart body: text parts whose name isText
// accepts are kept in memory, within form.MaxFieldBytes each and form.MaxTextBytes in
// all; parts named fileKey go to the upload's sink (spooled, encrypted, or
// streamed into the item), within the configured limits. Any other part name is refused. Nothing is parsed into temp
// files: net/http's whole-form parsing, which spills large parts to
// $TMPDIR in plaintext, is never used on this path.
//
// On error the sink is already removed; on success the caller must call
// remove when done.
func (s *Site) readUpload(w http.ResponseWriter, r *http.Request, isText func(string) bool, fileKey string, plan *streamPlan) (_ *upload, err error) {
	maxBody := s.cfg.MaxUpload + form.MaxTextBytes + 64<<10 // files, text, multipart framing
	if r.ContentLength > maxBody {
		return nil, &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toolarge"}
	}
	// The body's read deadline, which moves on as it arrives, is that of web.Site.Harden
	// (package web's limits.go), and stays set until the body's end.
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	body := r.Body
	hl := &partHeaderLimit{r: body}
	r.Body = struct {
		io.Reader
		io.Closer
	}{hl, body}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badform", Err: err}
	}
	if !s.uploads.take(r.Context(), uploadBase, s.lim.uploadWait) {
		w.Header().Set("Retry-After", "120")
		return nil, errBusy
	}
	// The spool's key is made with its first file; startStream may put a
	// streamed item in its place before then.
	u := &upload{values: form.Values{}, sink: s.newSpool(plan), mem: uploadBase, budget: s.uploads}
	defer func() {
		if err != nil {
			u.remove()
		}
	}()
	var parts, textBytes int
	var fileBytes int64
	for {
		hl.header()
		part, err := mr.NextRawPart() // no quoted-printable decoding: browsers send none
		hl.body()
		if err == io.EOF {
			// What may follow the last boundary, within the body's limit:
			// read to the end, so that the connection can be used again.
			io.Copy(io.Discard, body)
			break
		}
		if err != nil {
			return nil, uploadError(err)
		}
		if parts++; parts > maxParts {
			return nil, &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toomanyparts"}
		}
		// A part's header is text held in memory like an answer.
		if textBytes += headerBytes(part.Header); textBytes > form.MaxTextBytes {
			return nil, &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.textlong"}
		}
		name := part.FormName()
		if name == "" {
			return nil, &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
		}
		if !utf8.ValidString(name) {
			return nil, &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badtext"}
		}
		switch {
		case name == fileKey:
			start := func(name, typ string) error {
				return s.startStream(u, plan, r, form.MaxTextBytes-textBytes, name, typ)
			}
			if err := s.readFilePart(u, part, &fileBytes, start); err != nil {
				return nil, err
			}
		case isText(name):
			if part.FileName() != "" {
				return nil, &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
			}
			v, err := io.ReadAll(io.LimitReader(part, form.MaxFieldBytes+1))
			if err != nil {
				return nil, uploadError(err)
			}
			if textBytes += len(v); len(v) > form.MaxFieldBytes || textBytes > form.MaxTextBytes {
				return nil, &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.textlong"}
			}
			if !u.charge(textCost * int64(len(v))) {
				w.Header().Set("Retry-After", "120")
				return nil, errBusy
			}
			if !form.CheckText(string(v)) {
				return nil, &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.badtext"}
			}
			u.values[name] = append(u.values[name], string(v))
		default:
			return nil, &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.unknownfield"}
		}
		part.Close()
	}
	return u, nil
}

// readFilePart reads one file part into the upload's sink. A file input left empty arrives as a part with no file name and no
// bytes: it is skipped. start is called before the first file is kept, to
// choose between the two.
func (s *Site) readFilePart(u *upload, p *multipart.Part, total *int64, start func(name, typ string) error) error {
	raw := p.FileName()
	if len(raw) > maxFileName {
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "error.filename"}
	}
	var first [1]byte
	k, err := io.ReadFull(p, first[:])
	switch {
	case k == 0 && err == io.EOF && raw == "":
		return nil // an empty file input
	case k == 0 && err != io.EOF:
		return uploadError(err)
	}
	if u.sink.count() >= crypto.MaxAttachments {
		return &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toomanyfiles"}
	}
	name, typ := crypto.CleanName(raw), contentType(p.Header.Get("Content-Type"))
	if name == "" {
		name = "file"
	}
	if u.sink.count() == 0 {
		if err := start(name, typ); err != nil {
			return err
		}
	}
	body := &readErr{r: io.MultiReader(bytes.NewReader(first[:k]), p)}
	limit := min(s.cfg.MaxFile, s.cfg.MaxUpload-*total)
	size, err := u.sink.add(body, limit, name, typ)
	switch {
	case errors.Is(err, errFileTooLarge) && limit < s.cfg.MaxFile:
		return &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toolarge"}
	case body.err != nil || errors.Is(err, errFileTooLarge):
		return uploadError(err) // the client's doing
	case err != nil:
		return err // the spool's or the store's: a 500, or a 507 when full
	}
	*total += size
	return nil
}

// readErr remembers the error of its reader, to tell the client's errors
// from those of where the bytes go.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// contentType reduces a part's Content-Type to its media type, or
// application/octet-stream.
func contentType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || len(mt) > 100 || !utf8.ValidString(mt) || strings.ContainsAny(mt, "\x00\r\n") {
		return "application/octet-stream"
	}
	return mt
}

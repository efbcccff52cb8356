package server

import (
	"bytes"
	"errors"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"testimony/crypto"
	"testimony/form"
	"testimony/store"
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
// (bounded), and the files either in the request's spool or, for a large
// upload, already in a store item being written (stream).
type upload struct {
	values form.Values
	sp     *spool
	files  []*spoolFile
	stream *streamed
	// mem is what the upload holds of the uploads' memory budget.
	mem    int64
	budget *memBudget
}

// streamed is a large upload whose files go straight into a store item, in
// one pass: see streamPlan.
type streamed struct {
	iw    *store.ItemWriter
	env   *crypto.StreamEnvelope
	files int
	slot  chan struct{}
}

// fileCount is how many files the upload holds.
func (u *upload) fileCount() int {
	if u.stream != nil {
		return u.stream.files
	}
	return len(u.files)
}

// remove deletes the upload's spool files, and the chunks of a streamed
// item that was not committed. Safe to call more than once.
func (u *upload) remove() {
	if u == nil {
		return
	}
	if u.sp != nil {
		u.sp.remove()
	}
	if st := u.stream; st != nil && st.slot != nil {
		st.iw.Abort() // after Commit: nothing
		<-st.slot
		st.slot = nil
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

// A large upload is not spooled: spooling reads every file twice (into the
// spool, then into the envelope), and for a 1 GiB video that second pass
// kept the witness waiting seconds for a receipt after their last byte.
// Instead its files are written straight into a store item as they arrive
// (crypto.StreamEnvelope), with room kept at the start for the manifest,
// which is written once the answers are all in and valid. streamPlan says
// what the manifest of a request may hold; without one, or for a small
// body, files are spooled.
type streamPlan struct {
	rs *crypto.Recipients
	// worst returns the longest manifest, without attachments, that the
	// request can still give, given the text values read so far and the
	// text bytes it may still send.
	worst func(v form.Values, textLeft int) *crypto.Manifest
}

// streamMin is the body size above which files are streamed: below it the
// room kept for the manifest would weigh on the object's size, and the
// second pass over the spool costs little. A body of unknown length is
// streamed. A variable so that tests can stream small bodies.
var streamMin int64 = 8 << 20

// maxRoom is the most room a streamed upload keeps for its manifest; a
// form whose manifest could be longer (free text after its files) spools.
const maxRoom = 1 << 20

// maxTypeLen bounds a file's media type as contentType returns it.
const maxTypeLen = 100

// streamSlots bounds the uploads streamed at once: each holds an item
// writer's few MiB of chunks for as long as it lasts, which over Tor can be
// long. The others spool.
const streamSlots = 4

// startStream makes u stream its files, if the request is large, the plan
// allows it and a slot is free. name and typ are of its first file.
func (s *Server) startStream(u *upload, plan *streamPlan, r *http.Request, textLeft int, name, typ string) error {
	if plan == nil || (r.ContentLength >= 0 && r.ContentLength <= streamMin) || s.cfg.MaxFile > crypto.MaxStreamAttachment {
		return nil
	}
	room, err := s.roomFor(plan.worst(u.values, textLeft), crypto.Attachment{Name: name, Type: typ})
	if err != nil || room > maxRoom {
		return nil
	}
	select {
	case s.streams <- struct{}{}:
	default:
		return nil
	}
	iw := s.db.NewItem()
	env, err := crypto.NewStreamEnvelope(iw, plan.rs, room)
	if err != nil {
		iw.Abort()
		<-s.streams
		return err
	}
	u.stream = &streamed{iw: iw, env: env, slot: s.streams}
	return nil
}

// roomFor is the room to keep for a manifest: the length of worst with
// first and then as many of the longest attachment entries as may follow.
func (s *Server) roomFor(worst *crypto.Manifest, first crypto.Attachment) (int, error) {
	m := *worst
	m.Day = "2006-01-02"
	m.Lang = s.longestLang()
	sha := strings.Repeat("0", 64)
	first.Size, first.SHA256 = math.MaxInt64, sha
	m.Attachments = []crypto.Attachment{first}
	// Quotes: the longest JSON for their length.
	long := crypto.Attachment{Name: strings.Repeat(`"`, crypto.MaxCleanName), Size: math.MaxInt64, SHA256: sha, Type: strings.Repeat(`"`, maxTypeLen)}
	for range crypto.MaxAttachments - 1 {
		m.Attachments = append(m.Attachments, long)
	}
	return crypto.ManifestLen(&m)
}

// longestLang is the longest language code a manifest may name.
func (s *Server) longestLang() string {
	l := defaultLang
	if site := s.wsite(); site.err == nil && site.lang != nil {
		for _, c := range site.lang.langs {
			if len(c) > len(l) {
				l = c
			}
		}
	}
	return l
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
	case errors.Is(err, errPartHeader):
		return &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
	}
	return &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform", Err: err}
}

// readUpload streams a multipart body: text parts whose name isText
// accepts are kept in memory, within form.MaxFieldBytes each and form.MaxTextBytes in
// all; parts named fileKey are spooled, encrypted, within the configured
// limits. Any other part name is refused. Nothing is parsed into temp
// files: net/http's whole-form parsing, which spills large parts to
// $TMPDIR in plaintext, is never used on this path.
//
// On error the spool is already removed; on success the caller must call
// remove when done.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, isText func(string) bool, fileKey string, plan *streamPlan) (_ *upload, err error) {
	maxBody := s.cfg.MaxUpload + form.MaxTextBytes + 64<<10 // files, text, multipart framing
	if r.ContentLength > maxBody {
		return nil, &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toolarge"}
	}
	// The body's read deadline, which moves on as it arrives, is harden's
	// (limits.go), and stays set until the body's end.
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	body := r.Body
	hl := &partHeaderLimit{r: body}
	r.Body = struct {
		io.Reader
		io.Closer
	}{hl, body}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform", Err: err}
	}
	if !s.uploads.take(r.Context(), uploadBase, uploadWait) {
		w.Header().Set("Retry-After", "120")
		return nil, errBusy
	}
	u := &upload{values: form.Values{}, sp: &spool{dir: s.spoolDir()}, mem: uploadBase, budget: s.uploads} // the spool's key is made with its first file
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
			return nil, &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toomanyparts"}
		}
		// A part's header is text held in memory like an answer.
		if textBytes += headerBytes(part.Header); textBytes > form.MaxTextBytes {
			return nil, &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.textlong"}
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
			start := func(name, typ string) error {
				return s.startStream(u, plan, r, form.MaxTextBytes-textBytes, name, typ)
			}
			if err := s.readFilePart(u, part, &fileBytes, start); err != nil {
				return nil, err
			}
		case isText(name):
			if part.FileName() != "" {
				return nil, &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform"}
			}
			v, err := io.ReadAll(io.LimitReader(part, form.MaxFieldBytes+1))
			if err != nil {
				return nil, uploadError(err)
			}
			if textBytes += len(v); len(v) > form.MaxFieldBytes || textBytes > form.MaxTextBytes {
				return nil, &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.textlong"}
			}
			if !u.charge(textCost * int64(len(v))) {
				w.Header().Set("Retry-After", "120")
				return nil, errBusy
			}
			if !form.CheckText(string(v)) {
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

// readFilePart reads one file part into the spool, or into the streamed
// item. A file input left empty arrives as a part with no file name and no
// bytes: it is skipped. start is called before the first file is kept, to
// choose between the two.
func (s *Server) readFilePart(u *upload, p *multipart.Part, total *int64, start func(name, typ string) error) error {
	raw := p.FileName()
	if len(raw) > maxFileName {
		return &HTTPError{Status: http.StatusBadRequest, Msg: "error.filename"}
	}
	var first [1]byte
	k, err := io.ReadFull(p, first[:])
	switch {
	case k == 0 && err == io.EOF && raw == "":
		return nil // an empty file input
	case k == 0 && err != io.EOF:
		return uploadError(err)
	}
	if u.fileCount() >= crypto.MaxAttachments {
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toomanyfiles"}
	}
	name, typ := crypto.CleanName(raw), contentType(p.Header.Get("Content-Type"))
	if name == "" {
		name = "file"
	}
	if u.fileCount() == 0 && u.stream == nil {
		if err := start(name, typ); err != nil {
			return err
		}
	}
	body := &readErr{r: io.MultiReader(bytes.NewReader(first[:k]), p)}
	limit := min(s.cfg.MaxFile, s.cfg.MaxUpload-*total)
	var size int64
	if u.stream != nil {
		size, err = u.stream.add(body, limit, name, typ)
	} else {
		var sf *spoolFile
		if sf, err = u.sp.add(body, limit, name, typ); err == nil {
			u.files = append(u.files, sf)
			size = sf.Size
		}
	}
	switch {
	case errors.Is(err, errFileTooLarge) && limit < s.cfg.MaxFile:
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.toolarge"}
	case body.err != nil || errors.Is(err, errFileTooLarge):
		return uploadError(err) // the client's doing
	case err != nil:
		return err // the spool's or the store's: a 500, or a 507 when full
	}
	*total += size
	return nil
}

// add streams r, within limit bytes, into the item as its next attachment.
func (st *streamed) add(r io.Reader, limit int64, name, typ string) (int64, error) {
	if err := st.env.Begin(name, typ); err != nil {
		return 0, err
	}
	n, err := io.Copy(st.env, io.LimitReader(r, limit+1))
	if err != nil {
		return 0, err
	}
	if n > limit {
		return 0, errFileTooLarge
	}
	if _, err := st.env.End(); err != nil {
		return 0, err
	}
	st.files++
	return n, nil
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

package witness

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
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"

	"testimony/crypto"
	"testimony/form"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

// formData is what the form template gets.
type formData struct {
	Q      *form.Form
	Values form.Values
	Errors map[string]string // field key → message key
	// FilesLost is set when the witness had chosen files for a form that
	// comes back with errors: a browser cannot be given them back.
	FilesLost bool
}

// Invalid reports whether a field of sec has an error: its folded
// section is shown open, so that the error summary's link leads to a
// field the witness can see.
func (d formData) Invalid(sec *form.Section) bool {
	for _, f := range sec.Fields {
		if d.Errors[f.Key] != "" {
			return true
		}
	}
	return false
}

// sizeText writes a byte count for people in lang: "500 MB", "500 МБ",
// "1,5 GB". The units are lang's messages w.size.kb, w.size.mb and
// w.size.gb (of 1024, as the limits are set), the number is written as
// lang writes numbers (CLDR, by x/text), and a non-breaking space keeps
// it with its unit. A limit is rounded down, never promised larger than
// it is.
func sizeText(t func(lang, key string) string, lang string, n int64) string {
	var v float64
	var unit string
	switch {
	case n >= 1<<30:
		v, unit = math.Floor(float64(n)/(1<<30)*10)/10, "w.size.gb"
	case n >= 1<<20:
		v, unit = float64(n>>20), "w.size.mb"
	default:
		v, unit = float64(max(n>>10, 1)), "w.size.kb"
	}
	p := message.NewPrinter(language.Make(lang))
	return p.Sprint(number.Decimal(v, number.MaxFractionDigits(1))) + "\u00a0" + t(lang, unit)
}

func (s *Site) landing(w http.ResponseWriter, r *http.Request) error {
	return s.renderWitness(w, http.StatusOK, "landing", s.langOf(r, ""), wPage{})
}

func (s *Site) formPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderWitness(w, http.StatusOK, "form", s.langOf(r, ""), wPage{
		Data: formData{Q: s.quest, Values: form.Values{}},
	})
}

// errUnavailable is the answer when no usable recipient set exists: the
// site must not store what nobody could read.
func (s *Site) checkRecipients() (*crypto.Recipients, error) {
	rs, err := s.recipients()
	if err != nil {
		s.log.Error("recipient set unusable; refusing submissions", "err", err.Error())
		return nil, &web.HTTPError{Status: http.StatusServiceUnavailable, Msg: "error.unavailable"}
	}
	return rs, nil
}

// submit receives a testimony: the answers and files stream in, the files
// through the upload's sink (sink.go); once the answers are valid the envelope is
// written into the store and committed, and only then, with the item safe
// on disk, does the witness get the receipt and their codename.
func (s *Site) submit(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.checkRecipients()
	if err != nil {
		return err
	}
	q := s.quest
	isText := func(k string) bool { return k == "lang" || (q.Field(k) != nil && !q.IsFile(k)) }
	fileKey := q.FileKey()
	plan := &streamPlan{rs: rs, worst: func(v form.Values, textLeft int) *crypto.Manifest {
		return &crypto.Manifest{Kind: crypto.KindSubmission, Form: q.Ref(), Answers: q.WorstAnswers(v, textLeft)}
	}}
	up, err := s.readUpload(w, r, isText, fileKey, plan)
	if err != nil {
		return err
	}
	defer up.remove()
	lang := s.langOf(r, up.values.Get("lang"))
	answers, errs := q.Validate(up.values)
	if errs != nil {
		return s.renderWitness(w, http.StatusUnprocessableEntity, "form", lang, wPage{
			Data: formData{Q: q, Values: up.values, Errors: errs, FilesLost: up.sink.count() > 0},
		})
	}
	codename, err := crypto.NewCodename()
	if err != nil {
		return err
	}
	src, putSource, err := s.sourceOf(codename)
	if err != nil {
		return err
	}
	m := &crypto.Manifest{Kind: crypto.KindSubmission, Lang: lang, Form: q.Ref(), Answers: answers}
	if err := s.storeEnvelope(m, src, putSource, up, rs); err != nil {
		return err
	}
	return s.writeReceipt(w, lang, codename)
}

// storeEnvelope writes m and the upload's files as one item and commits
// it, with the update with (the source's record) and the record of its
// recipient set in the same transaction: when it returns nil, all are on
// disk. On error nothing is left.
func (s *Site) storeEnvelope(m *crypto.Manifest, source string, with func(store.Tx) error, up *upload, rs *crypto.Recipients) error {
	m.Day = s.today()
	putSet, err := records.PutRecipientSetIfAbsent(rs)
	if err != nil {
		return err
	}
	both := func(tx store.Tx) error {
		if err := putSet(tx); err != nil {
			return err
		}
		if with == nil {
			return nil
		}
		return with(tx)
	}
	return up.sink.commit(m, store.Item{Kind: m.Kind, Day: m.Day, Recipients: rs.Fingerprint(), Source: source}, both)
}

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
	// (package web's bodyDeadline), and stays set until the body's end.
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

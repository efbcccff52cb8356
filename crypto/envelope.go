package crypto

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"
)

// ManifestName is the first entry of every envelope.
const ManifestName = "manifest.json"

// AttachmentPath is the tar path of the i-th (0-based) attachment.
func AttachmentPath(i int, name string) string {
	return fmt.Sprintf("attachments/%02d-%s", i+1, SafeName(name))
}

// Envelope writes one object: an age file whose plaintext is the tar of a
// manifest and its attachments, padded. Create it with [NewEnvelope], write
// each attachment in order with [Envelope.WriteAttachment], then Close.
// Memory use does not depend on the attachments' sizes.
type Envelope struct {
	age   io.WriteCloser
	count *countWriter
	tar   *tar.Writer
	m     *Manifest
	next  int
	err   error
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// NewEnvelope starts an object in dst, encrypted to rs. m must already list
// every attachment with its size and SHA-256: the manifest is the first
// entry, and tar needs sizes up front.
func NewEnvelope(dst io.Writer, rs *Recipients, m *Manifest) (*Envelope, error) {
	if rs == nil || rs.Len() == 0 {
		return nil, ErrNoRecipients
	}
	if m == nil {
		return nil, fmt.Errorf("%w: none given", ErrBadManifest)
	}
	if m.Format == "" {
		m.Format = Format
	}
	if m.Answers == nil {
		m.Answers = map[string]Answer{}
	}
	if m.Attachments == nil {
		m.Attachments = []Attachment{}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	mj, err := encodeManifest(m)
	if err != nil {
		return nil, err
	}
	if len(mj) > MaxManifest {
		return nil, fmt.Errorf("%w: manifest is %d bytes, at most %d", ErrBadManifest, len(mj), MaxManifest)
	}
	aw, err := age.Encrypt(dst, rs.ageRecipients()...)
	if err != nil {
		return nil, fmt.Errorf("starting encryption: %w", err)
	}
	e := &Envelope{age: aw, m: m}
	e.count = &countWriter{w: aw}
	e.tar = tar.NewWriter(e.count)
	if err := e.header(ManifestName, int64(len(mj))); err != nil {
		return nil, err
	}
	if _, err := e.tar.Write(mj); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Envelope) header(name string, size int64) error {
	return e.tar.WriteHeader(entryHeader(name, size))
}

// entryHeader is the tar header of every envelope entry.
func entryHeader(name string, size int64) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o600,
		Format:   tar.FormatPAX,
		// ModTime zero: a time would help match a witness to network logs.
	}
}

// ErrDigestMismatch is returned when an attachment's bytes do not match the
// size or SHA-256 its manifest records.
var ErrDigestMismatch = errors.New("attachment does not match its manifest entry")

// WriteAttachment streams the next attachment from r. It must give exactly
// the size the manifest records, with the same SHA-256.
func (e *Envelope) WriteAttachment(r io.Reader) error {
	if e.err != nil {
		return e.err
	}
	if e.next >= len(e.m.Attachments) {
		return errors.New("more attachments than the manifest lists")
	}
	a := e.m.Attachments[e.next]
	if err := e.header(AttachmentPath(e.next, a.Name), a.Size); err != nil {
		e.err = err
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(e.tar, h), io.LimitReader(r, a.Size))
	if err != nil {
		e.err = err
		return err
	}
	if n == a.Size {
		// One byte more than the manifest says is a mismatch too, not a
		// tar "write too long".
		var one [1]byte
		if k, _ := io.ReadFull(r, one[:]); k > 0 {
			n++
		}
	}
	if n != a.Size || hex.EncodeToString(h.Sum(nil)) != a.SHA256 {
		e.err = fmt.Errorf("attachment %d: %w", e.next+1, ErrDigestMismatch)
		return e.err
	}
	e.next++
	return nil
}

var zeros [64 << 10]byte

// Close ends the tar, pads it and finishes the age file. Every attachment
// the manifest lists must have been written.
func (e *Envelope) Close() error {
	if e.err != nil {
		return e.err
	}
	if e.next != len(e.m.Attachments) {
		return fmt.Errorf("%d of %d attachments written", e.next, len(e.m.Attachments))
	}
	if err := e.tar.Close(); err != nil {
		return err
	}
	pad := envelopeLen(e.count.n) - e.count.n
	for pad > 0 {
		n := min(pad, int64(len(zeros)))
		if _, err := e.age.Write(zeros[:n]); err != nil {
			return err
		}
		pad -= n
	}
	return e.age.Close()
}

// ErrNotEnvelope is returned when a decrypted object is not a Testimony
// envelope: no manifest first, unexpected entries, or data after the padding.
var ErrNotEnvelope = errors.New("not a testimony object")

// EnvelopeReader reads an object back. Read the manifest from
// [EnvelopeReader.Manifest], each attachment in turn with
// [EnvelopeReader.Next], and call [EnvelopeReader.Finish] at the end: only
// then are the padding and the age authentication of the final chunk
// checked, so a truncated or tampered file is reported there at the latest.
type EnvelopeReader struct {
	src      io.Reader // decrypted stream
	tar      *tar.Reader
	manifest *Manifest
	next     int
	cur      *hashingReader
}

// OpenEnvelope decrypts src with the identities and reads the manifest.
// A wrong key gives an error wrapping [age.NoIdentityMatchError].
func OpenEnvelope(src io.Reader, ids ...age.Identity) (*EnvelopeReader, error) {
	pr, err := age.Decrypt(src, ids...)
	if err != nil {
		return nil, err
	}
	return readEnvelope(pr)
}

// ReadEnvelope reads an already decrypted envelope plaintext.
func ReadEnvelope(plaintext io.Reader) (*EnvelopeReader, error) { return readEnvelope(plaintext) }

func readEnvelope(pr io.Reader) (*EnvelopeReader, error) {
	r := &EnvelopeReader{src: pr, tar: tar.NewReader(pr)}
	h, err := r.tar.Next()
	if err != nil {
		return nil, fmt.Errorf("%w: reading first entry: %v", ErrNotEnvelope, err)
	}
	if h.Name != ManifestName || h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%w: first entry is %q, want %s", ErrNotEnvelope, h.Name, ManifestName)
	}
	if h.Size > MaxManifest {
		return nil, fmt.Errorf("%w: manifest of %d bytes", ErrNotEnvelope, h.Size)
	}
	buf, err := io.ReadAll(r.tar)
	if err != nil {
		return nil, fmt.Errorf("%w: reading manifest: %v", ErrNotEnvelope, err)
	}
	m := new(Manifest)
	if err := json.Unmarshal(buf, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	r.manifest = m
	return r, nil
}

// Manifest returns the object's manifest.
func (r *EnvelopeReader) Manifest() *Manifest { return r.manifest }

type hashingReader struct {
	r    io.Reader
	h    hash.Hash
	want Attachment
	n    int64
	done bool
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if err == io.EOF {
		if h.n != h.want.Size || hex.EncodeToString(h.h.Sum(nil)) != h.want.SHA256 {
			return n, ErrDigestMismatch
		}
		h.done = true
	}
	return n, err
}

// Next returns the next attachment and a reader of its bytes, or io.EOF
// after the last. The reader returns [ErrDigestMismatch] instead of io.EOF
// if the bytes do not match the manifest. An unread remainder is read
// and checked by the following Next or Finish.
func (r *EnvelopeReader) Next() (Attachment, io.Reader, error) {
	if err := r.drainCurrent(); err != nil {
		return Attachment{}, nil, err
	}
	if r.next >= len(r.manifest.Attachments) {
		return Attachment{}, nil, io.EOF
	}
	a := r.manifest.Attachments[r.next]
	h, err := r.tar.Next()
	if err != nil {
		return Attachment{}, nil, fmt.Errorf("%w: attachment %d missing: %v", ErrNotEnvelope, r.next+1, err)
	}
	if !attachmentEntry(h.Name, r.next) || h.Typeflag != tar.TypeReg || h.Size != a.Size {
		return Attachment{}, nil, fmt.Errorf("%w: entry %q does not match attachment %d of the manifest", ErrNotEnvelope, h.Name, r.next+1)
	}
	r.next++
	r.cur = &hashingReader{r: r.tar, h: sha256.New(), want: a}
	return a, r.cur, nil
}

// attachmentEntry reports whether name fits the i-th (0-based) attachment:
// attachments/NN-<one path element>. The element is not compared with
// [SafeName] of the manifest's name, so that files written by an older
// SafeName stay readable; readers never use it as a path as it is.
func attachmentEntry(name string, i int) bool {
	rest, ok := strings.CutPrefix(name, fmt.Sprintf("attachments/%02d-", i+1))
	return ok && rest != "" && rest != "." && rest != ".." && utf8.ValidString(rest) &&
		!strings.ContainsFunc(rest, func(r rune) bool { return r == '/' || r == '\\' || unicode.IsControl(r) })
}

func (r *EnvelopeReader) drainCurrent() error {
	if r.cur == nil || r.cur.done {
		return nil
	}
	_, err := io.Copy(io.Discard, r.cur)
	return err
}

// Finish reads the rest of the object: any unread attachment, the end of
// the tar and the padding, which must be zeros. It returns an error if the
// file was truncated or tampered with.
func (r *EnvelopeReader) Finish() error {
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if err := r.drainCurrent(); err != nil {
		return err
	}
	if h, err := r.tar.Next(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("%w: after the last attachment: %v", ErrNotEnvelope, err)
		}
		return fmt.Errorf("%w: unexpected entry %q", ErrNotEnvelope, h.Name)
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.src.Read(buf)
		for _, b := range buf[:n] {
			if b != 0 {
				return fmt.Errorf("%w: non-zero bytes in the padding", ErrNotEnvelope)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// manifestJSON is [Manifest] with the answers as plain strings and lists,
// so that encoding/json writes them itself: the output of a MarshalJSON
// method is scanned and compacted once more, and for a long account that
// was a fifth of the envelope's cost besides age.
type manifestJSON struct {
	Format      string         `json:"format"`
	Kind        string         `json:"kind"`
	Day         string         `json:"day"`
	Lang        string         `json:"lang,omitempty"`
	Form        FormRef        `json:"form"`
	Answers     map[string]any `json:"answers"`
	Attachments []Attachment   `json:"attachments"`
}

// encodeManifest writes m as manifest.json: the same bytes as encoding m
// with [Answer.MarshalJSON] (a test holds them equal). Indented for the
// reader of a bare `tar x`; <, > and & kept as they are, not inflated to
// \u003c, so the length says less about the text.
func encodeManifest(m *Manifest) ([]byte, error) {
	answers := make(map[string]any, len(m.Answers))
	for k, a := range m.Answers {
		switch {
		case !a.IsList:
			answers[k] = a.Text
		case a.List == nil:
			answers[k] = []string{}
		default:
			answers[k] = a.List
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(manifestJSON{m.Format, m.Kind, m.Day, m.Lang, m.Form, answers, m.Attachments})
	return b.Bytes(), err
}

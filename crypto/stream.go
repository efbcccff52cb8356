package crypto

import (
	"archive/tar"
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// Rewriter is where a [StreamEnvelope] writes: bytes in order, and later a
// change to some of them, made before the object is kept (a store's item
// writer applies them in its final transaction). Rewrite must call fn with
// the bytes [off, off+n) already written, and keep what fn leaves in them.
// fn may be called more than once: it gives the same result each time.
type Rewriter interface {
	io.Writer
	Rewrite(off int64, n int, fn func(b []byte) error) error
}

// ErrNoRoom is returned by [StreamEnvelope.Close] when the manifest is
// longer than the room reserved for it.
var ErrNoRoom = errors.New("manifest longer than the room reserved for it")

// MaxStreamAttachment is the largest attachment a StreamEnvelope takes:
// its tar header is written before its size is known, and must keep its
// length when the size is filled in, which holds below 8 GiB (the octal
// size field of a ustar header).
const MaxStreamAttachment = 1<<33 - 1

// age payload: chunks of 64 KiB of plaintext, each sealed with
// ChaCha20-Poly1305 under a key derived from the file key and a nonce.
const (
	streamChunk = 64 << 10
	streamTag   = chacha20poly1305.Overhead
)

// StreamEnvelope writes an object in one pass when the attachments' sizes
// and digests are known only once they have been read (an upload), yet
// the manifest that lists them must be the first tar entry. It reserves
// room for the manifest, writes each attachment's tar header with a size
// to be filled in, and at Close asks dst to re-seal the few age chunks
// that hold the manifest and those headers. The object is an ordinary
// envelope, read by [OpenEnvelope] and by `age -d | tar x`; its
// manifest.json ends with spaces up to the reserved length (JSON allows
// trailing white space).
//
// Use: [NewStreamEnvelope], then for each attachment [StreamEnvelope.Begin],
// Write, [StreamEnvelope.End]; then [StreamEnvelope.Close] with the
// manifest. Memory use does not depend on the attachments' sizes. The
// age file key is held in memory until Close, as age itself holds it
// while encrypting.
type StreamEnvelope struct {
	dst   Rewriter
	aead  cipher.AEAD
	base  int64  // ciphertext bytes before chunk 0: the age header and nonce
	chunk []byte // plaintext of the chunk being filled
	index int64  // its number
	pos   int64  // tar bytes written

	room  int   // bytes reserved for manifest.json
	mOff  int64 // tar offset of manifest.json's bytes
	atts  []Attachment
	cur   *streamAttachment
	fixes []fix // bytes to put at tar offsets at Close
	err   error
}

type streamAttachment struct {
	path string
	head int64 // tar offset of its header
	hlen int
	h    hash.Hash
}

// fix is a change to the tar at off, made at Close.
type fix struct {
	off int64
	b   []byte
}

// NewStreamEnvelope starts an object in dst, encrypted to rs, with room
// bytes for manifest.json.
func NewStreamEnvelope(dst Rewriter, rs *Recipients, room int) (*StreamEnvelope, error) {
	if rs == nil || rs.Len() == 0 {
		return nil, ErrNoRecipients
	}
	if room <= 0 || room > MaxManifest {
		return nil, fmt.Errorf("%w: room of %d bytes for the manifest", ErrBadManifest, room)
	}
	// age.Encrypt writes the header and the payload nonce at once; the file
	// key is caught on its way to the recipients, so that the payload can
	// be sealed here, chunk by chunk, and a chunk sealed again at Close.
	var fileKey []byte
	taps := make([]age.Recipient, 0, rs.Len())
	for _, r := range rs.ageRecipients() {
		taps = append(taps, keyTap{r, &fileKey})
	}
	var head bytes.Buffer
	if _, err := age.Encrypt(io.MultiWriter(dst, &head), taps...); err != nil {
		return nil, fmt.Errorf("starting encryption: %w", err)
	}
	if len(fileKey) == 0 || head.Len() < 16 {
		return nil, errors.New("starting encryption: no file key")
	}
	nonce := head.Bytes()[head.Len()-16:]
	key, err := hkdf.Key(sha256.New, fileKey, nonce, "payload", chacha20poly1305.KeySize)
	clear(fileKey)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	e := &StreamEnvelope{dst: dst, aead: aead, base: int64(head.Len()), room: room,
		chunk: make([]byte, 0, streamChunk+streamTag)}
	h, err := tarHeader(ManifestName, int64(room))
	if err != nil {
		return nil, err
	}
	e.write(h)
	e.mOff = e.pos
	e.write(bytes.Repeat([]byte{' '}, room)) // the manifest, at Close
	e.write(zeros[:blockPad(e.pos)])
	return e, e.err
}

// ManifestLen is the length of m as manifest.json: the room a
// [StreamEnvelope] needs for it.
func ManifestLen(m *Manifest) (int, error) {
	c := *m
	if c.Format == "" {
		c.Format = Format
	}
	if c.Attachments == nil {
		c.Attachments = []Attachment{}
	}
	b, err := encodeManifest(&c)
	return len(b), err
}

// keyTap is a recipient that keeps a copy of the file key it wraps.
type keyTap struct {
	r   age.Recipient
	key *[]byte
}

func (t keyTap) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, _, err := t.WrapWithLabels(fileKey)
	return s, err
}

func (t keyTap) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	*t.key = bytes.Clone(fileKey)
	if l, ok := t.r.(age.RecipientWithLabels); ok {
		return l.WrapWithLabels(fileKey)
	}
	s, err := t.r.Wrap(fileKey)
	return s, nil, err
}

// tarHeader returns the tar header of an entry, as [Envelope] writes it.
func tarHeader(name string, size int64) ([]byte, error) {
	var b bytes.Buffer
	err := tar.NewWriter(&b).WriteHeader(entryHeader(name, size))
	return b.Bytes(), err
}

// blockPad is how many zero bytes end a tar entry that ends at n.
func blockPad(n int64) int { return int(-n & 511) }

// write adds p to the tar, sealing each chunk once the next byte comes.
func (e *StreamEnvelope) write(p []byte) {
	for len(p) > 0 && e.err == nil {
		if len(e.chunk) == streamChunk {
			e.seal(false)
		}
		k := min(streamChunk-len(e.chunk), len(p))
		e.chunk = append(e.chunk, p[:k]...)
		p = p[k:]
		e.pos += int64(k)
	}
}

func (e *StreamEnvelope) nonce(i int64, last bool) []byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[3:11], uint64(i))
	if last {
		n[11] = 1
	}
	return n[:]
}

// seal encrypts the chunk being filled, in place, and writes it out.
func (e *StreamEnvelope) seal(last bool) {
	ct := e.aead.Seal(e.chunk[:0], e.nonce(e.index, last), e.chunk, nil)
	if _, err := e.dst.Write(ct); err != nil {
		e.err = err
	}
	e.chunk = e.chunk[:0]
	e.index++
}

// Begin starts the next attachment: name as the witness gave it (cleaned,
// see [CleanName]) and its media type.
func (e *StreamEnvelope) Begin(name, typ string) error {
	if e.err != nil {
		return e.err
	}
	if e.cur != nil {
		return errors.New("attachment begun before the last one ended")
	}
	if len(e.atts) >= MaxAttachments {
		return fmt.Errorf("%w: more than %d attachments", ErrBadManifest, MaxAttachments)
	}
	path := AttachmentPath(len(e.atts), name)
	h, err := tarHeader(path, 0)
	if err != nil {
		return err
	}
	e.cur = &streamAttachment{path: path, head: e.pos, hlen: len(h), h: sha256.New()}
	e.atts = append(e.atts, Attachment{Name: name, Type: typ})
	e.write(h)
	return e.err
}

// Write adds bytes of the attachment begun.
func (e *StreamEnvelope) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.cur == nil {
		return 0, errors.New("write outside an attachment")
	}
	a := &e.atts[len(e.atts)-1]
	if a.Size+int64(len(p)) > MaxStreamAttachment {
		e.err = fmt.Errorf("attachment %d: more than %d bytes", len(e.atts), int64(MaxStreamAttachment))
		return 0, e.err
	}
	e.cur.h.Write(p)
	a.Size += int64(len(p))
	e.write(p)
	return len(p), e.err
}

// End ends the attachment begun and returns its manifest entry.
func (e *StreamEnvelope) End() (Attachment, error) {
	if e.err != nil {
		return Attachment{}, e.err
	}
	if e.cur == nil {
		return Attachment{}, errors.New("end outside an attachment")
	}
	a := &e.atts[len(e.atts)-1]
	a.SHA256 = hex.EncodeToString(e.cur.h.Sum(nil))
	h, err := tarHeader(e.cur.path, a.Size)
	if err == nil && len(h) != e.cur.hlen {
		err = errors.New("attachment header changed length")
	}
	if err != nil {
		e.err = err
		return Attachment{}, err
	}
	e.fixes = append(e.fixes, fix{e.cur.head, h})
	e.cur = nil
	e.write(zeros[:blockPad(e.pos)])
	return *a, e.err
}

// Close writes m, with the attachments ended, as manifest.json, ends and
// pads the tar, and asks dst to re-seal the chunks that changed. It
// returns [ErrNoRoom] if the manifest does not fit the room reserved.
func (e *StreamEnvelope) Close(m *Manifest) error {
	if e.err != nil {
		return e.err
	}
	if e.cur != nil {
		return errors.New("close inside an attachment")
	}
	if m == nil {
		return fmt.Errorf("%w: none given", ErrBadManifest)
	}
	if m.Format == "" {
		m.Format = Format
	}
	if m.Answers == nil {
		m.Answers = map[string]Answer{}
	}
	m.Attachments = append([]Attachment{}, e.atts...)
	if err := m.Validate(); err != nil {
		return err
	}
	mj, err := encodeManifest(m)
	if err != nil {
		return err
	}
	if len(mj) > e.room {
		return fmt.Errorf("%w: %d bytes, room for %d", ErrNoRoom, len(mj), e.room)
	}
	e.fixes = append(e.fixes, fix{e.mOff, mj}) // the spaces after it stay
	e.write(zeros[:1024])                      // the end of the tar
	for pad := envelopeLen(e.pos) - e.pos; pad > 0 && e.err == nil; {
		n := min(pad, int64(len(zeros)))
		e.write(zeros[:n])
		pad -= n
	}
	// The last chunk is still in memory: mend it before sealing.
	e.apply(e.chunk, e.index)
	e.seal(true)
	if e.err != nil {
		return e.err
	}
	e.err = errors.New("envelope closed")
	touched := map[int64]bool{}
	for _, f := range e.fixes {
		for i := f.off / streamChunk; i <= (f.off+int64(len(f.b))-1)/streamChunk; i++ {
			if i < e.index-1 && !touched[i] {
				touched[i] = true
				if err := e.reseal(i); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// apply writes into pt, the plaintext of chunk i, the fixes that fall in it.
func (e *StreamEnvelope) apply(pt []byte, i int64) {
	start := i * streamChunk
	for _, f := range e.fixes {
		lo, hi := max(f.off, start), min(f.off+int64(len(f.b)), start+int64(len(pt)))
		if lo < hi {
			copy(pt[lo-start:hi-start], f.b[lo-f.off:hi-f.off])
		}
	}
}

// reseal asks dst to decrypt chunk i (never the last), mend it, and seal
// it again: the same result however often it runs.
func (e *StreamEnvelope) reseal(i int64) error {
	off := e.base + i*(streamChunk+streamTag)
	return e.dst.Rewrite(off, streamChunk+streamTag, func(b []byte) error {
		n := e.nonce(i, false)
		pt, err := e.aead.Open(nil, n, b, nil)
		if err != nil {
			return fmt.Errorf("chunk %d does not open to be mended: %w", i, err)
		}
		e.apply(pt, i)
		e.aead.Seal(b[:0], n, pt, nil)
		clear(pt)
		return nil
	})
}

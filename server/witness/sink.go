package witness

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/form"
	"testimony/server/web"
	"testimony/store"
)

// A sink takes an upload's files as they arrive and, once the answers are
// in and valid, writes the item with its manifest. There are two, in this
// file: the request's encrypted spool, for most uploads, and a store item
// written as the files arrive (streamed), for large ones; startStream
// chooses at the first file, and after it the handler sees one sink.
//
// Why two: the envelope needs every attachment's size and SHA-256 before
// its first byte (the manifest is the first tar entry), and a multipart
// upload gives them only at its end. A large upload is written straight
// into the store, with room kept for the manifest (streamPlan); a small
// one's file parts are spooled: streamed into a file of DATA/spool,
// encrypted on the way in to an X25519 identity made for that one request.
// The identity lives only in memory: a spool file left behind by a crash
// is unreadable noise, and the directory is emptied at start-up all the
// same. The spool is never $TMPDIR.
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

const spoolDirName = "spool"

// spoolDir is the spool directory, DATA/spool.
func (s *Site) spoolDir() string { return filepath.Join(s.cfg.DataDir, spoolDirName) }

// cleanSpool removes whatever a previous run left in the spool and makes
// the directory, mode 0700.
func (s *Site) cleanSpool() error {
	dir := s.spoolDir()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("emptying the spool: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("making the spool: %w", err)
	}
	return os.Chmod(dir, 0o700)
}

// spool holds one request's spooled files, and writes them into the item
// at commit.
type spool struct {
	dir   string
	db    store.Store
	rs    *crypto.Recipients
	id    *age.X25519Identity
	files []*spoolFile
}

// newSpool is the sink of an upload that plan's item will hold, until
// startStream chooses to stream it.
func (s *Site) newSpool(plan *streamPlan) *spool {
	return &spool{dir: s.spoolDir(), db: s.db, rs: plan.rs}
}

func (sp *spool) count() int { return len(sp.files) }

// spoolFile is one spooled attachment: its name and type as the witness's
// browser gave them (cleaned), and the size and SHA-256 of its plaintext.
type spoolFile struct {
	path   string
	Name   string
	Type   string
	Size   int64
	SHA256 string
}

// errFileTooLarge is returned by add when a file passes its limit.
var errFileTooLarge = errors.New("file too large")

// add streams r into a new spool file, encrypted, counting and hashing
// it. It stops with errFileTooLarge as soon as more than limit bytes came.
// The file is listed in sp (and so removed by remove) from its creation.
func (sp *spool) add(r io.Reader, limit int64, name, typ string) (int64, error) {
	if sp.id == nil { // the first file of the request
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return 0, err
		}
		sp.id = id
	}
	f, err := os.CreateTemp(sp.dir, "up-*")
	if err != nil {
		return 0, err
	}
	sf := &spoolFile{path: f.Name(), Name: name, Type: typ}
	sp.files = append(sp.files, sf)
	err = func() error {
		aw, err := age.Encrypt(f, sp.id.Recipient())
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(aw, h), io.LimitReader(r, limit+1))
		if err != nil {
			return err
		}
		if n > limit {
			return errFileTooLarge
		}
		sf.Size = n
		sf.SHA256 = hex.EncodeToString(h.Sum(nil))
		return aw.Close()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return sf.Size, nil
}

// commit writes the envelope of m with the spooled files into a new item,
// and commits it. On error the item writer is aborted (chunks of a crash
// are removed at the next open).
func (sp *spool) commit(m *crypto.Manifest, it store.Item, with func(store.Tx) error) error {
	for _, f := range sp.files {
		m.Attachments = append(m.Attachments, crypto.Attachment{Name: f.Name, Size: f.Size, SHA256: f.SHA256, Type: f.Type})
	}
	iw := sp.db.NewItem()
	defer iw.Abort()
	env, err := crypto.NewEnvelope(iw, sp.rs, m)
	if err != nil {
		return err
	}
	for _, f := range sp.files {
		rc, err := sp.open(f)
		if err != nil {
			return err
		}
		err = env.WriteAttachment(rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	if err := env.Close(); err != nil {
		return err
	}
	_, err = iw.CommitWith(it, with)
	return err
}

// open returns the plaintext of a spooled file.
func (sp *spool) open(sf *spoolFile) (io.ReadCloser, error) {
	f, err := os.Open(sf.path)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(f, sp.id)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}

// remove deletes every spooled file and forgets the key. Safe to call
// more than once.
func (sp *spool) remove() {
	for _, sf := range sp.files {
		os.Remove(sf.path)
	}
	sp.files = nil
	sp.id = nil
}

// A large upload is not spooled: spooling reads every file twice (into the
// spool, then into the envelope), and for a 1 GiB video that second pass
// kept the witness waiting seconds for a receipt after their last byte.
// Instead its files are written straight into a store item as they arrive
// (crypto.StreamEnvelope), with room kept at the start for the manifest,
// which is written once the answers are all in and valid. streamPlan says
// whom the item is for and what its manifest may hold; a small body's
// files are spooled.
type streamPlan struct {
	rs *crypto.Recipients
	// worst returns the longest manifest, without attachments, that the
	// request can still give, given the text values read so far and the
	// text bytes it may still send.
	worst func(v form.Values, textLeft int) *crypto.Manifest
	// allow, if set, says from the text values read so far whether the
	// files may be streamed into the store; when it says no they are
	// spooled, so that a request refused later leaves the store untouched.
	allow func(v form.Values) bool
}

// defaultStreamMin is the body size above which files are streamed (the
// site's lim.streamMin, which tests lower to stream small bodies): below
// it the room kept for the manifest would weigh on the object's size, and
// the second pass over the spool costs little. A body of unknown length is
// streamed.
const defaultStreamMin = 8 << 20

// maxRoom is the most room a streamed upload keeps for its manifest; a
// form whose manifest could be longer (free text after its files) spools.
const maxRoom = 1 << 20

// maxTypeLen bounds a file's media type as contentType returns it.
const maxTypeLen = 100

// streamSlots bounds the uploads streamed at once: each holds an item
// writer's few MiB of chunks for as long as it lasts, which over Tor can be
// long. The others spool.
const streamSlots = 4

// startStream makes u stream its files in place of spooling them, if the
// request is large, the plan allows it and a slot is free. name and typ are
// of its first file.
func (s *Site) startStream(u *upload, plan *streamPlan, r *http.Request, textLeft int, name, typ string) error {
	if (r.ContentLength >= 0 && r.ContentLength <= s.lim.streamMin) || s.cfg.MaxFile > crypto.MaxStreamAttachment {
		return nil
	}
	if plan.allow != nil && !plan.allow(u.values) {
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
	u.sink.remove() // the spool, still empty
	u.sink = &streamed{iw: iw, env: env, slot: s.streams}
	return nil
}

// roomFor is the room to keep for a manifest: the length of worst with
// first and then as many of the longest attachment entries as may follow.
func (s *Site) roomFor(worst *crypto.Manifest, first crypto.Attachment) (int, error) {
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
func (s *Site) longestLang() string {
	l := web.DefaultLang
	if s.lang != nil {
		for _, c := range s.lang.langs {
			if len(c) > len(l) {
				l = c
			}
		}
	}
	return l
}

// streamed is a large upload whose files go straight into a store item, in
// one pass: see streamPlan.
type streamed struct {
	iw    *store.ItemWriter
	env   *crypto.StreamEnvelope
	files int
	slot  chan struct{}
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

func (st *streamed) count() int { return st.files }

// commit writes the manifest into the room kept for it and commits.
func (st *streamed) commit(m *crypto.Manifest, it store.Item, with func(store.Tx) error) error {
	if err := st.env.Close(m); err != nil {
		if errors.Is(err, crypto.ErrNoRoom) {
			// Only a client that is not a browser gets here: the room
			// holds anything the form can send (see streamPlan).
			return &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.textlong", Err: err}
		}
		return err
	}
	_, err := st.iw.CommitWith(it, with)
	return err
}

// remove aborts the item unless committed, and frees the slot.
func (st *streamed) remove() {
	if st.slot != nil {
		st.iw.Abort() // after Commit: nothing
		<-st.slot
		st.slot = nil
	}
}
